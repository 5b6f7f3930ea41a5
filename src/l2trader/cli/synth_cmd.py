"""``l2trader synth``: write a seeded synthetic L2 day as Tardis.dev CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from l2trader.cli.progress import console, event_counter, event_progress
from l2trader.synth import SynthConfig, write_tardis_csv

__all__ = ["SynthFiles", "synth", "write_synthetic_day"]

SynthFiles = tuple[Path, Path, int]


def synth(
    out: Annotated[Path, typer.Option(help="output directory")],
    seed: Annotated[int, typer.Option(help="random seed (same seed, same bytes)")] = 7,
    duration_s: Annotated[float | None, typer.Option(help="simulated seconds")] = None,
    config: Annotated[Path | None, typer.Option(help="SynthConfig TOML/JSON file")] = None,
) -> None:
    """Generate a deterministic synthetic market (see docs/synth.md) in Tardis CSV format."""
    cfg = SynthConfig.from_file(config) if config else SynthConfig()
    updates: dict[str, object] = {"seed": seed}
    if duration_s is not None:
        updates["duration_s"] = duration_s
    cfg = SynthConfig(**{**cfg.model_dump(), **updates})
    book, trades, n = write_synthetic_day(cfg, out)
    console.print(f"wrote {n:,} events: [bold]{book}[/] and [bold]{trades}[/]")


def write_synthetic_day(cfg: SynthConfig, out: Path) -> SynthFiles:
    """Write ``cfg``'s day to ``out`` with a progress bar; return (book, trades, events)."""
    out.mkdir(parents=True, exist_ok=True)
    book = out / f"synthetic_incremental_book_L2_SYN_{cfg.start}.csv.gz"
    trades = out / f"synthetic_trades_SYN_{cfg.start}.csv.gz"
    with event_progress() as progress:
        task = progress.add_task("synth SYN", total=None, rate="")
        n = write_tardis_csv(cfg, book, trades, progress=event_counter(progress, task))
    return book, trades, n
