"""Numba kernels of the feature library: one pass over book-frame rows (contract C2).

:func:`flows_nb` runs over every book state and accumulates the *increments* (OFI,
squared mid return, events, level-1 queue flows: the change from the previous state) into
prefix sums; window and flow features are differences of those sums. :func:`states_nb`
computes the *state* features (read from one state) only for the sampled states. The
previous state is carried in ``prev`` arrays, ``ist`` / ``fst`` and ``run`` so a stream can
be fed in chunks. Oracles:
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
    "flows_nb",
    "n_increments",
    "n_state",
    "states_nb",
    "windows_nb",
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
def weighted_imbalance_nb(bq: NDArray[np.float64], aq: NDArray[np.float64]) -> float:
    """Imbalance with weight 1/k on level k (k = 1..L)."""
    b = 0.0
    a = 0.0
    for k in range(bq.shape[0]):
        b += bq[k] / (k + 1)
        a += aq[k] / (k + 1)
    return (b - a) / (b + a) if b + a > 0.0 else np.nan


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
def mid_nb(bt: int, bq: float, at: int, aq: float) -> float:
    """Mid (ticks) of a two-sided best level, NaN when a side is empty."""
    if bq > 0.0 and aq > 0.0 and bt != NO_BID_TICKS and at != NO_ASK_TICKS:
        return (bt + at) / 2.0
    return np.nan


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
    mid = mid_nb(bt[0], bq[0], at[0], aq[0])
    two_sided = not np.isnan(mid)
    out[0] = mid
    out[1] = at[0] - bt[0] if two_sided else np.nan
    out[2] = (bt[0] * aq[0] + at[0] * bq[0]) / (bq[0] + aq[0]) if two_sided else np.nan
    out[3] = bq[0] / (bq[0] + aq[0]) if two_sided else np.nan
    c = BASE_STATE
    for n in imb_levels:  # fixed-length loops unroll: measured faster than one running pass
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
def flows_nb(
    frame: tuple[
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.float64],
    ],
    ofi_levels: NDArray[np.int64],
    prev: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    run: NDArray[np.float64],
    out: tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]],
) -> None:
    """Cumulative increments, last-mid-change time and mid of every frame row.

    ``frame = (ts_recv, event_idx, bid_ticks, bid_qty, ask_ticks, ask_qty)``; ``out =
    (cum[n, I], last_change_ns[n], mid_ticks[n])``. ``run[I]`` carries the running sums
    (added in row order, so any chunking gives the same floats). The first row of a stream
    has zero increments (no previous state). Oracle: ``tests/unit/features/oracle.py``.
    """
    ts, ev, bt, bq, at, aq = frame
    cum, last_change, mids = out
    pbt, pbq, pat, paq = prev
    n_ofi = ofi_levels.shape[0]
    for i in range(ts.shape[0]):
        row = cum[i]
        for k in range(row.shape[0]):
            row[k] = 0.0
        if i > 0:  # the previous state is the frame's previous row: no copy per row
            before = (bt[i - 1], bq[i - 1], at[i - 1], aq[i - 1])
            increment_row_nb(bt[i], bq[i], at[i], aq[i], before, ofi_levels, row)
        elif ist[IST_HAS_PREV]:
            increment_row_nb(bt[i], bq[i], at[i], aq[i], prev, ofi_levels, row)
        mid = mid_nb(bt[i, 0], bq[i, 0], at[i, 0], aq[i, 0])
        mids[i] = mid
        prev_mid = fst[FST_PREV_MID]
        if not np.isnan(mid):
            if not np.isnan(prev_mid) and mid != prev_mid:
                r = 1e4 * np.log(mid / prev_mid)
                row[n_ofi] = r * r
                ist[IST_LAST_CHANGE] = ts[i]
            fst[FST_PREV_MID] = mid
        row[n_ofi + 1] = ev[i] - ist[IST_PREV_EVENT]
        for k in range(row.shape[0]):
            run[k] = run[k] + row[k]
            row[k] = run[k]
        last_change[i] = ist[IST_LAST_CHANGE]
        ist[IST_PREV_EVENT] = ev[i]
        ist[IST_HAS_PREV] = 1
    last = ts.shape[0] - 1
    if last >= 0:  # carry the chunk's last state to the next chunk
        for k in range(pbt.shape[0]):
            pbt[k] = bt[last, k]
            pbq[k] = bq[last, k]
            pat[k] = at[last, k]
            paq[k] = aq[last, k]


@njit_nrt_free
def states_nb(
    book: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]],
    rows: NDArray[np.int64],
    params: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], int],
    out: NDArray[np.float64],
) -> None:
    """State columns of the book states ``rows`` into ``out[len(rows), S]`` (stateless)."""
    bt, bq, at, aq = book
    for j in range(rows.shape[0]):
        r = rows[j]
        state_row_nb(bt[r], bq[r], at[r], aq[r], params, out[j])


@njit_nrt_free
def windows_nb(
    ts: NDArray[np.int64],
    cum: NDArray[np.float64],
    idx: NDArray[np.int64],
    t: NDArray[np.int64],
    windows: NDArray[np.int64],
    first_ts: int,
    out: NDArray[np.float64],
) -> None:
    """Trailing-window features of samples at times ``t`` (sorted) ending at rows ``idx``.

    For window ``w`` the start is the last row with ``ts <= t - w`` (two pointers: ``t`` is
    sorted), the value ``cum[idx] - cum[start]``; NaN while ``t - w < first_ts``. ``out`` has
    ``n_ofi + 6`` columns per window, in registry order: the OFI sums, rv (bps, sqrt of the
    squared-return sum), intensity (events/s), then depletion/replenishment bid/ask (/s).
    Oracle: pandas time-based ``rolling`` in ``tests/unit/features/oracle.py``.
    """
    n_incr = cum.shape[1]
    n_ofi = n_incr - INCR_TAIL
    width = n_ofi + 6
    for k in range(windows.shape[0]):
        w = windows[k]
        secs = w / 1e9
        lo = -1
        for j in range(t.shape[0]):
            target = t[j] - w
            while lo + 1 < ts.shape[0] and ts[lo + 1] <= target:
                lo += 1
            base = k * width
            if target < first_ts or lo < 0:
                for c in range(width):
                    out[j, base + c] = np.nan
                continue
            end = idx[j]
            for c in range(n_ofi):
                out[j, base + c] = cum[end, c] - cum[lo, c]
            out[j, base + n_ofi] = np.sqrt(max(cum[end, n_ofi] - cum[lo, n_ofi], 0.0))
            for c in range(n_ofi + 1, n_incr):
                out[j, base + c] = (cum[end, c] - cum[lo, c]) / secs
