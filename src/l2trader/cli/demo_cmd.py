"""``l2trader demo``: the main job end to end on the embedded (synthetic) default data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from l2trader.analysis.checks import DEFAULT_CHECKS
from l2trader.cli.analyze_cmd import analyze_and_report
from l2trader.cli.backtest_cmd import print_result, run_with_progress
from l2trader.cli.demo_deploy import DemoStrategy, deploy_demo, paper_demo, stress_demo
from l2trader.cli.features_cmd import compute_features, default_config, print_feature_summary
from l2trader.cli.fit_cmd import fit_frame, print_fit, write_report
from l2trader.cli.ingest_cmd import print_ingest_summary, run_ingest
from l2trader.cli.progress import console
from l2trader.cli.replay_cmd import print_replay_summary, replay_to_parquet
from l2trader.cli.synth_cmd import write_synthetic_day
from l2trader.data.catalog import Catalog
from l2trader.data.instruments import lookup
from l2trader.data.report import Policy
from l2trader.data.sources import SourceFormat, open_source
from l2trader.deploy.sections import EvidenceSpec
from l2trader.engine.backtest import load_signals, save_signals
from l2trader.engine.config import (
    BacktestConfig,
    DecisionConfig,
    EngineConfig,
    SignalSpec,
    StrategySpec,
)
from l2trader.engine.risk import RiskConfig
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig
from l2trader.features.clocks import ClockSpec
from l2trader.signals.artifact import ModelArtifact, save_model
from l2trader.synth import SynthConfig

__all__ = ["demo"]


def demo(
    out: Annotated[Path, typer.Option(help="output directory")] = Path("demo-output"),
    seed: Annotated[int, typer.Option(help="random seed of the synthetic day")] = 7,
    levels: Annotated[int, typer.Option(help="levels per side in the book frame")] = 10,
) -> None:
    """The whole chain on a synthetic day, from raw depth data to a deployment bundle."""
    console.rule("[bold]1/10 synthesize a market day")
    cfg = SynthConfig(seed=seed)
    book_csv, trades_csv, _ = write_synthetic_day(cfg, out / "raw")
    console.rule("[bold]2/10 ingest into the Parquet catalog")
    cat = Catalog(out / "catalog")
    instrument = lookup("synthetic", "SYN")
    for path in (book_csv, trades_csv):
        source = open_source(
            SourceFormat.TARDIS, [path], instrument=instrument, policy=Policy.STRICT
        )
        print_ingest_summary(
            run_ingest(cat, source_paths=[path], instrument=instrument, source=source)
        )
    console.rule("[bold]3/10 replay the exact book")
    frame_path = out / f"book_top{levels}.parquet"
    summary = replay_to_parquet(cat, instrument, frame_path, levels=levels)
    print_replay_summary(summary, instrument)
    console.rule("[bold]4/10 features on a 1 s clock, labels at 1 s / 10 s / 60 s")
    horizons = [1_000_000_000, 10_000_000_000, 60_000_000_000]
    run = compute_features(
        cat, instrument, default_config(levels, [1_000_000_000, 10_000_000_000]),
        ClockSpec(kind="time", interval_ns=1_000_000_000), horizons,
    )  # fmt: skip
    features_path = run.frame.write_parquet(out / "features.parquet")
    print_feature_summary(run, features_path)
    console.rule("[bold]5/10 fit a ridge signal walk-forward (purged), out-of-sample report")
    result = fit_frame(run.frame, "ridge", "label_fwd_ret_bps_1s", folds=5)
    print_fit(result)
    art = ModelArtifact(
        result.model, horizons[0], result.label, run.frame.config_id, run.frame.clock,
        instrument.key, {"walk_forward": result.report.to_dict()},
    )  # fmt: skip
    save_model(out / "model.json", art)
    write_report(
        result.report, result.signal.score, run.frame, out / "report", "walk-forward (OOS)"
    )
    oos_ic = float(result.report.decay.ic[0])
    n_used = len(result.model.features_used)
    console.print(f"[bold]out-of-sample IC at 1 s: {oos_ic:.4f}[/] (ridge on {n_used} features)")
    signals_path = save_signals(out / "signals.parquet", result.signal.to_array())
    console.rule("[bold]6/10 backtest and analyse both reference strategies on the same day")
    demo = demo_strategy(cat.root, instrument.key)
    mm_run = backtest_demo(out, demo, signals_path)
    console.rule("[bold]7/10 stress: the quick suite, the demo maker vs a deliberately broken one")
    stress_report = stress_demo(out, demo)
    console.rule("[bold]8/10 paper trading: an accelerated session, dashboard, validation")
    paper_report = paper_demo(out, demo)
    console.rule("[bold]9/10 deployment: readiness check and a reproducible bundle")
    evidence = EvidenceSpec(backtest=str(mm_run / "report.json"), stress=str(stress_report),
                            paper=str(paper_report))  # fmt: skip
    deploy_demo(out, demo, evidence)
    console.rule("[bold]10/10 pictures")
    from l2trader.cli.plots import plot_book_frame

    png = plot_book_frame(frame_path, out / "book.png", instrument.key)
    console.print(f"plot: [bold]{png}[/]" if png else "plot skipped: install the [plot] extra")
    console.rule("[bold green]done")
    console.print(
        f"results in [bold]{out.resolve()}[/]: raw/ (synthetic Tardis CSV), catalog/ "
        f"(Parquet, manifest.json), {frame_path.name} (book frame), book.png, "
        "features.parquet (C3 + labels), model.json (ridge, checksummed), report/ (OOS "
        "signal report JSON + plot), signals.parquet (OOS C4), backtest_*.toml and runs/ "
        "(run directories with report.html + report.json, registry.sqlite; "
        "`l2trader runs ls --root ...`), stress/ (stress_report.json + .html), paper/ "
        "(journal, report/ with paper_report.json), deploy/ (deploy.toml, dist/ bundle)"
    )


CAPITAL = 10_000.0
"""Starting cash of the demo runs (quote): the base their returns are measured against."""


_RISK = RiskConfig(
    max_position=20.0,
    max_order_qty=5.0,
    max_order_notional=CAPITAL,
    max_drawdown=5_000.0,
    max_daily_loss=5_000.0,
)


def demo_strategy(catalog: Path, key: str) -> DemoStrategy:
    """The demo's market maker (deciding at every book change), as every stage runs it."""
    engine = EngineConfig(risk=_RISK, decision=DecisionConfig(mode="book"), initial_cash=CAPITAL)
    mm = MarketMakerConfig(inventory_unit_qty=1.0, max_inventory=10.0, sizing=SizingConfig(qty=1.0))
    return DemoStrategy(catalog, key, engine, mm)


def backtest_demo(out: Path, demo: DemoStrategy, signals: Path) -> Path:
    """Backtest the market maker and the signal taker; return the market maker's run dir."""
    taker = SignalTakerConfig(entry_margin_bps=0.2, taker_fee_bps=2.0, max_position=5.0,
                              sizing=SizingConfig(qty=1.0))  # fmt: skip
    runs = []
    verdicts = []
    run_dirs = {}
    for kind, decision in (("market_maker", "book"), ("taker", "signal")):
        engine = demo.engine.model_copy(update={"decision": DecisionConfig(mode=decision)})
        cfg = BacktestConfig(
            name=f"demo-{kind}", data=demo.data, runs_root=str(out / "runs"), engine=engine,
            strategy=StrategySpec(kind=kind, market_maker=demo.params, taker=taker),
            signal=SignalSpec(path=str(signals)),
        )  # fmt: skip
        (out / f"backtest_{kind}.toml").write_text(cfg.to_toml())
        result = run_with_progress(cfg)
        print_result(result)
        runs.append(result.run_id)
        run_dirs[kind] = result.run_dir
        if kind == "taker" and result.output.fills.size == 0:
            score = load_signals(signals)["score"]
            p99 = float(np.nanpercentile(np.abs(score), 99)) if np.isfinite(score).any() else 0.0
            console.print(
                f"taker: no trade. The out-of-sample signal's 99th-percentile |score| is "
                f"{p99:.3f} bps, below the cost of crossing (half the spread + "
                f"{taker.taker_fee_bps} bps taker fee): the 1 s edge does not pay for taking."
            )
        console.rule(f"[bold]analysis of the {kind} run (default {kind} checks)")
        report = analyze_and_report(result.run_dir, out / "runs", DEFAULT_CHECKS[kind])
        verdicts.append(f"{kind} {result.run_id}: {'PASS' if report.passed else 'FAIL'}")
    console.print(f"[bold]backtest runs:[/] {', '.join(runs)}")
    console.print("[bold]threshold verdicts:[/] " + "; ".join(verdicts))
    return Path(run_dirs["market_maker"])
