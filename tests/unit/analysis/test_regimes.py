"""Regimes (issue 5, item 8): hand-worked terciles, pandas/empyrical oracles, real data."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.regimes import (
    label_periods,
    regime_metrics,
    regime_table,
    tercile_labels,
    trailing_realized_vol_bps,
)
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import STATE_DTYPE

from .lobster_inputs import lobster_inputs

S = 1_000_000_000
T0 = 1_704_153_600 * S + 3598 * S  # 2024-01-02 00:59:58 UTC: periods straddle hours 0 and 1
EQUITY = np.array([0.0, 1.0, 3.0, 2.0, 2.0, 5.0, 4.0])
SPREAD_TICKS = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0])
DEPTH = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 9.0])
PPY_1S = 365 * 86_400.0


def make_inputs(
    equity=EQUITY, *, with_market=True, capital=100.0, mid=None, spread=SPREAD_TICKS, depth=DEPTH
) -> RunInputs:
    n = equity.size
    ts = T0 + np.arange(n, dtype=np.int64) * S
    mid = np.linspace(100.0, 101.0, n) if mid is None else mid
    state = np.zeros(n, STATE_DTYPE)
    state["ts_recv"], state["mid"], state["equity"] = ts, mid, equity
    market = MarketSeries(
        ts=ts,
        mid=mid,
        spread=spread * 0.01,
        bid_depth=depth / 2,
        ask_depth=depth / 2,
        step_ns=S,
        depth_levels=1,
    )
    return RunInputs(
        run_id="r",
        config_id="c",
        code_version="v",
        data_fingerprint="d",
        tick_size=0.01,
        capital=capital,
        calendar="24/7",
        session_s=86_400.0,
        equity=state,
        market=market if with_market else None,
    )


def by_key(rows):
    return {(r["dimension"], r["regime"]): r for r in rows}


def test_regime_table_hand_worked():
    rows = by_key(regime_table(make_inputs()))

    # spread at period starts 1 1 2 2 3 3 ticks -> edges 5/3 and 7/3; pnl 1 2 | -1 0 | 3 -1
    low, mid, high = (rows[("spread", n)] for n in ("low", "mid", "high"))
    assert (low["periods"], low["pnl"], low["hit_rate"]) == (2, 3.0, 1.0)
    assert (mid["periods"], mid["pnl"], mid["hit_rate"]) == (2, -1.0, 0.0)
    assert (high["periods"], high["pnl"], high["hit_rate"]) == (2, 2.0, 0.5)
    assert low["upper"] == pytest.approx(5 / 3, abs=1e-12)
    assert high["lower"] == pytest.approx(7 / 3, abs=1e-12)
    assert low["mean_return"] == pytest.approx(0.015, abs=1e-15)
    expected = empyrical.sharpe_ratio(pd.Series([0.01, 0.02]), annualization=PPY_1S)
    assert low["sharpe"] == pytest.approx(expected, rel=1e-8)
    # depth 5 4 3 2 1 0 -> low = periods 4, 5 (pnl 3 - 1), high = periods 0, 1 (pnl 1 + 2)
    assert rows[("depth", "low")]["pnl"] == 2.0
    assert rows[("depth", "high")]["pnl"] == 3.0
    # hours: starts at 00:59:58, 00:59:59, then 01:00:00 ...
    assert rows[("hour", "utc00")]["periods"] == 2
    assert rows[("hour", "utc00")]["pnl"] == 3.0
    assert rows[("hour", "utc01")]["periods"] == 4
    assert rows[("hour", "utc01")]["pnl"] == 1.0
    assert (rows[("hour", "utc01")]["lower"], rows[("hour", "utc01")]["upper"]) == (1.0, 2.0)


def test_regime_metrics_flatten_the_table():
    inputs = make_inputs()

    m = regime_metrics(inputs)
    rows = regime_table(inputs)

    for row in rows:
        for stat in ("periods", "pnl", "mean_return", "sharpe", "hit_rate"):
            key = f"regime_{row['dimension']}_{row['regime']}_{stat}"
            assert m[key] == row[stat] or (math.isnan(m[key]) and math.isnan(row[stat]))
    assert m["regime_spread_q33_ticks"] == pytest.approx(5 / 3, abs=1e-12)
    assert m["regime_depth_q67_qty"] == pytest.approx(10 / 3, abs=1e-12)
    assert m["regime_spread_unlabelled"] == 0
    assert m["regime_volatility_unlabelled"] == 6  # 7 s of data, 60 s window: all warm-up
    assert m["regime_vol_window_s"] == 60.0


def test_volatility_terciles_with_a_short_window():
    mid = 100.0 * np.exp(np.cumsum([0.0, 1e-4, -3e-4, 2e-4, 5e-4, -1e-4, 4e-4]))

    lab = label_periods(make_inputs(mid=mid), vol_window_ns=2 * S)

    # period starts 0..5 s; a 2 s window is full from t = 2 s: vols at 2..5 s
    expected = 1e4 * np.sqrt(np.array([1e-8 + 9e-8, 9e-8 + 4e-8, 4e-8 + 25e-8, 25e-8 + 1e-8]))
    assert np.isnan(lab.features["volatility"][:2]).all()
    np.testing.assert_allclose(lab.features["volatility"][2:], expected, rtol=1e-9)
    assert lab.labels["volatility"].tolist() == [-1, -1, 0, 0, 2, 1]


def test_without_market_spread_and_depth_are_unlabelled():
    rows = regime_table(make_inputs(with_market=False))
    m = regime_metrics(make_inputs(with_market=False))

    assert {r["dimension"] for r in rows} == {"hour"}
    assert m["regime_spread_unlabelled"] == 6
    assert m["regime_depth_unlabelled"] == 6
    assert math.isnan(m["regime_spread_q33_ticks"])


def test_undefined_capital_gives_nan_returns_but_exact_pnl():
    rows = by_key(regime_table(make_inputs(capital=float("nan"))))

    assert rows[("spread", "low")]["pnl"] == 3.0
    assert math.isnan(rows[("spread", "low")]["mean_return"])
    assert math.isnan(rows[("spread", "low")]["sharpe"])
    assert rows[("spread", "low")]["hit_rate"] == 1.0  # from the PnL signs


def test_short_or_broken_equity_grid():
    assert regime_table(make_inputs(EQUITY[:1])) == []
    assert regime_metrics(make_inputs(EQUITY[:1])) == {"regime_vol_window_s": 60.0}
    bad = make_inputs()
    bad.equity["ts_recv"][3] = bad.equity["ts_recv"][2]
    with pytest.raises(InvalidValueError):
        regime_table(bad)


def test_tercile_ties_fall_low_and_all_nan_is_unlabelled():
    labels, edges = tercile_labels(np.array([1.0, 1.0, 1.0, 1.0, 2.0]))
    assert labels.tolist() == [0, 0, 0, 0, 2]
    assert edges == (1.0, 1.0)

    labels, edges = tercile_labels(np.full(3, np.nan))
    assert labels.tolist() == [-1, -1, -1]
    assert all(math.isnan(e) for e in edges)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 5_000), min_size=2, max_size=60),
    st.integers(1, 20_000),
    st.integers(0, 2**32 - 1),
)
def test_trailing_vol_equals_pandas_time_rolling(gaps, window, seed):
    ts = np.concatenate(([0], np.cumsum(gaps))).astype(np.int64)
    mid = 100.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, 1e-3, ts.size)))

    ours = trailing_realized_vol_bps(ts, mid, window)

    sq = pd.Series(np.diff(np.log(mid)) ** 2, index=pd.to_datetime(ts[1:]))
    rolled = sq.rolling(pd.Timedelta(window, "ns")).sum().to_numpy()
    expected = np.concatenate(([np.nan], 1e4 * np.sqrt(np.maximum(rolled, 0.0))))
    expected[ts - ts[0] < window] = np.nan
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_trailing_vol_nan_mid_blanks_windows_that_touch_it():
    ts = np.arange(6, dtype=np.int64) * 10
    mid = np.array([100.0, 101.0, np.nan, 101.0, 100.0, 100.0])

    out = trailing_realized_vol_bps(ts, mid, 20)

    # returns at 20 and 30 are NaN; windows (t - 20, t] for t = 20, 30, 40 touch them
    assert np.isnan(out[:5]).all()
    assert out[5] == pytest.approx(1e4 * abs(np.log(100.0 / 101.0)), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 80))
def test_regimes_partition_the_labelled_periods(seed, n):
    rng = np.random.default_rng(seed)
    inputs = make_inputs(
        np.cumsum(rng.normal(0.0, 1.0, n)),
        mid=100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n))),
        spread=rng.integers(1, 4, n).astype(np.float64),
        depth=rng.uniform(0.0, 10.0, n),
    )

    lab = label_periods(inputs, vol_window_ns=3 * S)
    rows = regime_table(inputs, vol_window_ns=3 * S)

    for dim in ("volatility", "spread", "depth", "hour"):
        mine = [r for r in rows if r["dimension"] == dim]
        labelled = lab.labels[dim] >= 0
        assert sum(r["periods"] for r in mine) == np.count_nonzero(labelled)
        assert sum(r["pnl"] for r in mine) == pytest.approx(lab.pnl[labelled].sum(), abs=1e-9)


@pytest.mark.shared_data
def test_lobster_amzn_regimes(shared_data):
    inputs = lobster_inputs(shared_data)

    rows = by_key(regime_table(inputs))
    m = regime_metrics(inputs)

    assert m["regime_volatility_unlabelled"] == 60  # the first minute warms the 60 s window
    assert sum(rows[("volatility", n)]["periods"] for n in ("low", "mid", "high")) == 23_339
    assert sum(rows[("hour", f"utc{h}")]["periods"] for h in range(13, 20)) == 23_399
    assert sum(rows[("hour", f"utc{h}")]["pnl"] for h in range(13, 20)) == pytest.approx(
        inputs.equity["equity"][-1], abs=1e-6
    )
    assert m["regime_spread_q33_ticks"] == 10.0
    assert m["regime_spread_q67_ticks"] == 14.0
    assert m["regime_depth_q33_qty"] == 200.0
    assert m["regime_depth_q67_qty"] == 321.0
    assert m["regime_volatility_q33_bps"] == pytest.approx(4.6282, abs=1e-4)
    assert rows[("volatility", "mid")]["pnl"] == pytest.approx(270.5, abs=1e-6)


def test_non_positive_vol_window_raises_config_error():
    with pytest.raises(ConfigError, match="vol_window_ns"):
        regime_metrics(make_inputs(), vol_window_ns=0)
