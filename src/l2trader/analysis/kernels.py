"""Numba kernels of the analyzer: single passes over 10M-row grids instead of numpy temporaries.

Each kernel names its oracle (the numpy expression it replaces, exactly: the same float
operations in the same order, so results are bit-identical) and is checked against it in
``tests/unit/analysis/test_kernels.py``. Times are int64 ns, sorted ascending unless stated.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached

__all__ = [
    "average_ranks_nb",
    "drawdown_min_nb",
    "forward_bps_nb",
    "grid_check_nb",
    "group_rows_nb",
    "realized_vol_nb",
    "searchsorted_right_nb",
    "streaks_nb",
    "take_or_nan_nb",
    "tercile_codes_nb",
]


@njit_cached
def grid_check_nb(ts: NDArray[np.int64]) -> tuple[int, int, int]:
    """Smallest gap of ``ts`` and the first bad row: ``(step, row, code)``.

    ``code`` 0: every gap is a positive multiple of ``step`` (``row`` = -1); 1: the gap
    ending at ``row`` is <= 0 (checked first over the whole grid); 2: the gap ending at
    ``row`` is not a multiple of ``step``. Needs ``len(ts) >= 2``. Oracle:
    ``np.diff(ts)``, ``flatnonzero(gaps <= 0)``, ``gaps.min()``, ``remainder(gaps, step)``.
    """
    n = ts.shape[0]
    step = ts[1] - ts[0]
    for i in range(1, n):
        gap = ts[i] - ts[i - 1]
        if gap <= 0:
            return gap, i, 1
        step = min(step, gap)
    for i in range(1, n):
        if (ts[i] - ts[i - 1]) % step != 0:
            return step, i, 2
    return step, -1, 0


@njit_cached
def searchsorted_right_nb(a: NDArray[np.int64], v: NDArray[np.int64]) -> NDArray[np.int64]:
    """``np.searchsorted(a, v, side="right")`` by merging: linear while ``v`` ascends.

    A descending step in ``v`` restarts with a binary search, so any ``v`` is handled.
    Oracle: ``np.searchsorted(a, v, side="right")``.
    """
    n, m = a.shape[0], v.shape[0]
    out = np.empty(m, np.int64)
    j = 0
    for i in range(m):
        x = v[i]
        if i > 0 and x < v[i - 1]:
            j = np.searchsorted(a, x, side="right")
        else:
            while j < n and a[j] <= x:
                j += 1
        out[i] = j
    return out


@njit_cached
def drawdown_min_nb(r: NDArray[np.float64], compounded: bool) -> float:
    """Deepest drawdown of the wealth built from ``r`` (no NaN), starting at 1.

    Oracle (additive): ``w = concatenate(([1.0], 1.0 + cumsum(r)))``,
    ``min(w - maximum.accumulate(w))``; compounded: ``w = concatenate(([1.0], cumprod(1.0 +
    r)))``, ``min((w - peak) / peak)``. The running sum/product is sequential, as numpy's.
    """
    acc = 0.0 if not compounded else 1.0
    peak = 1.0
    worst = 0.0
    for i in range(r.shape[0]):
        if compounded:
            acc *= 1.0 + r[i]
            w = acc
        else:
            acc += r[i]
            w = 1.0 + acc
        peak = max(peak, w)
        dd = (w - peak) / peak if compounded else w - peak
        if dd != dd:  # NaN (an infinite return): numpy's min propagates it
            return np.nan
        worst = min(worst, dd)
    return worst


@njit_cached
def realized_vol_nb(
    ts: NDArray[np.int64], r: NDArray[np.float64], window_ns: int, out: NDArray[np.float64]
) -> None:
    """Trailing realized volatility (bps) into ``out`` (NaN-filled, ``len(ts)``).

    ``r[k-1]`` (log return) belongs to sample ``k``; the window ``(t - W, t]`` of sample ``i``
    covers samples ``j..i``, so returns ``j-1..i-1``. Oracle: the prefix-sum numpy version
    in ``tests/unit/analysis/test_kernels.py`` (sequential prefix sums, as ``np.cumsum``).
    """
    n = ts.shape[0]
    sq = np.zeros(n)  # sq[k] = sum of finite r[:k] squared; nbad[k] = non-finite r in r[:k]
    nbad = np.zeros(n, np.int64)
    for k in range(1, n):
        x = r[k - 1]
        finite = np.isfinite(x)
        sq[k] = sq[k - 1] + (x * x if finite else 0.0)
        nbad[k] = nbad[k - 1] + (0 if finite else 1)
    first = 0
    for i in range(n):
        while first < n and ts[first] <= ts[i] - window_ns:
            first += 1
        lo = max(first - 1, 0)
        if ts[i] - ts[0] >= window_ns and nbad[i] - nbad[lo] == 0:
            out[i] = 1e4 * np.sqrt(max(sq[i] - sq[lo], 0.0))


@njit_cached
def streaks_nb(x: NDArray[np.float64], target: float) -> int:
    """Longest run of consecutive entries equal to ``target``.

    Oracle: the Python loop ``trades._streaks`` had (run + 1 on a match, else 0; max).
    """
    best = run = 0
    for v in x:
        run = run + 1 if v == target else 0
        best = max(best, run)
    return best


@njit_cached
def take_or_nan_nb(x: NDArray[np.float64], k: NDArray[np.int64]) -> NDArray[np.float64]:
    """``x[k]`` with NaN where ``k < 0``. Oracle: ``np.where(k >= 0, x[max(k, 0)], nan)``."""
    out = np.empty(k.shape[0])
    for i in range(k.shape[0]):
        out[i] = x[k[i]] if k[i] >= 0 else np.nan
    return out


@njit_cached
def tercile_codes_nb(x: NDArray[np.float64], q33: float, q67: float) -> NDArray[np.int64]:
    """0 where ``x <= q33``, 1 where ``x <= q67``, else 2; -1 for non-finite ``x``.

    Oracle: ``regimes.tercile_labels``' ``np.where`` over the finite values.
    """
    out = np.empty(x.shape[0], np.int64)
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isfinite(v):
            out[i] = -1
        elif v <= q33:
            out[i] = 0
        elif v <= q67:
            out[i] = 1
        else:
            out[i] = 2
    return out


@njit_cached
def group_rows_nb(
    codes: NDArray[np.int64], n_codes: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows of each code ``0 .. n_codes - 1``, ascending: ``rows[bounds[c]:bounds[c + 1]]``.

    Codes outside the range are left out. A counting sort (stable). Oracle:
    ``np.flatnonzero(codes == c)`` for each ``c``.
    """
    bounds = np.zeros(n_codes + 1, np.int64)
    for c in codes:
        if 0 <= c < n_codes:
            bounds[c + 1] += 1
    for c in range(n_codes):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    rows = np.empty(bounds[n_codes], np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if 0 <= c < n_codes:
            rows[fill[c]] = i
            fill[c] += 1
    return rows, bounds


@njit_cached
def forward_bps_nb(
    ts: NDArray[np.int64],
    mid: NDArray[np.float64],
    t: NDArray[np.int64],
    start: NDArray[np.int64],
    horizon_ns: int,
) -> NDArray[np.float64]:
    """Forward mid return (bps) from ``t`` to ``t + horizon_ns``, as of the grid ``ts``.

    ``start`` = row at or before each ``t`` (``searchsorted_right - 1``). NaN when
    ``start < 0``, ``t + h`` is after ``ts[-1]`` or the start mid is not > 0. Oracle:
    ``signal_quality.forward_returns_bps``' numpy version (``tests/unit/analysis``).
    """
    n, m = ts.shape[0], t.shape[0]
    out = np.full(m, np.nan)
    j = 0
    for i in range(m):
        x = t[i] + horizon_ns
        if i > 0 and x < t[i - 1] + horizon_ns:
            j = np.searchsorted(ts, x, side="right")
        else:
            while j < n and ts[j] <= x:
                j += 1
        k = start[i]
        if k >= 0 and x <= ts[n - 1] and mid[k] > 0.0:
            m0 = mid[k]
            out[i] = 1e4 * (mid[j - 1] - m0) / m0
    return out


@njit_cached
def average_ranks_nb(x: NDArray[np.float64], order: NDArray[np.int64]) -> NDArray[np.float64]:
    """1-based ranks of ``x`` with ties averaged, given ``order`` sorting ``x`` ascending.

    Oracle: ``signal_quality.rank_average``'s numpy grouping (= ``scipy.stats.rankdata``).
    """
    n = x.shape[0]
    out = np.empty(n)
    a = 0
    while a < n:
        b = a + 1
        while b < n and x[order[b]] == x[order[a]]:
            b += 1
        r = (a + b + 1) / 2.0
        for i in range(a, b):
            out[order[i]] = r
        a = b
    return out
