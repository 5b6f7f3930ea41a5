"""Numba kernels of the sampling clocks: one pass over a chunk, state carried in a small array.

Each kernel reads one chunk of book-frame rows plus a state array, writes the selected rows
(indices into the chunk; ``-1`` = the last row of the previous chunk) and returns how many
it wrote. The Python API is :mod:`l2trader.features.clocks`; the state layouts are the
``*_STATE`` constants below.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached

__all__ = [
    "CHANGES_STATE",
    "TIME_STATE",
    "VOLUME_STATE",
    "changes_clock_nb",
    "time_clock_nb",
    "volume_clock_nb",
]

TIME_STATE: Final = 3
"""int64 state of :func:`time_clock_nb`: ``[started, next_grid_ns, last_ts_ns]``."""
CHANGES_STATE: Final = 2
"""int64 state of :func:`changes_clock_nb`: ``[started, event_idx_at_last_sample]``."""
VOLUME_STATE: Final = 2
"""float64 state of :func:`volume_clock_nb`: ``[cumulative_volume, bucket_of_last_row]``."""


@njit_cached
def ceil_multiple_nb(t: int, step: int) -> int:
    """Smallest multiple of ``step`` that is >= ``t`` (both ns, ``step`` > 0)."""
    return -((-t) // step) * step


@njit_cached
def _emit_nb(
    g: int, row: int, m: int, write: bool, out_ts: NDArray[np.int64], out_row: NDArray[np.int64]
) -> int:
    """Store sample ``(g, row)`` at position ``m`` when ``write``; return ``m + 1``."""
    if write:
        out_ts[m] = g
        out_row[m] = row
    return m + 1


@njit_cached
def time_clock_nb(
    ts: NDArray[np.int64],
    interval_ns: int,
    max_gap_ns: int,
    final: bool,
    state: NDArray[np.int64],
    write: bool,
    out_ts: NDArray[np.int64],
    out_row: NDArray[np.int64],
) -> int:
    """Epoch-aligned grid samples ``(g, last row with ts <= g)`` that one chunk makes certain.

    Grid time ``g`` is emitted once a row with ``ts > g`` arrives (or, with ``final``, when
    ``g <= last ts``). With ``max_gap_ns > 0``, grid times strictly inside a gap between two
    consecutive rows longer than ``max_gap_ns`` are skipped. With ``write`` False only the
    count is returned (outputs untouched; ``state`` still advances: pass a copy).
    Oracle: ``pandas.merge_asof(grid, rows, direction="backward")`` (tests).
    """
    started, next_g, last_ts = state[0], state[1], state[2]
    m = 0
    n = ts.shape[0]
    for i in range(n):
        t = ts[i]
        if started == 0:
            started, next_g = 1, ceil_multiple_nb(t, interval_ns)
        elif max_gap_ns > 0 and t - last_ts > max_gap_ns:
            if next_g == last_ts:  # on the previous row itself: not inside the gap
                m = _emit_nb(next_g, i - 1, m, write, out_ts, out_row)
            next_g = ceil_multiple_nb(t, interval_ns)
        else:
            while next_g < t:
                m = _emit_nb(next_g, i - 1, m, write, out_ts, out_row)
                next_g += interval_ns
        last_ts = t
    if final and started == 1:
        while next_g <= last_ts:
            m = _emit_nb(next_g, n - 1, m, write, out_ts, out_row)
            next_g += interval_ns
    state[0], state[1], state[2] = started, next_g, last_ts
    return m


@njit_cached
def changes_clock_nb(
    event_idx: NDArray[np.int64], every: int, state: NDArray[np.int64], out_row: NDArray[np.int64]
) -> int:
    """Rows where ``event_idx`` moved >= ``every`` C1 events past the previous sample.

    The first row of the stream is always a sample. ``out_row`` needs ``len(event_idx)`` slots.
    Oracle: a loop of ``np.searchsorted(event_idx, anchor + every)`` (tests).
    """
    started, anchor = state[0], state[1]
    m = 0
    for i in range(event_idx.shape[0]):
        if started == 0 or event_idx[i] - anchor >= every:
            started, anchor = 1, event_idx[i]
            out_row[m] = i
            m += 1
    state[0], state[1] = started, anchor
    return m


@njit_cached
def volume_clock_nb(
    trade_qty: NDArray[np.float64],
    volume: float,
    state: NDArray[np.float64],
    out_row: NDArray[np.int64],
) -> int:
    """Rows where the bucket ``floor(V / volume)`` of cumulative volume ``V`` increases.

    ``V`` is the running float64 sum of ``trade_qty`` (base units) from the stream start, in
    row order. ``out_row`` needs ``len(trade_qty)`` slots.
    Oracle: ``np.floor(np.cumsum(q) / volume)`` and ``np.diff`` (tests).
    """
    total, bucket = state[0], state[1]
    m = 0
    for i in range(trade_qty.shape[0]):
        total += trade_qty[i]
        b = np.floor(total / volume)
        if b > bucket:
            bucket = b
            out_row[m] = i
            m += 1
    state[0], state[1] = total, bucket
    return m
