"""Execution section: slippage vs arrival and decision mids, shortfall, levels walked, latency.

Clocks: an order's decision time is its ``ts_recv`` (strategy clock, the market series'
clock): the decision mid is the market mid then. A fill's ``ts_exch`` is its match time at
the venue, whose clock is the strategy clock minus the feed latency ``feed_ns``: the arrival
mid of a fill is the market mid at ``ts_exch + feed_ns``. For a taker fill this is the mid
the order met when it arrived; for a maker fill it is the mid when the resting order traded.

Signs (``s`` = side +1/-1, ``p`` price, ``q`` size, ``m`` a mid, quote currency): slippage is
a cost, ``s * (p - m) * q``, positive when we paid more than the mid (bps: over ``m * q``).
Implementation shortfall per NEW order (Perold): execution ``sum s*(p - m_dec)*q`` + fees +
opportunity ``s * (m_last - m_dec) * unfilled`` where ``m_last`` is the mid at the order's last
order event (its fill, cancel, expiry or rejection) and ``unfilled = ordered - filled``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.microstructure import new_orders, series_at
from l2trader.analysis.trades import fill_prices, validate_fills
from l2trader.schema import Liquidity

__all__ = ["OrderExecutions", "execution_metrics", "order_executions"]


@dataclass(frozen=True)
class OrderExecutions:
    """Per-NEW-order execution record (arrays of one row per NEW order, by ``order_id``).

    Attributes
    ----------
    order_id, side, decision_ts
        The order; ``decision_ts`` = its ``ts_recv``, ns.
    ordered_qty, filled_qty
        Base units.
    exec_cost, fees, opportunity_cost
        Quote: ``sum s*(p - m_dec)*q`` over its fills, fees of its fills, and
        ``s * (m_last - m_dec) * unfilled`` (NaN when a mid is unknown).
    mid_decision
        Market mid at ``decision_ts`` (quote), NaN when unknown.
    first_fill_ts_exch, first_fill_ts_recv
        ns; -1 when never filled.
    levels
        Most book levels any of its taker fills walked (0: no taker fill).
    """

    order_id: NDArray[np.int64]
    side: NDArray[np.int8]
    decision_ts: NDArray[np.int64]
    ordered_qty: NDArray[np.float64]
    filled_qty: NDArray[np.float64]
    exec_cost: NDArray[np.float64]
    fees: NDArray[np.float64]
    opportunity_cost: NDArray[np.float64]
    mid_decision: NDArray[np.float64]
    first_fill_ts_exch: NDArray[np.int64]
    first_fill_ts_recv: NDArray[np.int64]
    levels: NDArray[np.int64]


def _mid(inputs: RunInputs, t: NDArray[np.int64]) -> NDArray[np.float64]:
    """Market mid at each ``t`` (NaN without market or out of its range)."""
    if inputs.market is None:
        return np.full(np.shape(t), np.nan)
    return series_at(inputs.market, inputs.market.mid, t)


def _lookup(
    ids: NDArray[np.int64], query: NDArray[np.int64]
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Row of each ``query`` id in sorted unique ``ids`` and whether it is there."""
    pos = np.searchsorted(ids, query)
    if ids.size == 0:
        return pos, np.zeros(pos.shape, bool)
    return pos, (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == query)


def _new_orders(inputs: RunInputs) -> NDArray[np.void]:
    """NEW order rows sorted by ``order_id``."""
    return new_orders(inputs)


def _last_event_ts(
    inputs: RunInputs, ids: NDArray[np.int64], default: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Venue time (ns) of each sorted ``ids`` order's last order event; ``default`` if none."""
    ev = inputs.order_events
    out = default.copy()
    pos, ok = _lookup(ids, ev["order_id"])
    np.maximum.at(out, pos[ok], ev["ts_exch"][ok])
    return out


def order_executions(inputs: RunInputs, *, feed_ns: int = 0) -> OrderExecutions:
    """Aggregate fills per NEW order (fills of other order ids are ignored)."""
    validate_fills(inputs.fills)
    new = _new_orders(inputs)
    ids, n = new["order_id"].astype(np.int64), new.shape[0]
    pos, ok = _lookup(ids, inputs.fills["order_id"])
    f, pos = inputs.fills[ok], pos[ok]
    s, p, q = f["side"].astype(np.float64), fill_prices(f, inputs.tick_size), f["qty"]
    mid_dec = _mid(inputs, new["ts_recv"])
    filled, cost, fees = np.zeros(n), np.zeros(n), np.zeros(n)
    np.add.at(filled, pos, q)
    np.add.at(cost, pos, s * (p - mid_dec[pos]) * q)
    np.add.at(fees, pos, f["fee"])
    first_x, first_r = np.full(n, np.iinfo(np.int64).max), np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_x, pos, f["ts_exch"])
    np.minimum.at(first_r, pos, f["ts_recv"])
    never = filled == 0
    first_x[never], first_r[never] = -1, -1
    levels = np.zeros(n, np.int64)
    taker = f["liquidity"] == Liquidity.TAKER
    np.maximum.at(levels, pos[taker], f["levels"][taker].astype(np.int64))
    last = _last_event_ts(inputs, ids, new["ts_recv"].astype(np.int64))
    unfilled = np.maximum(new["qty"] - filled, 0.0)
    opp = new["side"] * (_mid(inputs, last + feed_ns) - mid_dec) * unfilled
    opp = np.where(unfilled > 0, opp, 0.0)
    return OrderExecutions(
        order_id=ids, side=new["side"].copy(), decision_ts=new["ts_recv"].astype(np.int64),
        ordered_qty=new["qty"].astype(np.float64), filled_qty=filled, exec_cost=cost, fees=fees,
        opportunity_cost=opp, mid_decision=mid_dec, first_fill_ts_exch=first_x,
        first_fill_ts_recv=first_r, levels=levels,
    )  # fmt: skip


def _bps(cost: NDArray[np.float64], notional: NDArray[np.float64]) -> float:
    """``1e4 * sum(cost) / sum(notional)`` over rows where both are finite; NaN if none."""
    ok = np.isfinite(cost) & np.isfinite(notional)
    den = float(notional[ok].sum())
    return 1e4 * float(cost[ok].sum()) / den if den > 0 else math.nan


def _slippage(inputs: RunInputs, feed_ns: int) -> dict[str, float | int]:
    """Size-weighted slippage (bps) vs the arrival mid and the decision mid, by liquidity."""
    f = inputs.fills
    s, p, q = f["side"].astype(np.float64), fill_prices(f, inputs.tick_size), f["qty"]
    m_arr = _mid(inputs, f["ts_exch"].astype(np.int64) + feed_ns)
    new = _new_orders(inputs)
    pos, ok = _lookup(new["order_id"].astype(np.int64), f["order_id"])
    m_dec = np.full(f.shape, np.nan)
    m_dec[ok] = _mid(inputs, new["ts_recv"][pos[ok]].astype(np.int64))
    out: dict[str, float | int] = {}
    for name, keep in (("", np.ones(f.shape, bool)), ("_maker", f["liquidity"] == Liquidity.MAKER),
                       ("_taker", f["liquidity"] == Liquidity.TAKER)):  # fmt: skip
        out[f"slippage_arrival_bps{name}"] = _bps((s * (p - m_arr) * q)[keep], (m_arr * q)[keep])
        out[f"slippage_decision_bps{name}"] = _bps((s * (p - m_dec) * q)[keep], (m_dec * q)[keep])
    return out


def _dist(prefix: str, x: NDArray[np.float64]) -> dict[str, float | int]:
    """Mean, median, p90 and max of ``x`` under ``prefix_<stat>``; NaN when empty."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {f"{prefix}_{k}": math.nan for k in ("mean", "median", "p90", "max")}
    return {
        f"{prefix}_mean": float(x.mean()),
        f"{prefix}_median": float(np.median(x)),
        f"{prefix}_p90": float(np.percentile(x, 90)),
        f"{prefix}_max": float(x.max()),
    }


def execution_metrics(inputs: RunInputs, *, feed_ns: int = 0) -> dict[str, float | int]:
    """Execution section (module docstring): slippage, shortfall, levels walked, latency.

    Keys: ``slippage_{arrival,decision}_bps[_maker|_taker]``; ``implementation_shortfall_quote``
    (= ``is_execution_quote + is_fees_quote + is_opportunity_quote``) and ``_bps`` (over the
    decision notional of all NEW orders with a known mid); ``levels_walked_*`` over orders with
    taker fills and ``multi_level_share``; ``decision_to_fill_ms_*`` (first fill's venue match)
    and ``decision_to_notice_ms_*`` (when the strategy hears of it) over filled orders.
    """
    ox = order_executions(inputs, feed_ns=feed_ns)
    out = _slippage(inputs, feed_ns)
    known = np.isfinite(ox.mid_decision)
    parts = {
        "is_execution_quote": float(ox.exec_cost[known].sum()),
        "is_fees_quote": float(ox.fees[known].sum()),
        "is_opportunity_quote": float(np.nansum(ox.opportunity_cost[known])),
    }
    total = sum(parts.values())
    out |= parts
    out["implementation_shortfall_quote"] = total
    notional = float((ox.mid_decision[known] * ox.ordered_qty[known]).sum())
    out["implementation_shortfall_bps"] = 1e4 * total / notional if notional > 0 else math.nan
    walked = ox.levels[ox.levels > 0].astype(np.float64)
    out |= _dist("levels_walked", walked)
    out["multi_level_share"] = float((walked > 1).mean()) if walked.size else math.nan
    filled = ox.first_fill_ts_exch >= 0
    out |= _dist("decision_to_fill_ms", (ox.first_fill_ts_exch - ox.decision_ts)[filled] / 1e6)
    out |= _dist("decision_to_notice_ms", (ox.first_fill_ts_recv - ox.decision_ts)[filled] / 1e6)
    return out
