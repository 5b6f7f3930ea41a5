"""Windowed book rewrites shared by the market and edge scenarios.

Two mechanisms, both ending the window with one batch that resyncs the book exactly:

- **Replaced window** (flash crash, volatility spike, trending run, one-tick market): the rows
  of the window are removed and replaced by batches moving the book through states derived
  from the book at ``t0``; the last batch turns the book into the real book at ``t1``
  moved by the path's final offset, and every later price is moved by that offset (the
  move persists, e.g. a crash's unrecovered part).
- **Masked window** (liquidity drought; imbalance / one-sided / empty books in ``edges``): the
  real rows are kept but their sizes are mapped (``q -> g(q)``, ``g(0) = 0``), so the
  book only ever holds levels the real book holds (never crossed); an entry batch maps the
  book at ``t0`` and an exit batch restores the real book at ``t1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from l2trader.book.replay import replay
from l2trader.schema import ASK, BID, KIND_BOOK, KIND_SNAPSHOT, KIND_TRADE, NO_ASK_TICKS
from l2trader.stress.transform import (
    Levels,
    batch_rows,
    concat,
    diff_batch,
    exch_offset,
    levels_at,
    shift_prices,
)

__all__ = [
    "Fraction",
    "Positive",
    "QtyMap",
    "Seconds",
    "Step",
    "Steps",
    "mask_window",
    "move_top",
    "replace_window",
    "row_mids",
    "scaled_near",
]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(gt=0.0, le=86_400.0)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Steps = Annotated[int, Field(ge=1, le=10_000)]
QtyMap = Callable[[NDArray[np.int64], NDArray[np.float64], NDArray[np.int8], NDArray[np.float64]],
                  NDArray[np.float64]]  # fmt: skip
"""``(ticks, qty, side, mid_ticks) -> new qty``, vectorised; must map 0 to 0."""


@dataclass(frozen=True)
class Step:
    """One state of a replaced window: the book at ``ts_recv`` (ns) and trades printed first."""

    ts_recv: int
    book: Levels
    trades: tuple[NDArray[np.int64], NDArray[np.float64], int] | None = None
    """``(price_ticks, qty, aggressor side)`` of the trades, or None."""


def replace_window(
    events: np.ndarray, i0: int, i1: int, steps: Sequence[Step], t_end: int, shift: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Replace ``events[i0:i1]`` by batches through ``steps``; resync at ``t_end``; shift the rest.

    ``t_end`` (ns) must lie in ``[steps[-1].ts_recv, events[i1].ts_recv]``.
    """
    book0, book1 = levels_at(events, [i0, i1])
    off = exch_offset(events, i0)
    parts = [events[:i0]]
    prev = book0
    for step in steps:
        if step.trades is not None and len(step.trades[0]):
            ticks, qty, side = step.trades
            parts.append(batch_rows(step.ts_recv, step.ts_recv + off, ticks, qty, side, KIND_TRADE))
        parts.append(diff_batch(prev, step.book, step.ts_recv, step.ts_recv + off))
        prev = step.book
    parts.append(diff_batch(prev, book1.shifted(shift), t_end, t_end + off))
    tail = events[i1:]
    altered = shift_prices(tail, shift)
    parts.append(tail)
    out = concat(parts)
    counts = {"rows_added": len(out) - len(events) + (i1 - i0), "rows_removed": i1 - i0}
    return out, {**counts, "rows_altered": altered}


def move_top(book: Levels, offset: int, n: int) -> Levels:
    """``book`` with its best ``n`` levels per side moved by ``offset`` ticks.

    Deeper levels stay where they are, except those the moved block now covers.
    """
    out = []
    for side in (BID, ASK):
        ticks, qty = book.side(side)
        moved = ticks[:n] + offset
        edge = moved[-1] if len(moved) else 0
        deep = ticks[n:] < edge if side == BID else ticks[n:] > edge
        out.append(
            (np.concatenate([moved, ticks[n:][deep]]), np.concatenate([qty[:n], qty[n:][deep]]))
        )
    return Levels(out[0][0], out[0][1], out[1][0], out[1][1])


def scaled_near(book: Levels, mid: float, bps: float, factor: float) -> Levels:
    """``book`` with the sizes of levels within ``bps`` of ``mid`` multiplied by ``factor``."""
    band = mid * bps * 1e-4
    bq = np.where(book.bid_ticks >= mid - band, book.bid_qty * factor, book.bid_qty)
    aq = np.where(book.ask_ticks <= mid + band, book.ask_qty * factor, book.ask_qty)
    return Levels(book.bid_ticks, bq, book.ask_ticks, aq)


def row_mids(events: np.ndarray, stop: int) -> NDArray[np.float64]:
    """Real mid (ticks) before each row of ``events[:stop]``: at the last earlier ``F_LAST``."""
    frame = replay(events[:stop], levels=1)
    bid, ask = frame.bid_ticks[:, 0], frame.ask_ticks[:, 0]
    ok = (frame.bid_qty[:, 0] > 0) & (frame.ask_qty[:, 0] > 0) & (ask != NO_ASK_TICKS)
    mids = np.where(ok, (bid.astype(np.float64) + ask.astype(np.float64)) / 2.0, np.nan)
    pos = np.searchsorted(frame.event_idx, np.arange(stop), side="left") - 1
    return np.where(pos >= 0, mids[np.maximum(pos, 0)], np.nan)


def map_levels(book: Levels, mid: float, qty_map: QtyMap) -> Levels:
    mapped = []
    for side in (BID, ASK):
        ticks, qty = book.side(side)
        new = qty_map(ticks, qty, np.full(len(ticks), side, np.int8), np.full(len(ticks), mid))
        mapped.append((ticks[new > 0], new[new > 0]))
    return Levels(mapped[0][0], mapped[0][1], mapped[1][0], mapped[1][1])


def mask_window(
    events: np.ndarray, t0: int, t1: int, i0: int, i1: int, qty_map: QtyMap
) -> tuple[np.ndarray, dict[str, int]]:
    """Map book sizes of ``events[i0:i1]`` by ``qty_map``; enter at ``t0``, restore at ``t1-1``."""
    book0, book1 = levels_at(events, [i0, i1])
    mids = row_mids(events, i1)
    off = exch_offset(events, i0)
    entry = diff_batch(book0, map_levels(book0, book0.mid_ticks(), qty_map), t0, t0 + off)
    body = events[i0:i1]
    level = (body["kind"] == KIND_BOOK) | (body["kind"] == KIND_SNAPSHOT)
    new_qty = body["qty"].copy()
    new_qty[level] = qty_map(body["price_ticks"][level], body["qty"][level],
                             body["side"][level], mids[i0:i1][level])  # fmt: skip
    altered = int((new_qty != body["qty"]).sum())
    body["qty"] = new_qty
    head = concat([events[:i0], entry, body])
    (inside,) = levels_at(head, [len(head)])
    exit_batch = diff_batch(inside, book1, t1 - 1, t1 - 1 + off)
    out = concat([head, exit_batch, events[i1:]])
    return out, {"rows_added": len(entry) + len(exit_batch), "rows_removed": 0,
                 "rows_altered": altered}  # fmt: skip
