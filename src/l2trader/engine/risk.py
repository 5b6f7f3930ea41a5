"""Risk manager: pre-trade checks of new orders and a per-state monitor (stop, take, kill).

Units: sizes in base units, prices in ticks (``tick_size`` quote per tick), money in quote
currency, collars and moves in bps, times in ns UTC. Every limit is optional (``inf`` = off)
and is exceeded only when strictly passed, with a relative slack of ``RISK_RTOL`` (1e-9) on
checks 4-8 so float dust (``0.1 + 0.2``) never rejects an order sized to the limit.

Pre-trade checks (:func:`check_order_nb`) in order; the first failure gives the
:class:`~l2trader.schema.Reject` code, 0 (``Reject.NONE``) = accepted:

1. ``INVALID_ORDER``: ``side`` not +-1, ``qty`` not finite or <= 0, ``order_type`` not
   LIMIT/MARKET, or a LIMIT order with ``price_ticks <= 0``.
2. ``RISK_KILL_SWITCH``: trading is halted and the order is not reduce-only.
3. Reduce-only orders (the engine's flatten orders) skip 4-8 but must be opposite to a
   non-zero position and at most ``|position|`` (else ``INVALID_ORDER``); open orders are
   ignored (the engine cancels them before it flattens).
4. ``RISK_MAX_ORDER_QTY``: ``qty > max_order_qty`` (base units).
5. ``RISK_MAX_NOTIONAL``: ``qty * price_ticks * tick_size > max_order_notional`` (quote);
   a MARKET order is priced at the mid, so a NaN mid rejects it.
6. ``RISK_PRICE_COLLAR`` (LIMIT only): ``|price - mid| / mid * 1e4 > collar_bps``, evaluated
   as ``|price - mid| * 1e4 > collar_bps * mid``; a NaN or non-positive mid rejects.
7. ``RISK_MAX_OPEN_ORDERS``: ``n_open >= max_open_orders`` (working orders incl. in flight).
8. ``RISK_MAX_POSITION`` on the worst case of the order's side: a buy is rejected if
   ``position + open_buy_qty + qty > max_position``, a sell if ``position - open_sell_qty -
   qty < -max_position``. One-sided, so an order reducing an over-limit position passes
   unless it overshoots the limit on its own side (long 10, limit 5: sell 3 passes, sell 16
   does not). A finite limit fails safe: a NaN mid, position or open size rejects.

Monitor (:func:`monitor_nb`, at every consistent book state) returns one action:

- ``MON_KILL`` if equity is more than ``max_daily_loss`` below the UTC day's starting equity
  (the first monitored equity of day ``ts_ns // 86_400e9``) or more than ``max_drawdown``
  below its running peak. It sets ``RS_HALTED`` for the rest of the run (a new day does not
  lift it); later calls return ``MON_NONE``.
- ``MON_STOP_LOSS`` / ``MON_TAKE_PROFIT`` if a position is open and its mid move vs average
  entry, ``side * (mid - avg) / avg * 1e4`` bps (evaluated multiplied by ``avg``), is
  ``<= -stop_loss_bps`` / ``>= take_profit_bps``. The action comes at every call while it
  holds (the engine sends one flatten at a time) but is counted once per episode.
- ``MON_NONE`` otherwise, and for a NaN mid or equity (the state is then left unchanged).

Oracle: hand-worked cases in ``tests/unit/engine/test_risk.py``.
"""

from __future__ import annotations

import math
from typing import Annotated, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import ORDER_DTYPE, OrderAction, OrderType, Reject

__all__ = [
    "MON_KILL",
    "MON_NONE",
    "MON_STOP_LOSS",
    "MON_TAKE_PROFIT",
    "NS_PER_DAY",
    "OP_FLATTEN",
    "OP_HALT",
    "OP_NONE",
    "RISK_RTOL",
    "RISK_STATE_LEN",
    "RS_DAY",
    "RS_DAY_START",
    "RS_HALTED",
    "RS_LAST",
    "RS_N_KILL",
    "RS_N_STOP",
    "RS_N_TAKE",
    "RS_OPERATOR",
    "RS_PEAK",
    "RiskConfig",
    "RiskDecision",
    "RiskManager",
    "RiskParams",
    "check_order_nb",
    "monitor_nb",
    "new_risk_state",
    "risk_params",
]

RS_PEAK: Final = 0  # running peak of monitored equity, quote; -inf before the first call
RS_DAY: Final = 1  # current UTC day number ts_ns // NS_PER_DAY; NaN before the first call
RS_DAY_START: Final = 2  # equity at the first monitor call of the day, quote; NaN before
RS_HALTED: Final = 3  # 1.0 once the kill switch has fired (for the rest of the run), else 0.0
RS_N_STOP: Final = 4  # stop-loss episodes (runs of MON_STOP_LOSS returns, counted once)
RS_N_TAKE: Final = 5  # take-profit episodes
RS_N_KILL: Final = 6  # kill-switch firings (0 or 1)
RS_LAST: Final = 7  # action of the last monitor call that saw a known mark (MON_*)
RS_OPERATOR: Final = 8  # operator halt from outside the loop (OP_*): 0.0 = none
RISK_STATE_LEN: Final = 9
OP_NONE: Final = 0  # no operator halt: a kill switch flattens per ``flatten_on_kill``
OP_HALT: Final = 1  # operator halt: cancel working orders, no new orders, keep the position
OP_FLATTEN: Final = 2  # operator halt and flatten the position (reduce-only market order)
MON_NONE: Final = 0
MON_STOP_LOSS: Final = 1
MON_TAKE_PROFIT: Final = 2
MON_KILL: Final = 3
NS_PER_DAY: Final = 86_400_000_000_000
RISK_RTOL: Final = 1e-9  # relative slack of pre-trade checks 4-8 and of the reduce-only size

_LIMIT, _MARKET = int(OrderType.LIMIT), int(OrderType.MARKET)
_OK: Final = int(Reject.NONE)
_R_POSITION: Final = int(Reject.RISK_MAX_POSITION)
_R_QTY: Final = int(Reject.RISK_MAX_ORDER_QTY)
_R_NOTIONAL: Final = int(Reject.RISK_MAX_NOTIONAL)
_R_COLLAR: Final = int(Reject.RISK_PRICE_COLLAR)
_R_OPEN: Final = int(Reject.RISK_MAX_OPEN_ORDERS)
_R_KILL: Final = int(Reject.RISK_KILL_SWITCH)
_R_INVALID: Final = int(Reject.INVALID_ORDER)
_SOURCE: Final = "engine.risk"

NonNeg = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class RiskConfig(FrozenConfig):
    """Risk limits; ``inf`` switches a limit off. NaN or negative values raise ConfigError."""

    max_position: NonNeg = math.inf
    """Largest ``|worst-case position|`` after an order, base units."""
    max_order_qty: Positive = math.inf
    """Largest order size, base units."""
    max_order_notional: Positive = math.inf
    """Largest order notional ``qty * price`` (MARKET: at the mid), quote currency."""
    collar_bps: NonNeg = math.inf
    """Largest distance of a LIMIT price from the mid, bps of the mid."""
    max_open_orders: Annotated[int, Field(ge=1)] = 64
    """Working orders (in flight included) above which a new order is rejected."""
    stop_loss_bps: Positive = math.inf
    """Adverse mid move vs the average entry that triggers a stop-loss, bps."""
    take_profit_bps: Positive = math.inf
    """Favourable mid move vs the average entry that triggers a take-profit, bps."""
    max_daily_loss: NonNeg = math.inf
    """Equity drop below the UTC day's starting equity that fires the kill switch, quote."""
    max_drawdown: NonNeg = math.inf
    """Equity drop below its running peak that fires the kill switch, quote."""
    flatten_on_kill: bool = True
    """Whether the engine flattens the position when the kill switch fires."""


class RiskParams(NamedTuple):
    """:class:`RiskConfig` as plain scalars, for the numba kernels (same fields and units)."""

    max_position: float
    max_order_qty: float
    max_order_notional: float
    collar_bps: float
    max_open_orders: int
    stop_loss_bps: float
    take_profit_bps: float
    max_daily_loss: float
    max_drawdown: float
    flatten_on_kill: bool


def risk_params(config: RiskConfig) -> RiskParams:
    """Kernel parameters of ``config`` (plain Python scalars)."""
    return RiskParams(**{f: getattr(config, f) for f in RiskParams._fields})


def new_risk_state() -> NDArray[np.float64]:
    """A fresh risk state: no peak (-inf), no day yet (NaN), not halted, zero counters.

    Examples
    --------
    >>> new_risk_state()[[RS_PEAK, RS_HALTED, RS_N_KILL, RS_OPERATOR]].tolist()
    [-inf, 0.0, 0.0, 0.0]
    """
    return np.array([-math.inf, math.nan, math.nan, 0, 0, 0, 0, MON_NONE, OP_NONE],
                    dtype=np.float64)  # fmt: skip


@njit_inline
def _over_nb(value: float, limit: float) -> bool:
    """True if a finite ``limit`` is passed by more than ``RISK_RTOL`` (a NaN value is over)."""
    if not math.isfinite(limit):
        return False
    return not value <= limit + RISK_RTOL * limit


@njit_inline
def _invalid_nb(side: int, order_type: int, price_ticks: int, qty: float) -> bool:
    """Rule 1: malformed order."""
    if (side != 1 and side != -1) or not (math.isfinite(qty) and qty > 0.0):
        return True
    return not (order_type == _MARKET or (order_type == _LIMIT and price_ticks > 0))


@njit_inline
def _reduce_only_ok_nb(side: int, qty: float, position: float) -> bool:
    """Rule 3: opposite to a non-zero position and no larger than it."""
    if not (position * side < 0.0):
        return False
    held = abs(position)
    return qty <= held + RISK_RTOL * held


@njit_inline
def _in_collar_nb(price_ticks: int, mid_ticks: float, collar_bps: float) -> bool:
    """Rule 6: ``|price - mid| * 1e4 <= collar_bps * mid`` (a NaN or non-positive mid fails)."""
    if not math.isfinite(collar_bps):
        return True
    if not mid_ticks > 0.0:
        return False
    return not _over_nb(abs(price_ticks - mid_ticks) * 1e4, collar_bps * mid_ticks)


@njit_inline
def _order_limits_nb(
    p: RiskParams, order_type: int, price_ticks: int, qty: float, tick_size: float, mid_ticks: float
) -> int:
    """Rules 4-6: size, notional and price collar of the order alone."""
    if _over_nb(qty, p.max_order_qty):
        return _R_QTY
    price = mid_ticks if order_type == _MARKET else float(price_ticks)
    if _over_nb(qty * price * tick_size, p.max_order_notional):
        return _R_NOTIONAL
    if order_type == _LIMIT and not _in_collar_nb(price_ticks, mid_ticks, p.collar_bps):
        return _R_COLLAR
    return _OK


@njit_inline
def _position_ok_nb(
    p: RiskParams, side: int, qty: float, position: float, open_buy: float, open_sell: float
) -> bool:
    """Rule 8: worst-case position on the order's side stays within ``max_position``."""
    if side > 0:
        return not _over_nb(position + open_buy + qty, p.max_position)
    return not _over_nb(-(position - open_sell - qty), p.max_position)


@njit_nrt_free
def check_order_nb(
    p: RiskParams, rst: NDArray[np.float64], side: int, order_type: int, price_ticks: int,
    qty: float, tick_size: float, mid_ticks: float, position: float, open_buy_qty: float,
    open_sell_qty: float, n_open: int, reduce_only: bool,
) -> int:  # fmt: skip
    """Pre-trade check of one NEW order; return a ``schema.Reject`` code (0 = accepted).

    ``side`` +1/-1, ``order_type`` ``OrderType``, ``price_ticks`` the limit price (ignored for
    MARKET), ``qty`` base units, ``tick_size`` quote per tick, ``mid_ticks`` the current mid
    (ticks, NaN if unknown), ``position`` signed base units, ``open_*_qty`` remaining size of
    the working buy / sell orders (base units), ``n_open`` their count. Rules 1-8 of the
    module docstring, in order. ``rst`` is only read. Oracle: hand-worked cases.
    """
    if _invalid_nb(side, order_type, price_ticks, qty):
        return _R_INVALID
    if reduce_only:
        return _OK if _reduce_only_ok_nb(side, qty, position) else _R_INVALID
    if rst[RS_HALTED] != 0.0:
        return _R_KILL
    code = _order_limits_nb(p, order_type, price_ticks, qty, tick_size, mid_ticks)
    if code != _OK:
        return code
    if n_open >= p.max_open_orders:
        return _R_OPEN
    if not _position_ok_nb(p, side, qty, position, open_buy_qty, open_sell_qty):
        return _R_POSITION
    return _OK


@njit_inline
def _kill_nb(p: RiskParams, rst: NDArray[np.float64], ts_ns: int, equity: float) -> bool:
    """Roll the UTC day and the peak with ``equity``; True if a loss limit is passed."""
    day = float(ts_ns // NS_PER_DAY)
    if day != rst[RS_DAY]:
        rst[RS_DAY] = day
        rst[RS_DAY_START] = equity
    rst[RS_PEAK] = max(rst[RS_PEAK], equity)
    return bool(
        rst[RS_DAY_START] - equity > p.max_daily_loss or rst[RS_PEAK] - equity > p.max_drawdown
    )


@njit_nrt_free
def monitor_nb(
    p: RiskParams, rst: NDArray[np.float64], ts_ns: int, equity: float, position: float,
    avg_entry_ticks: float, mid_ticks: float,
) -> int:  # fmt: skip
    """Update the peak / day-start equity in ``rst`` and return one ``MON_*`` action.

    ``ts_ns`` ns UTC, ``equity`` quote, ``position`` signed base units, ``avg_entry_ticks``
    and ``mid_ticks`` ticks (float). See the module docstring for the rules; once halted it
    returns ``MON_NONE`` and leaves ``rst`` unchanged. Oracle: hand-worked cases.
    """
    if rst[RS_HALTED] != 0.0 or math.isnan(equity) or math.isnan(mid_ticks):
        return MON_NONE
    act = MON_KILL if _kill_nb(p, rst, ts_ns, equity) else MON_NONE
    if act == MON_NONE and position != 0.0 and avg_entry_ticks > 0.0:
        side = 1.0 if position > 0.0 else -1.0
        move = side * (mid_ticks - avg_entry_ticks) * 1e4  # bps * avg_entry_ticks
        if move <= -p.stop_loss_bps * avg_entry_ticks:
            act = MON_STOP_LOSS
        elif move >= p.take_profit_bps * avg_entry_ticks:
            act = MON_TAKE_PROFIT
    if act != MON_NONE and act != rst[RS_LAST]:  # a new episode: count it once
        rst[RS_N_STOP + act - MON_STOP_LOSS] += 1.0  # slots N_STOP, N_TAKE, N_KILL
    rst[RS_LAST] = act
    rst[RS_HALTED] = 1.0 if act == MON_KILL else 0.0
    return act


class RiskDecision(NamedTuple):
    """Outcome of a pre-trade check: ``reason`` is ``Reject.NONE`` when accepted."""

    accepted: bool
    reason: Reject


class RiskManager:
    """Pre-trade checks and monitor of one instrument (paper trading, tests).

    ``tick_size`` (quote per tick, > 0) prices the notional; ``config`` holds the limits.

    Examples
    --------
    >>> rm = RiskManager(RiskConfig(max_order_qty=1.0), tick_size=0.5)
    >>> order = np.zeros((), dtype=ORDER_DTYPE)
    >>> order["action"], order["side"], order["order_type"] = 1, 1, 1
    >>> order["price_ticks"], order["qty"] = 200, 2.0
    >>> rm.check(order, mid_ticks=200.5, position=0.0)
    RiskDecision(accepted=False, reason=<Reject.RISK_MAX_ORDER_QTY: 2>)
    """

    def __init__(self, config: RiskConfig, tick_size: float) -> None:
        if not (math.isfinite(tick_size) and tick_size > 0.0):
            raise ConfigError(f"tick_size must be finite and > 0 (quote), got {tick_size!r}")
        self.config = config
        self.params = risk_params(config)
        self.tick_size = float(tick_size)
        self._state = new_risk_state()

    def check(
        self, order: np.void | NDArray[np.void], *, mid_ticks: float, position: float,
        open_buy_qty: float = 0.0, open_sell_qty: float = 0.0, n_open: int = 0,
        reduce_only: bool = False,
    ) -> RiskDecision:  # fmt: skip
        """Check one ``ORDER_DTYPE`` row; a rejection is a result, never an exception.

        A CANCEL is always accepted. A MODIFY is checked as a new order at its new price and
        size: leave the modified order out of ``open_*_qty`` and ``n_open``.

        Raises
        ------
        InvalidValueError
            ``order`` is not an ``ORDER_DTYPE`` row or has an unknown ``action``.
        """
        if getattr(order, "dtype", None) != ORDER_DTYPE:
            raise InvalidValueError(
                f"order must be an ORDER_DTYPE row, got {type(order).__name__}", source=_SOURCE
            )
        action = int(order["action"])
        if action == OrderAction.CANCEL:
            return RiskDecision(True, Reject.NONE)
        if action not in (OrderAction.NEW, OrderAction.MODIFY):
            raise InvalidValueError(
                f"order action must be NEW=1, CANCEL=2 or MODIFY=3, got {action}",
                source=_SOURCE,
                seq=int(order["order_id"]),
            )
        side, kind, price = (int(order[k]) for k in ("side", "order_type", "price_ticks"))
        book = (float(mid_ticks), float(position), float(open_buy_qty), float(open_sell_qty))
        args = (side, kind, price, float(order["qty"]), self.tick_size, *book)
        code = check_order_nb(self.params, self._state, *args, int(n_open), bool(reduce_only))
        return RiskDecision(code == _OK, Reject(code))

    def monitor(
        self, ts_ns: int, *, equity: float, position: float, avg_entry_ticks: float,
        mid_ticks: float,
    ) -> int:  # fmt: skip
        """Update peak / day-start equity and return a ``MON_*`` action (see module doc)."""
        args = (float(equity), float(position), float(avg_entry_ticks), float(mid_ticks))
        return int(monitor_nb(self.params, self._state, int(ts_ns), *args))

    @property
    def state(self) -> NDArray[np.float64]:
        """A copy of the state array (slots ``RS_*``)."""
        return self._state.copy()

    @property
    def halted(self) -> bool:
        """True once the kill switch has fired (for the rest of the run)."""
        return bool(self._state[RS_HALTED] != 0.0)

    @property
    def n_stop(self) -> int:
        """Stop-loss episodes: runs of consecutive stop-loss actions, each counted once."""
        return int(self._state[RS_N_STOP])

    @property
    def n_take(self) -> int:
        """Take-profit episodes: runs of consecutive take-profit actions, each counted once."""
        return int(self._state[RS_N_TAKE])

    @property
    def n_kill(self) -> int:
        """Kill-switch firings (0 or 1)."""
        return int(self._state[RS_N_KILL])
