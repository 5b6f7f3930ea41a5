"""Numba kernels of the trader's side of the engine: what the strategy knows and sends.

- :func:`deliver_nb` hands venue reports to the trader once their ``ts_recv`` has come:
  fills update the portfolio, order events the strategy's view ``sv`` of its working orders
  (a row's ``action`` is CANCEL while a cancel of it is in flight). A REJECTED event with a
  risk reason (codes 1-6) leaves the order working: it rejected a MODIFY, not the order.
- :func:`submit_nb` runs the rows a decision wrote through the risk manager: accepted ones
  join ``sv`` and fly to the venue (arrival ``ts + entry latency + feed_ns`` on the recv
  clock), rejected ones get a REJECTED event with the reason. Every row is recorded.
- :func:`features_nb` fills the ``FEAT_*`` vector of :mod:`l2trader.engine.strategy`.
- :func:`write_grid_nb` samples the C7 equity curve on the fixed grid.

Oracle: hand-worked engine scenarios in ``tests/unit/engine/test_venue.py`` and
``tests/unit/engine/test_engine_risk.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.book.kernels import top_side_nb
from l2trader.book.store_kernels import IST_BEST
from l2trader.engine import strategy as st
from l2trader.engine.portfolio import CASH, COST_BASIS, FEES, POSITION, apply_fill_nb
from l2trader.engine.risk import RiskParams, check_order_nb
from l2trader.engine.state import (
    EF_LAST_MID,
    EF_VOL_S,
    EF_VOL_T,
    ES_FLATTEN_ID,
    ES_LAST_ARRIVAL,
    ES_N_ENTRY,
    ES_N_EQ,
    ES_N_FILL,
    ES_N_OEV,
    ES_N_ORD,
    ES_N_PEND,
    ES_N_SV,
    ES_NEXT_GRID,
    ES_NEXT_ID,
    ES_NOTE_FILL,
    ES_NOTE_OEV,
    ES_POS_SINCE,
    ES_SCORE_TS,
    BookArrays,
    EngineParams,
    Records,
    Scratch,
    Trader,
)
from l2trader.engine.venue_kernels import (
    ACT_CANCEL,
    ACT_MODIFY,
    ACT_NEW,
    PARTIAL,
    R_INVALID,
    R_OPEN,
    R_UNKNOWN,
    REJECTED,
    TYPE_LIMIT,
    report_oev_nb,
)
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS, Reject

_RISK_LAST = int(Reject.RISK_KILL_SWITCH)
_ACCEPTED = 1


@njit_inline
def sv_find_nb(sv: NDArray[np.void], n: int, order_id: int) -> int:
    """Row of ``order_id`` in the strategy view ``sv[:n]``, or -1."""
    for k in range(n):
        if sv[k]["order_id"] == order_id:
            return k
    return -1


@njit_nrt_free
def sv_remove_nb(sv: NDArray[np.void], est: NDArray[np.int64], order_id: int) -> None:
    """Drop ``order_id`` from the view, keeping the others in sending order."""
    n = est[ES_N_SV]
    k = sv_find_nb(sv, n, order_id)
    if k < 0:
        return
    for j in range(k, n - 1):
        sv[j] = sv[j + 1]
    est[ES_N_SV] = n - 1
    if est[ES_FLATTEN_ID] == order_id:
        est[ES_FLATTEN_ID] = -1


@njit_nrt_free
def note_oev_nb(sv: NDArray[np.void], est: NDArray[np.int64], ev: np.void) -> None:
    """Apply one delivered order event to the strategy view."""
    status, oid = ev["status"], ev["order_id"]
    if status in (_ACCEPTED, PARTIAL):
        k = sv_find_nb(sv, est[ES_N_SV], oid)
        if k >= 0:
            sv[k]["qty"] = ev["leaves_qty"]
    elif not (status == REJECTED and 0 < ev["reason"] <= _RISK_LAST):
        sv_remove_nb(sv, est, oid)


@njit_nrt_free
def deliver_nb(
    rec: Records,
    est: NDArray[np.int64],
    sv: NDArray[np.void],
    pf: NDArray[np.float64],
    p: EngineParams,
    now: int,
) -> None:
    """Deliver every fill and order event with ``ts_recv <= now`` (ns), in order."""
    k = est[ES_NOTE_FILL]
    while k < est[ES_N_FILL] and rec.fills[k]["ts_recv"] <= now:
        f = rec.fills[k]
        before = pf[POSITION]
        apply_fill_nb(pf, f["side"], f["price_ticks"] * p.tick_size, f["qty"], f["fee"])
        after = pf[POSITION]
        if after == 0.0:
            est[ES_POS_SINCE] = -1
        elif before == 0.0 or (before > 0.0) != (after > 0.0):
            est[ES_POS_SINCE] = f["ts_recv"]
        k += 1
    est[ES_NOTE_FILL] = k
    k = est[ES_NOTE_OEV]
    while k < est[ES_N_OEV] and rec.order_events[k]["ts_recv"] <= now:
        note_oev_nb(sv, est, rec.order_events[k])
        k += 1
    est[ES_NOTE_OEV] = k


@njit_nrt_free
def open_qty_nb(sv: NDArray[np.void], n: int, side: int, skip_id: int) -> float:
    """Summed remaining size of working orders on ``side`` (base units), except ``skip_id``."""
    total = 0.0
    for k in range(n):
        if sv[k]["side"] == side and sv[k]["order_id"] != skip_id:
            total += sv[k]["qty"]
    return total


@njit_inline
def mid_ticks_of_nb(ist: NDArray[np.int64]) -> float:
    """Mid price (ticks) of the book, NaN when a side is empty."""
    bb, ba = ist[IST_BEST], ist[IST_BEST + 1]
    if bb == NO_BID_TICKS or ba == NO_ASK_TICKS:
        return math.nan
    return 0.5 * (float(bb) + float(ba))


@njit_nrt_free
def risk_check_nb(
    rp: RiskParams,
    rst: NDArray[np.float64],
    p: EngineParams,
    est: NDArray[np.int64],
    sv: NDArray[np.void],
    pf: NDArray[np.float64],
    row: np.void,
    mid: float,
    skip_id: int,
    reduce_only: bool,
) -> int:
    """Risk verdict (a Reject code) for a NEW row or a MODIFY's new price and size."""
    n = est[ES_N_SV]
    n_open = n - (1 if skip_id >= 0 else 0)
    return int(
        check_order_nb(
            rp,
            rst,
            row["side"],
            row["order_type"],
            row["price_ticks"],
            row["qty"],
            p.tick_size,
            mid,
            pf[POSITION],
            open_qty_nb(sv, n, 1, skip_id),
            open_qty_nb(sv, n, -1, skip_id),
            n_open,
            reduce_only,
        )
    )


@njit_nrt_free
def send_nb(
    row: np.void,
    p: EngineParams,
    est: NDArray[np.int64],
    pend: NDArray[np.void],
    pend_at: NDArray[np.int64],
    now: int,
) -> None:
    """Put an accepted action in flight: it reaches the venue after the entry latency.

    Actions travel over one in-order channel (as over one connection): an action never
    reaches the venue before one sent earlier, so a CANCEL cannot overtake its NEW (which the
    venue would reject as unknown while the NEW then rests, unseen by the risk manager).
    """
    k = est[ES_N_PEND]
    pend[k] = row
    d = p.entry_ns[est[ES_N_ENTRY] % p.entry_ns.shape[0]]
    est[ES_N_ENTRY] += 1
    at = max(now + d + p.feed_ns, est[ES_LAST_ARRIVAL])
    est[ES_LAST_ARRIVAL] = at
    pend_at[k] = at
    est[ES_N_PEND] = k + 1


@njit_nrt_free
def submit_one_nb(
    row: np.void,
    rp: RiskParams,
    rst: NDArray[np.float64],
    p: EngineParams,
    rec: Records,
    est: NDArray[np.int64],
    sv: NDArray[np.void],
    pf: NDArray[np.float64],
    pend: NDArray[np.void],
    pend_at: NDArray[np.int64],
    mid: float,
    reduce_only: bool,
) -> None:
    """Risk-check, record and send one action row (``ts_recv`` already set)."""
    now, action = row["ts_recv"], row["action"]
    room = est[ES_N_PEND] < pend.shape[0]
    if action == ACT_NEW:
        row["order_id"] = est[ES_NEXT_ID]
        est[ES_NEXT_ID] += 1
    rec.orders[est[ES_N_ORD]] = row
    est[ES_N_ORD] += 1
    oid = row["order_id"]
    if action == ACT_NEW:
        reason = risk_check_nb(rp, rst, p, est, sv, pf, row, mid, -1, reduce_only)
        if reason == 0 and (est[ES_N_SV] >= sv.shape[0] or not room):
            reason = R_OPEN
        if reason != 0:
            report_oev_nb(rec, est, now, 0, oid, REJECTED, reason, row["qty"])
            return
        sv[est[ES_N_SV]] = row
        est[ES_N_SV] += 1
        if reduce_only:
            est[ES_FLATTEN_ID] = oid
        send_nb(row, p, est, pend, pend_at, now)
        return
    k = sv_find_nb(sv, est[ES_N_SV], oid)
    if k < 0 or not room or (action != ACT_CANCEL and action != ACT_MODIFY):
        reason = R_UNKNOWN if k < 0 else (R_OPEN if not room else R_INVALID)
        report_oev_nb(rec, est, now, 0, oid, REJECTED, reason, 0.0)
        return
    if action == ACT_MODIFY:
        row["side"] = sv[k]["side"]
        row["order_type"] = TYPE_LIMIT
        reason = risk_check_nb(rp, rst, p, est, sv, pf, row, mid, oid, False)
        if reason != 0:
            report_oev_nb(rec, est, now, 0, oid, REJECTED, reason, sv[k]["qty"])
            return
        sv[k]["qty"] = row["qty"]
        sv[k]["price_ticks"] = row["price_ticks"]
    else:
        sv[k]["action"] = ACT_CANCEL
    send_nb(row, p, est, pend, pend_at, now)


@njit_nrt_free
def features_nb(bk: BookArrays, sc: Scratch, tr: Trader, p: EngineParams, now: int) -> None:
    """Fill ``tr.feat`` (``FEAT_*`` slots) from the book and the trader's state at ``now``."""
    ft, fq, efl, est, pf, feat = sc.ft, sc.fq, tr.efl, tr.est, tr.pf, tr.feat
    top_side_nb(bk.ist, bk.q, bk.ovf_px, bk.ovf_qty, 0, ft, fq, 0)
    top_side_nb(bk.ist, bk.q, bk.ovf_px, bk.ovf_qty, 1, ft, fq, 1)
    mid = mid_ticks_of_nb(bk.ist)
    bq, aq = fq[0, 0], fq[1, 0]
    bd, ad = 0.0, 0.0
    for k in range(ft.shape[1]):
        bd += fq[0, k]
        ad += fq[1, k]
    feat[st.FEAT_MID_TICKS] = mid
    feat[st.FEAT_SPREAD_TICKS] = (ft[1, 0] - ft[0, 0]) if mid == mid else math.nan
    top = bq + aq
    feat[st.FEAT_MICRO_TICKS] = (ft[0, 0] * aq + ft[1, 0] * bq) / top if top > 0.0 else mid
    feat[st.FEAT_IMB1] = (bq - aq) / top if top > 0.0 else math.nan
    feat[st.FEAT_IMB5] = (bd - ad) / (bd + ad) if bd + ad > 0.0 else math.nan
    feat[st.FEAT_BID_DEPTH5] = bd
    feat[st.FEAT_ASK_DEPTH5] = ad
    feat[st.FEAT_VOL_BPS] = (
        math.sqrt(efl[EF_VOL_S] / efl[EF_VOL_T]) if efl[EF_VOL_T] > 0 else np.nan
    )
    feat[st.FEAT_BID_QTY1] = bq
    feat[st.FEAT_ASK_QTY1] = aq
    pos = pf[POSITION]
    flat = pos == 0.0
    feat[st.FEAT_AVG_ENTRY_TICKS] = math.nan if flat else pf[COST_BASIS] / pos / p.tick_size
    ts = est[ES_SCORE_TS]
    feat[st.FEAT_SCORE_AGE_NS] = math.inf if ts < 0 else float(now - ts)
    mark = efl[EF_LAST_MID] * p.tick_size
    feat[st.FEAT_UNREALIZED] = 0.0 if flat else pos * mark - pf[COST_BASIS]
    since = est[ES_POS_SINCE]
    feat[st.FEAT_POS_AGE_NS] = math.nan if since < 0 else float(now - since)


@njit_nrt_free
def write_grid_nb(
    rec: Records,
    est: NDArray[np.int64],
    efl: NDArray[np.float64],
    sv: NDArray[np.void],
    pf: NDArray[np.float64],
    p: EngineParams,
    upto: int,
) -> bool:
    """Write C7 rows for every grid time before ``upto`` (ns); False if the buffer is full."""
    while est[ES_NEXT_GRID] < upto:
        k = est[ES_N_EQ]
        if k >= rec.equity.shape[0]:
            return False
        g = est[ES_NEXT_GRID]
        deliver_nb(rec, est, sv, pf, p, g)
        row = rec.equity[k]
        mid = efl[EF_LAST_MID] * p.tick_size
        row["ts_recv"] = g
        row["mid"] = mid
        row["position"] = pf[POSITION]
        row["cash"] = pf[CASH]
        row["fees"] = pf[FEES]
        row["equity"] = pf[CASH] + (pf[POSITION] * mid if pf[POSITION] != 0.0 else 0.0)
        est[ES_N_EQ] = k + 1
        est[ES_NEXT_GRID] = g + p.grid_ns
    return True
