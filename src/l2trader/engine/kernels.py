"""Numba kernels of the exchange simulator: taker orders walking the visible book.

A taker order of ``want`` base units on side +1 (buy, walks the asks) or -1 (sell, walks the
bids) consumes the levels of one C2 book side, best first, down to its limit price. Levels
are ``ticks: int64[L]`` / ``qty: float64[L]`` best first; empty levels carry the C2 sentinel
(``NO_ASK_TICKS`` for asks, ``NO_BID_TICKS`` for bids) with qty 0 and end the walk. A level
with a real price but no size (qty <= 0 or NaN) is skipped and not counted as walked.

Time-in-force rules built from these kernels:

- MARKET: :func:`walk_book_nb` with ``limit_ticks = market_limit_ticks(side)`` (no limit).
- IOC: :func:`walk_book_nb` as is: fill what is visible within the limit, drop the rest.
- FOK: :func:`fok_fill_nb`: check :func:`available_nb` first, then all or nothing.
- POST_ONLY: :func:`would_cross_nb` against the opposite best price, before resting.

Float sizes: an order counts as complete once its remaining size is at most
``want * QTY_RTOL``; the filled size is then exactly ``want`` (so 0.7 + 0.2 + 0.1 fills an
order of 1.0, although the float sum is 0.9999999999999999).

Oracle: ``tests/unit/engine/test_walk.py::_slow_walk`` (exact ``fractions.Fraction``
arithmetic, one level at a time) plus hand-worked cases.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS

__all__ = [
    "QTY_RTOL",
    "WALK_LEVELS",
    "WALK_VWAP",
    "WALK_WORST",
    "available_nb",
    "fok_fill_nb",
    "market_limit_ticks",
    "mid_ticks_nb",
    "slippage_bps_nb",
    "sweep_nb",
    "walk_book_nb",
    "would_cross_nb",
]

WALK_VWAP: Final = 0
"""``out`` slot: volume-weighted average execution price (ticks, float); NaN if no fill."""
WALK_LEVELS: Final = 1
"""``out`` slot: number of levels the order took size from (float)."""
WALK_WORST: Final = 2
"""``out`` slot: price of the last (worst) level taken from (ticks, float); NaN if no fill."""
QTY_RTOL: Final = 1e-9
"""A remaining size of at most ``want * QTY_RTOL`` base units counts as fully filled."""


def market_limit_ticks(side: int) -> int:
    """Limit price (ticks) that lets a MARKET order on ``side`` walk every visible level.

    Examples
    --------
    >>> market_limit_ticks(1) == NO_ASK_TICKS, market_limit_ticks(-1) == NO_BID_TICKS
    (True, True)
    """
    return int(NO_ASK_TICKS) if side > 0 else int(NO_BID_TICKS)


@njit_inline
def in_limit_nb(tick: int, limit_ticks: int, side: int) -> bool:
    """True if a level at ``tick`` is real (not a sentinel) and within the taker's limit."""
    if side > 0:
        return tick != NO_ASK_TICKS and tick <= limit_ticks
    return tick != NO_BID_TICKS and tick >= limit_ticks


@njit_nrt_free
def sweep_nb(
    ticks: NDArray[np.int64],
    qty: NDArray[np.float64],
    want: float,
    limit_ticks: int,
    side: int,
    out: NDArray[np.float64],
    take: NDArray[np.float64],
) -> float:
    """Walk the book like :func:`walk_book_nb` and also write the size taken per level.

    ``take`` is float64[L] (base units; 0 where nothing was taken) or empty (not written).
    The last level taken absorbs the float residual of a completed order (at most
    ``want * QTY_RTOL``), so the exchange can emit one exact-price fill per level. Returns
    the filled size (base units). Oracle: as :func:`walk_book_nb`.
    """
    remaining = want if want > 0.0 else 0.0  # NaN or <= 0: fill nothing
    tol = remaining * QTY_RTOL
    filled = 0.0
    notional = 0.0
    levels = 0
    last = -1
    for k in range(take.shape[0]):
        take[k] = 0.0
    for k in range(ticks.shape[0]):
        if remaining <= tol or not in_limit_nb(ticks[k], limit_ticks, side):
            break
        q = qty[k]
        if not q > 0.0:
            continue
        t = min(q, remaining)
        remaining -= t
        filled += t
        notional += t * ticks[k]
        levels += 1
        last = k
        if take.shape[0] > 0:
            take[k] = t
    if last < 0:
        out[WALK_VWAP] = np.nan
        out[WALK_LEVELS] = 0.0
        out[WALK_WORST] = np.nan
        return 0.0
    out[WALK_VWAP] = notional / filled
    out[WALK_LEVELS] = levels
    out[WALK_WORST] = ticks[last]
    if remaining <= tol:
        if take.shape[0] > 0:
            take[last] += remaining
        return want
    return filled


@njit_nrt_free
def walk_book_nb(
    ticks: NDArray[np.int64],
    qty: NDArray[np.float64],
    want: float,
    limit_ticks: int,
    side: int,
    out: NDArray[np.float64],
) -> float:
    """Fill a taker order of ``want`` base units against one book side (the IOC rule).

    Parameters
    ----------
    ticks, qty
        Opposite side of the book, best first (asks for a buy, bids for a sell), C2 sentinels
        on empty levels; ticks and base units.
    want
        Order size, base units, finite (<= 0 or NaN fills nothing).
    limit_ticks
        Worst acceptable price, ticks; :func:`market_limit_ticks` for a MARKET order.
    side
        +1 buy (takes asks priced <= limit), -1 sell (takes bids priced >= limit).
    out
        float64[3], written: ``WALK_VWAP`` (ticks), ``WALK_LEVELS``, ``WALK_WORST`` (ticks).

    Returns
    -------
    float
        Filled size, base units (``want`` exactly when the order completes).

    Notes
    -----
    Oracle: ``_slow_walk`` in ``tests/unit/engine/test_walk.py``.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros(3)
    >>> ticks, qty = np.array([101, 102, 103]), np.array([1.0, 2.0, 5.0])
    >>> walk_book_nb(ticks, qty, 2.0, 102, 1, out), out.tolist()
    (2.0, [101.5, 2.0, 102.0])
    """
    return sweep_nb(ticks, qty, want, limit_ticks, side, out, out[:0])


@njit_nrt_free
def available_nb(
    ticks: NDArray[np.int64], qty: NDArray[np.float64], limit_ticks: int, side: int
) -> float:
    """Total visible size (base units) a taker on ``side`` could take within ``limit_ticks``.

    Oracle: sum of ``qty`` over in-limit levels (hand-worked tests).
    """
    total = 0.0
    for k in range(ticks.shape[0]):
        if not in_limit_nb(ticks[k], limit_ticks, side):
            break
        if qty[k] > 0.0:
            total += qty[k]
    return total


@njit_nrt_free
def fok_fill_nb(
    ticks: NDArray[np.int64],
    qty: NDArray[np.float64],
    want: float,
    limit_ticks: int,
    side: int,
    out: NDArray[np.float64],
) -> float:
    """Fill-or-kill: walk the book only if all of ``want`` (base units) is fillable.

    Returns the filled size: ``want`` or 0.0 (then ``out`` is NaN, 0, NaN and the exchange
    rejects with ``Reject.FOK_NOT_FILLABLE``). Oracle: ``_slow_walk`` + the check above.
    """
    if want > 0.0 and available_nb(ticks, qty, limit_ticks, side) >= want * (1.0 - QTY_RTOL):
        return sweep_nb(ticks, qty, want, limit_ticks, side, out, out[:0])
    out[WALK_VWAP] = np.nan
    out[WALK_LEVELS] = 0.0
    out[WALK_WORST] = np.nan
    return 0.0


@njit_inline
def would_cross_nb(limit_ticks: int, side: int, best_opposite_ticks: int) -> bool:
    """True if a limit order at ``limit_ticks`` on ``side`` would take liquidity.

    POST_ONLY rule: a buy crosses when the best ask (ticks) is at or below its price, a sell
    when the best bid is at or above it; an empty opposite side (C2 sentinel) never crosses.
    Oracle: hand-worked cases.
    """
    if side > 0:
        return best_opposite_ticks != NO_ASK_TICKS and limit_ticks >= best_opposite_ticks
    return best_opposite_ticks != NO_BID_TICKS and limit_ticks <= best_opposite_ticks


@njit_inline
def mid_ticks_nb(best_bid_ticks: int, best_ask_ticks: int) -> float:
    """Arrival mid price (ticks, float); NaN when either side is empty (C2 sentinel)."""
    if best_bid_ticks == NO_BID_TICKS or best_ask_ticks == NO_ASK_TICKS:
        return np.nan
    return 0.5 * (float(best_bid_ticks) + float(best_ask_ticks))


@njit_inline
def slippage_bps_nb(vwap_ticks: float, mid_ticks: float, side: int) -> float:
    """Execution cost of a fill vs the arrival mid, bps; positive = worse than mid.

    ``side * (vwap - mid) / |mid| * 1e4`` (ticks cancel in the ratio); NaN when the mid or
    the VWAP is NaN or the mid is 0. Oracle: hand-worked cases.

    Examples
    --------
    >>> buy = slippage_bps_nb(10_010.0, 10_000.0, 1)
    >>> sell = slippage_bps_nb(9_990.0, 10_000.0, -1)
    >>> round(buy, 9), round(sell, 9)
    (10.0, 10.0)
    """
    if mid_ticks == 0.0 or np.isnan(mid_ticks) or np.isnan(vwap_ticks):
        return np.nan
    return side * (vwap_ticks - mid_ticks) / abs(mid_ticks) * 1e4
