"""L2 signal taker: cross the spread when the C4 score beats the cost of crossing.

Rules of :func:`taker_decide_nb`, applied in this order (prices ticks, sizes base units):

1. Anything in flight (``ctx.open_orders`` has a row), an empty book side, a NaN or
   non-positive mid, or a non-finite position: write nothing.
2. **Opinion.** The score is an opinion only if finite and its age
   ``features[FEAT_SCORE_AGE_NS] <= max_signal_age_ns``; otherwise there is none.
3. **Cost** of crossing, bps: ``spread_ticks / 2 / mid_ticks * 1e4 + taker_fee_bps``
   (half the spread to reach the far touch from the mid, plus the taker fee).
4. **Flat** (``|position| <= flat_qty``) with an opinion: buy if
   ``score - cost > entry_margin_bps``, sell if ``-score - cost > entry_margin_bps``.
   Size: :func:`~l2trader.engine.sizing.size_nb` with ``depth`` = the opposite level-1
   size (``FEAT_ASK_QTY1`` for a buy) and ``vol`` = ``FEAT_VOL_BPS``, then capped to
   ``max_position - |position|`` (lot-rounded down again). Size 0 = no order.
5. **In a position**: exit the whole ``|position|`` (opposite side) if any of

   - the signal decayed: long and ``score < exit_score_bps``, short and
     ``score > -exit_score_bps``, or no opinion;
   - ``features[FEAT_POS_AGE_NS] > max_hold_ns``;
   - stop: the adverse move ``side * (avg_entry - mid) / avg_entry * 1e4 >= stop_bps``
     (``avg_entry = features[FEAT_AVG_ENTRY_TICKS]``, ``side`` = +1 long, -1 short; no
     stop while ``avg_entry`` is NaN or <= 0).

Orders are MARKET IOC (``price_ticks`` 0), or with ``use_ioc_limit`` LIMIT IOC at the best
opposite price ``+/- ioc_slippage_ticks`` (buy: ``best_ask + slip``; sell:
``best_bid - slip``). NEW rows carry ``order_id = -1`` (the engine assigns ids) and
``ts_recv = ctx.ts_recv``.

Oracle: the plain-Python twin ``tests/unit/engine/twins.py::PySignalTaker`` (identical rows
on random contexts) and hand-worked decisions in ``tests/unit/engine/test_strategies.py``.
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
from l2trader.engine.strategy import (
    FEAT_ASK_QTY1,
    FEAT_AVG_ENTRY_TICKS,
    FEAT_BID_QTY1,
    FEAT_MID_TICKS,
    FEAT_POS_AGE_NS,
    FEAT_SCORE_AGE_NS,
    FEAT_SPREAD_TICKS,
    FEAT_VOL_BPS,
    StrategyContext,
)
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS, OrderAction, OrderType, TimeInForce

__all__ = [
    "NEW_ORDER_ID",
    "SignalTakerConfig",
    "TakerParams",
    "taker_decide_nb",
    "taker_params",
    "write_order_nb",
]

NEW_ORDER_ID: Final = -1
"""``order_id`` written on NEW rows (the engine assigns the real id)."""
BPS: Final = 1e4
_NEW: Final = int(OrderAction.NEW)
_LIMIT: Final = int(OrderType.LIMIT)
_MARKET: Final = int(OrderType.MARKET)
_IOC: Final = int(TimeInForce.IOC)

NonNegFinite = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class SignalTakerConfig(FrozenConfig):
    """Parameters of the signal taker (bps, ns, ticks, base units).

    Examples
    --------
    >>> cfg = SignalTakerConfig(entry_margin_bps=0.5, sizing=SizingConfig(qty=0.01))
    >>> taker_params(cfg).sizing.qty
    0.01
    """

    entry_margin_bps: NonNegFinite = 0.5
    """Required edge of ``|score|`` over the crossing cost to enter, bps."""
    exit_score_bps: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    """Exit a long when ``score < exit_score_bps`` (a short when ``score > -exit``), bps."""
    max_hold_ns: Annotated[int, Field(gt=0)] = 60_000_000_000
    """Exit when the position is older than this, ns."""
    stop_bps: Annotated[float, Field(gt=0.0)] = 20.0
    """Exit when the mid moved this far against the average entry, bps (``inf`` = no stop)."""
    max_signal_age_ns: Annotated[int, Field(ge=0)] = 1_000_000_000
    """An older score is no opinion, ns."""
    taker_fee_bps: Annotated[float, Field(ge=-1000.0, le=1000.0)] = 0.0
    """Taker fee counted in the crossing cost, bps."""
    use_ioc_limit: bool = False
    """False: MARKET IOC orders; True: LIMIT IOC at the opposite best +/- slippage."""
    ioc_slippage_ticks: Annotated[int, Field(ge=0)] = 0
    """How far past the opposite best a LIMIT IOC may fill, ticks."""
    max_position: Annotated[float, Field(gt=0.0)] = math.inf
    """Entry sizes are capped so that ``|position| <= max_position``, base units."""
    flat_qty: NonNegFinite = 1e-12
    """``|position| <= flat_qty`` counts as flat (float dust), base units."""
    sizing: SizingConfig = SizingConfig()
    """Entry size (exits always close the whole position)."""


class TakerParams(NamedTuple):
    """Kernel form of :class:`SignalTakerConfig` (times as float ns)."""

    entry_margin_bps: float
    exit_score_bps: float
    max_hold_ns: float
    stop_bps: float
    max_signal_age_ns: float
    taker_fee_bps: float
    use_ioc_limit: bool
    ioc_slippage_ticks: int
    max_position: float
    flat_qty: float
    sizing: SizingParams


def taker_params(cfg: SignalTakerConfig) -> TakerParams:
    """Kernel parameters of ``cfg``."""
    return TakerParams(
        entry_margin_bps=cfg.entry_margin_bps,
        exit_score_bps=cfg.exit_score_bps,
        max_hold_ns=float(cfg.max_hold_ns),
        stop_bps=cfg.stop_bps,
        max_signal_age_ns=float(cfg.max_signal_age_ns),
        taker_fee_bps=cfg.taker_fee_bps,
        use_ioc_limit=cfg.use_ioc_limit,
        ioc_slippage_ticks=cfg.ioc_slippage_ticks,
        max_position=cfg.max_position,
        flat_qty=cfg.flat_qty,
        sizing=sizing_params(cfg.sizing),
    )


@njit_inline
def write_order_nb(
    out: NDArray[np.void],
    i: int,
    ts_recv: int,
    order_id: int,
    action: int,
    side: int,
    order_type: int,
    tif: int,
    price_ticks: int,
    qty: float,
) -> None:
    """Write one ``ORDER_DTYPE`` row at ``out[i]`` (every field)."""
    row = out[i]
    row["ts_recv"] = ts_recv
    row["order_id"] = order_id
    row["action"] = action
    row["side"] = side
    row["order_type"] = order_type
    row["tif"] = tif
    row["price_ticks"] = price_ticks
    row["qty"] = qty


@njit_inline
def _send_nb(
    ctx: StrategyContext, p: TakerParams, side: int, qty: float, out: NDArray[np.void]
) -> int:
    """Write the taker order (MARKET IOC or LIMIT IOC) of ``qty`` on ``side``; return 1."""
    if p.use_ioc_limit:
        if side > 0:
            price = ctx.best_ask_ticks + p.ioc_slippage_ticks
        else:
            price = ctx.best_bid_ticks - p.ioc_slippage_ticks
        write_order_nb(out, 0, ctx.ts_recv, NEW_ORDER_ID, _NEW, side, _LIMIT, _IOC, price, qty)
    else:
        write_order_nb(out, 0, ctx.ts_recv, NEW_ORDER_ID, _NEW, side, _MARKET, _IOC, 0, qty)
    return 1


@njit_inline
def _entry_nb(ctx: StrategyContext, p: TakerParams, score: float, out: NDArray[np.void]) -> int:
    """Flat with an opinion: enter if the score beats cost + margin (rule 4)."""
    f = ctx.features
    cost = f[FEAT_SPREAD_TICKS] / 2.0 / f[FEAT_MID_TICKS] * BPS + p.taker_fee_bps
    if score - cost > p.entry_margin_bps:
        side = 1
        depth = f[FEAT_ASK_QTY1]
    elif -score - cost > p.entry_margin_bps:
        side = -1
        depth = f[FEAT_BID_QTY1]
    else:
        return 0
    qty = size_nb(p.sizing, score, f[FEAT_VOL_BPS], depth)
    qty = cap_size_nb(p.sizing, qty, p.max_position - abs(ctx.position))
    if qty <= 0.0:
        return 0
    return _send_nb(ctx, p, side, qty, out)


@njit_inline
def _should_exit_nb(ctx: StrategyContext, p: TakerParams, opinion: bool, score: float) -> bool:
    """In a position: signal decayed, held too long, or stopped out (rule 5)."""
    f = ctx.features
    side = 1.0 if ctx.position > 0.0 else -1.0
    if not opinion or side * score < p.exit_score_bps:
        return True
    if f[FEAT_POS_AGE_NS] > p.max_hold_ns:
        return True
    entry = f[FEAT_AVG_ENTRY_TICKS]
    if not entry > 0.0:  # NaN or non-positive average entry: no stop
        return False
    adverse_bps: float = side * (entry - f[FEAT_MID_TICKS]) / entry * BPS
    return adverse_bps >= p.stop_bps


@njit_nrt_free
def taker_decide_nb(ctx: StrategyContext, p: TakerParams, out: NDArray[np.void]) -> int:
    """Signal-taker decision: write 0 or 1 ``ORDER_DTYPE`` row into ``out``; return the count.

    See the module docstring for the rules. Oracle: ``PySignalTaker`` (tests/unit/engine/
    twins.py) and the hand-worked cases of ``tests/unit/engine/test_strategies.py``.
    """
    if ctx.open_orders.shape[0] > 0 or out.shape[0] == 0:
        return 0
    if ctx.best_bid_ticks == NO_BID_TICKS or ctx.best_ask_ticks == NO_ASK_TICKS:
        return 0
    if not (ctx.features[FEAT_MID_TICKS] > 0.0 and math.isfinite(ctx.position)):
        return 0
    score = ctx.score
    opinion = math.isfinite(score) and ctx.features[FEAT_SCORE_AGE_NS] <= p.max_signal_age_ns
    if abs(ctx.position) <= p.flat_qty:
        return _entry_nb(ctx, p, score, out) if opinion else 0
    if not _should_exit_nb(ctx, p, opinion, score):
        return 0
    side = -1 if ctx.position > 0.0 else 1
    return _send_nb(ctx, p, side, abs(ctx.position), out)
