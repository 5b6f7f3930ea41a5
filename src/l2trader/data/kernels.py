"""Numba kernels of the stream-level checks and of batch re-closing (data stage).

Pure ``@njit_cached`` functions over numpy arrays and scalars; the friendly API is
:mod:`l2trader.data.validate` and :mod:`l2trader.data.repair`. Nothing compiles at import.

The validation state is a small int64 array (slots ``S_*``) so a stream can be checked
chunk by chunk with exactly the result of one pass over the whole stream.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached
from l2trader.schema import (
    BID,
    F_LAST,
    F_REPAIRED,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)

__all__ = [
    "STATE_SIZE",
    "V_BAD_KIND",
    "V_BAD_PRICE",
    "V_BAD_SIDE",
    "V_DUPLICATE_SEQ",
    "V_NAN_QTY",
    "V_NEGATIVE_QTY",
    "V_OK",
    "V_SEQ_BACKWARDS",
    "V_SNAPSHOT_NO_CLEAR",
    "V_TS_BACKWARDS",
    "V_UNCLOSED_BATCH",
    "new_state",
    "reclose_nb",
    "validate_nb",
]

# Per-row issue codes (uint8). 1..9 drop the row; V_UNCLOSED_BATCH keeps it.
V_OK: Final = 0
V_BAD_KIND: Final = 1
V_BAD_SIDE: Final = 2
V_NAN_QTY: Final = 3
V_NEGATIVE_QTY: Final = 4
V_BAD_PRICE: Final = 5
V_TS_BACKWARDS: Final = 6
V_SEQ_BACKWARDS: Final = 7
V_DUPLICATE_SEQ: Final = 8
V_SNAPSHOT_NO_CLEAR: Final = 9
V_UNCLOSED_BATCH: Final = 10
"""A kept row whose ts_recv is later than its open batch's: that batch lacked F_LAST."""

# Slots of the int64 state array.
S_LAST_TS: Final = 0  # ts_recv of the last kept row, ns
S_LAST_SEQ: Final = 1  # last kept book seq (non-TRADE, seq >= 0); -1 none yet
S_SEQ_IN_BATCH: Final = 2  # 1 if S_LAST_SEQ was set inside the open batch
S_BATCH_OPEN: Final = 3  # 1 if a kept row was seen since the last F_LAST
S_CLEARED: Final = 4  # sides cleared in the open batch: bit 1 bid, bit 2 ask
S_LAST_KEPT_IDX: Final = 5  # stream index of the last kept row; -1 none
S_LAST_KEPT_SEQ: Final = 6  # seq of the last kept row
STATE_SIZE: Final = 7

_INT64_MIN: Final = np.iinfo(np.int64).min


def new_state() -> NDArray[np.int64]:
    """Initial validation state: nothing seen yet."""
    state = np.zeros(STATE_SIZE, dtype=np.int64)
    state[S_LAST_TS] = _INT64_MIN
    state[S_LAST_SEQ] = -1
    state[S_LAST_KEPT_IDX] = -1
    state[S_LAST_KEPT_SEQ] = -1
    return state


@njit_cached
def _row_code_nb(kind: int, side: int, qty: float, price_ticks: int, check_prices: bool) -> int:
    """Issue code of one row on its own (kind, side, qty, price); ``V_OK`` if fine."""
    if kind < KIND_BOOK or kind > KIND_CLEAR:
        return V_BAD_KIND
    if side < -1 or side > 1 or (side == 0 and kind in (KIND_BOOK, KIND_SNAPSHOT)):
        return V_BAD_SIDE
    if not np.isfinite(qty):
        return V_NAN_QTY
    if qty < 0.0:
        return V_NEGATIVE_QTY
    if check_prices and kind != KIND_CLEAR and price_ticks <= 0:
        return V_BAD_PRICE
    return V_OK


@njit_cached
def _order_code_nb(ts: int, seq: int, kind: int, side: int, state: NDArray[np.int64]) -> int:
    """Issue code of one row against the stream state (clocks, seq, batches, snapshots)."""
    if ts < state[S_LAST_TS]:
        return V_TS_BACKWARDS
    new_batch = state[S_BATCH_OPEN] == 0 or ts > state[S_LAST_TS]
    last_seq = state[S_LAST_SEQ]
    if kind != KIND_TRADE and seq >= 0 and last_seq >= 0:
        if seq < last_seq:
            return V_SEQ_BACKWARDS
        if seq == last_seq and (new_batch or state[S_SEQ_IN_BATCH] == 0):
            return V_DUPLICATE_SEQ
    if kind == KIND_SNAPSHOT:
        cleared = 0 if new_batch else state[S_CLEARED]
        if cleared & (1 if side == BID else 2) == 0:
            return V_SNAPSHOT_NO_CLEAR
    if state[S_BATCH_OPEN] == 1 and ts > state[S_LAST_TS]:
        return V_UNCLOSED_BATCH
    return V_OK


@njit_cached
def _keep_row_nb(
    ts: int, seq: int, kind: int, side: int, index: int, state: NDArray[np.int64]
) -> None:
    """Update ``state`` with a kept row (opening a new batch when needed)."""
    if state[S_BATCH_OPEN] == 0 or ts > state[S_LAST_TS]:
        state[S_BATCH_OPEN] = 1
        state[S_CLEARED] = 0
        state[S_SEQ_IN_BATCH] = 0
    state[S_LAST_TS] = ts
    if kind != KIND_TRADE and seq >= 0:
        state[S_LAST_SEQ] = seq
        state[S_SEQ_IN_BATCH] = 1
    if kind == KIND_CLEAR:
        state[S_CLEARED] |= 3 if side == 0 else (1 if side == BID else 2)
    state[S_LAST_KEPT_IDX] = index
    state[S_LAST_KEPT_SEQ] = seq


@njit_cached
def validate_nb(
    ts_recv: NDArray[np.int64],
    seq: NDArray[np.int64],
    price_ticks: NDArray[np.int64],
    qty: NDArray[np.float64],
    kind: NDArray[np.uint8],
    side: NDArray[np.int8],
    flags: NDArray[np.uint8],
    state: NDArray[np.int64],
    offset: int,
    check_prices: bool,
    out_codes: NDArray[np.uint8],
) -> int:
    """Write each row's issue code (``V_*``) into ``out_codes``; return the issue count.

    ``state`` (from :func:`new_state`) is updated in place, so consecutive chunks give the
    codes of one pass over their concatenation. Rows with a code in 1..9 count as dropped:
    they do not advance the clocks, but their ``F_LAST`` still closes the open batch.
    Oracle: ``_reference_codes`` in ``tests/unit/data/test_validate.py`` (plain Python).
    """
    issues = 0
    for i in range(ts_recv.shape[0]):
        code = _row_code_nb(kind[i], side[i], qty[i], price_ticks[i], check_prices)
        if code == V_OK:
            code = _order_code_nb(ts_recv[i], seq[i], kind[i], side[i], state)
        if code in (V_OK, V_UNCLOSED_BATCH):
            _keep_row_nb(ts_recv[i], seq[i], kind[i], side[i], offset + i, state)
        if flags[i] & F_LAST:
            state[S_BATCH_OPEN] = 0
        out_codes[i] = code
        if code != V_OK:
            issues += 1
    return issues


@njit_cached
def _reclose_batch_nb(
    ts_recv: NDArray[np.int64],
    keep: NDArray[np.bool_],
    lo: int,
    hi: int,
    close: bool,
    out_flags: NDArray[np.uint8],
) -> None:
    """Re-close the kept rows of the input batch ``[lo, hi)`` inside ``out_flags``."""
    prev = -1
    changed = False
    dropped = False
    for r in range(lo, hi):
        if not keep[r]:
            dropped = True
            continue
        if prev >= 0 and ts_recv[r] != ts_recv[prev] and out_flags[prev] & F_LAST == 0:
            out_flags[prev] |= F_LAST
            changed = True
        prev = r
    if prev >= 0 and close and out_flags[prev] & F_LAST == 0:
        out_flags[prev] |= F_LAST
        changed = True
    if prev >= 0 and (dropped or changed):
        for r in range(lo, hi):
            if keep[r]:
                out_flags[r] |= F_REPAIRED


@njit_cached
def reclose_nb(
    ts_recv: NDArray[np.int64],
    flags: NDArray[np.uint8],
    keep: NDArray[np.bool_],
    final: bool,
    out_flags: NDArray[np.uint8],
) -> int:
    """New flags for the kept rows after dropping ``~keep``; return the rows re-flagged.

    Input batches end at an ``F_LAST`` row. In each batch the last kept row gets ``F_LAST``,
    and so does a kept row followed by a kept row with a later ``ts_recv`` (a missing
    ``F_LAST``). Every kept row of a batch that lost a row or gained an ``F_LAST`` gets
    ``F_REPAIRED``. A trailing batch without ``F_LAST`` is closed only when ``final``.
    Oracle: ``_reference_reclose`` in ``tests/unit/data/test_repair.py`` (plain Python).
    """
    n = ts_recv.shape[0]
    out_flags[:] = flags
    lo = 0
    while lo < n:
        hi = lo
        while hi < n - 1 and flags[hi] & F_LAST == 0:
            hi += 1
        _reclose_batch_nb(ts_recv, keep, lo, hi + 1, final or flags[hi] & F_LAST != 0, out_flags)
        lo = hi + 1
    changed = 0
    for r in range(n):
        if keep[r] and out_flags[r] != flags[r]:
            changed += 1
    return changed
