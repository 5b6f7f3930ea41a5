"""analysis.drawdowns: underwater curve, max drawdown, top-N periods (issue 5, items 3 and 9)."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.drawdowns import (
    NOT_RECOVERED,
    drawdown_metrics,
    drawdown_periods,
    max_drawdown,
    underwater,
)
from l2trader.errors import ConfigError, InvalidValueError

SECOND = 1_000_000_000


def close(ours: float, oracle: float, tol: float = 1e-8) -> bool:
    return abs(ours - float(oracle)) <= tol * max(1.0, abs(float(oracle)))


def sample(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_t(3, size=n) * 1e-2


@pytest.mark.parametrize(("seed", "n"), [(s, n) for s in range(4) for n in (1, 2, 10, 500)])
def test_compounded_max_drawdown_equals_empyrical_and_quantstats(seed, n):
    # Arrange
    r = sample(seed, n)
    s = pd.Series(r, index=pd.date_range("2024-01-01", periods=n, freq="D"))

    # Act
    ours = max_drawdown(r, compounded=True)

    # Assert
    assert close(ours, empyrical.max_drawdown(r))
    assert close(ours, qs.stats.max_drawdown(s))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-300, 300), min_size=1, max_size=40))
def test_additive_max_drawdown_is_the_minimum_of_the_underwater_curve(ticks):
    # Arrange: equity from capital-relative returns
    r = np.array(ticks, dtype=float) / 1e4
    equity = 50.0 * np.concatenate(([0.0], np.cumsum(r)))

    # Act / Assert
    assert max_drawdown(r) == pytest.approx(underwater(equity, 50.0).min(), abs=1e-12)


def test_underwater_hand_worked():
    assert underwater([0.0, 5.0, 2.0, 6.0, 1.0], 100.0).tolist() == [0.0, 0.0, -0.03, 0.0, -0.05]
    assert underwater([], 1.0).size == 0


def test_underwater_rejects_bad_input():
    with pytest.raises(ConfigError, match="capital"):
        underwater([1.0], 0.0)
    with pytest.raises(InvalidValueError, match="finite"):
        underwater([1.0, float("nan")], 1.0)


def test_first_period_loss_counts_from_the_starting_capital():
    # empyrical and quantstats both add the starting value as a phantom peak
    assert max_drawdown([-0.1, 0.05]) == pytest.approx(-0.1, abs=1e-15)
    assert max_drawdown([-0.1, 0.05], compounded=True) == pytest.approx(-0.1, abs=1e-15)
    assert math.isnan(max_drawdown([]))


def _ts(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * SECOND


def test_drawdown_periods_hand_worked():
    # Arrange: peaks at t0 (0), t3 (6); troughs t2 (-4) and t5 (1); the second never recovers
    equity = [0.0, -1.0, -4.0, 6.0, 3.0, 1.0, 2.0]

    # Act
    periods = drawdown_periods(_ts(7), equity, 100.0, top=5)

    # Assert: deepest first
    first, second = periods
    assert first == {
        "start_ts": 3 * SECOND,
        "trough_ts": 5 * SECOND,
        "end_ts": NOT_RECOVERED,
        "depth": -0.05,
        "depth_quote": -5.0,
        "duration_s": 3.0,
        "time_to_trough_s": 2.0,
        "recovery_s": first["recovery_s"],
        "recovered": 0,
    }
    assert math.isnan(first["recovery_s"])
    assert second == {
        "start_ts": 0,
        "trough_ts": 2 * SECOND,
        "end_ts": 3 * SECOND,
        "depth": -0.04,
        "depth_quote": -4.0,
        "duration_s": 3.0,
        "time_to_trough_s": 2.0,
        "recovery_s": 1.0,
        "recovered": 1,
    }


def test_drawdown_periods_top_and_empty():
    equity = [0.0, -1.0, 0.0, -3.0, 0.0, -2.0, 0.0]
    assert [p["depth"] for p in drawdown_periods(_ts(7), equity, 1.0, top=2)] == [-3.0, -2.0]
    assert drawdown_periods(_ts(7), equity, 1.0, top=0) == []
    assert drawdown_periods(_ts(3), [0.0, 1.0, 2.0], 1.0) == []
    with pytest.raises(ConfigError, match="top"):
        drawdown_periods(_ts(3), [0.0, 1.0, 2.0], 1.0, top=-1)
    with pytest.raises(InvalidValueError, match="differ"):
        drawdown_periods(_ts(2), [0.0, 1.0, 2.0], 1.0)


@pytest.mark.parametrize("seed", range(5))
def test_drawdown_periods_match_quantstats_drawdown_details(seed):
    # Arrange: a daily index so quantstats' day-granular details are comparable
    equity = np.concatenate(([0.0], np.cumsum(sample(seed, 300))))
    dd = underwater(equity, 1.0)
    index = pd.date_range("2024-01-01", periods=dd.size, freq="D")
    ts = index.as_unit("ns").asi8.astype(np.int64)

    # Act
    ours = drawdown_periods(ts, equity, 1.0, top=1_000)
    details = qs.stats.drawdown_details(pd.Series(dd, index=index))

    # Assert: same periods, depths and troughs; quantstats labels the first and last
    # underwater days, we label the peak and the recovery day (one day earlier / later)
    assert len(ours) == len(details)
    theirs = details.sort_values("max drawdown", kind="stable").reset_index(drop=True)
    for p, (_, row) in zip(ours, theirs.iterrows(), strict=True):
        assert close(p["depth"] * 100, row["max drawdown"])
        day = pd.Timestamp(p["trough_ts"]).strftime("%Y-%m-%d")
        assert day == row["valley"]
        start = pd.Timestamp(p["start_ts"]) + pd.Timedelta(days=1)
        assert start.strftime("%Y-%m-%d") == row["start"]


def test_drawdown_metrics_hand_worked():
    # Arrange
    equity = [0.0, -1.0, -4.0, 6.0, 3.0, 1.0, 2.0]

    # Act
    m = drawdown_metrics(_ts(7), equity, 100.0)

    # Assert
    assert m == {
        "max_drawdown": -0.05,
        "max_drawdown_quote": -5.0,
        "max_drawdown_duration_s": 3.0,
        "current_drawdown": -0.04,
        "n_drawdowns": 2,
        "time_underwater_frac": 5 / 7,
    }


def test_drawdown_metrics_without_drawdown_and_without_samples():
    up = drawdown_metrics(_ts(3), [0.0, 1.0, 2.0], 1.0)
    assert up["max_drawdown"] == 0.0
    assert up["max_drawdown_duration_s"] == 0.0
    assert up["n_drawdowns"] == 0
    empty = drawdown_metrics(_ts(0), [], 1.0)
    assert math.isnan(empty["max_drawdown"])
    assert empty["n_drawdowns"] == 0


@pytest.mark.shared_data
def test_real_lobster_drawdowns(shared_data):
    # Arrange: AMZN 2012-06-21, 100 shares held from 09:30:01
    from .lobster_inputs import lobster_inputs

    run = lobster_inputs(shared_data)
    ts, equity = run.equity["ts_recv"], run.equity["equity"]
    r = np.diff(equity) / run.capital

    # Act
    m = drawdown_metrics(ts, equity, run.capital)
    periods = drawdown_periods(ts, equity, run.capital, top=5)

    # Assert: the deepest period is the max drawdown; additive and compounded agree to
    # second order for a one-day buy and hold
    assert periods[0]["depth"] == m["max_drawdown"]
    assert m["max_drawdown"] == pytest.approx(max_drawdown(r), abs=1e-12)
    assert max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), abs=1e-3)
    assert [p["depth"] for p in periods] == sorted(p["depth"] for p in periods)
