"""Numba kernel of the Databento MBP-1 / MBP-10 reader: top-N level diffs -> C1 rows."""

from __future__ import annotations

import numpy as np

from l2trader._numba import njit_cached
from l2trader.schema import KIND_BOOK, KIND_TRADE

__all__ = ["mbp_rows_nb"]


@njit_cached
def mbp_rows_nb(
    px: np.ndarray,
    sz: np.ndarray,
    trade: np.ndarray,
    trade_px: np.ndarray,
    trade_sz: np.ndarray,
    trade_side: np.ndarray,
    prev_px: np.ndarray,
    prev_sz: np.ndarray,
    out_rec: np.ndarray,
    out_px: np.ndarray,
    out_qty: np.ndarray,
    out_kind: np.ndarray,
    out_side: np.ndarray,
) -> int:
    """Write the C1 rows that turn the previous top-N book into each record's top-N.

    ``px``/``sz`` are ``(n, 2, N)`` level prices (ticks) and sizes (contracts) per record,
    axis 1 = (bid, ask), size 0 = empty slot. Per record: a TRADE row if ``trade[r]``, then
    per side the deletes (qty 0) of previous levels absent now, then the levels that are
    new or changed size. ``prev_px``/``prev_sz`` (``(2, N)``) hold the book before the
    first record and are updated in place. ``out_*`` need ``n * (1 + 4 N)`` rows; returns
    the number written. Oracle: a ``ReferenceBook`` fed the rows equals each record's
    levels (tests/unit/data/test_databento.py).
    """
    n_out = 0
    for r in range(px.shape[0]):
        if trade[r]:
            out_rec[n_out], out_px[n_out], out_qty[n_out] = r, trade_px[r], trade_sz[r]
            out_kind[n_out], out_side[n_out] = KIND_TRADE, trade_side[r]
            n_out += 1
        for s in range(2):
            n_out = _side_rows_nb(
                r, s, px[r, s], sz[r, s], prev_px[s], prev_sz[s],
                out_rec, out_px, out_qty, out_kind, out_side, n_out,
            )  # fmt: skip
    return n_out


@njit_cached
def _find_nb(px: np.ndarray, sz: np.ndarray, price: int) -> int:
    """Slot of ``price`` among the non-empty levels, -1 if absent."""
    for k in range(px.shape[0]):
        if sz[k] > 0 and px[k] == price:
            return k
    return -1


@njit_cached
def _side_rows_nb(
    r: int,
    s: int,
    px: np.ndarray,
    sz: np.ndarray,
    prev_px: np.ndarray,
    prev_sz: np.ndarray,
    out_rec: np.ndarray,
    out_px: np.ndarray,
    out_qty: np.ndarray,
    out_kind: np.ndarray,
    out_side: np.ndarray,
    n_out: int,
) -> int:
    """Rows of one side of record ``r``: deletes, then new/resized levels; updates ``prev``."""
    side = 1 if s == 0 else -1
    for j in range(px.shape[0]):
        if prev_sz[j] > 0 and _find_nb(px, sz, prev_px[j]) < 0:
            out_rec[n_out], out_px[n_out], out_qty[n_out] = r, prev_px[j], 0.0
            out_kind[n_out], out_side[n_out] = KIND_BOOK, side
            n_out += 1
    for k in range(px.shape[0]):
        j = _find_nb(prev_px, prev_sz, px[k]) if sz[k] > 0 else -2
        if j == -1 or (j >= 0 and prev_sz[j] != sz[k]):
            out_rec[n_out], out_px[n_out], out_qty[n_out] = r, px[k], sz[k]
            out_kind[n_out], out_side[n_out] = KIND_BOOK, side
            n_out += 1
    prev_px[:] = px
    prev_sz[:] = sz
    return n_out
