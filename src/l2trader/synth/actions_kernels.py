"""Order-flow actions that remove liquidity: cancels, market orders, sweeps, holes.

Each action writes its rows into ``out[n:]`` and returns the new row count (unchanged when
the action is a no-op, e.g. it would empty a side or push the spread past its cap). Oracle:
``ReferenceBook`` replay of the emitted rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached
from l2trader.schema import KIND_BOOK, KIND_TRADE
from l2trader.synth import book_kernels as bk
from l2trader.synth.params import SynthParams
from l2trader.synth.rng_kernels import geometric_nb, lognormal_int_nb, pareto_int_nb, uniform_nb

__all__ = ["MAX_BLOCK_LEVELS", "cancel_at_nb", "cancel_nb", "hole_nb", "market_nb", "sweep_nb"]

MAX_BLOCK_LEVELS = 20
"""Most levels one sweep or one liquidity hole removes."""
MAX_TRADE_SIZE = 1e6
"""Cap of a market order's drawn size, base units."""


@njit_cached
def cancel_at_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    side: int,
    price: int,
    p: SynthParams,
) -> int:
    """Cancel one order's worth (lognormal size, at most the level) at ``price``.

    Emptying the best level is reduced to a partial cancel when it would empty the side or
    push the spread past its cap.
    """
    size = bk.level_nb(q, side, price)
    amount = min(size, lognormal_int_nb(rng, p.size_median, p.size_sigma))
    if (
        amount == size
        and price == bk.best_nb(ist, side)
        and not bk.can_empty_best_nb(q, ist, side, p.depth, p.max_spread)
    ):
        amount = size - 1.0
    if amount <= 0.0:
        return n
    return bk.reduce_nb(out, n, q, ist, fst, batch, side, price, amount, p.depth)


@njit_cached
def cancel_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    side: int,
    p: SynthParams,
) -> int:
    """Cancel at a level of ``side`` drawn with probability proportional to its size."""
    r = bk.row_nb(side)
    target = uniform_nb(rng) * fst[bk.VOL_BID + r]
    mask = q.shape[1] - 1
    price = bk.best_nb(ist, side)
    acc = q[r, price & mask]
    for _ in range(p.depth):
        if target < acc:
            break
        price -= side
        acc += q[r, price & mask]
    return cancel_at_nb(out, n, q, ist, fst, rng, batch, side, price, p)


@njit_cached
def market_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    aggressor: int,
    p: SynthParams,
) -> int:
    """Market order of Pareto size against the touch: a TRADE, then the touch's BOOK row.

    The order takes at most the touch queue (the rest is dropped, like a marketable limit
    order at the best price).
    """
    passive = -aggressor
    touch = bk.best_nb(ist, passive)
    size = bk.level_nb(q, passive, touch)
    take = min(size, pareto_int_nb(rng, p.trade_min, p.trade_tail, MAX_TRADE_SIZE))
    if take == size and not bk.can_empty_best_nb(q, ist, passive, p.depth, p.max_spread):
        take = size - 1.0
    if take <= 0.0:
        return n
    n = bk.emit_nb(out, n, batch, touch, take, KIND_TRADE, aggressor)
    return bk.reduce_nb(out, n, q, ist, fst, batch, passive, touch, take, p.depth)


@njit_cached
def sweep_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    aggressor: int,
    p: SynthParams,
) -> int:
    """Large market order (a jump) sweeping ``2 + Geometric`` whole levels.

    Emits one TRADE per consumed level, then one BOOK (size 0) row per consumed level.
    """
    passive = -aggressor
    levels = min(MAX_BLOCK_LEVELS, 2 + geometric_nb(rng, p.sweep_mean))
    first = n
    for _ in range(levels):
        if not bk.can_empty_best_nb(q, ist, passive, p.depth, p.max_spread):
            break
        touch = bk.best_nb(ist, passive)
        n = bk.emit_nb(out, n, batch, touch, bk.level_nb(q, passive, touch), KIND_TRADE, aggressor)
        bk.set_level_nb(q, ist, fst, passive, touch, 0.0)
        bk.refresh_best_nb(q, ist, passive, p.depth)
    last = n
    for i in range(first, last):
        n = bk.emit_nb(out, n, batch, out[i].price_ticks, 0.0, KIND_BOOK, passive)
    return n


@njit_cached
def hole_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    side: int,
    p: SynthParams,
) -> int:
    """Liquidity hole: cancel ``2 + Geometric`` consecutive price levels of one side at once.

    The block starts at the touch (half of the time) or one tick behind it.
    """
    width = min(MAX_BLOCK_LEVELS, 2 + geometric_nb(rng, p.hole_mean))
    best = bk.best_nb(ist, side)
    start = 0 if uniform_nb(rng) < 0.5 else 1
    if start == 0:
        nxt = bk.next_nonempty_nb(q, side, best - side * (width - 1), p.depth - width + 1)
        if nxt == bk.NONE or side * (bk.best_nb(ist, -side) - nxt) > p.max_spread:
            start = 1
    for k in range(start, start + width):
        price = best - side * k
        if bk.level_nb(q, side, price) > 0.0:
            bk.set_level_nb(q, ist, fst, side, price, 0.0)
            n = bk.emit_nb(out, n, batch, price, 0.0, KIND_BOOK, side)
    if start == 0:
        bk.refresh_best_nb(q, ist, side, p.depth)
    return n
