"""Numba kernels of the simulated venue: order placement, cancel/modify, maker and taker fills.

The venue sees the same replayed book as the strategy, ``feed_ns`` later: an action that
reaches the venue at venue time ``v`` meets the book of every event with ``ts_recv <= v +
feed_ns`` (its "recv-domain" arrival). Rules (hand-worked tests: ``tests/unit/engine/``):

- MARKET walks the opposite side (every visible level); LIMIT IOC walks up to its limit and
  expires the rest; FOK fills completely or is rejected ``FOK_NOT_FILLABLE``; POST_ONLY is
  rejected ``POST_ONLY_WOULD_CROSS`` if it would take; GTC takes what crosses, then rests.
  A taker sweep writes one fill per level (exact prices), each carrying the number of levels
  the whole sweep walked. Our taker fills do not remove liquidity from the replayed book.
- A resting order joins the back of its level's queue (:mod:`l2trader.engine.queue`); trade
  prints at its price consume the queue ahead then fill it (maker), trades through its price
  fill it whole; at each consistent state the level size refreshes the queue estimate, and a
  book that moved through the order (best opposite at or through our price, changed since
  the last check) fills it whole at our price.
- Every report (fill, order event) reaches the strategy after the response latency, over ONE
  in-order channel: a report never overtakes an earlier one of either kind, so a fill and the
  order event of the same match arrive together. (With one clamp per stream, an ack delayed
  by a latency spike held back later order events but not the fills: for a while the
  position showed a fill while the order still looked fully open, a double count.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.book.kernels import top_side_nb
from l2trader.book.store_kernels import IST_BEST, level_qty_nb
from l2trader.engine.fees import fee_nb
from l2trader.engine.kernels import QTY_RTOL, WALK_LEVELS, sweep_nb, would_cross_nb
from l2trader.engine.queue import (
    QS_AHEAD,
    QS_LEAVES,
    QS_LEVEL,
    queue_join_nb,
    queue_on_level_nb,
    queue_on_trade_nb,
)
from l2trader.engine.state import (
    ES_LAST_FILL_RECV,
    ES_LAST_OEV_RECV,
    ES_N_FILL,
    ES_N_OEV,
    ES_N_RESP,
    ES_OT_HI,
    OT_ACTIVE,
    OT_ID,
    OT_PRICE,
    OT_QTY,
    OT_SIDE,
    OT_TIF,
    OT_XREF,
    BookArrays,
    EngineParams,
    Records,
    Scratch,
    Trader,
)
from l2trader.schema import (
    Liquidity,
    OrderAction,
    OrderStatus,
    OrderType,
    Reject,
    TimeInForce,
)

LIQ_MAKER = int(Liquidity.MAKER)
LIQ_TAKER = int(Liquidity.TAKER)
ACT_NEW = int(OrderAction.NEW)
ACT_CANCEL = int(OrderAction.CANCEL)
ACT_MODIFY = int(OrderAction.MODIFY)
TYPE_LIMIT = int(OrderType.LIMIT)
TYPE_MARKET = int(OrderType.MARKET)
TIF_GTC = int(TimeInForce.GTC)
TIF_IOC = int(TimeInForce.IOC)
TIF_FOK = int(TimeInForce.FOK)
TIF_POST = int(TimeInForce.POST_ONLY)
ACCEPTED = int(OrderStatus.ACCEPTED)
REJECTED = int(OrderStatus.REJECTED)
CANCELED = int(OrderStatus.CANCELED)
EXPIRED = int(OrderStatus.EXPIRED)
FILLED = int(OrderStatus.FILLED)
PARTIAL = int(OrderStatus.PARTIALLY_FILLED)
R_NONE = int(Reject.NONE)
R_POST = int(Reject.POST_ONLY_WOULD_CROSS)
R_FOK = int(Reject.FOK_NOT_FILLABLE)
R_UNKNOWN = int(Reject.UNKNOWN_ORDER)
R_NO_LIQ = int(Reject.NO_LIQUIDITY)
R_INVALID = int(Reject.INVALID_ORDER)
R_OPEN = int(Reject.RISK_MAX_OPEN_ORDERS)


@njit_inline
def draw_response_nb(p: EngineParams, est: NDArray[np.int64]) -> int:
    """Next response-latency draw (ns); draws are used in turn and cycle."""
    k = est[ES_N_RESP]
    est[ES_N_RESP] = k + 1
    return int(p.response_ns[k % p.response_ns.shape[0]])


@njit_nrt_free
def report_oev_nb(
    rec: Records,
    est: NDArray[np.int64],
    ts_exch: int,
    resp_ns: int,
    order_id: int,
    status: int,
    reason: int,
    leaves: float,
) -> None:
    """Append one C5 order event; its ``ts_recv`` is ``ts_exch + resp_ns``, never decreasing."""
    k = est[ES_N_OEV]
    ts = max(ts_exch + resp_ns, est[ES_LAST_OEV_RECV], est[ES_LAST_FILL_RECV])  # one channel
    est[ES_LAST_OEV_RECV] = ts
    row = rec.order_events[k]
    row["ts_exch"] = ts_exch
    row["ts_recv"] = ts
    row["order_id"] = order_id
    row["status"] = status
    row["reason"] = reason
    row["leaves_qty"] = leaves
    est[ES_N_OEV] = k + 1


@njit_nrt_free
def report_fill_nb(
    rec: Records,
    est: NDArray[np.int64],
    p: EngineParams,
    ts_exch: int,
    resp_ns: int,
    order_id: int,
    side: int,
    liquidity: int,
    levels: int,
    price_ticks: int,
    qty: float,
) -> None:
    """Append one C6 fill with its fee (quote currency, maker/taker bps of ``p``)."""
    k = est[ES_N_FILL]
    ts = max(ts_exch + resp_ns, est[ES_LAST_FILL_RECV], est[ES_LAST_OEV_RECV])  # one channel
    est[ES_LAST_FILL_RECV] = ts
    row = rec.fills[k]
    row["ts_exch"] = ts_exch
    row["ts_recv"] = ts
    row["order_id"] = order_id
    row["side"] = side
    row["liquidity"] = liquidity
    row["levels"] = levels
    row["price_ticks"] = price_ticks
    row["qty"] = qty
    price = price_ticks * p.tick_size
    row["fee"] = fee_nb(price, qty, liquidity, p.maker_bps, p.taker_bps)
    est[ES_N_FILL] = k + 1


@njit_nrt_free
def find_order_nb(ot_i: NDArray[np.int64], order_id: int) -> int:
    """Order-table row of the active order ``order_id``, or -1."""
    for k in range(ot_i.shape[0]):
        if ot_i[k, OT_ACTIVE] == 1 and ot_i[k, OT_ID] == order_id:
            return k
    return -1


@njit_nrt_free
def free_row_nb(ot_i: NDArray[np.int64]) -> int:
    """First free order-table row, or -1 when the table is full."""
    for k in range(ot_i.shape[0]):
        if ot_i[k, OT_ACTIVE] == 0:
            return k
    return -1


@njit_nrt_free
def take_nb(
    bk: BookArrays,
    sc: Scratch,
    p: EngineParams,
    rec: Records,
    est: NDArray[np.int64],
    ts_exch: int,
    resp_ns: int,
    order_id: int,
    side: int,
    limit_ticks: int,
    want: float,
) -> float:
    """Sweep the opposite side up to ``limit_ticks``; report one taker fill per level.

    Uses the scratch rows ``sc.wt``/``sc.wq`` (int64/float64[1, W], W = levels read) and
    ``sc.take`` (float64[W]). Returns the filled size, base units. Oracle: ``sweep_nb``
    (itself checked against an exact Fraction walk) plus hand-worked engine tests.
    """
    wt, take = sc.wt, sc.take
    top_side_nb(bk.ist, bk.q, bk.ovf_px, bk.ovf_qty, 1 if side > 0 else 0, wt, sc.wq, 0)
    filled = sweep_nb(wt[0], sc.wq[0], want, limit_ticks, side, sc.wout, take)
    levels = int(sc.wout[WALK_LEVELS])
    for k in range(take.shape[0]):
        if take[k] > 0.0:
            report_fill_nb(
                rec, est, p, ts_exch, resp_ns, order_id, side, LIQ_TAKER, levels, wt[0, k], take[k]
            )
    return filled


@njit_inline
def best_opposite_nb(ist: NDArray[np.int64], side: int) -> int:
    """Best price (ticks) of the side a ``side`` order would take from."""
    return int(ist[IST_BEST + 1]) if side > 0 else int(ist[IST_BEST])


@njit_nrt_free
def rest_nb(
    bk: BookArrays,
    tr: Trader,
    row: int,
    order_id: int,
    side: int,
    tif: int,
    price_ticks: int,
    leaves: float,
    qty: float,
) -> None:
    """Put an order at the back of its level's queue in order-table row ``row``."""
    ot_i, ot_f, est = tr.ot_i, tr.ot_f, tr.est
    ot_i[row, OT_ID] = order_id
    ot_i[row, OT_SIDE] = side
    ot_i[row, OT_PRICE] = price_ticks
    ot_i[row, OT_TIF] = tif
    ot_i[row, OT_XREF] = best_opposite_nb(bk.ist, side)
    ot_i[row, OT_ACTIVE] = 1
    est[ES_OT_HI] = max(est[ES_OT_HI], row + 1)
    level = level_qty_nb(bk.ist, bk.q, bk.ovf_px, bk.ovf_qty, 0 if side > 0 else 1, price_ticks)
    queue_join_nb(ot_f[row], level, leaves)
    ot_f[row, OT_QTY] = qty


@njit_nrt_free
def maker_fill_nb(
    tr: Trader, k: int, fill: float, p: EngineParams, rec: Records, ts_exch: int
) -> None:
    """Report a maker fill of ``fill`` base units of order-table row ``k`` (and its event)."""
    ot_i, ot_f, est = tr.ot_i, tr.ot_f, tr.est
    leaves = ot_f[k, QS_LEAVES]
    if leaves <= ot_f[k, OT_QTY] * QTY_RTOL:  # complete: absorb the float residual
        fill += leaves
        leaves = 0.0
        ot_f[k, QS_LEAVES] = 0.0
        ot_i[k, OT_ACTIVE] = 0
    resp = draw_response_nb(p, est)
    oid = ot_i[k, OT_ID]
    report_fill_nb(
        rec, est, p, ts_exch, resp, oid, ot_i[k, OT_SIDE], LIQ_MAKER, 0, ot_i[k, OT_PRICE], fill
    )
    report_oev_nb(rec, est, ts_exch, resp, oid, FILLED if leaves == 0.0 else PARTIAL, 0, leaves)


@njit_nrt_free
def on_trade_nb(
    tr: Trader,
    p: EngineParams,
    rec: Records,
    ts_exch: int,
    price_ticks: int,
    qty: float,
    aggressor: int,
) -> None:
    """Apply a trade print to every resting order (queue rules 3 and 4 of ``queue``)."""
    ot_i, ot_f = tr.ot_i, tr.ot_f
    for k in range(tr.est[ES_OT_HI]):
        if ot_i[k, OT_ACTIVE] == 0:
            continue
        fill = queue_on_trade_nb(
            ot_f[k], ot_i[k, OT_PRICE], ot_i[k, OT_SIDE], price_ticks, qty, aggressor
        )
        if fill > 0.0:
            maker_fill_nb(tr, k, fill, p, rec, ts_exch)


@njit_nrt_free
def on_state_nb(bk: BookArrays, tr: Trader, p: EngineParams, rec: Records, ts_exch: int) -> None:
    """At a consistent book state: refresh queue estimates, fill orders the book crossed."""
    ot_i, ot_f, est = tr.ot_i, tr.ot_f, tr.est
    hi = est[ES_OT_HI]
    while hi > 0 and ot_i[hi - 1, OT_ACTIVE] == 0:
        hi -= 1
    est[ES_OT_HI] = hi
    for k in range(hi):
        if ot_i[k, OT_ACTIVE] == 0:
            continue
        side = ot_i[k, OT_SIDE]
        price = ot_i[k, OT_PRICE]
        opp = best_opposite_nb(bk.ist, side)
        if opp != ot_i[k, OT_XREF]:
            ot_i[k, OT_XREF] = opp
            if would_cross_nb(price, side, opp):
                ot_f[k, QS_AHEAD] = 0.0
                fill = ot_f[k, QS_LEAVES]
                ot_f[k, QS_LEAVES] = 0.0
                maker_fill_nb(tr, k, fill, p, rec, ts_exch)
                continue
        level = level_qty_nb(bk.ist, bk.q, bk.ovf_px, bk.ovf_qty, 0 if side > 0 else 1, price)
        if level != ot_f[k, QS_LEVEL]:
            queue_on_level_nb(ot_f[k], level, p.queue_model)
