"""Signal quality (issue 5, item 6): hand-worked values, scipy oracles, invariances, real data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.signal_quality import (
    DEFAULT_HORIZONS_NS,
    decay_half_life,
    forward_returns_bps,
    hit_rate,
    horizon_label,
    pearson_ic,
    rank_average,
    signal_decay,
    signal_metrics,
    spearman_ic,
)
from l2trader.errors import ConfigError
from l2trader.schema import SIGNAL_DTYPE, STATE_DTYPE

from .lobster_inputs import lobster_inputs

S = 1_000_000_000
T0 = 1_704_153_600 * S  # 2024-01-02 00:00 UTC
MID = np.array([100.0, 101.0, 100.0, 100.0, 102.0, 101.0, 101.0, 103.0, 102.0, 102.0, 104.0])
SCORE = np.array([1.0, -1.0, 0.0, 2.0, -1.0, np.nan, 3.0, 1.0, 1.0, 5.0])


def make_inputs(mid=MID, score=SCORE, *, with_market=True, step=S, horizon=S) -> RunInputs:
    ts = T0 + np.arange(mid.size, dtype=np.int64) * step
    equity = np.zeros(mid.size, STATE_DTYPE)
    equity["ts_recv"], equity["mid"] = ts, mid
    signals = np.zeros(score.size, SIGNAL_DTYPE)
    signals["ts_recv"], signals["score"] = ts[: score.size], score
    market = MarketSeries(
        ts=ts,
        mid=mid,
        spread=np.full(mid.size, 0.01),
        bid_depth=np.ones(mid.size),
        ask_depth=np.ones(mid.size),
        step_ns=step,
        depth_levels=1,
    )
    return RunInputs(
        run_id="r",
        config_id="c",
        code_version="v",
        data_fingerprint="d",
        tick_size=0.01,
        capital=1000.0,
        calendar="24/7",
        session_s=86_400.0,
        equity=equity,
        signals=signals,
        market=market if with_market else None,
        signal_horizon_ns=horizon,
    )


def fwd_1s() -> np.ndarray:
    return 1e4 * (MID[1:] - MID[:-1]) / MID[:-1]


def test_signal_metrics_hand_worked():
    inputs = make_inputs()

    m = signal_metrics(inputs, horizons_ns=(S,))

    assert m["signal_rows"] == 10
    assert m["signal_rows_opinion"] == 9
    assert m["signal_opinion_fraction"] == 0.9
    assert m["signal_rows_per_hour"] == 9 * 3600 / 10  # equity grid spans 10 s
    assert m["signal_long_fraction"] == 6 / 8  # nonzero scores: 1 -1 2 -1 3 1 1 5
    assert m["signal_sign_persistence"] == 3 / 7
    assert m["signal_abs_score_bps_mean"] == 15 / 9
    assert m["signal_abs_score_bps_p50"] == 1.0
    assert m["signal_abs_score_bps_p99"] == pytest.approx(3.0 + 0.92 * 2.0, abs=1e-12)
    # rows 2 (score 0), 5 (NaN) and 8 (flat mid) have no direction: 6 right of 7
    assert m["signal_hit_rate"] == 6 / 7
    assert m["signal_hit_rate_1s"] == 6 / 7
    assert m["signal_flat_move_fraction"] == 2 / 9
    assert m["signal_n_obs_1s"] == 9
    ok = np.isfinite(SCORE)
    rho = scipy.stats.spearmanr(SCORE[ok], fwd_1s()[ok]).statistic
    r = scipy.stats.pearsonr(SCORE[ok], fwd_1s()[ok]).statistic
    assert m["signal_ic_spearman"] == pytest.approx(rho, abs=1e-12)
    assert m["signal_ic_pearson"] == pytest.approx(r, abs=1e-12)
    assert m["signal_horizon_s"] == 1.0
    assert math.isnan(m["signal_decay_half_life_s"])  # one horizon: no fit


def test_signal_metrics_keys_per_default_horizon():
    m = signal_metrics(make_inputs())

    for label in ("100ms", "1s", "5s", "10s", "30s", "60s"):
        assert f"signal_ic_spearman_{label}" in m
        assert f"signal_ic_pearson_{label}" in m
        assert f"signal_hit_rate_{label}" in m
        assert f"signal_n_obs_{label}" in m
    # 10 s of data: a 30 s or 60 s forward return never exists
    assert m["signal_n_obs_30s"] == 0
    assert math.isnan(m["signal_ic_spearman_30s"])
    assert len(DEFAULT_HORIZONS_NS) == 6


def test_equity_mid_is_used_without_market():
    with_market = signal_metrics(make_inputs(), horizons_ns=(S, 2 * S))
    without = signal_metrics(make_inputs(with_market=False), horizons_ns=(S, 2 * S))

    assert without == pytest.approx(with_market, nan_ok=True)


def test_perfect_signal_has_unit_ic_and_hit_rate():
    fwd = fwd_1s()
    inputs = make_inputs(score=fwd)

    m = signal_metrics(inputs, horizons_ns=(S,))

    assert m["signal_ic_spearman"] == pytest.approx(1.0, abs=1e-12)
    assert m["signal_ic_pearson"] == pytest.approx(1.0, abs=1e-12)
    assert m["signal_hit_rate"] == 1.0


def test_empty_signals_give_nan_not_zero():
    inputs = make_inputs(score=np.zeros(0))

    m = signal_metrics(inputs, horizons_ns=(S,))

    assert m["signal_rows"] == 0
    assert m["signal_rows_per_hour"] == 0.0
    for key in (
        "signal_opinion_fraction",
        "signal_abs_score_bps_p50",
        "signal_ic_spearman",
        "signal_ic_pearson",
        "signal_hit_rate",
        "signal_flat_move_fraction",
        "signal_long_fraction",
        "signal_sign_persistence",
        "signal_decay_half_life_s",
    ):
        assert math.isnan(m[key]), key


def test_forward_returns_as_of_and_out_of_range():
    ts = np.array([10, 20, 30], dtype=np.int64)
    mid = np.array([100.0, 110.0, np.nan])
    t = np.array([5, 10, 15, 20, 25], dtype=np.int64)

    out = forward_returns_bps(ts, mid, t, 10)

    # t=5: before the first sample; t=15 -> m(15)=100, m(25)=110; t=20 -> m(30) is NaN;
    # t=25 -> 35 is after the last sample
    assert out[1] == 1000.0
    assert out[2] == 1000.0
    assert np.isnan(out[[0, 3, 4]]).all()


def test_horizon_labels():
    assert [horizon_label(h) for h in DEFAULT_HORIZONS_NS] == [
        "100ms",
        "1s",
        "5s",
        "10s",
        "30s",
        "60s",
    ]
    assert horizon_label(250_000) == "250us"


def test_hit_rate_leaves_out_zeros_and_needs_min_obs():
    assert hit_rate(np.array([1.0, -2.0, 3.0]), np.array([1.0, 1.0, 1.0])) == 2 / 3
    assert math.isnan(hit_rate(np.array([1.0, 0.0, 3.0]), np.array([1.0, 1.0, 0.0])))


def test_correlations_undefined_cases_are_nan():
    x = np.array([1.0, 2.0, 3.0, 4.0])

    assert math.isnan(pearson_ic(x, np.full(4, 2.0)))
    assert math.isnan(spearman_ic(np.full(4, 2.0), x))
    assert math.isnan(pearson_ic(x[:2], x[:2]))
    assert math.isnan(spearman_ic(np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, np.nan])))


def test_decay_half_life_exact_and_undefined():
    h = np.array([1.0, 2.0, 3.0, 5.0])
    ic = 0.3 * 2.0 ** (-h / 4.0)

    half, ic0 = decay_half_life(h, ic)

    assert half == pytest.approx(4.0, rel=1e-12)
    assert ic0 == pytest.approx(0.3, rel=1e-12)
    # rising IC: the peak is the last horizon, nothing to fit
    assert all(math.isnan(v) for v in decay_half_life(h, ic[::-1]))
    # flat IC: slope 0, not decaying, intercept kept
    flat_half, flat_ic0 = decay_half_life(h, np.full(4, 0.2))
    assert math.isnan(flat_half)
    assert flat_ic0 == pytest.approx(0.2, rel=1e-12)
    # one positive IC after the peak: no fit
    assert all(math.isnan(v) for v in decay_half_life(h, np.array([0.1, 0.2, -0.1, np.nan])))
    assert all(math.isnan(v) for v in decay_half_life(h, np.full(4, np.nan)))


def test_decay_fit_starts_at_the_peak_and_skips_negative_ics():
    h = np.array([0.1, 1.0, 2.0, 3.0, 10.0])
    ic = np.array([0.01, 0.2, 0.1, 0.05, -0.02])

    half, ic0 = decay_half_life(h, ic)

    assert half == pytest.approx(1.0, rel=1e-12)
    assert ic0 == pytest.approx(0.4, rel=1e-12)


def test_signal_decay_arrays_match_metrics():
    inputs = make_inputs()
    horizons = (S, 2 * S, 3 * S)

    decay = signal_decay(inputs, horizons)
    m = signal_metrics(inputs, horizons_ns=horizons)

    assert decay.horizons_ns.tolist() == list(horizons)
    assert decay.n_obs.tolist() == [9, 8, 7]
    assert decay.ic_spearman[0] == m["signal_ic_spearman_1s"]
    assert decay.ic_pearson[2] == m["signal_ic_pearson_3s"]
    assert decay.hit_rate[1] == m["signal_hit_rate_2s"]
    assert m["signal_decay_half_life_s"] == decay.half_life_s or math.isnan(decay.half_life_s)


samples = st.lists(
    st.tuples(st.integers(-5, 5), st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)),
    min_size=3,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(samples)
def test_ranks_and_ics_equal_scipy(pairs):
    x = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] for p in pairs], dtype=np.float64)

    assert rank_average(x).tolist() == scipy.stats.rankdata(x, method="average").tolist()
    if np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        assert math.isnan(spearman_ic(x, y))
        assert math.isnan(pearson_ic(x, y))
        return
    rho = scipy.stats.spearmanr(x, y).statistic
    assert spearman_ic(x, y) == pytest.approx(rho, abs=1e-12)
    if np.std(y) > 1e-6:
        assert pearson_ic(x, y) == pytest.approx(scipy.stats.pearsonr(x, y).statistic, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(samples, st.floats(0.01, 100.0), st.floats(-100.0, 100.0))
def test_ic_invariant_under_positive_affine_maps_and_odd_under_sign_flip(pairs, a, b):
    x = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] for p in pairs], dtype=np.float64)
    if np.ptp(x) == 0.0 or np.std(y) < 1e-6:
        return

    assert spearman_ic(a * x + b, y) == pytest.approx(spearman_ic(x, y), abs=1e-12)
    assert spearman_ic(np.exp(x), y) == pytest.approx(spearman_ic(x, y), abs=1e-12)
    assert pearson_ic(a * x + b, y) == pytest.approx(pearson_ic(x, y), abs=1e-9)
    assert spearman_ic(-x, y) == pytest.approx(-spearman_ic(x, y), abs=1e-12)


@pytest.mark.shared_data
def test_lobster_amzn_imbalance_signal(shared_data):
    inputs = lobster_inputs(shared_data)
    score = inputs.signals["score"]

    m = signal_metrics(inputs)

    assert m["signal_rows"] == 23_400
    assert m["signal_n_obs_1s"] == 23_399
    assert m["signal_n_obs_60s"] == 23_340
    # 100 ms is below the 1 s market grid: the as-of mid never moves, so IC is undefined
    assert math.isnan(m["signal_ic_spearman_100ms"])
    fwd = forward_returns_bps(inputs.market.ts, inputs.market.mid, inputs.signals["ts_recv"], S)
    ok = np.isfinite(fwd)
    rho = scipy.stats.spearmanr(score[ok], fwd[ok]).statistic
    assert m["signal_ic_spearman_1s"] == pytest.approx(rho, abs=1e-12)
    # level-1 imbalance predicts the next seconds of AMZN mid moves, and decays within a minute
    assert m["signal_ic_spearman_1s"] == pytest.approx(0.0796, abs=1e-4)
    assert m["signal_ic_spearman_5s"] == pytest.approx(0.0873, abs=1e-4)
    assert m["signal_hit_rate_1s"] == pytest.approx(0.5733, abs=1e-4)
    assert m["signal_decay_half_life_s"] == pytest.approx(7.595, abs=1e-3)


@pytest.mark.parametrize("horizons", [(0,), (-S,), (2 * S, S), (S, S)])
def test_bad_horizons_raise_config_error(horizons):
    with pytest.raises(ConfigError, match="horizons_ns"):
        signal_metrics(make_inputs(), horizons_ns=horizons)


def test_non_positive_signal_horizon_raises_config_error():
    with pytest.raises(ConfigError, match="signal_horizon_ns"):
        signal_metrics(make_inputs(horizon=0))
