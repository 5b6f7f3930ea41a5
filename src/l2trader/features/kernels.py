"""Numba kernels of the feature library: one pass over book-frame rows (contract C2).

:func:`rows_nb` computes, for every book state, the *state* features (read from the state
itself) and the *increments* (OFI, squared mid return, events, level-1 queue flows: the
change from the previous state). Window and flow features are sums of increments, taken
from prefix sums by :mod:`l2trader.features.windows`. The previous state is carried in
``prev_*`` arrays and ``ist`` / ``fst`` so a stream can be fed in chunks. Oracles:
``tests/unit/features/oracle.py`` (plain numpy/pandas, one row at a time).

Prices are ticks (int64, ``NO_BID_TICKS`` / ``NO_ASK_TICKS`` on empty levels), sizes base
units. State column layout (``S`` columns): ``mid, spread, wmid, imb_stoikov`` (ticks,
ticks, ticks, qb1/(qb1+qa1)), then one imbalance per ``imb_levels``, the 1/k-weighted
imbalance, (bid, ask) depth per ``depth_ticks``, (bid, ask) depth per ``depth_bps``, slope
bid, slope ask. Increment layout: OFI per ``ofi_levels``, squared mid return (bps^2),
events, depletion bid, replenishment bid, depletion ask, replenishment ask.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS

__all__ = [
    "IST_HAS_PREV",
    "IST_LAST_CHANGE",
    "IST_PREV_EVENT",
    "n_increments",
    "n_state",
    "rows_nb",
]

IST_HAS_PREV: Final = 0
IST_PREV_EVENT: Final = 1
IST_LAST_CHANGE: Final = 2
"""ist slot: ts_recv (ns) of the last state whose mid differed from the one before, or -1."""
FST_PREV_MID: Final = 0
"""fst slot: the last valid mid (ticks), NaN before the first."""
BASE_STATE: Final = 4
INCR_TAIL: Final = 6


def n_state(n_imb: int, n_depth_ticks: int, n_depth_bps: int) -> int:
    """Number of state columns for the given parameter counts."""
    return BASE_STATE + n_imb + 1 + 2 * n_depth_ticks + 2 * n_depth_bps + 2


def n_increments(n_ofi: int) -> int:
    """Number of increment columns for ``n_ofi`` OFI level sets."""
    return n_ofi + INCR_TAIL


@njit_inline
def imbalance_nb(bq: NDArray[np.float64], aq: NDArray[np.float64], n: int) -> float:
    """Size imbalance over the best ``n`` levels, NaN when both sides are empty."""
    b = 0.0
    a = 0.0
    for k in range(n):
        b += bq[k]
        a += aq[k]
    return (b - a) / (b + a) if b + a > 0.0 else np.nan


@njit_inline
def weighted_imbalance_nb(bq: NDArray[np.float64], aq: NDArray[np.float64]) -> float:
    """Imbalance with weight 1/k on level k (k = 1..L)."""
    b = 0.0
    a = 0.0
    for k in range(bq.shape[0]):
        b += bq[k] / (k + 1)
        a += aq[k] / (k + 1)
    return (b - a) / (b + a) if b + a > 0.0 else np.nan


@njit_inline
def depth_within_nb(
    ticks: NDArray[np.int64], qty: NDArray[np.float64], mid: float, limit: float
) -> float:
    """Sum of sizes of levels at most ``limit`` ticks from ``mid`` (NaN if mid is NaN)."""
    if np.isnan(mid):
        return np.nan
    total = 0.0
    for k in range(ticks.shape[0]):
        if qty[k] > 0.0 and abs(ticks[k] - mid) <= limit:
            total += qty[k]
    return total


@njit_inline
def slope_nb(ticks: NDArray[np.int64], qty: NDArray[np.float64], mid: float, n: int) -> float:
    """OLS slope of cumulative size on |price - mid| (ticks) over the best ``n`` levels."""
    if np.isnan(mid):
        return np.nan
    m = 0
    sx = sy = sxx = sxy = cum = 0.0
    for k in range(n):
        if qty[k] <= 0.0:
            break
        cum += qty[k]
        x = abs(ticks[k] - mid)
        m += 1
        sx += x
        sy += cum
        sxx += x * x
        sxy += x * cum
    if m < 2:
        return np.nan
    var = sxx - sx * sx / m
    return (sxy - sx * sy / m) / var if var > 0.0 else np.nan


@njit_inline
def level_ofi_nb(
    pb: int, qb: float, pa: int, qa: float, pb0: int, qb0: float, pa0: int, qa0: float
) -> float:
    """Cont-Kukanov-Stoikov order flow of one level between two states (``0`` = before)."""
    e = 0.0
    if pb >= pb0:
        e += qb
    if pb <= pb0:
        e -= qb0
    if pa <= pa0:
        e -= qa
    if pa >= pa0:
        e += qa0
    return e


@njit_inline
def queue_flow_nb(s: int, p: int, q: float, p0: int, q0: float) -> tuple[float, float]:
    """(removed, added) size at the best queue of side ``s`` (0 bid, 1 ask) between states."""
    if p == p0:
        d = q - q0
        return max(-d, 0.0), max(d, 0.0)
    better = p > p0 if s == 0 else p < p0
    return (0.0, q) if better else (q0, 0.0)


@njit_inline
def state_row_nb(
    bt: NDArray[np.int64],
    bq: NDArray[np.float64],
    at: NDArray[np.int64],
    aq: NDArray[np.float64],
    params: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], int],
    out: NDArray[np.float64],
) -> float:
    """Write the state columns of one book state into ``out``; return its mid (ticks)."""
    imb_levels, depth_ticks, depth_bps, slope_n = params
    two_sided = bq[0] > 0.0 and aq[0] > 0.0 and bt[0] != NO_BID_TICKS and at[0] != NO_ASK_TICKS
    mid = (bt[0] + at[0]) / 2.0 if two_sided else np.nan
    out[0] = mid
    out[1] = at[0] - bt[0] if two_sided else np.nan
    out[2] = (bt[0] * aq[0] + at[0] * bq[0]) / (bq[0] + aq[0]) if two_sided else np.nan
    out[3] = bq[0] / (bq[0] + aq[0]) if two_sided else np.nan
    c = BASE_STATE
    for n in imb_levels:
        out[c] = imbalance_nb(bq, aq, n)
        c += 1
    out[c] = weighted_imbalance_nb(bq, aq)
    c += 1
    for k in depth_ticks:
        out[c] = depth_within_nb(bt, bq, mid, k)
        out[c + 1] = depth_within_nb(at, aq, mid, k)
        c += 2
    for x in depth_bps:
        limit = x * 1e-4 * abs(mid)
        out[c] = depth_within_nb(bt, bq, mid, limit)
        out[c + 1] = depth_within_nb(at, aq, mid, limit)
        c += 2
    out[c] = slope_nb(bt, bq, mid, slope_n)
    out[c + 1] = slope_nb(at, aq, mid, slope_n)
    return mid


@njit_inline
def increment_row_nb(
    bt: NDArray[np.int64],
    bq: NDArray[np.float64],
    at: NDArray[np.int64],
    aq: NDArray[np.float64],
    prev: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]],
    ofi_levels: NDArray[np.int64],
    out: NDArray[np.float64],
) -> None:
    """Write the OFI and level-1 queue increments from the previous state ``prev``."""
    pbt, pbq, pat, paq = prev
    c = 0
    total = 0.0
    m = 0
    for n in ofi_levels:
        while m < n:
            total += level_ofi_nb(bt[m], bq[m], at[m], aq[m], pbt[m], pbq[m], pat[m], paq[m])
            m += 1
        out[c] = total
        c += 1
    c += 2  # squared return and events: written by the caller
    out[c], out[c + 1] = queue_flow_nb(0, bt[0], bq[0], pbt[0], pbq[0])
    out[c + 2], out[c + 3] = queue_flow_nb(1, at[0], aq[0], pat[0], paq[0])


@njit_nrt_free
def rows_nb(
    frame: tuple[
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.float64],
    ],
    params: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], int],
    ofi_levels: NDArray[np.int64],
    prev: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    out: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]],
) -> None:
    """State features, increments and last-mid-change time of every frame row.

    ``frame = (ts_recv, event_idx, bid_ticks, bid_qty, ask_ticks, ask_qty)``; ``out =
    (state[n, S], incr[n, I], last_change_ns[n])``. The first row of a stream has zero
    increments (there is no previous state). Oracle: ``tests/unit/features/oracle.py``.
    """
    ts, ev, bt, bq, at, aq = frame
    state, incr, last_change = out
    pbt, pbq, pat, paq = prev
    n_ofi = ofi_levels.shape[0]
    for i in range(ts.shape[0]):
        mid = state_row_nb(bt[i], bq[i], at[i], aq[i], params, state[i])
        for k in range(incr.shape[1]):
            incr[i, k] = 0.0
        if ist[IST_HAS_PREV]:
            increment_row_nb(bt[i], bq[i], at[i], aq[i], prev, ofi_levels, incr[i])
        prev_mid = fst[FST_PREV_MID]
        if not np.isnan(mid):
            if not np.isnan(prev_mid) and mid != prev_mid:
                r = 1e4 * np.log(mid / prev_mid)
                incr[i, n_ofi] = r * r
                ist[IST_LAST_CHANGE] = ts[i]
            fst[FST_PREV_MID] = mid
        incr[i, n_ofi + 1] = ev[i] - ist[IST_PREV_EVENT]
        last_change[i] = ist[IST_LAST_CHANGE]
        ist[IST_PREV_EVENT] = ev[i]
        ist[IST_HAS_PREV] = 1
        for k in range(pbt.shape[0]):
            pbt[k] = bt[i, k]
            pbq[k] = bq[i, k]
            pat[k] = at[i, k]
            paq[k] = aq[i, k]
