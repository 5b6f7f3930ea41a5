"""Portfolio accounting of one linear instrument: position, cash, fees, realized PnL.

State is a small float64 array (slots ``POSITION`` ... ``TRADED_NOTIONAL``) updated by the
numba kernel :func:`apply_fill_nb`; :class:`Portfolio` wraps it with validation.

Units: ``position`` in base units (signed, + long), prices, cash, fees and PnL in quote
currency. A fill of ``side`` (+1 buy, -1 sell), ``qty`` base units at ``price`` paying
``fee`` (negative = rebate) changes cash by ``-side * price * qty - fee``.

Realized PnL uses the **average-cost** method and is gross of fees. The state keeps the
signed cost basis ``COST_BASIS = position * avg_entry_price`` of the open position:

- a fill that opens or adds adds ``side * price * qty`` to the cost basis (no PnL);
- a fill that reduces by ``q < |position|`` removes the share ``q / |position|`` of the cost
  basis and realizes ``side`` cash flow minus the removed cost, i.e.
  ``q * (price - avg) * sign(position)``;
- a fill that closes (``q == |position|`` within ``QTY_RTOL`` relative) realizes the cash flow
  minus the whole cost basis and sets position and cost basis to exactly 0 (no dust);
- a fill that flips through zero closes the old position at ``price`` and opens the rest,
  ``q - |position|``, at ``price``.

Invariants (exact in rational arithmetic, float64 up to rounding):
``realized - COST_BASIS == sum(-side * price * qty)`` (gross cash flow), so
``cash + position * mark == initial_cash + realized + unrealized(mark) - fees`` with
``unrealized(mark) = position * mark - COST_BASIS``.

Oracle: ``tests/unit/engine/test_portfolio.py::_oracle`` (average cost in
``fractions.Fraction``) and the mark-to-market PnL of the fills.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_nrt_free
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import FILL_DTYPE, STATE_DTYPE

__all__ = [
    "CASH",
    "COST_BASIS",
    "FEES",
    "FILL_BAD_INPUT",
    "FILL_OK",
    "INITIAL_CASH",
    "N_FILLS",
    "PORTFOLIO_STATE_SIZE",
    "POSITION",
    "QTY_RTOL",
    "REALIZED",
    "TRADED_NOTIONAL",
    "TRADED_QTY",
    "Portfolio",
    "apply_fill_nb",
    "apply_fills_nb",
    "equity_nb",
    "new_state",
    "unrealized_nb",
]

POSITION: Final = 0
"""State slot: signed position, base units (+ long, - short)."""
CASH: Final = 1
"""State slot: cash, quote currency (fees already deducted)."""
FEES: Final = 2
"""State slot: cumulative fees paid, quote currency (negative = net rebate)."""
REALIZED: Final = 3
"""State slot: realized PnL gross of fees, quote currency (average-cost method)."""
COST_BASIS: Final = 4
"""State slot: signed cost basis of the open position, ``position * avg_price`` (quote)."""
INITIAL_CASH: Final = 5
"""State slot: starting cash, quote currency."""
N_FILLS: Final = 6
"""State slot: number of fills applied."""
TRADED_QTY: Final = 7
"""State slot: cumulative traded size, base units."""
TRADED_NOTIONAL: Final = 8
"""State slot: cumulative traded notional ``sum(price * qty)``, quote currency."""
PORTFOLIO_STATE_SIZE: Final = 9
"""Length of the state array."""

QTY_RTOL: Final = 1e-9
"""A fill within ``QTY_RTOL * max(qty, |position|)`` of ``|position|`` closes it exactly."""
FILL_OK: Final = 0
""":func:`apply_fill_nb` status: the fill was applied."""
FILL_BAD_INPUT: Final = 1
""":func:`apply_fill_nb` status: bad side/price/qty/fee; the state is unchanged."""

_SOURCE: Final = "engine.portfolio"


def new_state(initial_cash: float = 0.0) -> NDArray[np.float64]:
    """A flat portfolio state holding ``initial_cash`` (quote currency).

    Examples
    --------
    >>> new_state(100.0)[[POSITION, CASH, INITIAL_CASH]].tolist()
    [0.0, 100.0, 100.0]
    """
    if not math.isfinite(initial_cash):
        raise ConfigError(f"initial_cash must be finite, got {initial_cash!r}")
    state = np.zeros(PORTFOLIO_STATE_SIZE, dtype=np.float64)
    state[CASH] = initial_cash
    state[INITIAL_CASH] = initial_cash
    return state


@njit_nrt_free
def _valid_fill_nb(side: int, price: float, qty: float, fee: float) -> bool:
    ok_side = side == 1 or side == -1
    ok_price = math.isfinite(price) and price > 0.0
    return ok_side and ok_price and math.isfinite(qty) and qty > 0.0 and math.isfinite(fee)


@njit_nrt_free
def _move_position_nb(state: NDArray[np.float64], side: int, price: float, qty: float) -> None:
    """Update position, cost basis and realized PnL (average cost) for one fill."""
    pos = state[POSITION]
    flow = -side * price * qty  # gross cash flow of this fill, quote currency
    if pos == 0.0 or (pos > 0.0) == (side > 0):  # open or add
        state[POSITION] = pos + side * qty
        state[COST_BASIS] -= flow
        return
    held = abs(pos)
    if abs(qty - held) <= QTY_RTOL * max(qty, held):  # exact close
        state[REALIZED] += flow - state[COST_BASIS]
        state[POSITION] = 0.0
        state[COST_BASIS] = 0.0
    elif qty < held:  # partial close at average cost
        removed = state[COST_BASIS] * (qty / held)
        state[REALIZED] += flow - removed
        state[POSITION] = pos + side * qty
        state[COST_BASIS] -= removed
    else:  # flip through zero: close `held` at price, open the rest at price
        rest = qty - held
        state[REALIZED] += -side * price * held - state[COST_BASIS]
        state[POSITION] = side * rest
        state[COST_BASIS] = side * price * rest


@njit_nrt_free
def apply_fill_nb(
    state: NDArray[np.float64], side: int, price: float, qty: float, fee: float
) -> int:
    """Apply one fill to ``state`` in place; return ``FILL_OK`` or ``FILL_BAD_INPUT``.

    ``side`` +1 buy / -1 sell, ``price`` quote per base unit (> 0), ``qty`` base units (> 0),
    ``fee`` quote currency (negative = rebate). A bad fill leaves ``state`` unchanged.
    Oracle: average-cost accounting in ``fractions.Fraction`` (see module docstring).
    """
    if not _valid_fill_nb(side, price, qty, fee):
        return FILL_BAD_INPUT
    _move_position_nb(state, side, price, qty)
    state[CASH] += -side * price * qty - fee
    state[FEES] += fee
    state[N_FILLS] += 1.0
    state[TRADED_QTY] += qty
    state[TRADED_NOTIONAL] += price * qty
    return FILL_OK


@njit_nrt_free
def apply_fills_nb(
    state: NDArray[np.float64],
    side: NDArray[np.int8],
    price: NDArray[np.float64],
    qty: NDArray[np.float64],
    fee: NDArray[np.float64],
) -> int:
    """Apply fills in order; return how many were applied (stops before the first bad one).

    Oracle: :func:`apply_fill_nb` row by row.
    """
    n: int = side.shape[0]
    for i in range(n):
        if apply_fill_nb(state, side[i], price[i], qty[i], fee[i]) != FILL_OK:
            return i
    return n


@njit_nrt_free
def unrealized_nb(state: NDArray[np.float64], mark: float) -> float:
    """Unrealized PnL (quote) at ``mark``: ``position * mark - cost_basis``; 0 when flat."""
    if state[POSITION] == 0.0:
        return 0.0
    return float(state[POSITION] * mark - state[COST_BASIS])


@njit_nrt_free
def equity_nb(state: NDArray[np.float64], mark: float) -> float:
    """Equity (quote) at ``mark``: ``cash + position * mark``; ``cash`` when flat."""
    if state[POSITION] == 0.0:
        return float(state[CASH])
    return float(state[CASH] + state[POSITION] * mark)


def _check_mark(mark: float) -> float:
    if not math.isfinite(mark):
        raise InvalidValueError(f"mark price must be finite (quote), got {mark!r}", source=_SOURCE)
    return float(mark)


class Portfolio:
    """Exact-as-float64 accounting of one linear instrument (average-cost realized PnL).

    Parameters
    ----------
    initial_cash
        Starting cash, quote currency.

    Examples
    --------
    >>> p = Portfolio(initial_cash=1_000.0)
    >>> p.apply_fill(+1, 100.0, 2.0, fee=0.5)   # buy 2 @ 100
    >>> p.apply_fill(-1, 110.0, 0.5, fee=0.25)  # sell 0.5 @ 110: realize 0.5 * 10
    >>> p.position, p.cash, p.fees, p.realized, p.avg_price
    (1.5, 854.25, 0.75, 5.0, 100.0)
    >>> p.unrealized(104.0), p.equity(104.0)
    (6.0, 1010.25)
    """

    def __init__(self, initial_cash: float = 0.0) -> None:
        self._state = new_state(initial_cash)

    @classmethod
    def from_state(cls, state: NDArray[np.float64]) -> Portfolio:
        """Rebuild from a copy of :attr:`state` (e.g. a journal snapshot)."""
        arr = np.asarray(state, dtype=np.float64)
        if arr.shape != (PORTFOLIO_STATE_SIZE,) or not np.isfinite(arr).all():
            raise InvalidValueError(
                f"state must be {PORTFOLIO_STATE_SIZE} finite float64 values, got {arr!r}",
                source=_SOURCE,
            )
        out = cls()
        out._state = arr.copy()
        return out

    @property
    def state(self) -> NDArray[np.float64]:
        """A copy of the state array (slots ``POSITION`` ... ``TRADED_NOTIONAL``)."""
        return self._state.copy()

    @property
    def position(self) -> float:
        """Signed position, base units."""
        return float(self._state[POSITION])

    @property
    def cash(self) -> float:
        """Cash after fees, quote currency."""
        return float(self._state[CASH])

    @property
    def fees(self) -> float:
        """Cumulative fees paid, quote currency (negative = net rebate)."""
        return float(self._state[FEES])

    @property
    def realized(self) -> float:
        """Realized PnL gross of fees, quote currency (average-cost method)."""
        return float(self._state[REALIZED])

    @property
    def cost_basis(self) -> float:
        """Signed cost basis of the open position, ``position * avg_price`` (quote)."""
        return float(self._state[COST_BASIS])

    @property
    def avg_price(self) -> float:
        """Average entry price of the open position (quote per base unit); NaN when flat."""
        pos = self._state[POSITION]
        return math.nan if pos == 0.0 else float(self._state[COST_BASIS] / pos)

    @property
    def initial_cash(self) -> float:
        """Starting cash, quote currency."""
        return float(self._state[INITIAL_CASH])

    @property
    def n_fills(self) -> int:
        """Number of fills applied."""
        return int(self._state[N_FILLS])

    def apply_fill(self, side: int, price: float, qty: float, fee: float = 0.0) -> None:
        """Apply one fill: ``side`` +1/-1, ``price`` quote (> 0), ``qty`` base (> 0), ``fee`` quote.

        Raises
        ------
        InvalidValueError
            Bad side, non-finite or non-positive price/qty, or non-finite fee; the state is
            then unchanged.
        """
        status = apply_fill_nb(self._state, int(side), float(price), float(qty), float(fee))
        if status != FILL_OK:
            raise InvalidValueError(
                f"bad fill: side {side!r} (need +1/-1), price {price!r} (> 0), "
                f"qty {qty!r} (> 0), fee {fee!r} (finite)",
                source=_SOURCE,
            )

    def apply_fills(self, fills: NDArray[np.void], tick_size: float) -> None:
        """Apply C6 fill rows in order, priced at ``price_ticks * tick_size`` (quote).

        Rows before the first bad one are applied; the bad row raises
        :class:`InvalidValueError` naming its index and ``order_id``.
        """
        if fills.dtype != FILL_DTYPE:
            raise InvalidValueError(
                f"fills must have FILL_DTYPE, got {fills.dtype}", source=_SOURCE
            )
        if not (math.isfinite(tick_size) and tick_size > 0.0):
            raise ConfigError(f"tick_size must be finite and > 0, got {tick_size!r}")
        price = fills["price_ticks"].astype(np.float64) * tick_size
        side = np.ascontiguousarray(fills["side"])
        qty = np.ascontiguousarray(fills["qty"])
        fee = np.ascontiguousarray(fills["fee"])
        done = apply_fills_nb(self._state, side, price, qty, fee)
        if done != fills.shape[0]:
            row = fills[done]
            raise InvalidValueError(
                f"bad fill row {done} (order_id {int(row['order_id'])}): side {int(row['side'])}, "
                f"price {price[done]!r}, qty {float(row['qty'])!r}, fee {float(row['fee'])!r}",
                source=_SOURCE,
                seq=int(row["order_id"]),
            )

    def unrealized(self, mid: float) -> float:
        """Unrealized PnL at mark ``mid`` (quote): ``position * mid - cost_basis``."""
        return float(unrealized_nb(self._state, _check_mark(mid)))

    def equity(self, mid: float) -> float:
        """Equity at mark ``mid`` (quote): ``cash + position * mid``."""
        return float(equity_nb(self._state, _check_mark(mid)))

    def pnl(self, mid: float) -> float:
        """Net PnL at mark ``mid`` (quote): ``realized + unrealized(mid) - fees``."""
        return self.realized + self.unrealized(mid) - self.fees

    def state_record(self, ts_recv: int, mid: float) -> NDArray[np.void]:
        """One C7 ``STATE_DTYPE`` row at ``ts_recv`` (ns) marked at ``mid`` (quote)."""
        row = np.zeros(1, dtype=STATE_DTYPE)
        row["ts_recv"] = ts_recv
        row["mid"] = mid
        row["position"] = self.position
        row["cash"] = self.cash
        row["fees"] = self.fees
        row["equity"] = self.equity(mid)
        return row
