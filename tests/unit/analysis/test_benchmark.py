"""analysis.benchmark: strategy vs mid buy-and-hold, alpha/beta (issue 5, item 10)."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.benchmark import (
    alpha,
    benchmark_metrics,
    benchmark_returns,
    beta,
    correlation,
    information_ratio,
    tracking_error,
)
from l2trader.analysis.inputs import RunInputs
from l2trader.errors import InvalidValueError
from l2trader.schema import STATE_DTYPE

SECOND = 1_000_000_000
PPYS = (252.0, 98_280.0, 31_536_000.0)


def close(ours: float, oracle: float, tol: float = 1e-8) -> bool:
    oracle = float(oracle)
    if math.isnan(oracle) or math.isnan(ours):
        return math.isnan(oracle) and math.isnan(ours)
    if math.isinf(oracle) or math.isinf(ours):
        return ours == oracle
    return abs(ours - oracle) <= tol * max(1.0, abs(oracle))


def pair(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=n) * 1e-4
    return 0.3 * b + rng.standard_t(4, size=n) * 5e-5 + 2e-6, b


def series(x: np.ndarray) -> pd.Series:
    return pd.Series(x, index=pd.date_range("2024-01-01", periods=x.size, freq="s"))


GRID = [(s, n, p) for s in range(3) for n in (3, 50, 2_000) for p in PPYS]


@pytest.mark.parametrize(("seed", "n", "ppy"), GRID)
def test_equals_empyrical(seed, n, ppy):
    r, b = pair(seed, n)
    with np.errstate(over="ignore"):
        assert close(alpha(r, b, ppy, compounded=True), empyrical.alpha(r, b, annualization=ppy))
        assert close(
            alpha(r, b, ppy, risk_free=1e-6, compounded=True),
            empyrical.alpha(r, b, risk_free=1e-6, annualization=ppy),
        )
    assert close(beta(r, b), empyrical.beta(r, b))
    assert close(beta(r, b), empyrical.beta(r, b, risk_free=1e-6))  # rf cancels in beta
    assert close(information_ratio(r, b), empyrical.excess_sharpe(r, b))


@pytest.mark.parametrize(("seed", "n", "ppy"), GRID)
def test_equals_quantstats(seed, n, ppy):
    r, b = pair(seed, n)
    greeks = qs.stats.greeks(series(r), series(b), periods=ppy)
    assert close(beta(r, b), greeks["beta"])
    assert close(alpha(r, b, ppy), greeks["alpha"])
    assert close(information_ratio(r, b), qs.stats.information_ratio(series(r), series(b)))
    assert close(correlation(r, b), series(r).corr(series(b)))
    assert close(tracking_error(r, b, ppy), (series(r) - series(b)).std() * math.sqrt(ppy))


def test_hand_worked_values():
    # Arrange: r = 2 b + 0.01 exactly
    b = np.array([0.01, -0.01, 0.02])
    r = 2 * b + 0.01

    # Act / Assert
    assert beta(r, b) == pytest.approx(2.0, abs=1e-12)
    assert alpha(r, b, 12) == pytest.approx(0.12, abs=1e-12)
    assert alpha(r, b, 12, compounded=True) == pytest.approx(1.01**12 - 1, abs=1e-12)
    assert correlation(r, b) == pytest.approx(1.0, abs=1e-12)
    assert information_ratio(r, b) == pytest.approx(
        np.mean(b + 0.01) / np.std(b, ddof=1), abs=1e-12
    )


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-100, 100), st.integers(-100, 100)), min_size=3, max_size=30),
    st.integers(-50, 50),
)
def test_beta_and_correlation_ignore_a_constant_added_to_the_strategy(pairs, shift):
    r = np.array([p[0] for p in pairs], dtype=float) / 1e4
    b = np.array([p[1] for p in pairs], dtype=float) / 1e4
    c = shift / 1e4
    for f in (beta, correlation):
        x, y = f(r + c, b), f(r, b)
        assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-9, abs=1e-12)


def test_undefined_values_are_nan_and_shapes_are_checked():
    flat = np.zeros(5)
    r = np.array([0.01, -0.02, 0.0, 0.01, 0.03])
    assert math.isnan(beta(r, flat))
    assert math.isnan(alpha(r, flat, 252))
    assert math.isnan(correlation(r, flat))
    assert math.isnan(information_ratio(r, r))
    assert math.isnan(beta([0.01], [0.02]))
    with pytest.raises(InvalidValueError, match="one length"):
        beta(r, r[:3])


def test_nan_pairs_are_dropped():
    r = np.array([0.01, np.nan, -0.02, 0.03, 0.0])
    b = np.array([0.02, 0.01, np.nan, 0.01, -0.01])
    keep = [0, 3, 4]
    assert beta(r, b) == beta(r[keep], b[keep])
    assert close(beta(r, b), empyrical.beta(r, b))


def _equity(mid, position, equity):
    eq = np.zeros(len(mid), STATE_DTYPE)
    eq["ts_recv"] = np.arange(len(mid)) * SECOND
    eq["mid"], eq["position"], eq["equity"] = mid, position, equity
    return eq


def _run(eq, capital=1_000.0):
    return RunInputs(
        run_id="t", config_id="c", code_version="v", data_fingerprint="d", tick_size=0.01,
        capital=capital, calendar="24/7", session_s=0.0, equity=eq,
    )  # fmt: skip


def test_benchmark_returns_hold_the_max_exposure_notional():
    # Arrange: max |position x mid| = |-2 x 110| = 220 -> 2.2 units bought at 100
    eq = _equity([100.0, 110.0, 99.0], [0.0, -2.0, 0.0], [0.0, 0.0, 22.0])

    # Act
    rb, notional = benchmark_returns(eq, 1_000.0)

    # Assert
    assert notional == 220.0
    assert rb.tolist() == pytest.approx([0.022, -0.0242], abs=1e-15)


def test_a_strategy_that_is_the_benchmark_has_beta_one_and_zero_alpha():
    # Arrange: hold 3 units from the start; the mid falls, so the max notional is the first
    mid = np.array([100.0, 99.0, 99.5, 97.0, 98.0])
    eq = _equity(mid, np.full(5, 3.0), 3.0 * (mid - mid[0]))

    # Act
    m = benchmark_metrics(_run(eq))

    # Assert
    assert m["benchmark_notional"] == 300.0
    assert m["beta"] == pytest.approx(1.0, abs=1e-12)
    assert m["alpha"] == pytest.approx(0.0, abs=1e-9)
    assert m["correlation"] == pytest.approx(1.0, abs=1e-12)
    assert m["excess_total_return"] == pytest.approx(0.0, abs=1e-15)
    assert m["benchmark_total_return"] == pytest.approx(-0.006, abs=1e-15)
    assert m["benchmark_max_drawdown"] == pytest.approx(-0.009, abs=1e-15)
    assert math.isnan(m["information_ratio"])
    assert m["tracking_error"] == pytest.approx(0.0, abs=1e-12)
    assert all(isinstance(v, int | float) for v in m.values())


def test_a_flat_strategy_has_an_empty_benchmark():
    eq = _equity([100.0, 101.0, 102.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    m = benchmark_metrics(_run(eq))
    assert m["benchmark_notional"] == 0.0
    assert m["benchmark_total_return"] == 0.0
    assert math.isnan(m["beta"])
    assert math.isnan(m["alpha"])
    assert math.isnan(m["correlation"])


def test_benchmark_metrics_of_an_empty_run_are_nan():
    m = benchmark_metrics(_run(np.zeros(0, STATE_DTYPE)))
    assert math.isnan(m["beta"])
    assert math.isnan(m["benchmark_total_return"])


@pytest.mark.shared_data
def test_real_lobster_buy_and_hold_against_its_benchmark(shared_data):
    # Arrange: AMZN 2012-06-21, 100 shares held; the benchmark holds the max notional
    from .lobster_inputs import lobster_inputs

    run = lobster_inputs(shared_data)
    r = np.diff(run.equity["equity"]) / run.capital
    rb, notional = benchmark_returns(run.equity, run.capital)

    # Act
    m = benchmark_metrics(run)

    # Assert: both hold AMZN, so they are perfectly correlated; beta = held units ratio
    units = notional / run.equity["mid"][0]
    assert m["correlation"] == pytest.approx(1.0, abs=1e-9)
    assert m["beta"] == pytest.approx(100.0 / units, abs=1e-9)
    assert close(m["beta"], empyrical.beta(r, rb))
    ppy = 252 * 23_400.0  # 1 s grid, exchange calendar
    assert close(m["alpha_compounded"], empyrical.alpha(r, rb, annualization=ppy))
    assert close(m["information_ratio"], empyrical.excess_sharpe(r, rb))
