"""analysis.performance against empyrical-reloaded and quantstats (issue 5, item 2).

"Equal to 1e-8" means ``|ours - oracle| <= 1e-8 * max(1, |oracle|)`` (absolute for ratios of
order 1, relative for annualized values that reach 1e6+), NaN == NaN and inf == inf.
"""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.performance import (
    annual_return,
    annual_volatility,
    calmar,
    downside_risk,
    omega,
    performance_metrics,
    pnl_attribution,
    sharpe,
    sortino,
    total_return,
)
from l2trader.schema import FILL_DTYPE, STATE_DTYPE

PPYS = (252.0, 98_280.0, 31_536_000.0)
SEEDS = (0, 1, 2)
SIZES = (2, 3, 60, 2_000)
DAY = 86_400_000_000_000


def close(ours: float, oracle: float, tol: float = 1e-8) -> bool:
    oracle = float(oracle)
    if math.isnan(oracle) or math.isnan(ours):
        return math.isnan(oracle) and math.isnan(ours)
    if math.isinf(oracle) or math.isinf(ours):
        return ours == oracle
    return abs(ours - oracle) <= tol * max(1.0, abs(oracle))


def undefined_as_nan(oracle: float) -> float:
    """Our convention: NaN where the oracle divides by a zero dispersion and gives +-inf."""
    return float(oracle) if math.isfinite(float(oracle)) else math.nan


def sample(seed: int, n: int, scale: float = 1e-3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_t(3, size=n) * scale + 0.1 * scale


def series(r: np.ndarray) -> pd.Series:
    return pd.Series(r, index=pd.date_range("2024-01-01", periods=r.size, freq="s"))


GRID = [(s, n, p) for s in SEEDS for n in SIZES for p in PPYS]


@pytest.mark.parametrize(("seed", "n", "ppy"), GRID)
def test_equals_empyrical(seed, n, ppy):
    # Arrange
    r = sample(seed, n)

    # Act / Assert
    with np.errstate(over="ignore"):
        assert close(total_return(r, compounded=True), empyrical.cum_returns_final(r))
        assert close(
            annual_return(r, ppy, compounded=True), empyrical.annual_return(r, annualization=ppy)
        )
        assert close(calmar(r, ppy, compounded=True), empyrical.calmar_ratio(r, annualization=ppy))
    assert close(annual_volatility(r, ppy), empyrical.annual_volatility(r, annualization=ppy))
    assert close(sharpe(r, ppy), empyrical.sharpe_ratio(r, annualization=ppy))
    assert close(sharpe(r, ppy, risk_free=1e-4), empyrical.sharpe_ratio(r, 1e-4, annualization=ppy))
    with np.errstate(divide="ignore"):
        oracle = empyrical.sortino_ratio(r, annualization=ppy)
    assert close(sortino(r, ppy), undefined_as_nan(oracle))
    with np.errstate(divide="ignore"):
        oracle = empyrical.sortino_ratio(r, required_return=2e-4, annualization=ppy)
    assert close(sortino(r, ppy, required_return=2e-4), undefined_as_nan(oracle))
    assert close(downside_risk(r, ppy), empyrical.downside_risk(r, annualization=ppy))
    assert close(omega(r, ppy), empyrical.omega_ratio(r, annualization=ppy))
    assert close(
        omega(r, ppy, risk_free=1e-5, required_return=0.1),
        empyrical.omega_ratio(r, 1e-5, 0.1, annualization=ppy),
    )


@pytest.mark.parametrize(("seed", "n", "ppy"), GRID)
def test_equals_quantstats(seed, n, ppy):
    # Arrange
    r = sample(seed, n)
    s = series(r)

    # Act / Assert
    with np.errstate(over="ignore"):
        assert close(total_return(r, compounded=True), qs.stats.comp(s))
        assert close(annual_return(r, ppy, compounded=True), qs.stats.cagr(s, periods=ppy))
        qs_calmar = qs.stats.calmar(s, periods=ppy) if r.min() < 0 else math.nan  # else 1/0
    assert close(calmar(r, ppy, compounded=True), undefined_as_nan(qs_calmar))
    assert close(annual_volatility(r, ppy), qs.stats.volatility(s, periods=ppy))
    assert close(sharpe(r, ppy), qs.stats.sharpe(s, periods=ppy))
    assert close(sortino(r, ppy), qs.stats.sortino(s, periods=ppy))
    assert close(
        omega(r, ppy, required_return=0.1), qs.stats.omega(s, required_return=0.1, periods=ppy)
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_quantstats_annual_risk_free_is_our_per_period_rate(seed):
    # Arrange: quantstats takes an annual rf and de-annualizes it; we take the per-period rate
    r, ppy, rf = sample(seed, 500, 1e-2), 252.0, 1e-4
    rf_annual = (1 + rf) ** ppy - 1

    # Act / Assert
    assert close(
        sharpe(r, ppy, risk_free=rf), qs.stats.sharpe(series(r), rf=rf_annual, periods=ppy)
    )
    assert close(
        sortino(r, ppy, required_return=rf),
        qs.stats.sortino(series(r), rf=rf_annual, periods=ppy),
    )
    assert close(omega(r, ppy, risk_free=rf), qs.stats.omega(series(r), rf=rf_annual, periods=ppy))


def test_hand_worked_values():
    # Arrange: r = [0.03, -0.01, 0.01], monthly (ppy = 12)
    r = [0.03, -0.01, 0.01]

    # Act / Assert: mean 0.01, std 0.02 (ddof 1), downside sqrt(1e-4 / 3)
    assert total_return(r) == pytest.approx(0.03, abs=1e-15)
    assert total_return(r, compounded=True) == pytest.approx(1.03 * 0.99 * 1.01 - 1, abs=1e-15)
    assert annual_return(r, 12) == pytest.approx(0.12, abs=1e-15)
    assert annual_return([0.21, 0.0], 1, compounded=True) == pytest.approx(0.1, abs=1e-15)
    assert annual_volatility(r, 12) == pytest.approx(0.02 * math.sqrt(12), abs=1e-15)
    assert sharpe(r, 12) == pytest.approx(0.5 * math.sqrt(12), abs=1e-12)
    assert downside_risk(r, 12) == pytest.approx(math.sqrt(1e-4 / 3 * 12), abs=1e-15)
    assert sortino(r, 12) == pytest.approx(0.12 / math.sqrt(1e-4 / 3 * 12), abs=1e-12)
    assert omega(r, 12) == pytest.approx(4.0, abs=1e-12)
    assert calmar(r, 12) == pytest.approx(12.0, abs=1e-12)  # 0.12 / |-0.01|


def test_undefined_values_are_nan_where_empyrical_gives_inf():
    # Arrange: no dispersion, no downside, no drawdown
    flat, up = [0.01, 0.01, 0.01], [0.01, 0.02, 0.03]

    # Act / Assert
    with np.errstate(divide="ignore"):
        assert math.isinf(empyrical.sharpe_ratio(np.array(flat)))
        assert math.isinf(empyrical.sortino_ratio(np.array(up)))
    assert math.isnan(sharpe(flat, 252))
    assert math.isnan(sortino(up, 252))
    assert math.isnan(omega(up, 252))
    assert math.isnan(calmar(up, 252))
    assert math.isnan(calmar(up, 252, compounded=True))
    for f in (sharpe, sortino, omega, annual_volatility):
        assert math.isnan(f([0.01], 252))
    assert math.isnan(total_return([]))
    assert math.isnan(annual_return([], 252))
    assert math.isnan(annual_return([-1.5, 0.1], 252, compounded=True))


def test_nan_returns_are_dropped():
    r = np.array([0.02, np.nan, -0.01, 0.03])
    assert sharpe(r, 12) == sharpe(r[~np.isnan(r)], 12)
    assert total_return(r) == pytest.approx(0.04, abs=1e-15)


def test_metrics_do_not_mutate_their_input_and_return_float():
    r = sample(3, 50)
    before = r.copy()
    for value in (
        total_return(r),
        annual_return(r, 252, compounded=True),
        annual_volatility(r, 252),
        sharpe(r, 252),
        sortino(r, 252),
        omega(r, 252),
        calmar(r, 252),
    ):
        assert type(value) is float
    assert np.array_equal(r, before)


returns_lists = st.lists(st.integers(-500, 500), min_size=3, max_size=40).map(
    lambda xs: np.array(xs, dtype=float) / 1e4
)
shifts = st.integers(-100, 100).map(lambda x: x / 1e4)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(r=returns_lists, c=shifts)
def test_sharpe_unchanged_by_adding_the_risk_free_rate_to_both_sides(r, c):
    assert same(sharpe(r + c, 252, risk_free=c), sharpe(r, 252))


@settings(max_examples=60, deadline=None)
@given(r=returns_lists, k=st.integers(1, 50))
def test_sharpe_and_sortino_unchanged_by_scaling(r, k):
    assert same(sharpe(r * k, 98_280.0), sharpe(r, 98_280.0))
    assert same(sortino(r * k, 98_280.0), sortino(r, 98_280.0))


@settings(max_examples=60, deadline=None)
@given(r=returns_lists, c=shifts)
def test_sortino_and_omega_unchanged_by_shifting_the_threshold_with_the_returns(r, c):
    assert same(sortino(r + c, 252, required_return=c), sortino(r, 252))
    assert same(omega(r + c, 252, risk_free=c), omega(r, 252))
    assert same(annual_volatility(r + c, 252), annual_volatility(r, 252))


@settings(max_examples=60, deadline=None)
@given(a=returns_lists, b=returns_lists)
def test_additive_total_return_adds_over_concatenation(a, b):
    assert total_return(np.concatenate([a, b])) == pytest.approx(
        total_return(a) + total_return(b), abs=1e-12
    )


def _state(mid, position, cash, fees):
    eq = np.zeros(len(mid), STATE_DTYPE)
    eq["ts_recv"] = np.arange(len(mid)) * DAY
    eq["mid"], eq["position"], eq["cash"], eq["fees"] = mid, position, cash, fees
    eq["equity"] = eq["cash"] + eq["position"] * eq["mid"]
    return eq


def _run(eq, fills=None, capital=1_000.0):
    return RunInputs(
        run_id="t", config_id="c", code_version="v", data_fingerprint="d", tick_size=0.5,
        capital=capital, calendar="24/7", session_s=0.0, equity=eq,
        fills=np.zeros(0, FILL_DTYPE) if fills is None else fills,
    )  # fmt: skip


def _round_trip():
    # buy 2 at 100.5 (fee 0.2) during day 1, mid 101 then 103; sell 2 at 103.5 (rebate 0.1)
    # during day 3, mid 102 at the end of day 3
    fills = np.zeros(2, FILL_DTYPE)
    fills["side"], fills["price_ticks"], fills["qty"] = [1, -1], [201, 207], 2.0
    fills["fee"] = [0.2, -0.1]
    cash1 = -201.0 - 0.2
    eq = _state(
        mid=[100.0, 101.0, 103.0, 102.0],
        position=[0.0, 2.0, 2.0, 0.0],
        cash=[0.0, cash1, cash1, cash1 + 207.0 + 0.1],
        fees=[0.0, 0.2, 0.2, 0.1],
    )
    return eq, fills


def test_pnl_attribution_splits_price_moves_execution_and_fees():
    # Arrange
    eq, _ = _round_trip()

    # Act
    pnl = pnl_attribution(eq)

    # Assert: inventory 2 x (103 - 101) + 2 x (102 - 103) = 2; execution: bought 0.5 below the
    # next mark 101 (+1), sold 1.5 above the next mark 102 (+3); fees 0.2 paid - 0.1 rebate
    assert pnl["pnl_total"] == pytest.approx(5.9, abs=1e-12)
    assert pnl["pnl_price_moves"] == pytest.approx(2.0, abs=1e-12)
    assert pnl["pnl_execution"] == pytest.approx(4.0, abs=1e-12)
    assert pnl["pnl_fees"] == pytest.approx(-0.1, abs=1e-12)


def test_performance_metrics_hand_worked_daily_run():
    # Arrange
    eq, fills = _round_trip()

    # Act
    m = performance_metrics(_run(eq, fills))

    # Assert: 3 daily periods on a 24/7 calendar, capital 1000
    assert m["n_periods"] == 3
    assert m["grid_step_s"] == 86_400.0
    assert m["periods_per_year"] == 365.0
    assert m["days_per_year"] == 365
    assert m["duration_days"] == 3.0
    assert m["total_return"] == pytest.approx(0.0059, abs=1e-15)
    assert m["annual_return"] == pytest.approx(0.0059 / 3 * 365, abs=1e-12)
    assert m["pnl_per_day"] == pytest.approx(5.9 / 3, abs=1e-12)
    assert m["return_per_day"] == pytest.approx(0.0059 / 3, abs=1e-15)
    assert m["n_fills"] == 2
    assert m["traded_qty"] == 4.0
    assert m["traded_notional"] == pytest.approx(201.0 + 207.0, abs=1e-12)
    assert m["turnover"] == pytest.approx(0.408, abs=1e-15)
    assert m["turnover_per_day"] == pytest.approx(0.136, abs=1e-15)
    assert m["fees_paid"] == pytest.approx(0.1, abs=1e-15)
    r = np.diff(eq["equity"]) / 1_000.0
    assert close(m["sharpe"], empyrical.sharpe_ratio(r, annualization=365.0))
    assert close(m["annual_return_compounded"], empyrical.annual_return(r, annualization=365.0))
    assert all(isinstance(v, int | float) for v in m.values())


def test_performance_metrics_of_an_empty_run_are_nan():
    m = performance_metrics(_run(np.zeros(0, STATE_DTYPE)))
    assert m["n_periods"] == 0
    assert math.isnan(m["sharpe"])
    assert math.isnan(m["pnl_total"])
    assert math.isnan(m["pnl_per_day"])


@pytest.mark.shared_data
def test_real_lobster_returns_match_empyrical_and_quantstats(shared_data):
    # Arrange: AMZN 2012-06-21, 1 s mid returns of 100 shares held, exchange calendar
    from .lobster_inputs import lobster_inputs

    run = lobster_inputs(shared_data)
    m = performance_metrics(run)
    r = np.diff(run.equity["equity"]) / run.capital
    s, ppy = series(r), m["periods_per_year"]

    # Act / Assert
    assert ppy == 5_896_800.0
    assert close(m["sharpe"], empyrical.sharpe_ratio(r, annualization=ppy))
    assert close(m["sharpe"], qs.stats.sharpe(s, periods=ppy))
    assert close(m["sortino"], empyrical.sortino_ratio(r, annualization=ppy))
    assert close(m["sortino"], qs.stats.sortino(s, periods=ppy))
    assert close(m["omega"], empyrical.omega_ratio(r, annualization=ppy))
    assert close(m["annual_volatility"], empyrical.annual_volatility(r, annualization=ppy))
    assert close(m["annual_return_compounded"], empyrical.annual_return(r, annualization=ppy))
    assert close(m["calmar_compounded"], empyrical.calmar_ratio(r, annualization=ppy))
    assert close(m["calmar_compounded"], qs.stats.calmar(s, periods=ppy))
    assert close(m["total_return_compounded"], empyrical.cum_returns_final(r))
    # buy and hold: every PnL is a price move, no fills, no fees
    assert m["pnl_price_moves"] == pytest.approx(m["pnl_total"], abs=1e-9)
    assert m["pnl_execution"] == pytest.approx(0.0, abs=1e-9)
    assert m["pnl_fees"] == 0.0
