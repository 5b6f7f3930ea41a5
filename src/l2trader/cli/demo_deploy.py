"""The demo's validation and deployment stages: stress, paper session, readiness, bundle.

All three validators run the demo's market maker with the same engine (venue model, risk
limits) as its backtest, so their reports carry the same ``strategy_id`` and deployment
readiness accepts them as evidence for it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from rich.table import Table

from l2trader.analysis.checks import DEFAULT_CHECKS
from l2trader.cli.deploy_check_cmd import readiness_of
from l2trader.cli.paper_cmd import report_session, run_session
from l2trader.cli.progress import console
from l2trader.cli.stress_cmd import StressData, StressRunConfig, print_scores, run_stress
from l2trader.data.catalog import Catalog
from l2trader.data.report import ValidationReport
from l2trader.deploy.package import build_bundle
from l2trader.deploy.readiness import ReadinessReport
from l2trader.deploy.sections import BackupSpec, EvidenceSpec
from l2trader.deploy.settings import DeploySettings, settings_to_toml
from l2trader.engine.config import DataSpec, EngineConfig, StrategySpec
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.paper.config import FeedSpec, PaperConfig, ServiceSpec
from l2trader.schema import F_LAST
from l2trader.stress.report import write_report
from l2trader.stress.suites import StrategyUnderTest, StressLimits, broken_market_maker

__all__ = ["DemoStrategy", "deploy_demo", "paper_demo", "stress_demo"]


@dataclass(frozen=True)
class DemoStrategy:
    """The demo's market maker: its data, engine and parameters (shared by every stage)."""

    catalog: Path
    key: str
    engine: EngineConfig
    params: MarketMakerConfig

    @property
    def data(self) -> DataSpec:
        """The whole demo day in the catalog."""
        venue, symbol = self.key.split("/")
        return DataSpec(catalog=str(self.catalog), venue=venue, symbol=symbol)

    @property
    def spec(self) -> StrategySpec:
        """The strategy section of a backtest or paper config."""
        return StrategySpec(kind="market_maker", market_maker=self.params)

    def paper(self, journal: Path, speed: float | None) -> PaperConfig:
        """A replay session of the demo day (``speed`` None = as fast as possible)."""
        return PaperConfig(name="demo-paper", data=self.data, engine=self.engine,
                           strategy=self.spec, feed=FeedSpec(kind="replay", speed=speed),
                           journal=str(journal), service=ServiceSpec(port=0))  # fmt: skip


def stress_demo(out: Path, demo: DemoStrategy, duration_s: float = 3600.0) -> Path:
    """The quick suite on the day's first hour: the demo maker vs a broken one; JSON report.

    The broken maker has no limits, no stop and no kill switch.
    """
    venue, symbol = demo.key.split("/")
    cfg = StressRunConfig(
        name="demo-stress",
        data=StressData(source="catalog", catalog=str(demo.catalog), venue=venue, symbol=symbol),
        strategies=[StrategyUnderTest(name="demo-market_maker", kind="market_maker",
                                      engine=demo.engine, market_maker=demo.params),
                    broken_market_maker(qty=demo.params.sizing.qty)],
        limits=StressLimits(max_position=demo.engine.risk.max_position,
                            max_drawdown=demo.engine.risk.max_drawdown),
        suite="quick", duration_s=duration_s, executor="serial",
    )  # fmt: skip
    results, scores, report = run_stress(cfg)
    print_scores(scores)
    json_path, html_path = write_report(report, results, out / "stress")
    console.print(f"stress report: {json_path} (html: {html_path.name})")
    return json_path


PAPER_EVENTS = 150_000
"""Events of the demo day replayed by the paper session (its first ~hour)."""


def _slice_catalog(demo: DemoStrategy, root: Path, n_events: int) -> DemoStrategy:
    """The demo strategy on a catalog of the day's first ``n_events`` (whole batches)."""
    venue, symbol = demo.key.split("/")
    source = Catalog(demo.catalog)
    parts, total = [], 0
    for chunk in source.read(venue, symbol):
        parts.append(chunk)
        total += chunk.size
        if total >= n_events:
            break
    events = np.concatenate(parts)[:n_events]
    events = events[: int(np.flatnonzero(events["flags"] & F_LAST)[-1]) + 1]
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "events.npy", events)
    Catalog(root / "catalog").write(source.instruments()[demo.key], [events],
                                    sources=[root / "events.npy"],
                                    report=ValidationReport("demo paper slice"))  # fmt: skip
    return replace(demo, catalog=root / "catalog")


def paper_demo(out: Path, demo: DemoStrategy) -> Path:
    """An accelerated paper session of the demo day with its dashboard; return its report."""
    root = out / "paper"
    shutil.rmtree(root, ignore_errors=True)  # a fresh session each demo run
    cfg = _slice_catalog(demo, root, PAPER_EVENTS).paper(root / "journal.sqlite", speed=None)
    console.print(f"paper session: the demo day's first {PAPER_EVENTS:,} events replayed as "
                  "fast as possible, journaled, validated live; the dashboard URL below "
                  "serves while it runs")  # fmt: skip
    run_session(cfg, resume=False, service=True)
    ok, report = report_session(cfg.journal_path, root / "report", DEFAULT_CHECKS["market_maker"])
    verdict = "[green]PASS[/]" if ok else "[red]FAIL[/]"
    console.print(f"[bold]paper validation verdict: {verdict}[/] (checks + parity with a backtest)")
    return report


def _summary(report: ReadinessReport) -> Table:
    """Items passed per group, and each failing item with its fix (the full table: CLI)."""
    table = Table(title="deployment readiness (`l2trader deploy check` prints every item)")
    for col in ("group", "passed", "failing items and their fix"):
        table.add_column(col)
    for group in dict.fromkeys(i.group for i in report.items):
        items = [i for i in report.items if i.group == group]
        bad = "; ".join(f"{i.name}: {i.fix}" for i in items if not i.passed) or "-"
        table.add_row(group, f"{sum(i.passed for i in items)}/{len(items)}", bad)
    return table


def deploy_demo(out: Path, demo: DemoStrategy, evidence: EvidenceSpec) -> None:
    """Write the deploy settings, check readiness, build the bundle; print score and bundle."""
    root = out / "deploy"
    root.mkdir(parents=True, exist_ok=True)
    settings = DeploySettings(
        name="demo-mm", paper=demo.paper(root / "state" / "journal.sqlite", speed=1.0),
        evidence=evidence, backup=BackupSpec(dir=str(root / "backups")),
    )  # fmt: skip
    path = root / "deploy.toml"
    path.write_text(settings_to_toml(settings), encoding="utf-8")
    console.print(f"deploy settings: {path} (`l2trader config show --file {path}`)")
    info = build_bundle(path, root / "dist")
    size = info.path.stat().st_size / 2**20
    console.print(f"bundle: [bold]{info.path}[/] ({size:.1f} MiB, sha256 {info.sha256[:16]}...)")
    report = readiness_of(info.path)  # verifies the bundle, checks the host against its lock
    console.print(_summary(report))
    state = "[green]READY[/]" if report.ready else "[red]NOT READY[/]"
    console.print(f"[bold]readiness score of the bundle: {report.score:.1f}/100: {state}[/] "
                  f"(`l2trader deploy check {info.path.name}`; run it with `l2trader deploy "
                  "run`)")  # fmt: skip
