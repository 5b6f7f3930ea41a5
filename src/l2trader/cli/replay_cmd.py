"""``l2trader replay``: catalog events -> book frame (C2) at every consistent state -> Parquet."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow.parquet as pq
import typer
from rich.table import Table

from l2trader.book.replay import BookFrame, Replayer
from l2trader.cli.ingest_cmd import resolve_instrument
from l2trader.cli.progress import console, event_progress, rate_text
from l2trader.data.catalog import Catalog
from l2trader.data.instruments import Instrument
from l2trader.testing import make_events
from l2trader.units import from_ticks

__all__ = ["SUB_CHUNK", "ReplaySummary", "replay", "replay_to_parquet"]

SUB_CHUNK = 262_144
"""Events per ``Replayer.feed``: the reused frame buffer (~90 MB at 10 levels) stays warm."""


@dataclass(frozen=True)
class ReplaySummary:
    """What a replay did: counts, timings (s) and the final book state."""

    events: int
    states: int
    crossed: int
    wall_s: float
    kernel_s: float
    last: BookFrame | None
    out: Path


def replay(
    catalog: Annotated[Path, typer.Option(help="catalog root directory")],
    venue: Annotated[str, typer.Option(help="venue name")],
    symbol: Annotated[str, typer.Option(help="instrument symbol")],
    out: Annotated[Path, typer.Option(help="output Parquet file (book frame)")],
    levels: Annotated[int, typer.Option(min=1, max=1000, help="levels per side")] = 10,
    start: Annotated[str | None, typer.Option(help="first date YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="last date YYYY-MM-DD")] = None,
) -> None:
    """Replay the catalog into the exact book and write one row per consistent book state."""
    cat = Catalog(catalog)
    instrument = resolve_instrument(cat, venue, symbol, None)
    summary = replay_to_parquet(cat, instrument, out, levels=levels, start=start, end=end)
    print_replay_summary(summary, instrument)


def replay_to_parquet(
    cat: Catalog,
    instrument: Instrument,
    out: Path,
    *,
    levels: int = 10,
    start: str | None = None,
    end: str | None = None,
) -> ReplaySummary:
    """Stream partitions through a :class:`Replayer`, appending frames to ``out`` (atomic)."""
    total = sum(p.rows for p in cat.partitions(instrument.venue, instrument.symbol, start, end))
    Replayer(levels=levels).feed(make_events([(1, 1.0, 1)]))  # load the JIT cache untimed
    replayer = Replayer(levels=levels)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    writer: pq.ParquetWriter | None = None
    events = states = 0
    kernel_s = 0.0
    last: BookFrame | None = None
    t0 = time.perf_counter()
    with event_progress() as progress:
        task = progress.add_task(f"replay {instrument.key}", total=total, rate="")
        for part in cat.read(instrument.venue, instrument.symbol, start, end):
            for i in range(0, len(part), SUB_CHUNK):  # a small reused frame buffer stays warm
                chunk = part[i : i + SUB_CHUNK]
                k0 = time.perf_counter()
                frame = replayer.feed(chunk, reuse=True)  # written out before the next feed
                kernel_s += time.perf_counter() - k0
                events += len(chunk)
                states += len(frame)
                if len(frame):
                    table = frame.to_polars(instrument.tick_size).to_arrow()
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                    writer.write_table(table)
                    last = _last_row(frame)
                elapsed = time.perf_counter() - t0
                progress.update(task, completed=events, rate=rate_text(events, elapsed))
    if writer is not None:
        writer.close()
        tmp.replace(out)
    crossed = len(replayer.crossed_event_idx)
    return ReplaySummary(events, states, crossed, time.perf_counter() - t0, kernel_s, last, out)


def _last_row(frame: BookFrame) -> BookFrame:
    """A copy of the frame's final row (the frame itself is a reused buffer)."""
    return BookFrame(*(np.array(getattr(frame, f.name)[-1:]) for f in fields(frame)))


def print_replay_summary(summary: ReplaySummary, instrument: Instrument) -> None:
    """Print counts, throughput and the final top of book."""
    console.print(
        f"replayed {summary.events:,} events -> {summary.states:,} book states "
        f"(crossed/locked: {summary.crossed}) in {summary.wall_s:.2f} s · "
        f"end-to-end {rate_text(summary.events, summary.wall_s)} · "
        f"book kernel {rate_text(summary.events, summary.kernel_s)}"
    )
    if summary.last is not None:
        console.print(book_table(summary.last, instrument, rows=5))
    console.print(f"book frame: [bold]{summary.out}[/]")


def book_table(frame: BookFrame, instrument: Instrument, rows: int = 5) -> Table:
    """The last state of ``frame`` as a two-sided depth table (decimal prices)."""
    table = Table(
        title=f"{instrument.key} book at ts_recv={np.datetime64(int(frame.ts_recv[-1]), 'ns')}"
    )
    for name in ("bid size", "bid", "ask", "ask size"):
        table.add_column(name, justify="right")
    for level in range(min(rows, frame.levels)):
        bid_t, ask_t = int(frame.bid_ticks[-1, level]), int(frame.ask_ticks[-1, level])
        bid = frame.bid_qty[-1, level] > 0
        ask = frame.ask_qty[-1, level] > 0
        table.add_row(
            f"{frame.bid_qty[-1, level]:g}" if bid else "",
            f"{float(from_ticks(bid_t, instrument.tick_size)):.{_dec(instrument)}f}" if bid else "",
            f"{float(from_ticks(ask_t, instrument.tick_size)):.{_dec(instrument)}f}" if ask else "",
            f"{frame.ask_qty[-1, level]:g}" if ask else "",
        )
    return table


def _dec(instrument: Instrument) -> int:
    from l2trader.units import tick_decimals

    return tick_decimals(instrument.tick_size)
