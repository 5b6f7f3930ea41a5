"""Numba kernels of the simulated venue: what happens when an action reaches it.

:func:`venue_action_nb` applies one C5 row (NEW, CANCEL, MODIFY) to the venue at its
arrival; the rules are listed in :mod:`l2trader.engine.venue_kernels`. The order events it
reports (C5 ``status`` / ``reason`` / ``leaves_qty``):

- MARKET: FILLED, EXPIRED (partly filled, the rest of the book was not enough) or REJECTED
  ``NO_LIQUIDITY`` (nothing visible).
- LIMIT IOC: FILLED or EXPIRED (``leaves_qty`` = what was not filled, possibly all).
- LIMIT FOK: FILLED or REJECTED ``FOK_NOT_FILLABLE``.
- LIMIT POST_ONLY: ACCEPTED (resting) or REJECTED ``POST_ONLY_WOULD_CROSS``.
- LIMIT GTC: FILLED, PARTIALLY_FILLED (took some, rests the rest) or ACCEPTED (rests).
- CANCEL: CANCELED (with the size that was left) or REJECTED ``UNKNOWN_ORDER`` (already
  done: a cancel racing a fill, which real venues report the same way).
- MODIFY: same price and a size no larger than what is left keeps the queue position
  (ACCEPTED); anything else re-enters the order at the back of its new level, under its
  time-in-force (a POST_ONLY that would now cross is REJECTED and the order is gone).

Oracle: hand-worked cases in ``tests/unit/engine/test_venue.py``.
"""

from __future__ import annotations

import numpy as np

from l2trader._numba import njit_nrt_free
from l2trader.book.kernels import top_side_nb
from l2trader.engine.kernels import QTY_RTOL, available_nb, would_cross_nb
from l2trader.engine.queue import QS_LEAVES
from l2trader.engine.state import (
    OT_ACTIVE,
    OT_PRICE,
    OT_QTY,
    OT_TIF,
    BookArrays,
    EngineParams,
    Records,
    Scratch,
    Trader,
)
from l2trader.engine.venue_kernels import (
    ACCEPTED,
    ACT_CANCEL,
    ACT_MODIFY,
    ACT_NEW,
    CANCELED,
    EXPIRED,
    FILLED,
    PARTIAL,
    R_FOK,
    R_INVALID,
    R_NO_LIQ,
    R_OPEN,
    R_POST,
    R_UNKNOWN,
    REJECTED,
    TIF_FOK,
    TIF_IOC,
    TIF_POST,
    TYPE_LIMIT,
    TYPE_MARKET,
    best_opposite_nb,
    draw_response_nb,
    find_order_nb,
    free_row_nb,
    report_oev_nb,
    rest_nb,
    take_nb,
)
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS

__all__ = ["venue_action_nb"]


@njit_nrt_free
def place_nb(
    bk: BookArrays,
    sc: Scratch,
    tr: Trader,
    p: EngineParams,
    rec: Records,
    ts_exch: int,
    order: np.void,
) -> None:
    """Place a NEW order (or a re-entered MODIFY) that has just reached the venue."""
    est = tr.est
    resp = draw_response_nb(p, est)
    oid, side, tif = order["order_id"], order["side"], order["tif"]
    price, qty = order["price_ticks"], order["qty"]
    if order["order_type"] == TYPE_MARKET:
        limit = NO_ASK_TICKS if side > 0 else NO_BID_TICKS
        got = take_nb(bk, sc, p, rec, est, ts_exch, resp, oid, side, limit, qty)
        status = FILLED if got >= qty else (EXPIRED if got > 0.0 else REJECTED)
        reason = R_NO_LIQ if got == 0.0 else 0
        report_oev_nb(rec, est, ts_exch, resp, oid, status, reason, qty - got)
        return
    crosses = would_cross_nb(price, side, best_opposite_nb(bk.ist, side))
    if tif == TIF_POST and crosses:
        report_oev_nb(rec, est, ts_exch, resp, oid, REJECTED, R_POST, qty)
        return
    if tif == TIF_FOK:
        top_side_nb(bk.ist, bk.q, bk.ovf_px, bk.ovf_qty, 1 if side > 0 else 0, sc.wt, sc.wq, 0)
        if available_nb(sc.wt[0], sc.wq[0], price, side) < qty * (1.0 - QTY_RTOL):
            report_oev_nb(rec, est, ts_exch, resp, oid, REJECTED, R_FOK, qty)
            return
    got = 0.0
    if crosses:
        got = take_nb(bk, sc, p, rec, est, ts_exch, resp, oid, side, price, qty)
    if got >= qty:
        report_oev_nb(rec, est, ts_exch, resp, oid, FILLED, 0, 0.0)
        return
    leaves = qty - got
    if tif in (TIF_IOC, TIF_FOK):
        report_oev_nb(rec, est, ts_exch, resp, oid, EXPIRED, 0, leaves)
        return
    row = free_row_nb(tr.ot_i)
    if row < 0:
        report_oev_nb(rec, est, ts_exch, resp, oid, REJECTED if got == 0.0 else EXPIRED, R_OPEN,
                      leaves)  # fmt: skip
        return
    rest_nb(bk, tr, row, oid, side, tif, price, leaves, qty)
    report_oev_nb(rec, est, ts_exch, resp, oid, PARTIAL if got > 0.0 else ACCEPTED, 0, leaves)


@njit_nrt_free
def venue_action_nb(
    bk: BookArrays,
    sc: Scratch,
    tr: Trader,
    p: EngineParams,
    rec: Records,
    ts_exch: int,
    order: np.void,
) -> None:
    """Apply one action (a C5 row) at venue time ``ts_exch`` (ns) to the current book."""
    action, oid = order["action"], order["order_id"]
    ot_i, ot_f, est = tr.ot_i, tr.ot_f, tr.est
    if action == ACT_NEW:
        place_nb(bk, sc, tr, p, rec, ts_exch, order)
        return
    row = find_order_nb(ot_i, oid)
    if row < 0 or (action != ACT_CANCEL and action != ACT_MODIFY):
        reason = R_UNKNOWN if row < 0 else R_INVALID
        report_oev_nb(rec, est, ts_exch, draw_response_nb(p, est), oid, REJECTED, reason, 0.0)
        return
    leaves = ot_f[row, QS_LEAVES]
    if action == ACT_CANCEL:
        ot_i[row, OT_ACTIVE] = 0
        report_oev_nb(rec, est, ts_exch, draw_response_nb(p, est), oid, CANCELED, 0, leaves)
        return
    qty = order["qty"]
    if not qty > 0.0:
        report_oev_nb(rec, est, ts_exch, draw_response_nb(p, est), oid, REJECTED, R_INVALID,
                      leaves)  # fmt: skip
        return
    if order["price_ticks"] == ot_i[row, OT_PRICE] and qty <= leaves:
        ot_f[row, QS_LEAVES] = qty
        ot_f[row, OT_QTY] = qty
        report_oev_nb(rec, est, ts_exch, draw_response_nb(p, est), oid, ACCEPTED, 0, qty)
        return
    ot_i[row, OT_ACTIVE] = 0
    order["tif"] = ot_i[row, OT_TIF]
    order["order_type"] = TYPE_LIMIT
    place_nb(bk, sc, tr, p, rec, ts_exch, order)
