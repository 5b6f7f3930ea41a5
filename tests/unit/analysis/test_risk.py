"""analysis.risk: VaR/CVaR by method, tail ratio, moments, exposure (issue 5, item 3).

Oracles: empyrical-reloaded (historical VaR/CVaR, tail ratio), quantstats (normal VaR/CVaR,
its historical CVaR convention, unbiased moments), scipy (biased moments, normal quantile,
numerical integration of the Cornish-Fisher quantile function).
"""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from scipy import integrate, stats

from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.risk import (
    RISK_METHODS,
    conditional_value_at_risk,
    cornish_fisher_valid,
    excess_kurtosis,
    exposure_metrics,
    risk_metrics,
    skewness,
    tail_ratio,
    value_at_risk,
)
from l2trader.errors import ConfigError
from l2trader.schema import STATE_DTYPE

LEVELS = (0.9, 0.95, 0.99)
SEEDS = (0, 1, 2, 3)
SIZES = (2, 7, 101, 3_000)
SECOND = 1_000_000_000


def close(ours: float, oracle: float, tol: float = 1e-8) -> bool:
    oracle = float(oracle)
    if math.isnan(oracle) or math.isnan(ours):
        return math.isnan(oracle) and math.isnan(ours)
    return abs(ours - oracle) <= tol * max(1.0, abs(oracle))


def sample(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_t(4, size=n) * 1e-3 + rng.normal() * 1e-4


def series(r: np.ndarray) -> pd.Series:
    return pd.Series(r, index=pd.date_range("2024-01-01", periods=r.size, freq="s"))


def cornish_fisher_z(z: float, s: float, k: float) -> float:
    return z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36


GRID = [(seed, n, level) for seed in SEEDS for n in SIZES for level in LEVELS]


@pytest.mark.parametrize(("seed", "n", "level"), GRID)
def test_historical_equals_empyrical(seed, n, level):
    r = sample(seed, n)
    assert close(value_at_risk(r, level), empyrical.value_at_risk(r, 1 - level))
    assert close(
        conditional_value_at_risk(r, level), empyrical.conditional_value_at_risk(r, 1 - level)
    )


@pytest.mark.parametrize(("seed", "n", "level"), GRID)
def test_normal_and_quantstats_conventions_equal_quantstats(seed, n, level):
    r, s = sample(seed, n), series(sample(seed, n))
    assert close(value_at_risk(r, level, "normal"), qs.stats.value_at_risk(s, confidence=level))
    assert close(conditional_value_at_risk(r, level, "normal"), qs.stats.cvar(s, confidence=level))
    assert close(
        conditional_value_at_risk(r, level, "historical", convention="quantstats"),
        qs.stats.cvar(s, confidence=level, method="historical"),
    )


@pytest.mark.parametrize(("seed", "n", "level"), [g for g in GRID if g[1] >= 7])
def test_cornish_fisher_var_equals_the_expansion_with_scipy_moments(seed, n, level):
    # Arrange
    r = sample(seed, n)
    s, k = stats.skew(r), stats.kurtosis(r)
    z = cornish_fisher_z(stats.norm.ppf(1 - level), s, k)

    # Act / Assert
    assert close(value_at_risk(r, level, "cornish_fisher"), r.mean() + r.std(ddof=1) * z)


@pytest.mark.parametrize(
    ("s", "k", "level"), [(0.0, 0.0, 0.95), (-0.5, 1.0, 0.95), (0.3, 2.0, 0.99), (-0.8, 3.0, 0.9)]
)
def test_cornish_fisher_cvar_is_the_tail_mean_of_the_cornish_fisher_quantile(s, k, level):
    # Arrange: samples of different shapes; integrate the Cornish-Fisher quantile function
    # built from each sample's own moments over the tail (0, a)
    rng = np.random.default_rng(7)
    r = rng.standard_t(5, size=400) * 1e-3 * (1 + s) + k * 1e-5
    mu, sd, s_hat, k_hat = r.mean(), r.std(ddof=1), stats.skew(r), stats.kurtosis(r)
    a = 1 - level

    def quantile(u: float) -> float:
        return mu + sd * cornish_fisher_z(stats.norm.ppf(u), s_hat, k_hat)

    integral, _ = integrate.quad(quantile, 0.0, a, epsabs=1e-14, epsrel=1e-12, limit=200)

    # Act / Assert
    assert close(conditional_value_at_risk(r, level, "cornish_fisher"), integral / a, tol=1e-9)


def test_cornish_fisher_var_of_a_two_point_sample():
    # Arrange: a 2-point sample has S = 0 and K = -2, so z_cf = z - (z^3 - 3z) / 12
    r = np.array([-0.01, 0.01])
    z = stats.norm.ppf(0.05)
    expected = r.mean() + r.std(ddof=1) * (z - (z**3 - 3 * z) / 12)

    # Act / Assert
    assert close(value_at_risk(r, 0.95, "cornish_fisher"), expected)


def test_hand_worked_historical_values():
    # Arrange: 5 returns, level 0.75 -> tail 0.25 -> percentile position 1.0
    r = [0.02, -0.01, 0.0, 0.01, -0.02]

    # Act / Assert
    assert value_at_risk(r, 0.75) == pytest.approx(-0.01, abs=1e-15)
    # int(4 * 0.25) = 1 -> mean of the 2 smallest
    assert conditional_value_at_risk(r, 0.75) == pytest.approx(-0.015, abs=1e-15)


def test_the_two_historical_cvar_conventions_differ_on_ties():
    # Arrange: many zero returns (a flat strategy most of the time): the 25% quantile is 0
    r = np.array([-0.04, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.02])

    # Act
    empyrical_style = conditional_value_at_risk(r, 0.75)
    quantstats_style = conditional_value_at_risk(r, 0.75, convention="quantstats")

    # Assert: int(8 * 0.25) = 2 -> mean(-0.04, 0, 0); quantstats: mean of every r <= 0
    assert empyrical_style == pytest.approx(-0.04 / 3, abs=1e-15)
    assert quantstats_style == pytest.approx(-0.04 / 7, abs=1e-15)
    assert close(empyrical_style, empyrical.conditional_value_at_risk(r, 0.25))
    assert close(quantstats_style, qs.stats.cvar(series(r), confidence=0.75, method="historical"))


@pytest.mark.parametrize(("seed", "n"), [(s, n) for s in SEEDS for n in SIZES])
def test_tail_ratio_and_moments_equal_oracles(seed, n):
    r = sample(seed, n)
    s = series(r)
    assert close(tail_ratio(r), empyrical.tail_ratio(r))
    assert close(tail_ratio(r), qs.stats.tail_ratio(s))
    assert close(skewness(r), stats.skew(r))
    assert close(excess_kurtosis(r), stats.kurtosis(r))
    if n >= 4:
        assert close(skewness(r, bias=False), qs.stats.skew(s))
        assert close(excess_kurtosis(r, bias=False), qs.stats.kurtosis(s))


@pytest.mark.parametrize(
    ("s", "k", "valid"),
    [(0.0, 0.0, True), (0.0, 4.0, True), (1.0, 4.0, True), (0.0, -2.0, False), (0.0, 50.0, False)],
)
def test_cornish_fisher_validity_matches_a_dense_monotonicity_check(s, k, valid):
    z = np.linspace(-8.0, 8.0, 100_001)
    dense = bool(np.all(np.diff(cornish_fisher_z(z, s, k)) > 0))
    assert cornish_fisher_valid(s, k) is valid
    assert dense is valid


def test_tail_ratio_is_nan_when_the_left_tail_is_zero():
    r = np.array([0.0] * 20 + [0.01])
    assert math.isnan(tail_ratio(r))
    assert math.isnan(qs.stats.tail_ratio(series(r)))


def test_undefined_values_are_nan():
    for method in RISK_METHODS:
        assert math.isnan(value_at_risk([0.01], 0.95, method))
        assert math.isnan(conditional_value_at_risk([], 0.95, method))
    assert math.isnan(skewness([0.01, 0.01, 0.01]))
    assert math.isnan(excess_kurtosis([0.01, 0.02, 0.03], bias=False))
    assert math.isnan(tail_ratio([]))


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 95.0])
def test_level_must_be_a_probability(level):
    with pytest.raises(ConfigError, match="level"):
        value_at_risk([0.01, 0.02], level)


def test_method_and_convention_are_checked():
    with pytest.raises(ConfigError, match="method"):
        value_at_risk([0.01, 0.02], 0.95, "garch")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="convention"):
        conditional_value_at_risk([0.01, 0.02], 0.95, convention="pyfolio")  # type: ignore[arg-type]


def _equity(values, position, mid):
    eq = np.zeros(len(values), STATE_DTYPE)
    eq["ts_recv"] = np.arange(len(values)) * SECOND
    eq["equity"], eq["position"], eq["mid"] = values, position, mid
    return eq


def test_exposure_metrics_hand_worked():
    # Arrange
    eq = _equity([0.0] * 5, [0.0, 2.0, -1.0, -3.0, 0.0], [10.0, 10.0, 20.0, 10.0, 10.0])

    # Act
    m = exposure_metrics(eq, 100.0)

    # Assert: notionals 0, 20, 20, 30, 0
    assert m["exposure_time_frac"] == 0.6
    assert m["position_mean"] == pytest.approx(-0.4, abs=1e-15)
    assert m["position_abs_mean"] == pytest.approx(1.2, abs=1e-15)
    assert m["position_long_max"] == 2.0
    assert m["position_short_max"] == -3.0
    assert m["position_abs_max"] == 3.0
    assert m["notional_abs_mean"] == pytest.approx(14.0, abs=1e-12)
    assert m["notional_abs_max"] == 30.0
    assert m["leverage_max"] == pytest.approx(0.3, abs=1e-15)
    assert m["position_std"] == pytest.approx(np.std([0.0, 2.0, -1.0, -3.0, 0.0]), abs=1e-15)


def test_risk_metrics_keys_and_values():
    # Arrange: equity 0, 4, 1, 3, -2 on a 1 s grid, capital 100
    eq = _equity([0.0, 4.0, 1.0, 3.0, -2.0], [0.0, 1.0, 1.0, 1.0, 0.0], 100.0)
    run = RunInputs(
        run_id="t", config_id="c", code_version="v", data_fingerprint="d", tick_size=0.01,
        capital=100.0, calendar="24/7", session_s=0.0, equity=eq,
    )  # fmt: skip
    r = np.array([0.04, -0.03, 0.02, -0.05])

    # Act
    m = risk_metrics(run)

    # Assert
    assert m["max_drawdown"] == pytest.approx(-0.06, abs=1e-15)
    assert m["max_drawdown_quote"] == pytest.approx(-6.0, abs=1e-12)
    assert m["max_drawdown_duration_s"] == 3.0
    assert close(m["max_drawdown_compounded"], empyrical.max_drawdown(r))
    for pct, level in ((95, 0.95), (99, 0.99)):
        for method in RISK_METHODS:
            assert m[f"var_{pct}_{method}"] == value_at_risk(r, level, method)
            assert m[f"cvar_{pct}_{method}"] == conditional_value_at_risk(r, level, method)
    assert m["worst_return"] == pytest.approx(-0.05, abs=1e-15)
    assert m["worst_return_ts"] == 4 * SECOND
    assert m["best_return"] == pytest.approx(0.04, abs=1e-15)
    assert m["worst_day_return"] == pytest.approx(-0.02, abs=1e-15)
    assert m["n_days"] == 1
    assert m["exposure_time_frac"] == 0.6
    assert all(isinstance(v, int | float) for v in m.values())


@pytest.mark.shared_data
def test_real_lobster_risk_equals_oracles(shared_data):
    # Arrange: AMZN 2012-06-21 1 s returns of 100 shares (many zero returns: ties)
    from .lobster_inputs import lobster_inputs

    run = lobster_inputs(shared_data)
    r = np.diff(run.equity["equity"]) / run.capital
    s = series(r)

    # Act
    m = risk_metrics(run)

    # Assert
    assert close(m["var_95_historical"], empyrical.value_at_risk(r, 0.05))
    assert close(m["cvar_95_historical"], empyrical.conditional_value_at_risk(r, 0.05))
    assert close(m["cvar_99_historical"], empyrical.conditional_value_at_risk(r, 0.01))
    assert close(m["var_99_normal"], qs.stats.value_at_risk(s, confidence=0.99))
    assert close(m["cvar_99_normal"], qs.stats.cvar(s, confidence=0.99))
    assert close(
        m["cvar_95_historical_quantstats"], qs.stats.cvar(s, confidence=0.95, method="historical")
    )
    assert close(m["tail_ratio"], empyrical.tail_ratio(r))
    assert close(m["max_drawdown_compounded"], empyrical.max_drawdown(r))
    assert close(m["max_drawdown_compounded"], qs.stats.max_drawdown(s))
    assert close(m["skew"], stats.skew(r))
    assert close(m["kurtosis_unbiased"], qs.stats.kurtosis(s))
    assert m["exposure_time_frac"] == 1.0
