"""Portfolio accounting: hand-worked sequences and a conservation property vs exact Fractions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.engine.portfolio import (
    CASH,
    FILL_BAD_INPUT,
    FILL_OK,
    N_FILLS,
    PORTFOLIO_STATE_SIZE,
    TRADED_NOTIONAL,
    TRADED_QTY,
    Portfolio,
    apply_fill_nb,
    apply_fills_nb,
    equity_nb,
    new_state,
    unrealized_nb,
)
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import FILL_DTYPE, STATE_DTYPE

# -- hand-worked sequence: open, add, partial close, flip, close -------------------------------
# Start with 10_000 quote. Each row: fill (side, price, qty, fee), then expected
# (position, cost_basis, realized, cash, fees) after it.
_LONG_SEQUENCE = [
    ("open", (+1, 100.0, 1.0, 0.25), (1.0, 100.0, 0.0, 9_899.75, 0.25)),
    # avg = (100 + 3 * 104) / 4 = 103
    ("add", (+1, 104.0, 3.0, 0.5), (4.0, 412.0, 0.0, 9_587.25, 0.75)),
    # sell 2 @ 110 at avg 103: realize 2 * 7 = 14; half the cost basis leaves
    ("partial_close", (-1, 110.0, 2.0, 0.5), (2.0, 206.0, 14.0, 9_806.75, 1.25)),
    # sell 4 @ 100: close 2 at 100 (realize 2 * (100 - 103) = -6), open short 2 @ 100; rebate
    ("flip", (-1, 100.0, 4.0, -0.125), (-2.0, -200.0, 8.0, 10_206.875, 1.125)),
    # buy 2 @ 95 closes the short: realize 2 * (100 - 95) = 10
    ("close", (+1, 95.0, 2.0, 0.25), (0.0, 0.0, 18.0, 10_016.625, 1.375)),
]


def _portfolio_after(steps: int) -> Portfolio:
    p = Portfolio(initial_cash=10_000.0)
    for _, fill, _ in _LONG_SEQUENCE[:steps]:
        p.apply_fill(*fill)
    return p


@pytest.mark.parametrize("step", range(1, len(_LONG_SEQUENCE) + 1), ids=lambda s: f"step{s}")
def test_hand_worked_sequence(step):
    p = _portfolio_after(step - 1)
    _, fill, expected = _LONG_SEQUENCE[step - 1]

    p.apply_fill(*fill)

    assert (p.position, p.cost_basis, p.realized, p.cash, p.fees) == expected
    assert p.n_fills == step


def test_average_price_after_add_and_partial_close():
    assert _portfolio_after(2).avg_price == 103.0
    assert _portfolio_after(3).avg_price == 103.0
    assert _portfolio_after(4).avg_price == 100.0  # the flip re-opens at the fill price
    assert math.isnan(_portfolio_after(5).avg_price)


def test_mark_to_market_after_partial_close():
    p = _portfolio_after(3)  # long 2 @ avg 103, realized 14, fees 1.25

    unrealized, equity, pnl = p.unrealized(106.0), p.equity(106.0), p.pnl(106.0)

    assert unrealized == 6.0
    assert equity == 10_018.75
    assert pnl == 18.75
    assert equity == p.initial_cash + p.realized + unrealized - p.fees


def test_closed_round_trip_equity_is_cash_whatever_the_mark():
    p = _portfolio_after(5)

    assert p.unrealized(123.0) == 0.0
    assert p.equity(123.0) == p.cash == 10_000.0 + 18.0 - 1.375


def test_short_side_mirror_average_cost():
    p = Portfolio()
    p.apply_fill(-1, 50.0, 2.0)
    p.apply_fill(-1, 54.0, 2.0)  # short 4 @ avg 52

    p.apply_fill(+1, 48.0, 1.0)  # cover 1: realize 52 - 48 = 4

    assert (p.position, p.cost_basis, p.realized, p.avg_price) == (-3.0, -156.0, 4.0, 52.0)
    assert p.cash == 100.0 + 108.0 - 48.0
    assert p.unrealized(50.0) == 6.0  # 3 * (52 - 50)
    assert p.equity(50.0) == 160.0 - 150.0


def test_flip_from_short_to_long():
    p = Portfolio()
    p.apply_fill(-1, 20.0, 1.5)

    p.apply_fill(+1, 18.0, 4.0)  # cover 1.5 (realize 3), open long 2.5 @ 18

    assert (p.position, p.cost_basis, p.realized, p.avg_price) == (2.5, 45.0, 3.0, 18.0)


def test_decimal_sizes_close_without_dust():
    p = Portfolio()
    p.apply_fill(+1, 100.0, 0.1)
    p.apply_fill(+1, 100.0, 0.2)  # 0.1 + 0.2 = 0.30000000000000004 in float64

    p.apply_fill(-1, 101.0, 0.3)

    assert p.position == 0.0
    assert p.cost_basis == 0.0
    assert p.realized == pytest.approx(0.3, abs=1e-12)
    assert math.isnan(p.avg_price)


def test_traded_totals_and_state_copy():
    p = _portfolio_after(5)

    state = p.state
    state[CASH] = -1.0  # a copy: the portfolio is unaffected

    assert p.cash == 10_016.625
    assert state.shape == (PORTFOLIO_STATE_SIZE,)
    assert (state[N_FILLS], state[TRADED_QTY]) == (5.0, 12.0)
    assert state[TRADED_NOTIONAL] == 100.0 + 312.0 + 220.0 + 400.0 + 190.0


def test_from_state_round_trip():
    p = _portfolio_after(3)

    again = Portfolio.from_state(p.state)
    again.apply_fill(-1, 100.0, 4.0, -0.125)

    assert again.state.tolist() == _portfolio_after(4).state.tolist()


@pytest.mark.parametrize("state", [np.zeros(3), np.full(PORTFOLIO_STATE_SIZE, np.nan)])
def test_from_state_rejects_bad_arrays(state):
    with pytest.raises(InvalidValueError, match="state must be"):
        Portfolio.from_state(state)


def test_state_record_is_a_c7_row():
    p = _portfolio_after(3)

    row = p.state_record(1_700_000_000_000_000_000, 106.0)

    assert row.dtype == STATE_DTYPE
    assert row[0].tolist() == (1_700_000_000_000_000_000, 106.0, 2.0, 9_806.75, 1.25, 10_018.75)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fill",
    [
        (0, 100.0, 1.0, 0.0),
        (2, 100.0, 1.0, 0.0),
        (1, 0.0, 1.0, 0.0),
        (1, -5.0, 1.0, 0.0),
        (1, math.nan, 1.0, 0.0),
        (1, 100.0, 0.0, 0.0),
        (-1, 100.0, -1.0, 0.0),
        (-1, 100.0, math.inf, 0.0),
        (-1, 100.0, 1.0, math.nan),
    ],
)
def test_bad_fill_raises_and_leaves_state_unchanged(fill):
    p = _portfolio_after(2)
    before = p.state

    with pytest.raises(InvalidValueError, match="bad fill"):
        p.apply_fill(*fill)

    assert p.state.tolist() == before.tolist()


def test_kernel_reports_bad_fill_as_status():
    state = new_state(5.0)

    status = apply_fill_nb(state, 1, 100.0, -1.0, 0.0)

    assert status == FILL_BAD_INPUT
    assert state.tolist() == new_state(5.0).tolist()


@pytest.mark.parametrize("mark", [math.nan, math.inf])
def test_non_finite_mark_raises(mark):
    with pytest.raises(InvalidValueError, match="mark"):
        _portfolio_after(1).equity(mark)


def test_non_finite_initial_cash_raises():
    with pytest.raises(ConfigError, match="initial_cash"):
        Portfolio(initial_cash=math.nan)


# -- C6 fill rows ------------------------------------------------------------------------------


def _rows(fills, order_id0=1):
    rows = np.zeros(len(fills), dtype=FILL_DTYPE)
    for i, (side, price_ticks, qty, fee) in enumerate(fills):
        rows[i] = (0, 0, order_id0 + i, side, 1, 0, price_ticks, qty, fee)
    return rows


def test_apply_fills_prices_rows_from_ticks():
    ticks = [(s, int(px * 4), q, f) for _, (s, px, q, f), _ in _LONG_SEQUENCE]
    p = Portfolio(initial_cash=10_000.0)

    p.apply_fills(_rows(ticks), tick_size=0.25)

    assert p.state.tolist() == _portfolio_after(5).state.tolist()


def test_apply_fills_stops_at_bad_row_and_names_it():
    p = Portfolio()
    rows = _rows([(1, 400, 1.0, 0.0), (1, 400, 1.0, 0.0), (3, 400, 1.0, 0.0)], order_id0=41)

    with pytest.raises(InvalidValueError, match=r"bad fill row 2 \(order_id 43\)"):
        p.apply_fills(rows, tick_size=0.25)

    assert p.position == 2.0  # rows 0 and 1 were applied


def test_apply_fills_rejects_wrong_dtype_and_tick_size():
    with pytest.raises(InvalidValueError, match="FILL_DTYPE"):
        Portfolio().apply_fills(np.zeros(3), tick_size=0.01)
    with pytest.raises(ConfigError, match="tick_size"):
        Portfolio().apply_fills(_rows([(1, 1, 1.0, 0.0)]), tick_size=0.0)


def test_apply_fills_nb_equals_fill_by_fill():
    rng = np.random.default_rng(11)
    side = rng.choice(np.array([-1, 1], dtype=np.int8), 200)
    price = rng.uniform(90.0, 110.0, 200)
    qty = rng.uniform(0.01, 3.0, 200)
    fee = rng.uniform(-0.01, 0.05, 200)
    batch, single = new_state(1e4), new_state(1e4)

    n = apply_fills_nb(batch, side, price, qty, fee)
    for i in range(200):
        assert apply_fill_nb(single, int(side[i]), price[i], qty[i], fee[i]) == FILL_OK

    assert n == 200
    assert batch.tolist() == single.tolist()


def test_flat_kernels_ignore_the_mark():
    state = new_state(7.0)

    assert unrealized_nb(state, math.nan) == 0.0
    assert equity_nb(state, math.nan) == 7.0


# -- conservation property vs exact rational arithmetic ----------------------------------------


@dataclass
class _Oracle:
    """Average-cost accounting in exact Fractions, written independently of the kernel."""

    cash: Fraction
    position: Fraction = Fraction(0)
    avg: Fraction = Fraction(0)
    realized: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)

    def fill(self, side: int, price: Fraction, qty: Fraction, fee: Fraction) -> None:
        self.cash -= side * price * qty + fee
        self.fees += fee
        signed = side * qty
        if self.position == 0 or (self.position > 0) == (side > 0):
            new = self.position + signed
            self.avg = (abs(self.position) * self.avg + qty * price) / abs(new)
            self.position = new
            return
        closed = min(qty, abs(self.position))
        direction = 1 if self.position > 0 else -1
        self.realized += closed * (price - self.avg) * direction
        self.position += side * closed
        if qty > closed:
            self.position, self.avg = side * (qty - closed), price
        elif self.position == 0:
            self.avg = Fraction(0)

    def unrealized(self, mark: Fraction) -> Fraction:
        return self.position * (mark - self.avg)


# Dyadic values (few mantissa bits) so that position, cash and fees are exact in float64;
# only the average-cost share of a partial close (cost * q / |position|) rounds.
_PRICE = st.integers(1, 4 * 4096).map(lambda k: k / 4)
_QTY = st.integers(1, 16 * 64).map(lambda k: k / 16)
_FEE = st.integers(-64 * 16, 64 * 64).map(lambda k: k / 64)
_FILL = st.tuples(st.sampled_from([-1, 1]), _PRICE, _QTY, _FEE)
# Closes and flips need a fill of exactly |position|: draw some sizes from a tiny set.
_SMALL_QTY = st.sampled_from([0.5, 1.0, 1.5, 2.0])
_FILL_MIXED = st.one_of(_FILL, st.tuples(st.sampled_from([-1, 1]), _PRICE, _SMALL_QTY, _FEE))


@settings(max_examples=300, deadline=None)
@given(
    fills=st.lists(_FILL_MIXED, min_size=1, max_size=40),
    mark=_PRICE,
    initial=st.integers(-(2**20), 2**20),
)
def test_conservation_against_exact_oracle(fills, mark, initial):
    p = Portfolio(initial_cash=float(initial))
    oracle = _Oracle(cash=Fraction(initial))
    gross_flow = Fraction(0)

    for side, price, qty, fee in fills:
        p.apply_fill(side, price, qty, fee)
        oracle.fill(side, Fraction(price), Fraction(qty), Fraction(fee))
        gross_flow -= side * Fraction(price) * Fraction(qty)

    m = Fraction(mark)
    mtm_pnl = gross_flow + oracle.position * m  # mark-to-market PnL of the fills, gross
    notional = sum(Fraction(px) * Fraction(q) for _, px, q, _ in fills)
    # Stated tolerance: the average-cost share rounds; measured worst 1.5e-16 * notional
    # over 3000 seeded 40-fill sequences, so 1e-14 leaves a 60x margin.
    tol = 1e-14 * float(notional)
    # exact: sums of dyadic products never round
    assert (p.position, p.cash, p.fees) == (oracle.position, oracle.cash, oracle.fees)
    assert abs(p.realized - oracle.realized) <= tol
    assert abs(p.unrealized(mark) - oracle.unrealized(m)) <= tol
    assert abs(p.realized + p.unrealized(mark) - mtm_pnl) <= tol
    lhs = Fraction(p.cash) + Fraction(p.position) * m  # equity, exact in this test
    rhs = initial + Fraction(p.realized) + Fraction(p.unrealized(mark)) - Fraction(p.fees)
    assert abs(lhs - rhs) <= tol
    assert lhs == Fraction(p.equity(mark))
    assert oracle.realized + oracle.unrealized(m) == mtm_pnl  # the oracle itself conserves


@settings(max_examples=150, deadline=None)
@given(fills=st.lists(_FILL_MIXED, min_size=1, max_size=30), exit_price=_PRICE)
def test_flattening_leaves_only_cash(fills, exit_price):
    p = Portfolio()
    oracle = _Oracle(cash=Fraction(0))
    for side, price, qty, fee in fills:
        p.apply_fill(side, price, qty, fee)
        oracle.fill(side, Fraction(price), Fraction(qty), Fraction(fee))
    if p.position == 0.0:
        return

    side = -1 if p.position > 0 else 1
    p.apply_fill(side, exit_price, abs(p.position), 0.0)
    oracle.fill(side, Fraction(exit_price), abs(oracle.position), Fraction(0))

    notional = sum(Fraction(px) * Fraction(q) for _, px, q, _ in fills) + Fraction(exit_price)
    assert (p.position, p.cost_basis, p.unrealized(1.0)) == (0.0, 0.0, 0.0)
    assert p.cash == oracle.cash == oracle.realized - oracle.fees
    assert abs(p.realized - oracle.realized) <= 1e-14 * float(notional)
