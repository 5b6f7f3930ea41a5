"""``l2trader analyze RUN`` and ``l2trader compare RUN...``: reports of backtest runs.

``analyze`` writes ``report.json`` and ``report.html`` into the run directory (or ``--out``),
records the JSON path in the run registry, prints a summary and exits 0 when every check
passes (or none is given), 1 when one fails. ``compare`` puts runs side by side, reading
each run's ``report.json`` when present and analysing the run otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.table import Table

from l2trader.analysis.analyze import analyze as analyze_run
from l2trader.analysis.analyze import flat_metrics, write_report
from l2trader.analysis.checks import ChecksConfig
from l2trader.analysis.html import format_value
from l2trader.analysis.plots import plots_unavailable
from l2trader.analysis.report import Report
from l2trader.cli.market_series import feed_ns, load_run_inputs
from l2trader.cli.progress import console
from l2trader.engine.registry import DEFAULT_RUNS_ROOT, RunRegistry, registry_path
from l2trader.engine.run_dir import RUN_JSON, read_meta
from l2trader.errors import ArtifactError

__all__ = [
    "KEY_METRICS",
    "analyze",
    "analyze_and_report",
    "compare",
    "load_or_analyze",
    "resolve_run_dir",
]

logger = logging.getLogger(__name__)

KEY_METRICS: Final = (
    "pnl_total",
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_s",
    "var_95_historical",
    "cvar_95_historical",
    "pnl_per_day",
    "turnover",
    "round_trips",
    "win_rate",
    "profit_factor",
    "expectancy",
    "fill_ratio",
    "maker_share_fills",
    "spread_capture_ratio",
    "markout_bps_1s",
    "markout_bps_1s_maker",
    "adverse_selection_bps_1s",
    "signal_ic_spearman",
    "signal_hit_rate",
    "beta",
    "information_ratio",
)
"""Metrics shown in summaries and comparisons, when a report has them."""

CapitalOption = Annotated[
    float | None,
    typer.Option(help="returns' base, quote (default: initial cash, else peak |notional|)"),
]
RootOption = Annotated[
    Path, typer.Option(help="runs root: holds registry.sqlite and one directory per run")
]


def resolve_run_dir(run: str, runs_root: Path) -> Path:
    """``run`` as a run directory path if it is one, else ``<runs_root>/<run>``."""
    for candidate in (Path(run), runs_root / run):
        if (candidate / RUN_JSON).is_file():
            return candidate
    raise ArtifactError(f"run {run!r}: no run directory at {run} or {runs_root / run}")


def _register(run_dir: Path, runs_root: Path, run_id: str, report_path: Path) -> str:
    """Record ``report_path`` in the registry beside the run (or under ``runs_root``)."""
    for root in dict.fromkeys((run_dir.parent, runs_root)):
        path = registry_path(root)
        if not path.is_file():
            continue
        with RunRegistry(path) as registry:
            try:
                registry.set_report(run_id, str(report_path.resolve()))
            except ArtifactError:
                continue
        return f"registered in {path}"
    return "not registered: no registry knows this run"


def _metrics_table(title: str, columns: list[str], rows: dict[str, list[Any]]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for column in columns:
        table.add_column(column, justify="right")
    for name, values in rows.items():
        table.add_row(name, *(format_value(v) if v is not None else "-" for v in values))
    return table


def _checks_table(report: Report) -> Table:
    verdict = "[green]PASS[/green]" if report.passed else "[red]FAIL[/red]"
    table = Table(title=f"checks: {verdict}")
    for name in ("check", "value", "op", "threshold", "result", "reason"):
        table.add_column(name)
    for c in report.checks:
        result = "[green]pass[/green]" if c.get("passed") else "[red]fail[/red]"
        table.add_row(
            str(c.get("name")), format_value(c.get("value")), str(c.get("op")),
            format_value(c.get("threshold")), result, str(c.get("reason")),
        )  # fmt: skip
    return table


def _print_summary(report: Report, json_path: Path, html_path: Path, registered: str) -> None:
    flat = flat_metrics(report.metrics)
    rows: dict[str, list[Any]] = {k: [flat[k]] for k in KEY_METRICS if k in flat}
    console.print(_metrics_table(f"run {report.run_id}", ["value"], rows))
    console.print(
        f"periods_per_year={format_value(report.periods_per_year)} "
        f"calendar={report.calendar} capital={format_value(report.capital)} (quote)"
    )
    if report.checks:
        console.print(_checks_table(report))
    if (reason := plots_unavailable()) is not None:
        console.print(f"[yellow]{reason}[/yellow]")
    console.print(f"report: {json_path}\nhtml:   {html_path}\n{registered}")


def analyze(
    run: Annotated[str, typer.Argument(help="run id (under --runs-root) or run directory")],
    runs_root: RootOption = DEFAULT_RUNS_ROOT,
    out: Annotated[Path | None, typer.Option(help="write the reports here")] = None,
    checks: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="TOML/JSON checks file")
    ] = None,
    capital: CapitalOption = None,
) -> None:
    """Analyse a run: report.json + report.html, registry row, summary; exit 1 if a check fails."""
    config = ChecksConfig.from_file(checks) if checks is not None else None
    report = analyze_and_report(resolve_run_dir(run, runs_root), runs_root, config, out, capital)
    if not report.passed:
        raise typer.Exit(1)


def analyze_and_report(
    run_dir: Path,
    runs_root: Path,
    checks: ChecksConfig | None = None,
    out: Path | None = None,
    capital: float | None = None,
) -> Report:
    """Analyse ``run_dir``, write report.json + report.html, register them, print a summary."""
    with console.status(f"replaying the book and analysing {run_dir.name}"):
        inputs = load_run_inputs(run_dir, capital=capital)
        report = analyze_run(inputs, checks, feed_ns=feed_ns(read_meta(run_dir)))
        json_path, html_path = write_report(report, out if out is not None else run_dir)
    registered = _register(run_dir, runs_root, report.run_id, json_path)
    _print_summary(report, json_path, html_path, registered)
    return report


def load_or_analyze(run: str, runs_root: Path, capital: float | None = None) -> Report:
    """The run's ``report.json`` if it has one, else a fresh analysis (nothing written).

    ``capital`` (quote) overrides the returns' base of a fresh analysis.
    """
    run_dir = resolve_run_dir(run, runs_root)
    path = run_dir / "report.json"
    if path.is_file():
        return Report.from_json(path.read_text(encoding="utf-8"))
    inputs = load_run_inputs(run_dir, capital=capital)
    return analyze_run(inputs, feed_ns=feed_ns(read_meta(run_dir)))


def compare(
    runs: Annotated[list[str], typer.Argument(help="run ids (under --runs-root) or directories")],
    runs_root: RootOption = DEFAULT_RUNS_ROOT,
    all_metrics: Annotated[
        bool, typer.Option("--all", help="every metric, not the key ones")
    ] = False,
    capital: CapitalOption = None,
) -> None:
    """Print runs side by side: key metrics (or all with --all), one column per run."""
    reports = [load_or_analyze(run, runs_root, capital) for run in runs]
    flats = [flat_metrics(r.metrics) for r in reports]
    names = list(dict.fromkeys(k for f in flats for k in f)) if all_metrics else list(KEY_METRICS)
    rows = {k: [f.get(k) for f in flats] for k in names if any(k in f for f in flats)}
    rows["periods_per_year"] = [r.periods_per_year for r in reports]
    rows["capital"] = [r.capital for r in reports]
    console.print(_metrics_table("compare", [r.run_id for r in reports], rows))
