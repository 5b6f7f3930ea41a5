"""Plain-Python twins of the reference strategies (no numba): the oracle of their kernels.

``PySignalTaker(cfg)`` and ``PyMarketMaker(cfg)`` re-implement the rules documented in
``l2trader.engine.strategies.taker`` / ``.market_maker`` and ``l2trader.engine.sizing``
with the ``math`` module, ``fractions``/``decimal`` (exact lot rounding) and numpy only,
from the configs (not from the kernel parameter tuples). ``decide(ctx, out) -> n`` writes
ORDER_DTYPE rows exactly like the kernels.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig
from l2trader.engine.strategy import (
    FEAT_ASK_QTY1,
    FEAT_AVG_ENTRY_TICKS,
    FEAT_BID_QTY1,
    FEAT_IMB5,
    FEAT_MICRO_TICKS,
    FEAT_MID_TICKS,
    FEAT_POS_AGE_NS,
    FEAT_SCORE_AGE_NS,
    FEAT_SPREAD_TICKS,
    FEAT_VOL_BPS,
    N_FEATURES,
    StrategyContext,
)
from l2trader.schema import (
    NO_ASK_TICKS,
    NO_BID_TICKS,
    ORDER_DTYPE,
    OrderAction,
    OrderType,
    TimeInForce,
)

NEW_ID = -1
NAN = math.nan


def _good(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


def py_raw_size(cfg: SizingConfig, score_bps: float, vol_bps: float, depth: float) -> float:
    if cfg.method == "fixed":
        return cfg.qty
    if cfg.method == "vol_target":
        return cfg.qty * cfg.target_vol_bps / vol_bps if _good(vol_bps) else 0.0
    if cfg.method == "depth_fraction":
        return cfg.depth_fraction * depth if _good(depth) else 0.0
    strength = abs(score_bps)
    return cfg.qty * min(strength / cfg.score_scale_bps, 1.0) if _good(strength) else 0.0


def py_lot_floor(q: float, lot: Decimal) -> float:
    """Largest float(m * lot) <= q by exact search; unchanged once m * units >= 2**52."""
    _, digits, exponent = lot.normalize().as_tuple()
    units = int("".join(map(str, digits))) * 10 ** max(int(exponent), 0)
    exact = Fraction(lot)
    m = math.floor(Fraction(q) / exact)
    if m * units >= 2**52:
        return q
    while float((m + 1) * exact) <= q:
        m += 1
    while m > 0 and float(m * exact) > q:
        m -= 1
    return float(m * exact)


def py_cap(cfg: SizingConfig, qty: float, cap: float) -> float:
    """Cap, round down to the lot (exact decimal arithmetic), apply min_qty."""
    if not (qty > 0.0 and cap > 0.0):
        return 0.0
    q = min(qty, cap, cfg.max_qty)
    if math.isinf(q):
        return 0.0
    if cfg.lot_size > 0.0:
        q = py_lot_floor(q, Decimal(repr(cfg.lot_size)))
    if q < cfg.min_qty or q <= 0.0:
        return 0.0
    return q


def py_size(cfg: SizingConfig, score_bps: float, vol_bps: float, depth: float) -> float:
    return py_cap(cfg, py_raw_size(cfg, score_bps, vol_bps, depth), math.inf)


def _write(
    out: NDArray[np.void],
    i: int,
    values: tuple[int, int, int, int, int, int, int, float],
) -> None:
    out[i] = values


def _book_ok(ctx: StrategyContext) -> bool:
    return ctx.best_bid_ticks != NO_BID_TICKS and ctx.best_ask_ticks != NO_ASK_TICKS


class PySignalTaker:
    """Python twin of ``taker_decide_nb``."""

    def __init__(self, cfg: SignalTakerConfig) -> None:
        self.cfg = cfg

    def decide(self, ctx: StrategyContext, out: NDArray[np.void]) -> int:
        c = self.cfg
        f = ctx.features
        if len(ctx.open_orders) > 0 or len(out) == 0 or not _book_ok(ctx):
            return 0
        mid = float(f[FEAT_MID_TICKS])
        if not (mid > 0.0 and math.isfinite(ctx.position)):
            return 0
        score = ctx.score
        age = float(f[FEAT_SCORE_AGE_NS])
        opinion = math.isfinite(score) and age <= float(c.max_signal_age_ns)
        pos = ctx.position
        if abs(pos) <= c.flat_qty:
            if not opinion:
                return 0
            cost = float(f[FEAT_SPREAD_TICKS]) / 2.0 / mid * 1e4 + c.taker_fee_bps
            if score - cost > c.entry_margin_bps:
                side, depth = 1, float(f[FEAT_ASK_QTY1])
            elif -score - cost > c.entry_margin_bps:
                side, depth = -1, float(f[FEAT_BID_QTY1])
            else:
                return 0
            qty = py_size(c.sizing, score, float(f[FEAT_VOL_BPS]), depth)
            qty = py_cap(c.sizing, qty, c.max_position - abs(pos))
            if qty <= 0.0:
                return 0
            return self._send(ctx, side, qty, out)
        long = pos > 0.0
        decayed = not opinion or (score < c.exit_score_bps if long else score > -c.exit_score_bps)
        too_old = float(f[FEAT_POS_AGE_NS]) > c.max_hold_ns
        entry = float(f[FEAT_AVG_ENTRY_TICKS])
        adverse = (entry - mid) if long else (mid - entry)
        stopped = entry > 0.0 and adverse / entry * 1e4 >= c.stop_bps
        if decayed or too_old or stopped:
            return self._send(ctx, -1 if long else 1, abs(pos), out)
        return 0

    def _send(self, ctx: StrategyContext, side: int, qty: float, out: NDArray[np.void]) -> int:
        c = self.cfg
        new = int(OrderAction.NEW)
        ioc = int(TimeInForce.IOC)
        if c.use_ioc_limit:
            price = (
                ctx.best_ask_ticks + c.ioc_slippage_ticks
                if side > 0
                else ctx.best_bid_ticks - c.ioc_slippage_ticks
            )
            row = (ctx.ts_recv, NEW_ID, new, side, int(OrderType.LIMIT), ioc, price, qty)
        else:
            row = (ctx.ts_recv, NEW_ID, new, side, int(OrderType.MARKET), ioc, 0, qty)
        _write(out, 0, row)
        return 1


class PyMarketMaker:
    """Python twin of ``mm_decide_nb``."""

    def __init__(self, cfg: MarketMakerConfig) -> None:
        self.cfg = cfg

    def quotes(self, ctx: StrategyContext) -> tuple[float, float] | None:
        """Raw ``(r - delta, r + delta)`` in ticks, or None while warming up."""
        c = self.cfg
        f = ctx.features
        vol = float(f[FEAT_VOL_BPS])
        mid = float(f[FEAT_MID_TICKS])
        micro = float(f[FEAT_MICRO_TICKS])
        if not _book_ok(ctx) or not math.isfinite(ctx.position):
            return None
        if not (math.isfinite(vol) and vol >= 0.0 and mid > 0.0 and math.isfinite(micro)):
            return None
        imb = float(f[FEAT_IMB5])
        fair = micro + c.imbalance_skew_ticks * imb if math.isfinite(imb) else micro
        sigma = vol * mid / 1e4
        risk = c.gamma * sigma * sigma * c.horizon_s
        r = fair - ctx.position / c.inventory_unit_qty * risk
        spread_term = 2.0 / c.gamma * math.log(1.0 + c.gamma / c.kappa)
        delta = max(c.min_half_spread_ticks, (risk + spread_term) / 2.0)
        lo, hi = r - delta, r + delta
        if not (abs(lo) < 2.0**62 and abs(hi) < 2.0**62):
            return None
        return lo, hi

    def decide(self, ctx: StrategyContext, out: NDArray[np.void]) -> int:
        c = self.cfg
        f = ctx.features
        q = self.quotes(ctx)
        if q is None:
            return 0
        bid = min(math.floor(q[0]), ctx.best_ask_ticks - 1)
        ask = max(math.ceil(q[1]), ctx.best_bid_ticks + 1)
        vol = float(f[FEAT_VOL_BPS])
        bid_qty = py_size(c.sizing, ctx.score, vol, float(f[FEAT_BID_QTY1]))
        bid_qty = py_cap(c.sizing, bid_qty, c.max_inventory - ctx.position)
        ask_qty = py_size(c.sizing, ctx.score, vol, float(f[FEAT_ASK_QTY1]))
        ask_qty = py_cap(c.sizing, ask_qty, c.max_inventory + ctx.position)
        n = self._side(ctx, 1, bid, bid_qty, out, 0)
        return self._side(ctx, -1, ask, ask_qty, out, n)

    def _side(
        self, ctx: StrategyContext, side: int, price: int, qty: float, out: NDArray[np.void], n: int
    ) -> int:
        working = [
            r
            for r in ctx.open_orders
            if int(r["side"]) == side and int(r["action"]) != int(OrderAction.CANCEL)
        ]
        keep = None
        if qty > 0.0:
            keep = next(
                (
                    i
                    for i, r in enumerate(working)
                    if abs(int(r["price_ticks"]) - price) <= self.cfg.requote_ticks
                ),
                None,
            )
        for i, r in enumerate(working):
            if i == keep or n >= len(out):
                continue
            cancel = (
                ctx.ts_recv,
                int(r["order_id"]),
                int(OrderAction.CANCEL),
                int(r["side"]),
                int(r["order_type"]),
                int(r["tif"]),
                int(r["price_ticks"]),
                float(r["qty"]),
            )
            _write(out, n, cancel)
            n += 1
        if qty > 0.0 and keep is None and n < len(out):
            new = (
                ctx.ts_recv,
                NEW_ID,
                int(OrderAction.NEW),
                side,
                int(OrderType.LIMIT),
                int(TimeInForce.POST_ONLY),
                price,
                qty,
            )
            _write(out, n, new)
            n += 1
        return n


# --- hand-worked contexts ---------------------------------------------------------------

TS = 123


def hand_features(**kw: float) -> NDArray[np.float64]:
    """Features of the hand-worked book (bid 999, ask 1001); ``kw`` overrides named slots."""
    f = np.full(N_FEATURES, NAN)
    f[FEAT_MID_TICKS] = 1000.0
    f[FEAT_MICRO_TICKS] = 1000.0
    f[FEAT_SPREAD_TICKS] = 2.0
    f[FEAT_IMB5] = 0.0
    f[FEAT_VOL_BPS] = 10.0
    f[FEAT_BID_QTY1] = 1.0
    f[FEAT_ASK_QTY1] = 2.0
    f[FEAT_SCORE_AGE_NS] = 0.0
    slots = {
        "mid": FEAT_MID_TICKS,
        "micro": FEAT_MICRO_TICKS,
        "imb5": FEAT_IMB5,
        "vol": FEAT_VOL_BPS,
        "score_age": FEAT_SCORE_AGE_NS,
        "pos_age": FEAT_POS_AGE_NS,
        "entry": FEAT_AVG_ENTRY_TICKS,
    }
    for name, value in kw.items():
        f[slots[name]] = value
    return f


def make_ctx(
    *,
    score: float = NAN,
    position: float = 0.0,
    bid: int = 999,
    ask: int = 1001,
    orders: NDArray[np.void] | None = None,
    **feat: float,
) -> StrategyContext:
    """Context of the hand-worked book at time ``TS``."""
    oo = np.zeros(0, ORDER_DTYPE) if orders is None else orders
    return StrategyContext(TS, bid, ask, position, oo, hand_features(**feat), score)


# --- random inputs for kernel/twin parity (hypothesis) -----------------------------------

NEW, CANCEL = int(OrderAction.NEW), int(OrderAction.CANCEL)


def orders(*rows: tuple[int, int, int, int, float]) -> NDArray[np.void]:
    """Working orders ``(order_id, action, side, price_ticks, qty)``, LIMIT POST_ONLY."""
    oo = np.zeros(len(rows), ORDER_DTYPE)
    for k, (oid, action, side, price, qty) in enumerate(rows):
        oo[k] = (1, oid, action, side, int(OrderType.LIMIT), int(TimeInForce.POST_ONLY), price, qty)
    return oo


_PRICE = st.integers(990, 1010)
_DEFECTS = ("none",) * 6 + ("no_bid", "no_ask", "mid", "micro", "vol", "imb5")


def _rare_nan(values: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.one_of(values, values, values, st.just(NAN))


@st.composite
def contexts(draw: st.DrawFn) -> StrategyContext:
    """Random contexts, mostly well-formed; one in two carries a single defect."""
    defect = draw(st.sampled_from(_DEFECTS))
    bid = draw(_PRICE)
    ask = bid + draw(st.integers(1, 4))
    f = np.full(N_FEATURES, NAN)
    f[FEAT_MID_TICKS] = NAN if defect == "mid" else (bid + ask) / 2
    f[FEAT_MICRO_TICKS] = NAN if defect == "micro" else (bid + ask) / 2 + draw(st.floats(-1, 1))
    f[FEAT_SPREAD_TICKS] = ask - bid
    f[FEAT_IMB5] = NAN if defect == "imb5" else draw(st.floats(-1.0, 1.0))
    f[FEAT_VOL_BPS] = (
        draw(st.sampled_from([NAN, -1.0])) if defect == "vol" else draw(st.floats(0.0, 30.0))
    )
    f[FEAT_BID_QTY1] = draw(st.floats(0.0, 5.0))
    f[FEAT_ASK_QTY1] = draw(st.floats(0.0, 5.0))
    f[FEAT_AVG_ENTRY_TICKS] = draw(_rare_nan(st.floats(980.0, 1020.0)))
    f[FEAT_SCORE_AGE_NS] = draw(st.sampled_from([0.0, 5e8, 1e9, 1e9, 2e9, math.inf]))
    f[FEAT_POS_AGE_NS] = draw(st.sampled_from([NAN, 1e9, 1e9, 60e9, 61e9]))
    position = draw(
        st.one_of(
            st.sampled_from([0.0, 0.0, 0.001, -0.001, 0.002, -0.0025, 0.01, 1e-13]),
            st.floats(-0.02, 0.02),
        )
    )
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, 99),
                st.sampled_from([NEW, NEW, CANCEL]),
                st.sampled_from([1, -1]),
                st.integers(985, 1015),
                st.floats(0.0001, 0.01),
            ),
            max_size=3,
        )
    )
    rows = draw(st.sampled_from([[], rows]))
    score = draw(_rare_nan(st.floats(-60.0, 60.0)))
    bid = NO_BID_TICKS if defect == "no_bid" else bid
    ask = NO_ASK_TICKS if defect == "no_ask" else ask
    ts = draw(st.integers(0, 10**12))
    return StrategyContext(ts, bid, ask, position, orders(*rows), f, score)


def sizings() -> st.SearchStrategy[SizingConfig]:
    """Random sizing configs (every method, with and without lots and caps)."""
    return st.builds(
        SizingConfig,
        method=st.sampled_from(["fixed", "vol_target", "depth_fraction", "signal_scaled"]),
        qty=st.sampled_from([0.001, 0.0013, 0.01, 1.0]),
        target_vol_bps=st.sampled_from([1.0, 5.0]),
        score_scale_bps=st.sampled_from([1.0, 20.0]),
        lot_size=st.sampled_from([0.0, 0.001]),
        max_qty=st.sampled_from([math.inf, 0.005]),
    )
