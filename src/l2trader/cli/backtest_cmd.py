"""``l2trader backtest CONFIG``: run a backtest from a TOML/JSON file, record it, summarise it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from l2trader.cli.progress import console, event_progress, rate_text
from l2trader.engine.backtest import BacktestResult, run_backtest
from l2trader.engine.config import BacktestConfig

__all__ = ["backtest", "print_result"]


def backtest(
    config: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="TOML or JSON")],
    runs_root: Annotated[Path | None, typer.Option(help="override the config's runs_root")] = None,
) -> None:
    """Run a backtest: catalog -> engine -> run directory + run registry row."""
    cfg = BacktestConfig.from_file(config)
    if runs_root is not None:
        cfg = cfg.model_copy(update={"runs_root": str(runs_root)})
    result = run_with_progress(cfg)
    print_result(result)


def run_with_progress(cfg: BacktestConfig) -> BacktestResult:
    """:func:`run_backtest` with a rich progress bar (events, events/s)."""
    t0 = time.perf_counter()
    with event_progress() as progress:
        task = progress.add_task(f"backtest {cfg.strategy.kind}", total=None, rate="")

        def advance(done: int, total: int) -> None:
            rate = rate_text(done, time.perf_counter() - t0)
            progress.update(task, completed=done, total=total, rate=rate)

        return run_backtest(cfg, progress=advance)


def print_result(result: BacktestResult) -> None:
    """A short table of the run's summary and counters."""
    summary = result.meta["summary"]
    table = Table(title=f"run {result.run_id} ({result.meta['strategy']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in {**summary, **result.meta["counters"]}.items():
        text = f"{value:,.6g}" if isinstance(value, float) else f"{value:,}"
        table.add_row(key, text)
    console.print(table)
    console.print(f"run directory: {result.run_dir}")
