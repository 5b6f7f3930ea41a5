"""Numba kernels of the exact L2 book: event application, top-N extraction, C2 frame rows.

The level store (window + overflow) is in :mod:`l2trader.book.store_kernels`; this module
adds the per-event loop :func:`run_nb` with an inlined fast path for the common update
(inside the window, not emptying the best), the trade-volume accumulator
``fst: float64[2]`` (aggressor buy/sell volume since the last sample) and the frame writer.
Oracle for every kernel here: :class:`l2trader.book.reference.ReferenceBook`
(``tests/unit/book/``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from l2trader.book.store_kernels import (
    IST_BASE,
    IST_BEST,
    IST_COUNT,
    IST_OVF,
    IST_SIZE,
    IST_TS_EXCH,
    IST_TS_RECV,
    STATUS_GROW,
    STATUS_OK,
    better_nb,
    clear_side_nb,
    empty_price_nb,
    njit_inline,
    njit_nrt_free,
    regrid_nb,
    set_level_nb,
)
from l2trader.schema import F_LAST, KIND_BOOK, KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE

__all__ = [
    "IST_BASE",
    "IST_BEST",
    "IST_COUNT",
    "IST_OVF",
    "IST_SIZE",
    "IST_TS_EXCH",
    "IST_TS_RECV",
    "PRICE_LIMIT",
    "STATUS_BAD_EVENT",
    "STATUS_GROW",
    "STATUS_OK",
    "FrameBuffers",
    "count_last_nb",
    "frame_buffers",
    "regrid_nb",
    "run_nb",
    "top_side_nb",
]

FST_BUY: Final = 0
FST_SELL: Final = 1
STATUS_BAD_EVENT: Final = 2
"""The event at the returned index is not a valid C1 book event; nothing was applied."""
PRICE_LIMIT: Final = 1 << 62
"""Book prices must satisfy ``|price_ticks| < PRICE_LIMIT`` (keeps index arithmetic exact)."""


class FrameBuffers(NamedTuple):
    """Preallocated output of :func:`replay_nb`: the C2 columns plus a crossed flag per row."""

    ts_recv: NDArray[np.int64]
    ts_exch: NDArray[np.int64]
    event_idx: NDArray[np.int64]
    bid_ticks: NDArray[np.int64]
    bid_qty: NDArray[np.float64]
    ask_ticks: NDArray[np.int64]
    ask_qty: NDArray[np.float64]
    trade_qty_buy: NDArray[np.float64]
    trade_qty_sell: NDArray[np.float64]
    crossed: NDArray[np.bool_]


def frame_buffers(n: int, levels: int) -> FrameBuffers:
    """Allocate the output of :func:`run_nb` for ``n`` rows of ``levels`` levels (plain Python)."""
    return FrameBuffers(
        ts_recv=np.empty(n, dtype=np.int64),
        ts_exch=np.empty(n, dtype=np.int64),
        event_idx=np.empty(n, dtype=np.int64),
        bid_ticks=np.empty((n, levels), dtype=np.int64),
        bid_qty=np.empty((n, levels), dtype=np.float64),
        ask_ticks=np.empty((n, levels), dtype=np.int64),
        ask_qty=np.empty((n, levels), dtype=np.float64),
        trade_qty_buy=np.empty(n, dtype=np.float64),
        trade_qty_sell=np.empty(n, dtype=np.float64),
        crossed=np.empty(n, dtype=np.bool_),
    )


@njit_nrt_free
def valid_event_nb(kind: int, side: int, price: int, qty: float) -> bool:
    """True when a C1 row can be applied to the book (enums, finite qty >= 0, price range)."""
    if kind == KIND_CLEAR:
        return -1 <= side <= 1
    if not 0.0 <= qty < np.inf:
        return False
    if kind == KIND_TRADE:
        return -1 <= side <= 1
    if kind != KIND_BOOK and kind != KIND_SNAPSHOT:
        return False
    return (side == 1 or side == -1) and -PRICE_LIMIT < price < PRICE_LIMIT


@njit_nrt_free
def apply_event_nb(
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    kind: int,
    side: int,
    price: int,
    qty: float,
) -> int:
    """Apply one C1 row (BOOK, SNAPSHOT, CLEAR or TRADE); return a status. Oracle: ReferenceBook."""
    if not valid_event_nb(kind, side, price, qty):
        return STATUS_BAD_EVENT
    if kind == KIND_TRADE:
        if side != 0:
            fst[FST_BUY if side == 1 else FST_SELL] += qty
        return STATUS_OK
    if kind == KIND_CLEAR:
        if side >= 0:
            clear_side_nb(ist, q, ovf_px, 0)
        if side <= 0:
            clear_side_nb(ist, q, ovf_px, 1)
        return STATUS_OK
    return set_level_nb(ist, q, ovf_px, ovf_qty, 0 if side == 1 else 1, price, qty)


@njit_inline
def top_side_nb(
    ist: NDArray[np.int64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    out_ticks: NDArray[np.int64],
    out_qty: NDArray[np.float64],
    row: int,
) -> int:
    """Write the best levels of side ``s`` into ``out_*[row, :]``, best first, then sentinels.

    Scans the window from the best and stops once every window level is found, then takes
    the remaining levels from the overflow. Returns the number of real levels written.
    Oracle: ``ReferenceBook.top``.
    """
    n_out = out_ticks.shape[1]
    count = min(ist[IST_COUNT + s], n_out)
    base = ist[IST_BASE + s]
    j = ist[IST_BEST + s] - base
    step = -1 if s == 0 else 1
    found = 0
    while found < count:  # branch-free: write every slot, advance only on a level
        v = q[s, j]
        out_ticks[row, found] = base + j
        out_qty[row, found] = v
        found += v != 0.0
        j += step
    if found < n_out and ist[IST_OVF + s] > 0:
        found = top_overflow_nb(ist, ovf_px, ovf_qty, s, out_ticks, out_qty, row, found)
    for k in range(found, n_out):
        out_ticks[row, k] = empty_price_nb(s)
        out_qty[row, k] = 0.0
    return found


@njit_nrt_free
def top_overflow_nb(
    ist: NDArray[np.int64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    out_ticks: NDArray[np.int64],
    out_qty: NDArray[np.float64],
    row: int,
    found: int,
) -> int:
    """Continue :func:`top_side_nb` from the overflow (all worse than the window levels).

    Selection without allocation: each slot takes the best level worse than the previous.
    """
    limit = out_ticks[row, found - 1] if found > 0 else empty_price_nb(1 - s)
    for r in range(found, out_ticks.shape[1]):
        pick = -1
        for k in range(ist[IST_OVF + s]):
            p = ovf_px[s, k]
            if better_nb(s, limit, p) and (pick < 0 or better_nb(s, p, ovf_px[s, pick])):
                pick = k
        if pick < 0:
            return r
        limit = ovf_px[s, pick]
        out_ticks[row, r] = limit
        out_qty[row, r] = ovf_qty[s, pick]
    return int(out_ticks.shape[1])


@njit_inline
def write_row_nb(
    out: FrameBuffers,
    row: int,
    event: NDArray[np.void],
    event_idx: int,
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
) -> None:
    """Write one C2 row for the book state after ``event`` and reset the trade volumes."""
    out.ts_recv[row] = event["ts_recv"]
    out.ts_exch[row] = event["ts_exch"]
    out.event_idx[row] = event_idx
    top_side_nb(ist, q, ovf_px, ovf_qty, 0, out.bid_ticks, out.bid_qty, row)
    top_side_nb(ist, q, ovf_px, ovf_qty, 1, out.ask_ticks, out.ask_qty, row)
    out.trade_qty_buy[row] = fst[FST_BUY]
    out.trade_qty_sell[row] = fst[FST_SELL]
    fst[FST_BUY] = 0.0
    fst[FST_SELL] = 0.0
    out.crossed[row] = ist[IST_BEST] >= ist[IST_BEST + 1]


@njit_inline
def fast_level_nb(
    ist: NDArray[np.int64], q: NDArray[np.float64], s: int, price: int, qty: float
) -> bool:
    """Common level update: inside the window, leaving the window non-empty.

    Returns False (having changed nothing) when :func:`set_level_nb` must handle it.
    """
    j = price - ist[IST_BASE + s]
    if not 0 <= j < q.shape[1]:
        return False
    old = q[s, j]
    if qty > 0.0:
        q[s, j] = qty
        if old == 0.0:
            ist[IST_COUNT + s] += 1
        if better_nb(s, price, ist[IST_BEST + s]):
            ist[IST_BEST + s] = price
        return True
    if old == 0.0:
        return True
    if price == ist[IST_BEST + s]:
        if ist[IST_COUNT + s] == 1:
            return False
        step = -1 if s == 0 else 1
        k = j + step
        while q[s, k] == 0.0:
            k += step
        ist[IST_BEST + s] = ist[IST_BASE + s] + k
    q[s, j] = 0.0
    ist[IST_COUNT + s] -= 1
    return True


@njit_inline
def fast_event_nb(
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    q: NDArray[np.float64],
    kind: int,
    side: int,
    price: int,
    qty: float,
) -> bool:
    """Apply the common events inline (trades, in-window BOOK rows); False if not handled."""
    if not ((side == 1 or side == -1) and 0.0 <= qty < np.inf):
        return False
    if kind == KIND_BOOK:
        return fast_level_nb(ist, q, (1 - side) >> 1, price, qty)
    if kind == KIND_TRADE:
        fst[(1 - side) >> 1] += qty
        return True
    return False


@njit_nrt_free
def run_nb(
    events: NDArray[np.void],
    start: int,
    offset: int,
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    out: FrameBuffers,
    row: int,
    sample: bool,
) -> tuple[int, int, int]:
    """Apply ``events[start:]``; with ``sample``, write a C2 row at every ``F_LAST``.

    ``offset`` is the global index of ``events[0]``; rows go to ``out`` from ``row`` on.
    Returns ``(status, index reached, rows written so far)``; on a non-OK status the event
    at the index reached is not applied. Oracle: ``ReferenceBook`` (sampled after every
    ``F_LAST`` row).
    """
    for i in range(start, events.shape[0]):
        e = events[i]
        kind, side, qty = e["kind"], e["side"], e["qty"]
        if not fast_event_nb(ist, fst, q, kind, side, e["price_ticks"], qty):
            status = apply_event_nb(ist, fst, q, ovf_px, ovf_qty, kind, side, e["price_ticks"], qty)
            if status != STATUS_OK:
                return status, i, row
        if sample and e["flags"] & F_LAST:
            write_row_nb(out, row, e, offset + i, ist, fst, q, ovf_px, ovf_qty)
            row += 1
    if events.shape[0] > start:
        ist[IST_TS_EXCH] = events[events.shape[0] - 1]["ts_exch"]
        ist[IST_TS_RECV] = events[events.shape[0] - 1]["ts_recv"]
    return STATUS_OK, events.shape[0], row


@njit_nrt_free
def count_last_nb(events: NDArray[np.void]) -> int:
    """Number of rows with the ``F_LAST`` flag (rows a replay of ``events`` will write)."""
    n = 0
    for i in range(events.shape[0]):
        n += events[i]["flags"] & F_LAST
    return int(n)
