"""L2 microstructure section: markouts, adverse selection, spread capture, PnL attribution.

Clock: a fill is placed on the market timeline at its ``ts_exch`` (the match time at the
venue), not its ``ts_recv`` (the time the strategy hears of it, one response latency later):
a markout measures how the mid moved after the trade happened, and using ``ts_recv`` would
fold the response latency into every horizon. The simulated venue's clock is the market
series' ``ts_recv`` clock shifted back by the feed latency, so fill time ``t`` meets the market
at ``t + feed_ns`` (``feed_ns`` = 0 unless the engine config set it; pass it explicitly).

Markout of fill ``i`` at horizon ``h`` (``s`` side +1/-1, ``p`` price, ``q`` size):
``bps = 1e4 * s * (mid(t + h) - p) / p``, ``quote = s * (mid(t + h) - p) * q``. ``mid(x)`` is
the last market sample at or before ``x`` (so stale by up to the grid step), NaN before the
first sample or after the last one.

PnL attribution identity (quote currency, ``mark`` = :func:`~l2trader.analysis.trades.mark_price`,
``m_i`` = mid at fill ``i``)::

    pnl_total = pnl_spread_capture + pnl_taker_spread_cost + pnl_price_moves
                - pnl_fees_paid + pnl_rebates
    pnl_spread_capture    = sum over maker fills of s * (m_i - p) * q
    pnl_taker_spread_cost = sum over taker fills of s * (m_i - p) * q   (<= 0 normally)
    pnl_price_moves       = sum over fills of s * (mark - m_i) * q      (the rest of gross PnL)

A fill with no mid known at its time puts its whole ``s * (mark - p) * q`` in price moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.kernels import searchsorted_right_nb
from l2trader.analysis.returns import memoised
from l2trader.analysis.trades import fill_prices, mark_price, validate_fills
from l2trader.schema import Liquidity, OrderAction, OrderStatus
from l2trader.units import NS_PER_MILLISECOND, NS_PER_SECOND

__all__ = [
    "HORIZONS_NS",
    "Markouts",
    "first_ts_by_id",
    "horizon_label",
    "markout_table",
    "microstructure_metrics",
    "pnl_attribution",
    "series_at",
]

HORIZONS_NS: Final = (
    100 * NS_PER_MILLISECOND,
    NS_PER_SECOND,
    10 * NS_PER_SECOND,
    60 * NS_PER_SECOND,
)
"""Default markout horizons: 100 ms, 1 s, 10 s, 60 s (ns)."""

_GROUPS: Final = (("", None), ("_maker", Liquidity.MAKER), ("_taker", Liquidity.TAKER))
_SIDES: Final = (("", 0), ("_buy", 1), ("_sell", -1))


def horizon_label(h_ns: int) -> str:
    """Short label of a horizon for metric names.

    Examples
    --------
    >>> [horizon_label(h) for h in HORIZONS_NS]
    ['100ms', '1s', '10s', '60s']
    """
    if h_ns % NS_PER_SECOND == 0:
        return f"{h_ns // NS_PER_SECOND}s"
    if h_ns % NS_PER_MILLISECOND == 0:
        return f"{h_ns // NS_PER_MILLISECOND}ms"
    return f"{h_ns}ns"


def series_at(
    market: MarketSeries, values: NDArray[np.float64], t: NDArray[np.int64]
) -> NDArray[np.float64]:
    """``values`` of the last sample at or before each ``t``; NaN outside the sampled range."""
    t = np.asarray(t, dtype=np.int64)
    out = np.full(t.shape, np.nan)
    if market.ts.size == 0:
        return out
    flat = t.T.ravel()  # column by column: each column of a (fills x horizons) query ascends
    k = (searchsorted_right_nb(np.ascontiguousarray(market.ts), flat) - 1).reshape(t.T.shape).T
    ok = (k >= 0) & (t <= market.ts[-1])
    out[ok] = values[k[ok]]
    return out


@dataclass(frozen=True)
class Markouts:
    """Per-fill markouts: fills in venue order, one column per horizon.

    Attributes
    ----------
    horizons_ns
        int64[h], horizons after the fill, ns.
    ts, side, liquidity, price, qty, fee
        The fills (``ts`` = ``ts_exch``, ns; ``price`` quote; ``qty`` base; ``fee`` quote).
    mid_at_fill, spread_at_fill
        float64[n], market mid and spread (quote) at the fill; NaN when unknown.
    bps, quote
        float64[n, h], markout in bps of the price and in quote currency (x qty).
    """

    horizons_ns: NDArray[np.int64]
    ts: NDArray[np.int64]
    side: NDArray[np.int8]
    liquidity: NDArray[np.uint8]
    price: NDArray[np.float64]
    qty: NDArray[np.float64]
    fee: NDArray[np.float64]
    mid_at_fill: NDArray[np.float64]
    spread_at_fill: NDArray[np.float64]
    bps: NDArray[np.float64]
    quote: NDArray[np.float64]

    def mask(self, liquidity: int | None = None, side: int = 0) -> NDArray[np.bool_]:
        """Fills of one liquidity (None = all) and side (0 = both)."""
        keep = np.ones(self.ts.shape, bool)
        if liquidity is not None:
            keep &= self.liquidity == liquidity
        if side:
            keep &= self.side == side
        return keep

    def curve(self, liquidity: int | None = None, side: int = 0) -> NDArray[np.float64]:
        """Mean markout (bps) per horizon over the selected fills (the markout plot)."""
        return np.array(
            [_mean(self.bps[self.mask(liquidity, side), j]) for j in range(len(self.horizons_ns))]
        )


def _mean(x: NDArray[np.float64]) -> float:
    """Mean of the finite values; NaN when there are none."""
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _sum(x: NDArray[np.float64]) -> float:
    """Sum of the finite values; NaN when there are none."""
    x = x[np.isfinite(x)]
    return float(x.sum()) if x.size else math.nan


def markout_table(
    inputs: RunInputs, horizons_ns: tuple[int, ...] = HORIZONS_NS, *, feed_ns: int = 0
) -> Markouts:
    """Markouts of every fill at each horizon (see the module docstring for the formulas).

    Without a market series every mid (and so every markout) is NaN.
    """
    validate_fills(inputs.fills)
    f = inputs.fills[np.argsort(inputs.fills["ts_exch"], kind="stable")]
    price = fill_prices(f, inputs.tick_size)
    h = np.asarray(horizons_ns, dtype=np.int64)
    t = f["ts_exch"].astype(np.int64) + feed_ns
    n = f.shape[0]
    mid, spread = np.full(n, np.nan), np.full(n, np.nan)
    future = np.full((n, h.size), np.nan)
    if inputs.market is not None:
        mkt = inputs.market
        mid, spread = series_at(mkt, mkt.mid, t), series_at(mkt, mkt.spread, t)
        future = series_at(mkt, mkt.mid, t[:, None] + h[None, :])
    s = f["side"].astype(np.float64)[:, None]
    move = s * (future - price[:, None])
    return Markouts(
        horizons_ns=h, ts=f["ts_exch"].copy(), side=f["side"].copy(),
        liquidity=f["liquidity"].copy(), price=price, qty=f["qty"].copy(), fee=f["fee"].copy(),
        mid_at_fill=mid, spread_at_fill=spread,
        bps=1e4 * move / price[:, None], quote=move * f["qty"][:, None],
    )  # fmt: skip


def _markout_metrics(mk: Markouts) -> dict[str, float | int]:
    """Mean markout (bps) and summed markout (quote) by horizon, liquidity and side."""
    out: dict[str, float | int] = {}
    fee_bps = 1e4 * mk.fee / (mk.price * mk.qty)
    masks = {(g, sn): mk.mask(liq, side) for g, liq in _GROUPS for sn, side in _SIDES}
    bps_cols, quote_cols = mk.bps.T.copy(), mk.quote.T.copy()  # contiguous horizon columns
    for j, h in enumerate(mk.horizons_ns):
        lab = horizon_label(int(h))
        bps, quote = bps_cols[j], quote_cols[j]
        for (gname, sname), keep in masks.items():
            out[f"markout_bps_{lab}{gname}{sname}"] = _mean(bps[keep])
            out[f"markout_quote_{lab}{gname}{sname}"] = _sum(quote[keep])
        out[f"adverse_selection_bps_{lab}"] = -out[f"markout_bps_{lab}_maker"]
        known = np.isfinite(bps)
        out[f"microstructure_alpha_bps_{lab}"] = _mean(bps[known] - fee_bps[known])
        out[f"microstructure_alpha_quote_{lab}"] = _sum(quote[known] - mk.fee[known])
    return out


def _spread_capture(mk: Markouts) -> dict[str, float | int]:
    """Maker spread capture (effective and realized half spread / quoted half spread)."""
    maker = mk.liquidity == Liquidity.MAKER
    captured = mk.side * (mk.mid_at_fill - mk.price) * mk.qty
    quoted = 0.5 * mk.spread_at_fill * mk.qty
    ok = maker & np.isfinite(captured) & np.isfinite(quoted)
    den = float(quoted[ok].sum())
    out: dict[str, float | int] = {
        "spread_capture_ratio": float(captured[ok].sum()) / den if den > 0 else math.nan
    }
    for j, h in enumerate(mk.horizons_ns):
        okh = ok & np.isfinite(mk.quote[:, j])
        den_h = float(quoted[okh].sum())
        ratio = float(mk.quote[okh, j].sum()) / den_h if den_h > 0 else math.nan
        out[f"realized_spread_ratio_{horizon_label(int(h))}"] = ratio
    return out


def pnl_attribution(mk: Markouts, mark: float) -> dict[str, float | int]:
    """Split PnL (quote) into spread capture, taker spread cost, price moves and fees.

    The parts add up to ``pnl_total`` (module docstring). ``mark`` prices the final
    position; NaN makes ``pnl_total`` and ``pnl_price_moves`` NaN unless the position is flat.
    """
    s, p, q = mk.side.astype(np.float64), mk.price, mk.qty
    position = float((s * q).sum())
    flat = abs(position) <= 1e-9 * float(q.max()) if q.size else True
    mark_term = 0.0 if flat else position * mark
    gross = float(-(s * p * q).sum()) + mark_term
    known = np.isfinite(mk.mid_at_fill)
    edge = np.where(known, s * (mk.mid_at_fill - p) * q, 0.0)
    maker = mk.liquidity == Liquidity.MAKER
    ref = np.where(known, mk.mid_at_fill, p)  # price the move is measured from
    moves = mark_term - float((s * ref * q).sum())
    fees_paid, rebates = float(mk.fee[mk.fee > 0].sum()), 0.0 - float(mk.fee[mk.fee < 0].sum())
    return {
        "pnl_total": gross - fees_paid + rebates,
        "pnl_gross": gross,
        "pnl_spread_capture": float(edge[maker].sum()),
        "pnl_taker_spread_cost": float(edge[~maker].sum()),
        "pnl_price_moves": moves,
        "pnl_fees_paid": fees_paid,
        "pnl_rebates": rebates,
        "fills_without_mid": int((~known).sum()),
    }


def new_orders(inputs: RunInputs) -> NDArray[np.void]:
    """NEW order rows sorted (stably) by ``order_id`` (memoised inside ``returns.memo``)."""

    def compute() -> NDArray[np.void]:
        o = inputs.orders
        new = o[o["action"] == OrderAction.NEW]
        out: NDArray[np.void] = new[np.argsort(new["order_id"], kind="stable")]
        return out

    return memoised("new_orders", inputs.orders, compute)


def first_ts_by_id(
    ids: NDArray[np.int64], ts: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct ``ids`` (ascending) and the earliest ``ts`` of each.

    Examples
    --------
    >>> uid, first = first_ts_by_id(np.array([5, 3, 5]), np.array([9, 8, 2]))
    >>> uid.tolist(), first.tolist()
    ([3, 5], [8, 2])
    """
    ids, ts = np.asarray(ids), np.asarray(ts)
    if ids.size == 0:
        return ids[:0].copy(), ts[:0].copy()
    order = np.argsort(ids, kind="stable")  # ids come nearly sorted: a fast merge sort
    s = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    return s[starts], np.minimum.reduceat(ts[order], starts)


def _in_sorted(sorted_ids: NDArray[np.int64], query: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether each ``query`` is in the ascending ``sorted_ids`` (``np.isin``)."""
    if sorted_ids.size == 0:
        return np.zeros(np.shape(query), bool)
    pos = np.minimum(np.searchsorted(sorted_ids, query), sorted_ids.size - 1)
    out: NDArray[np.bool_] = sorted_ids[pos] == query
    return out


def _fill_and_queue(inputs: RunInputs) -> dict[str, float | int]:
    """Fill ratio of NEW orders and queue wait (s) of resting (ACCEPTED) orders."""
    f, o, ev = inputs.fills, inputs.orders, inputs.order_events
    is_new = o["action"] == OrderAction.NEW
    ordered = float(o["qty"][is_new].sum())  # row order: a sorted sum could differ in 1 ulp
    new = new_orders(inputs)
    fill_ids = np.ascontiguousarray(f["order_id"])
    in_new = _in_sorted(new["order_id"], fill_ids)
    acc = ev[ev["status"] == OrderStatus.ACCEPTED]
    acc_id, acc_ts = first_ts_by_id(acc["order_id"], acc["ts_exch"])
    mk = f[f["liquidity"] == Liquidity.MAKER]
    fill_id, fill_ts = first_ts_by_id(mk["order_id"], mk["ts_exch"])
    both, ia, ib = np.intersect1d(acc_id, fill_id, assume_unique=True, return_indices=True)
    wait_s = (fill_ts[ib] - acc_ts[ia]) / 1e9
    wait_s = wait_s[wait_s >= 0]
    return {
        "orders_new": int(new.shape[0]),
        "fill_ratio": float(f["qty"][in_new].sum()) / ordered if ordered > 0 else math.nan,
        "orders_filled_share": float(_in_sorted(np.unique(fill_ids), new["order_id"]).mean())
        if new.size
        else math.nan,
        "resting_orders": int(acc_id.size),
        "resting_filled_share": both.size / acc_id.size if acc_id.size else math.nan,
        "queue_wait_s_mean": float(wait_s.mean()) if wait_s.size else math.nan,
        "queue_wait_s_median": float(np.median(wait_s)) if wait_s.size else math.nan,
        "queue_wait_s_p90": float(np.percentile(wait_s, 90)) if wait_s.size else math.nan,
    }


def _mix_and_fees(mk: Markouts) -> dict[str, float | int]:
    """Maker/taker mix (by count, size and notional) and fees/rebates by liquidity (quote, bps)."""
    notional = mk.price * mk.qty
    maker = mk.liquidity == Liquidity.MAKER
    n = mk.ts.size
    out: dict[str, float | int] = {
        "fills": n,
        "maker_fills": int(maker.sum()),
        "taker_fills": int(n - maker.sum()),
        "maker_share_fills": float(maker.mean()) if n else math.nan,
        "maker_share_qty": float(mk.qty[maker].sum() / mk.qty.sum()) if n else math.nan,
        "maker_share_notional": float(notional[maker].sum() / notional.sum()) if n else math.nan,
    }
    for name, keep in (("maker", maker), ("taker", ~maker)):
        fees = float(mk.fee[keep].sum())
        out[f"fees_{name}"] = fees
        out[f"rebates_{name}"] = 0.0 - float(mk.fee[keep & (mk.fee < 0)].sum())
        den = float(notional[keep].sum())
        out[f"fee_bps_{name}"] = 1e4 * fees / den if den > 0 else math.nan
    return out


def microstructure_metrics(
    inputs: RunInputs,
    horizons_ns: tuple[int, ...] = HORIZONS_NS,
    *,
    feed_ns: int = 0,
    markouts: Markouts | None = None,
) -> dict[str, float | int]:
    """L2 section: markouts, adverse selection, alpha, spread capture, fills, mix, fees, PnL split.

    Keys (``<h>`` in ``100ms, 1s, 10s, 60s``; ``<g>`` in ``'', _maker, _taker``; ``<s>`` in
    ``'', _buy, _sell``): ``markout_bps_<h><g><s>`` (mean, bps), ``markout_quote_<h><g><s>``
    (sum, quote), ``adverse_selection_bps_<h>`` (= minus the maker markout),
    ``microstructure_alpha_bps_<h>`` / ``_quote_<h>`` (markout net of fees),
    ``spread_capture_ratio``, ``realized_spread_ratio_<h>``, fill ratio / queue wait /
    maker-taker mix / fee keys, and the ``pnl_*`` attribution (module docstring).
    ``markouts``: ``markout_table(inputs, horizons_ns, feed_ns=feed_ns)`` if already built.
    """
    mk = markout_table(inputs, horizons_ns, feed_ns=feed_ns) if markouts is None else markouts
    out: dict[str, float | int] = {}
    out["market_step_ms"] = inputs.market.step_ns / 1e6 if inputs.market else math.nan
    out |= _markout_metrics(mk)
    out |= _spread_capture(mk)
    out |= _fill_and_queue(inputs)
    out |= _mix_and_fees(mk)
    out |= pnl_attribution(mk, mark_price(inputs))
    return out
