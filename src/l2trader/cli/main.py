"""``l2trader`` command line: ingest, replay, features, fit, backtest, stress, paper, deploy."""

from __future__ import annotations

import sys

import typer

from l2trader.cli import (
    analyze_cmd,
    backtest_cmd,
    catalog_cmd,
    config_cmd,
    demo_cmd,
    deploy_backup_cmd,
    deploy_check_cmd,
    deploy_cmd,
    deploy_run_cmd,
    features_cmd,
    fit_cmd,
    ingest_cmd,
    paper_cmd,
    replay_cmd,
    runs_cmd,
    stress_cmd,
    synth_cmd,
)
from l2trader.errors import L2TraderError

__all__ = ["app", "main"]

app = typer.Typer(
    name="l2trader",
    help="Level-2 order book trading: ingest raw depth data, rebuild the book exactly, replay.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("synth")(synth_cmd.synth)
app.command("ingest")(ingest_cmd.ingest)
app.command("formats")(ingest_cmd.formats)
app.command("replay")(replay_cmd.replay)
app.command("demo")(demo_cmd.demo)
app.add_typer(catalog_cmd.app, name="catalog")
app.add_typer(features_cmd.app, name="features")
app.command("fit")(fit_cmd.fit)
app.command("evaluate")(fit_cmd.evaluate)
app.command("backtest")(backtest_cmd.backtest)
app.add_typer(runs_cmd.app, name="runs")
app.command("analyze")(analyze_cmd.analyze)
app.command("compare")(analyze_cmd.compare)
app.add_typer(paper_cmd.app, name="paper")
app.command("stress")(stress_cmd.stress)
app.add_typer(config_cmd.app, name="config")
deploy_cmd.app.command("check")(deploy_check_cmd.check)
deploy_cmd.app.command("run")(deploy_run_cmd.run)
deploy_cmd.app.command("backup")(deploy_backup_cmd.backup)
deploy_cmd.app.command("restore")(deploy_backup_cmd.restore)
app.add_typer(deploy_cmd.app, name="deploy")


def main() -> None:
    """Console-script entry point: typed l2trader errors print one clear line, exit code 2."""
    try:
        app()
    except L2TraderError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
