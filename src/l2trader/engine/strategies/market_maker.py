"""Avellaneda-Stoikov style L2 market maker: two passive quotes around a reservation price.

Units: prices in ticks, sizes in base units, time in seconds, vol in bps per sqrt(second).
Inventory enters the formulas as the dimensionless count ``q = position /
inventory_unit_qty`` (set ``inventory_unit_qty`` to the quote size: one filled quote moves
``q`` by 1), so ``gamma`` is in 1/ticks whatever the instrument's size scale (BTC 0.001..1
or shares alike), and ``kappa`` (order-arrival decay, intensity ~ ``exp(-kappa * depth)``)
is in 1/ticks. Per decision, from ``f = ctx.features``:

- ``fair = f[FEAT_MICRO_TICKS] + imbalance_skew_ticks * f[FEAT_IMB5]`` (a NaN imbalance
  adds no skew);
- ``sigma = f[FEAT_VOL_BPS] * f[FEAT_MID_TICKS] / 1e4`` (ticks per sqrt(s));
- ``risk = gamma * sigma**2 * horizon_s`` (ticks);
- reservation ``r = fair - q * risk``;
- half spread ``delta = max(min_half_spread_ticks, (risk + (2 / gamma) * ln(1 + gamma /
  kappa)) / 2)`` (ticks, always > 0);
- quotes ``bid = floor(r - delta)``, ``ask = ceil(r + delta)``, then kept passive:
  ``bid = min(bid, best_ask - 1)``, ``ask = max(ask, best_bid + 1)`` (so ``bid < ask``).

Example (BTC-like, tick 0.1 USD, mid 60 000 USD = 600 000 ticks, vol 1 bps/sqrt(s)):
sigma = 60 ticks/sqrt(s); ``gamma = 0.001``, ``horizon_s = 1`` give risk = 3.6 ticks per
inventory unit.

Sizes: :func:`~l2trader.engine.sizing.size_nb` (``depth`` = the level-1 size of the quote's
own side, ``vol`` = ``FEAT_VOL_BPS``, ``score`` = ``ctx.score``), capped so that a full fill
keeps ``|position| <= max_inventory``: the bid to ``max_inventory - position``, the ask to
``max_inventory + position``. So there is no bid when ``position >= max_inventory`` and no
ask when ``position <= -max_inventory``; a side with size 0 does not quote.

Order management, per side (bid first, then ask); working orders are the rows of
``ctx.open_orders`` on that side, except rows with ``action == CANCEL`` (a cancel already in
flight, if the engine marks them so), which are ignored:

- the first working order whose price is within ``requote_ticks`` of the new quote is kept
  (with its remaining size); every other working order on the side is CANCELed;
- if none was kept, a NEW LIMIT POST_ONLY order is placed at the quote. CANCEL + NEW is used
  rather than MODIFY: a price change loses the queue position either way, and POST_ONLY
  applies to the NEW;
- a side that should not quote cancels all its working orders.

Warm-up: a NaN/infinite/negative vol, a NaN mid or micro-price, an empty book side or a
non-finite position write nothing (cancel nothing, place nothing). NEW rows carry
``order_id = -1``; CANCEL rows copy the working row (its id, side, type, tif, price, size).

Oracle: the plain-Python twin ``tests/unit/engine/twins.py::PyMarketMaker`` (identical rows
on random contexts) and hand-worked quotes in ``tests/unit/engine/test_strategies.py``.
"""

from __future__ import annotations

import math
from typing import Annotated, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.config import FrozenConfig
from l2trader.engine.sizing import SizingConfig, SizingParams, cap_size_nb, size_nb, sizing_params
from l2trader.engine.strategies.taker import NEW_ORDER_ID, write_order_nb
from l2trader.engine.strategy import (
    FEAT_ASK_QTY1,
    FEAT_BID_QTY1,
    FEAT_IMB5,
    FEAT_MICRO_TICKS,
    FEAT_MID_TICKS,
    FEAT_VOL_BPS,
    StrategyContext,
)
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS, OrderAction, OrderType, TimeInForce

__all__ = ["MMParams", "MarketMakerConfig", "mm_decide_nb", "mm_params", "mm_quotes_nb"]

_NEW: Final = int(OrderAction.NEW)
_CANCEL: Final = int(OrderAction.CANCEL)
_LIMIT: Final = int(OrderType.LIMIT)
_POST_ONLY: Final = int(TimeInForce.POST_ONLY)
_MAX_PRICE: Final = 2.0**62
"""Quotes beyond +/- this many ticks (overflow of int64 ticks) are not placed."""

PosFinite = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class MarketMakerConfig(FrozenConfig):
    """Parameters of the market maker (ticks, seconds, base units).

    Examples
    --------
    >>> p = mm_params(MarketMakerConfig(gamma=0.5, inventory_unit_qty=0.01))
    >>> p.gamma, p.inventory_unit_qty, p.sizing.qty
    (0.5, 0.01, 0.001)
    """

    gamma: PosFinite = 0.001
    """Risk aversion, 1/ticks per inventory unit."""
    kappa: PosFinite = 1.0
    """Order-arrival decay with quote depth, 1/ticks."""
    horizon_s: PosFinite = 1.0
    """Risk horizon ``T - t``, seconds (held constant: a rolling horizon)."""
    min_half_spread_ticks: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = 1.0
    """Floor of the half spread ``delta``, ticks."""
    imbalance_skew_ticks: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    """Fair-price shift per unit of 5-level imbalance, ticks."""
    inventory_unit_qty: PosFinite = 0.001
    """Position (base units) counted as one inventory unit ``q = 1``; use the quote size."""
    max_inventory: Annotated[float, Field(gt=0.0)] = 0.01
    """Largest ``|position|`` a full fill of a quote may reach, base units."""
    requote_ticks: Annotated[int, Field(ge=0)] = 1
    """Keep a working order within this many ticks of the new quote, ticks."""
    sizing: SizingConfig = SizingConfig(qty=0.001)
    """Quote size per side (before the inventory cap)."""


class MMParams(NamedTuple):
    """Kernel form of :class:`MarketMakerConfig`."""

    gamma: float
    kappa: float
    horizon_s: float
    min_half_spread_ticks: float
    imbalance_skew_ticks: float
    inventory_unit_qty: float
    max_inventory: float
    requote_ticks: int
    sizing: SizingParams


def mm_params(cfg: MarketMakerConfig) -> MMParams:
    """Kernel parameters of ``cfg``."""
    return MMParams(
        gamma=cfg.gamma,
        kappa=cfg.kappa,
        horizon_s=cfg.horizon_s,
        min_half_spread_ticks=cfg.min_half_spread_ticks,
        imbalance_skew_ticks=cfg.imbalance_skew_ticks,
        inventory_unit_qty=cfg.inventory_unit_qty,
        max_inventory=cfg.max_inventory,
        requote_ticks=cfg.requote_ticks,
        sizing=sizing_params(cfg.sizing),
    )


@njit_inline
def _warm_nb(ctx: StrategyContext) -> bool:
    """True when the book, the features and the position allow quoting."""
    f = ctx.features
    vol = f[FEAT_VOL_BPS]
    if ctx.best_bid_ticks == NO_BID_TICKS or ctx.best_ask_ticks == NO_ASK_TICKS:
        return False
    if not (vol >= 0.0 and vol < math.inf and math.isfinite(ctx.position)):
        return False
    return f[FEAT_MID_TICKS] > 0.0 and math.isfinite(f[FEAT_MICRO_TICKS])


@njit_inline
def mm_quotes_nb(ctx: StrategyContext, p: MMParams) -> tuple[float, float]:
    """Raw quotes ``(r - delta, r + delta)``, ticks (float); NaNs when not quoting.

    NaNs while warming up or when a quote is beyond +/- 2**62 ticks.
    """
    if not _warm_nb(ctx):
        return math.nan, math.nan
    f = ctx.features
    fair = f[FEAT_MICRO_TICKS]
    if math.isfinite(f[FEAT_IMB5]):
        fair += p.imbalance_skew_ticks * f[FEAT_IMB5]
    sigma = f[FEAT_VOL_BPS] * f[FEAT_MID_TICKS] / 1e4
    risk = p.gamma * sigma * sigma * p.horizon_s
    r = fair - ctx.position / p.inventory_unit_qty * risk
    delta = max(
        p.min_half_spread_ticks, (risk + 2.0 / p.gamma * math.log(1.0 + p.gamma / p.kappa)) / 2.0
    )
    lo = r - delta
    hi = r + delta
    if not (abs(lo) < _MAX_PRICE and abs(hi) < _MAX_PRICE):
        return math.nan, math.nan
    return lo, hi


@njit_inline
def _write_cancel_nb(out: NDArray[np.void], n: int, ts_recv: int, row: np.void) -> None:
    """Write a CANCEL of the working order ``row`` at ``out[n]``."""
    write_order_nb(
        out,
        n,
        ts_recv,
        row["order_id"],
        _CANCEL,
        row["side"],
        row["order_type"],
        row["tif"],
        row["price_ticks"],
        row["qty"],
    )


@njit_inline
def _manage_side_nb(
    ctx: StrategyContext,
    p: MMParams,
    side: int,
    price: int,
    qty: float,
    out: NDArray[np.void],
    n: int,
) -> int:
    """Keep, cancel and place the orders of one side; return the new row count."""
    oo = ctx.open_orders
    kept = False
    for k in range(oo.shape[0]):
        row = oo[k]
        if row["side"] != side or row["action"] == _CANCEL:
            continue
        if qty > 0.0 and not kept and abs(row["price_ticks"] - price) <= p.requote_ticks:
            kept = True
        elif n < out.shape[0]:
            _write_cancel_nb(out, n, ctx.ts_recv, row)
            n += 1
    if qty > 0.0 and not kept and n < out.shape[0]:
        write_order_nb(
            out, n, ctx.ts_recv, NEW_ORDER_ID, _NEW, side, _LIMIT, _POST_ONLY, price, qty
        )
        n += 1
    return n


@njit_nrt_free
def mm_decide_nb(ctx: StrategyContext, p: MMParams, out: NDArray[np.void]) -> int:
    """Market-maker decision: write CANCEL/NEW ``ORDER_DTYPE`` rows into ``out``; return n.

    At most one working order per side after the decision. See the module docstring for
    the formulas. Oracle: ``PyMarketMaker`` (tests/unit/engine/twins.py) and the
    hand-worked quotes of ``tests/unit/engine/test_strategies.py``.
    """
    lo, hi = mm_quotes_nb(ctx, p)
    if math.isnan(lo):
        return 0
    f = ctx.features
    bid = min(math.floor(lo), ctx.best_ask_ticks - 1)
    ask = max(math.ceil(hi), ctx.best_bid_ticks + 1)
    sp = p.sizing
    vol = f[FEAT_VOL_BPS]
    bid_qty = size_nb(sp, ctx.score, vol, f[FEAT_BID_QTY1])
    bid_qty = cap_size_nb(sp, bid_qty, p.max_inventory - ctx.position)
    ask_qty = size_nb(sp, ctx.score, vol, f[FEAT_ASK_QTY1])
    ask_qty = cap_size_nb(sp, ask_qty, p.max_inventory + ctx.position)
    n = _manage_side_nb(ctx, p, 1, bid, bid_qty, out, 0)
    return _manage_side_nb(ctx, p, -1, ask, ask_qty, out, n)
