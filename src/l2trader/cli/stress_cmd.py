"""``l2trader stress RUN_CONFIG [--suite quick|full|flash_crash] [--scheduler tcp://...]``.

The run config (TOML or JSON, :class:`StressRunConfig`) names the data (a catalog, raw
Binance capture files or the synthetic stream), the strategies (the first one is the
strategy under test; default: the reference market maker and the broken one), the desk's
limits, the scoring weights and thresholds, the suite and where the report goes. The
command runs the suite on a local process pool (or the Dask cluster at ``--scheduler``)
with a progress bar, prints the scores and writes ``stress_report.json`` / ``.html``.

Example config::

    [data]
    source = "capture"
    paths = ["../shared/data/hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"]
    [limits]
    max_position = 0.1
    max_drawdown = 10.0
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer
from pydantic import Field
from rich.table import Table

from l2trader.cli.progress import console, event_progress
from l2trader.config import FrozenConfig
from l2trader.engine.config import strategy_id
from l2trader.errors import ConfigError
from l2trader.stress.report import build_report, write_report
from l2trader.stress.runner import CaseResult, EventsLoader, run_many
from l2trader.stress.score import ScoreConfig, StrategyScore, score_results
from l2trader.stress.suites import (
    CaptureLoader,
    CatalogLoader,
    StrategyUnderTest,
    StressLimits,
    broken_market_maker,
    build_suite,
    reference_market_maker,
)
from l2trader.testing import realistic_events

__all__ = [
    "StressData",
    "StressRunConfig",
    "SyntheticLoader",
    "print_scores",
    "run_stress",
    "stress",
]


@dataclass(frozen=True)
class SyntheticLoader:
    """The seeded synthetic stream: ``realistic_events`` at one message per 10 ms.

    Mid about 60,000 ticks of 1.0 quote; the first 500 messages (book warm-up) are dropped.
    """

    seed: int = 7
    n_events: int = 60_000
    tick_size: float = 1.0

    def load(self) -> np.ndarray:
        """Generate the stream (same seed, same bytes)."""
        events = realistic_events(np.random.default_rng(self.seed), self.n_events,
                                  start_ticks=60_000, message_ns=10_000_000)  # fmt: skip
        return events[int(np.searchsorted(events["seq"], 500)) :].copy()  # seq = message


class StressData(FrozenConfig):
    """Where the events come from.

    ``catalog`` (root/venue/symbol/dates), ``capture`` (raw Binance files of
    ``venue/symbol``) or ``synthetic`` (``seed``, ``n_events``).
    """

    source: Literal["catalog", "capture", "synthetic"] = "synthetic"
    catalog: str = ""
    venue: str = "binance-futures"
    symbol: str = "BTCUSDT"
    start: str | None = None
    end: str | None = None
    paths: tuple[str, ...] = ()
    max_events: int | None = None
    seed: int = 7
    n_events: int = Field(default=60_000, ge=1000)

    def loader(self) -> EventsLoader:
        """The picklable loader of this source."""
        if self.source == "synthetic":
            return SyntheticLoader(self.seed, self.n_events)
        if self.source == "capture":
            if not self.paths:
                raise ConfigError("data.paths: give the capture files for source = 'capture'")
            return CaptureLoader(self.paths, self.venue, self.symbol, self.max_events)
        return CatalogLoader(self.catalog, self.venue, self.symbol, self.start, self.end,
                             self.max_events)  # fmt: skip


def _default_strategies() -> list[StrategyUnderTest]:
    return [reference_market_maker(), broken_market_maker()]


class StressRunConfig(FrozenConfig):
    """One stress run (module docstring); ``duration_s`` inf = the suite's default slice."""

    name: str = "stress"
    data: StressData = StressData()
    strategies: list[StrategyUnderTest] = Field(default_factory=_default_strategies)
    limits: StressLimits = StressLimits(max_position=0.1, max_drawdown=10.0)
    score: ScoreConfig = ScoreConfig()
    suite: Literal["quick", "full", "flash_crash"] = "quick"
    duration_s: float | None = math.inf
    executor: Literal["process", "dask", "serial"] = "process"
    workers: int = Field(default=2, ge=1)
    out_dir: str = "stress"


def run_stress(
    cfg: StressRunConfig, *, scheduler: str | None = None, show_progress: bool = True
) -> tuple[list[CaseResult], list[StrategyScore], dict[str, object]]:
    """Run the configured suite; return the results, the scores and the report object."""
    cases = build_suite(cfg.suite, cfg.strategies, duration_s=cfg.duration_s, limits=cfg.limits)
    executor = "dask" if scheduler is not None else cfg.executor
    loader = cfg.data.loader()
    with event_progress() as progress:
        task = progress.add_task(f"stress {cfg.suite}", total=len(cases), rate="",
                                 visible=show_progress)  # fmt: skip

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, rate="cases")

        results = run_many(cases, loader, executor=executor, scheduler=scheduler,
                           workers=cfg.workers, progress=advance)  # fmt: skip
    scores = score_results(results, cfg.score)
    digest = hashlib.sha256(repr(loader).encode()).hexdigest()
    report = build_report(results, scores, cfg.score, run_id=f"{cfg.name}-{time.time_ns()}",
                          config_id=cfg.id, data_fingerprint=digest,
                          strategy_ids={s.name: tested_strategy_id(s)
                                        for s in cfg.strategies})  # fmt: skip
    return results, scores, report


def tested_strategy_id(s: StrategyUnderTest) -> str:
    """``engine.config.strategy_id`` of a strategy under test (matches its backtest/paper id)."""
    params = s.market_maker if s.kind == "market_maker" else s.taker
    return strategy_id(s.kind, params, s.engine)


def print_scores(scores: list[StrategyScore]) -> None:
    """A table: strategy, overall, each category, verdict."""
    cats = list(dict.fromkeys(c for s in scores for c in s.categories))
    table = Table(title="stress scores (0-100)")
    names = max((len(s.strategy) for s in scores), default=8)
    table.add_column("strategy", min_width=names, no_wrap=True)
    for col in ["overall", *cats, "breaches", "verdict"]:
        table.add_column(col, justify="right")
    for s in scores:
        cells = [f"{s.categories[c]:.1f}" if c in s.categories else "-" for c in cats]
        table.add_row(s.strategy, f"{s.overall:.1f}", *cells, str(len(s.critical)),
                      "PASS" if s.passed else "FAIL")  # fmt: skip
    console.print("breaches: cases that violated a critical invariant (risk limit, kill switch, "
                  "conservation); any one fails the verdict")  # fmt: skip
    console.print(table)


def stress(
    config: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="TOML or JSON")],
    suite: Annotated[str | None, typer.Option(help="quick | full | flash_crash")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler, tcp://host:8786")] = None,
    workers: Annotated[int | None, typer.Option(help="local worker processes")] = None,
    out: Annotated[Path | None, typer.Option(help="report directory")] = None,
) -> None:
    """Run a stress suite, print the 0-100 scores, write the JSON + HTML report."""
    cfg = StressRunConfig.from_file(config)
    updates: dict[str, object] = {}
    if suite is not None:
        updates["suite"] = suite
    if workers is not None:
        updates["workers"] = workers
    if out is not None:
        updates["out_dir"] = str(out)
    cfg = StressRunConfig.model_validate({**cfg.model_dump(), **updates})
    results, scores, report = run_stress(cfg, scheduler=scheduler)
    print_scores(scores)
    json_path, html_path = write_report(report, results, Path(cfg.out_dir))
    console.print(f"report: {json_path} and {html_path}")
