"""Book-side kernels of the generator: a tick-indexed ring buffer and C1 row emission.

The book is ``q: float64[2, N]`` (row 0 bids, row 1 asks) indexed by
``price_ticks & (N - 1)``. Every live bid lies in ``[best_bid - depth, best_bid]`` and every
live ask in ``[best_ask, best_ask + depth]`` with ``spread <= max_spread``, so with
``N > 2 depth + max_spread`` no two live prices share a slot. Scalar state lives in
``ist: int64[16]`` and ``fst: float64[8]`` (indices below) so a run resumes exactly.
Oracle for every kernel here: replaying the emitted rows into ``ReferenceBook`` gives the
same levels (``tests/unit/synth/test_generator.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached
from l2trader.schema import KIND_BOOK

__all__ = [
    "BB",
    "NONE",
    "can_empty_best_nb",
    "emit_nb",
    "next_nonempty_nb",
    "refresh_best_nb",
    "set_level_nb",
]

# ist (int64) slots
BB, BA, SEQ, TS_EXCH, TS_RECV, META_SIGN, META_LEFT, NLEV_BID, NLEV_ASK, STARTED, DONE = range(11)
# batch (int64[3]) slots: ts_exch, ts_recv, seq of the batch being written
B_EXCH, B_RECV, B_SEQ = range(3)
# fst (float64) slots: model time (s since start), Hawkes excitation (1/s), side volumes
T, EXC, VOL_BID, VOL_ASK = range(4)
NONE = -(1 << 62)
"""Sentinel price: no level found."""


@njit_cached
def row_nb(side: int) -> int:
    """Row of ``q`` for a side (+1 bid -> 0, -1 ask -> 1)."""
    return 0 if side == 1 else 1


@njit_cached
def best_nb(ist: NDArray[np.int64], side: int) -> int:
    """Best price of a side, ticks."""
    return int(ist[BB]) if side == 1 else int(ist[BA])


@njit_cached
def emit_nb(
    out: NDArray[np.void],
    n: int,
    batch: NDArray[np.int64],
    price: int,
    qty: float,
    kind: int,
    side: int,
) -> int:
    """Write one C1 row at ``out[n]`` with the batch clocks and seq; return ``n + 1``."""
    row = out[n]
    row.ts_exch = batch[B_EXCH]
    row.ts_recv = batch[B_RECV]
    row.seq = batch[B_SEQ]
    row.price_ticks = price
    row.qty = qty
    row.kind = kind
    row.side = side
    row.flags = 0
    return n + 1


@njit_cached
def set_level_nb(
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    side: int,
    price: int,
    qty: float,
) -> None:
    """Set the size of one level and keep level counts and side volume in step."""
    r = row_nb(side)
    slot = price & (q.shape[1] - 1)
    old = q[r, slot]
    q[r, slot] = qty
    fst[VOL_BID + r] += qty - old
    if old == 0.0 and qty > 0.0:
        ist[NLEV_BID + r] += 1
    elif old > 0.0 and qty == 0.0:
        ist[NLEV_BID + r] -= 1


@njit_cached
def level_nb(q: NDArray[np.float64], side: int, price: int) -> float:
    """Size resting at ``price`` on ``side`` (0 when empty)."""
    return float(q[row_nb(side), price & (q.shape[1] - 1)])


@njit_cached
def next_nonempty_nb(q: NDArray[np.float64], side: int, price: int, max_steps: int) -> int:
    """First non-empty price strictly beyond ``price`` going away from the touch, or NONE."""
    for k in range(1, max_steps + 1):
        p = price - side * k
        if level_nb(q, side, p) > 0.0:
            return p
    return NONE


@njit_cached
def refresh_best_nb(q: NDArray[np.float64], ist: NDArray[np.int64], side: int, depth: int) -> None:
    """After the best level of ``side`` emptied, move the best to the next non-empty level."""
    r = row_nb(side)
    ist[BB + r] = next_nonempty_nb(q, side, best_nb(ist, side), depth)


@njit_cached
def can_empty_best_nb(
    q: NDArray[np.float64], ist: NDArray[np.int64], side: int, depth: int, max_spread: int
) -> bool:
    """True when removing the best level keeps the side non-empty and the spread capped."""
    nxt = next_nonempty_nb(q, side, best_nb(ist, side), depth)
    if nxt == NONE:
        return False
    other = best_nb(ist, -side)
    return side * (other - nxt) <= max_spread


@njit_cached
def add_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    batch: NDArray[np.int64],
    side: int,
    price: int,
    size: float,
    depth: int,
) -> int:
    """Add ``size`` at ``price`` (never crossing); return the new row count.

    If the add improves the best, levels now more than ``depth`` ticks behind it are deleted.
    """
    new = level_nb(q, side, price) + size
    set_level_nb(q, ist, fst, side, price, new)
    n = emit_nb(out, n, batch, price, new, KIND_BOOK, side)
    old_best = best_nb(ist, side)
    shift = side * (price - old_best)
    if shift <= 0:
        return n
    ist[BB + row_nb(side)] = price
    for k in range(shift):
        p = old_best - side * (depth - k)
        if level_nb(q, side, p) > 0.0:
            set_level_nb(q, ist, fst, side, p, 0.0)
            n = emit_nb(out, n, batch, p, 0.0, KIND_BOOK, side)
    return n


@njit_cached
def reduce_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    batch: NDArray[np.int64],
    side: int,
    price: int,
    amount: float,
    depth: int,
) -> int:
    """Remove ``amount`` from a level, emit its BOOK row, refresh the best if it emptied."""
    left = level_nb(q, side, price) - amount
    set_level_nb(q, ist, fst, side, price, left)
    n = emit_nb(out, n, batch, price, left, KIND_BOOK, side)
    if left == 0.0 and price == best_nb(ist, side):
        refresh_best_nb(q, ist, side, depth)
    return n
