"""analysis.returns: grid returns and periods per year (issue 5, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

from l2trader.analysis.returns import (
    clean_returns,
    grid_returns,
    grid_step_ns,
    periods_per_year,
    return_series,
    seconds_per_year,
    trading_days_per_year,
)
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import STATE_DTYPE

SECOND = 1_000_000_000


def _equity(ts: list[int], values: list[float]) -> np.ndarray:
    eq = np.zeros(len(ts), STATE_DTYPE)
    eq["ts_recv"] = ts
    eq["equity"] = values
    return eq


@pytest.mark.parametrize(
    ("step_ns", "calendar", "session_s", "expected"),
    [
        (SECOND, "24/7", 0.0, 31_536_000.0),
        (100_000_000, "24/7", 0.0, 315_360_000.0),
        (86_400 * SECOND, "24/7", 0.0, 365.0),
        (SECOND, "exchange", 23_400.0, 5_896_800.0),
        (60 * SECOND, "exchange", 23_400.0, 98_280.0),
        (23_400 * SECOND, "exchange", 23_400.0, 252.0),
    ],
)
def test_periods_per_year_from_grid_and_calendar(step_ns, calendar, session_s, expected):
    # Act
    ppy = periods_per_year(step_ns, calendar, session_s)

    # Assert
    assert ppy == expected


def test_trading_days_and_seconds_per_year():
    assert trading_days_per_year("24/7") == 365
    assert trading_days_per_year("exchange") == 252
    assert seconds_per_year("24/7", 123.0) == 31_536_000.0
    assert seconds_per_year("exchange", 30_600.0) == 252 * 30_600.0


@pytest.mark.parametrize(
    ("step_ns", "calendar", "session_s", "match"),
    [
        (SECOND, "crypto", 0.0, "calendar"),
        (0, "24/7", 0.0, "step_ns"),
        (-5, "24/7", 0.0, "step_ns"),
        (SECOND, "exchange", 0.0, "session_s"),
        (SECOND, "exchange", float("nan"), "session_s"),
    ],
)
def test_periods_per_year_rejects_bad_arguments(step_ns, calendar, session_s, match):
    with pytest.raises(ConfigError, match=match):
        periods_per_year(step_ns, calendar, session_s)


def test_grid_returns_are_equity_changes_over_capital():
    # Arrange
    eq = _equity([0, SECOND, 2 * SECOND, 3 * SECOND], [0.0, 5.0, 2.0, 12.0])

    # Act
    ts, r = grid_returns(eq, 100.0)

    # Assert: additive, so the returns sum to PnL / capital
    assert ts.tolist() == [SECOND, 2 * SECOND, 3 * SECOND]
    assert r.tolist() == [0.05, -0.03, 0.1]
    assert r.sum() == pytest.approx(0.12, abs=1e-15)


def test_grid_returns_accept_gaps_that_are_whole_steps():
    # Arrange: an overnight-style gap of 3 steps is one period
    eq = _equity([0, 10, 20, 50], [0.0, 1.0, 2.0, 4.0])

    # Act
    ts, r = grid_returns(eq, 10.0)

    # Assert
    assert grid_step_ns(eq["ts_recv"]) == 10
    assert ts.tolist() == [10, 20, 50]
    assert r.tolist() == [0.1, 0.1, 0.2]


def test_grid_returns_of_fewer_than_two_rows_are_empty():
    ts, r = grid_returns(_equity([5], [1.0]), 1.0)
    assert ts.size == 0
    assert r.size == 0


@pytest.mark.parametrize(
    ("ts", "line", "match"),
    [
        ([0, 10, 10, 20], 2, "not increasing"),
        ([0, 10, 5, 20], 2, "not increasing"),
        ([0, 10, 25, 35], 2, "not a multiple"),
    ],
)
def test_grid_errors_name_the_row(ts, line, match):
    eq = _equity(ts, [0.0] * len(ts))
    with pytest.raises(InvalidValueError, match=match) as info:
        grid_returns(eq, 1.0)
    assert info.value.line == line
    assert info.value.source == "equity"


def test_non_finite_equity_is_an_error_naming_the_row():
    eq = _equity([0, 1, 2], [0.0, float("nan"), 1.0])
    with pytest.raises(InvalidValueError, match="equity is nan") as info:
        grid_returns(eq, 1.0)
    assert info.value.line == 1


@pytest.mark.parametrize("capital", [0.0, -1.0, float("inf"), float("nan")])
def test_capital_must_be_positive_and_finite(capital):
    with pytest.raises(ConfigError, match="capital"):
        grid_returns(_equity([0, 1], [0.0, 1.0]), capital)


def test_return_series_states_its_annualization():
    # Arrange: 1-minute grid on an exchange calendar
    eq = _equity([0, 60 * SECOND, 120 * SECOND], [0.0, 3.0, 1.0])

    # Act
    rs = return_series(eq, 1_000.0, "exchange", 23_400.0)

    # Assert
    assert rs.step_ns == 60 * SECOND
    assert rs.periods_per_year == 98_280.0
    assert rs.days_per_year == 252
    assert rs.pnl.tolist() == [3.0, -2.0]
    assert rs.r.tolist() == [0.003, -0.002]


def test_return_series_of_an_empty_record_has_nan_annualization():
    rs = return_series(np.zeros(0, STATE_DTYPE), 1.0, "24/7", 0.0)
    assert rs.r.size == 0
    assert np.isnan(rs.periods_per_year)
    with pytest.raises(ConfigError):
        return_series(np.zeros(0, STATE_DTYPE), 1.0, "exchange", 0.0)


def test_clean_returns_drops_nan_and_rejects_2d():
    assert clean_returns(np.array([np.nan, 1.0, np.inf])).tolist() == [1.0, np.inf]
    with pytest.raises(InvalidValueError, match="1-D"):
        clean_returns(np.zeros((2, 2)))


def test_grid_returns_do_not_mutate_input():
    eq = _equity([0, 1, 2], [0.0, 1.0, 3.0])
    before = eq.copy()
    grid_returns(eq, 2.0)
    assert np.array_equal(eq, before)


@pytest.mark.shared_data
def test_real_lobster_grid_is_one_second_on_an_exchange_calendar(shared_data):
    # Arrange: AMZN 2012-06-21 level-1 mid every second, 100 shares held
    from .lobster_inputs import lobster_inputs

    run = lobster_inputs(shared_data)

    # Act
    rs = return_series(run.equity, run.capital, run.calendar, run.session_s)

    # Assert: 23,400 samples -> 23,399 returns; 252 sessions of 23,400 s
    assert rs.step_ns == SECOND
    assert rs.r.size == 23_399
    assert rs.periods_per_year == 5_896_800.0
    assert rs.r.sum() == pytest.approx(
        (run.equity["equity"][-1] - run.equity["equity"][0]) / run.capital, abs=1e-12
    )
