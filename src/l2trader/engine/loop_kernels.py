"""The backtest event loop in numba: book, venue, trader and strategy, one event at a time.

Per C1 event (rows in ``ts_recv`` order, the strategy's clock):

1. write the equity grid rows due before it, then let every in-flight action whose venue
   arrival (recv clock) is before the event reach the venue (:mod:`venue_orders`);
2. apply it: a TRADE feeds the resting orders' queues (maker fills), a book row updates the
   book;
3. at a consistent state (``F_LAST``): refresh queue estimates and fill orders the book
   crossed, deliver due reports, read the latest signal, then, unless the book is crossed:
   update the volatility estimate, run the risk monitor (stop-loss, take-profit, kill
   switch), and at a decision point call the strategy and submit its rows.

The loop stops and returns to Python (which grows arrays or calls a Python strategy) with
``RUN_GROW_BOOK`` / ``RUN_FULL`` / ``RUN_DECIDE``; all state is in arrays, so resuming at the
returned index continues exactly. Oracle: the hand-worked scenarios and the slow Python twin
strategies in ``tests/unit/engine/``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.book.kernels import STATUS_GROW, STATUS_OK, apply_event_nb, fast_event_nb
from l2trader.book.store_kernels import IST_BEST
from l2trader.engine.portfolio import CASH, COST_BASIS, POSITION
from l2trader.engine.risk import (
    MON_NONE,
    OP_FLATTEN,
    OP_NONE,
    RS_HALTED,
    RS_OPERATOR,
    RiskParams,
    monitor_nb,
)
from l2trader.engine.state import (
    DECIDE_BOOK,
    DECIDE_CHANGES,
    DECIDE_SIGNAL,
    DECIDE_TIME,
    EF_LAST_MID,
    EF_PREV_MID,
    EF_SCORE,
    EF_VOL_S,
    EF_VOL_T,
    ES_CHANGES,
    ES_CROSSED,
    ES_DECISIONS,
    ES_EVENTS,
    ES_FLATTEN_ID,
    ES_LAST_FILL_RECV,
    ES_LAST_OEV_RECV,
    ES_LAST_TS,
    ES_LATE_REPORTS,
    ES_N_FILL,
    ES_N_OEV,
    ES_N_ORD,
    ES_N_PEND,
    ES_N_SV,
    ES_NEW_SIGNAL,
    ES_NEXT_DECIDE,
    ES_NEXT_GRID,
    ES_NOTE_FILL,
    ES_NOTE_OEV,
    ES_PREV_TS,
    ES_SCORE_TS,
    ES_SIG_PTR,
    RUN_BAD_EVENT,
    RUN_DECIDE,
    RUN_DONE,
    RUN_FULL,
    RUN_GROW_BOOK,
    STRATEGY_MAKER,
    STRATEGY_TAKER,
    BookArrays,
    EngineParams,
    Records,
    Scratch,
    Trader,
)
from l2trader.engine.strategies.market_maker import MMParams, mm_decide_nb
from l2trader.engine.strategies.taker import TakerParams, taker_decide_nb
from l2trader.engine.strategy import StrategyContext
from l2trader.engine.trader_kernels import (
    deliver_nb,
    features_nb,
    mid_ticks_of_nb,
    submit_one_nb,
    write_grid_nb,
)
from l2trader.engine.venue_kernels import ACT_CANCEL, ACT_NEW, TIF_IOC, TYPE_MARKET, on_state_nb
from l2trader.engine.venue_kernels import on_trade_nb as venue_trade_nb
from l2trader.engine.venue_orders import venue_action_nb
from l2trader.schema import F_LAST, KIND_TRADE, NO_ASK_TICKS, NO_BID_TICKS

__all__ = ["run_nb", "submit_rows_nb"]

_LN2 = math.log(2.0)
DRAIN_NS = 60_000_000_000
"""How long after the last event :func:`finish_nb` keeps the grid running for late reports."""
DRAIN_ROWS = 1_000
"""... and at most this many grid rows."""


@njit_inline
def room_nb(rec: Records, est: NDArray[np.int64], p: EngineParams) -> bool:
    """True when every output buffer has the free rows one event may need."""
    return bool(
        rec.orders.shape[0] - est[ES_N_ORD] >= p.room_orders
        and rec.order_events.shape[0] - est[ES_N_OEV] >= p.room_events
        and rec.fills.shape[0] - est[ES_N_FILL] >= p.room_fills
    )


@njit_nrt_free
def process_pending_nb(
    bk: BookArrays,
    sc: Scratch,
    tr: Trader,
    p: EngineParams,
    rec: Records,
    before: int,
) -> bool:
    """Let every in-flight action arriving (recv clock) before ``before`` (ns) act, in order.

    Returns False (some actions left) when an output buffer lacks room for the next one.
    """
    est, pend, pend_at = tr.est, tr.pend, tr.pend_at
    while est[ES_N_PEND] > 0:
        n = est[ES_N_PEND]
        j = 0
        for k in range(1, n):
            if pend_at[k] < pend_at[j]:
                j = k
        at = pend_at[j]
        if at >= before:
            return True
        if not room_nb(rec, est, p):
            return False
        venue_action_nb(bk, sc, tr, p, rec, at - p.feed_ns, pend[j])
        for k in range(j, n - 1):
            pend[k] = pend[k + 1]
            pend_at[k] = pend_at[k + 1]
        est[ES_N_PEND] = n - 1
    return True


@njit_nrt_free
def submit_rows_nb(
    tr: Trader, rp: RiskParams, p: EngineParams, rec: Records, n: int, now: int, mid: float
) -> None:
    """Submit the first ``n`` rows of ``tr.out`` written at decision time ``now`` (ns)."""
    for k in range(n):
        row = tr.out[k]
        row["ts_recv"] = now
        submit_one_nb(row, rp, tr.rst, p, rec, tr.est, tr.sv, tr.pf, tr.pend, tr.pend_at, mid,
                      False)  # fmt: skip
    for k in range(n):
        tr.out[k]["qty"] = 0.0
        tr.out[k]["action"] = 0


@njit_nrt_free
def risk_step_nb(
    tr: Trader, rp: RiskParams, p: EngineParams, rec: Records, now: int, mid: float
) -> None:
    """Risk monitor: stop-loss / take-profit / kill switch cancel all and flatten (reduce-only).

    While halted, every state cancels what is still working and, with ``flatten_on_kill``
    (an operator halt: ``RS_OPERATOR == OP_FLATTEN``), re-sends the flatten until the position
    is flat; at most one flatten is in flight.
    """
    pf, est, sv, row = tr.pf, tr.est, tr.sv, tr.out[0]
    pos = pf[POSITION]
    avg = pf[COST_BASIS] / pos / p.tick_size if pos != 0.0 else math.nan
    equity = pf[CASH] + (pos * mid * p.tick_size if pos != 0.0 else 0.0)
    act = monitor_nb(rp, tr.rst, now, equity, pos, avg, mid)
    halted = tr.rst[RS_HALTED] != 0.0
    if act == MON_NONE and not halted:
        return
    flattening = est[ES_FLATTEN_ID] >= 0
    k = 0
    while k < est[ES_N_SV]:
        if sv[k]["action"] != ACT_CANCEL and sv[k]["order_id"] != est[ES_FLATTEN_ID]:
            tr.out[0] = sv[k]  # the CANCEL row carries the order's own fields
            row["ts_recv"], row["action"] = now, ACT_CANCEL
            submit_one_nb(row, rp, tr.rst, p, rec, est, sv, pf, tr.pend, tr.pend_at, mid, False)
        k += 1
    op = tr.rst[RS_OPERATOR]
    flatten = rp.flatten_on_kill if op == OP_NONE else op == OP_FLATTEN
    if pos != 0.0 and not flattening and (not halted or flatten):
        row["ts_recv"], row["action"], row["price_ticks"] = now, ACT_NEW, 0
        row["order_type"], row["tif"] = TYPE_MARKET, TIF_IOC
        row["side"], row["qty"] = (-1 if pos > 0.0 else 1), abs(pos)
        submit_one_nb(row, rp, tr.rst, p, rec, est, sv, pf, tr.pend, tr.pend_at, mid, True)
    row["action"] = 0


@njit_nrt_free
def vol_update_nb(tr: Trader, p: EngineParams, mid: float, now: int) -> None:
    """Time-decayed mid volatility (bps^2 per s), updated when the mid changes."""
    efl, est = tr.efl, tr.est
    prev = efl[EF_PREV_MID]
    if mid == prev or not mid > 0.0:
        return
    if prev > 0.0 and est[ES_PREV_TS] >= 0:
        dt = (now - est[ES_PREV_TS]) * 1e-9
        ret = math.log(mid / prev) * 1e4
        decay = math.exp(-dt * _LN2 * 1e9 / p.vol_tau_ns)
        efl[EF_VOL_S] = efl[EF_VOL_S] * decay + ret * ret
        efl[EF_VOL_T] = efl[EF_VOL_T] * decay + dt
    efl[EF_PREV_MID] = mid
    est[ES_PREV_TS] = now


@njit_nrt_free
def due_nb(p: EngineParams, est: NDArray[np.int64], now: int) -> bool:
    """True when the decision mode of ``p`` calls for a decision at ``now`` (ns)."""
    mode = p.decide_mode
    if mode == DECIDE_BOOK:
        return True
    if mode == DECIDE_TIME:
        if now < est[ES_NEXT_DECIDE]:
            return False
        est[ES_NEXT_DECIDE] = (now // p.decide_every + 1) * p.decide_every
        return True
    if mode == DECIDE_CHANGES:
        if est[ES_CHANGES] < p.decide_every:
            return False
        est[ES_CHANGES] = 0
        return True
    if mode == DECIDE_SIGNAL and est[ES_NEW_SIGNAL] != 0:
        est[ES_NEW_SIGNAL] = 0
        return True
    return False


@njit_nrt_free
def read_signals_nb(tr: Trader, signals: NDArray[np.void], now: int) -> None:
    """Make every C4 row with ``ts_recv <= now`` visible (latest score wins)."""
    est = tr.est
    k = est[ES_SIG_PTR]
    while k < signals.shape[0] and signals[k]["ts_recv"] <= now:
        tr.efl[EF_SCORE] = signals[k]["score"]
        est[ES_SCORE_TS] = signals[k]["ts_recv"]
        est[ES_NEW_SIGNAL] = 1
        k += 1
    est[ES_SIG_PTR] = k


@njit_nrt_free
def state_step_nb(
    bk: BookArrays,
    sc: Scratch,
    tr: Trader,
    rp: RiskParams,
    p: EngineParams,
    rec: Records,
    signals: NDArray[np.void],
    now: int,
) -> bool:
    """Everything at a consistent book state; True when a Python strategy must decide."""
    est = tr.est
    on_state_nb(bk, tr, p, rec, now - p.feed_ns)
    deliver_nb(rec, est, tr.sv, tr.pf, p, now)
    read_signals_nb(tr, signals, now)
    bb, ba = bk.ist[IST_BEST], bk.ist[IST_BEST + 1]
    if bb != NO_BID_TICKS and ba != NO_ASK_TICKS and bb >= ba:
        est[ES_CROSSED] += 1
        return False
    mid = mid_ticks_of_nb(bk.ist)
    if mid == mid:
        vol_update_nb(tr, p, mid, now)
        tr.efl[EF_LAST_MID] = mid
        if p.risk_monitor or tr.rst[RS_HALTED] != 0.0:
            risk_step_nb(tr, rp, p, rec, now, mid)
    if tr.rst[RS_HALTED] != 0.0 or not due_nb(p, est, now):
        return False
    features_nb(bk, sc, tr, p, now)
    est[ES_DECISIONS] += 1
    return True


@njit_nrt_free
def decide_nb(
    tr: Trader, rp: RiskParams, p: EngineParams, rec: Records, tp: TakerParams, mp: MMParams,
    now: int, bb: int, ba: int,
) -> None:  # fmt: skip
    """Call the built-in strategy of ``p.strategy_kind`` and submit what it wrote."""
    ctx = StrategyContext(now, bb, ba, tr.pf[POSITION], tr.sv[: tr.est[ES_N_SV]], tr.feat,
                          tr.efl[EF_SCORE])  # fmt: skip
    n = 0
    if p.strategy_kind == STRATEGY_TAKER:
        n = taker_decide_nb(ctx, tp, tr.out)
    elif p.strategy_kind == STRATEGY_MAKER:
        n = mm_decide_nb(ctx, mp, tr.out)
    submit_rows_nb(tr, rp, p, rec, n, now, tr.feat[0])


@njit_nrt_free
def run_nb(
    events: NDArray[np.void],
    start: int,
    bk: BookArrays,
    sc: Scratch,
    tr: Trader,
    rp: RiskParams,
    p: EngineParams,
    rec: Records,
    signals: NDArray[np.void],
    tp: TakerParams,
    mp: MMParams,
) -> tuple[int, int]:
    """Run ``events[start:]``; return ``(RUN_* status, index to resume at)``."""
    est = tr.est
    for i in range(start, events.shape[0]):
        e = events[i]
        now = e["ts_recv"]
        if not room_nb(rec, est, p):
            return RUN_FULL, i
        if est[ES_N_PEND] > 0 and not process_pending_nb(bk, sc, tr, p, rec, now):
            return RUN_FULL, i
        if est[ES_NEXT_GRID] < now and not write_grid_nb(rec, est, tr.efl, tr.sv, tr.pf, p, now):
            return RUN_FULL, i  # (the grid is written after the venue acted)
        kind, side, price, qty = e["kind"], e["side"], e["price_ticks"], e["qty"]
        if kind == KIND_TRADE and qty > 0.0:
            venue_trade_nb(tr, p, rec, now - p.feed_ns, price, qty, side)
        if not fast_event_nb(bk.ist, bk.fst, bk.q, kind, side, price, qty):
            status = apply_event_nb(bk.ist, bk.fst, bk.q, bk.ovf_px, bk.ovf_qty, kind, side, price,
                                    qty)  # fmt: skip
            if status != STATUS_OK:
                return (RUN_GROW_BOOK if status == STATUS_GROW else RUN_BAD_EVENT), i
        est[ES_EVENTS] += 1
        est[ES_CHANGES] += kind != KIND_TRADE
        if e["flags"] & F_LAST and state_step_nb(bk, sc, tr, rp, p, rec, signals, now):
            if p.strategy_kind < STRATEGY_TAKER:
                return RUN_DECIDE, i + 1
            decide_nb(tr, rp, p, rec, tp, mp, now, bk.ist[IST_BEST], bk.ist[IST_BEST + 1])
    return RUN_DONE, events.shape[0]


@njit_nrt_free
def finish_nb(tr: Trader, p: EngineParams, rec: Records) -> bool:
    """Write grid rows until every report is delivered, plus the row holding them all.

    Reports due more than ``DRAIN_NS`` (at most ``DRAIN_ROWS`` grid rows) after the last
    event (a lost ack, a huge injected delay) are not waited for row by row: the grid stops
    there, they are delivered at once (counted in ``ES_LATE_REPORTS``) and the last row, on
    the grid, holds them. Returns
    False if the buffer is full (grow it and call again: rows written stay).
    """
    est = tr.est
    last = max(est[ES_LAST_FILL_RECV], est[ES_LAST_OEV_RECV])
    drain = min(DRAIN_NS, DRAIN_ROWS * p.grid_ns)
    upto = min(last, max(est[ES_LAST_TS], est[ES_NEXT_GRID]) + drain) + 1
    if not write_grid_nb(rec, est, tr.efl, tr.sv, tr.pf, p, upto):
        return False
    if last >= upto:
        before = est[ES_NOTE_FILL] + est[ES_NOTE_OEV]
        deliver_nb(rec, est, tr.sv, tr.pf, p, last)
        est[ES_LATE_REPORTS] += est[ES_NOTE_FILL] + est[ES_NOTE_OEV] - before
    return write_grid_nb(rec, est, tr.efl, tr.sv, tr.pf, p, est[ES_NEXT_GRID] + 1)
