"""analysis.kernels and the fast paths built on them: each equals its numpy oracle exactly.

The oracles are the numpy expressions the kernels replaced (benchmarks/bench_analysis.py:
1M fills and 10M equity rows). Results must be bit-identical (``==``), except the moments
(``d*d*d`` instead of ``d**3``) and the historical CVaR means (summed in sorted order instead
of a partition's order), which agree to a few ulps.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis import kernels, returns, risk, signal_quality
from l2trader.analysis.regimes import _groups, tercile_labels, trailing_realized_vol_bps
from l2trader.errors import InvalidValueError
from l2trader.schema import STATE_DTYPE

times = st.lists(st.integers(-50, 50), min_size=0, max_size=40)
floats = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(times, times)
def test_searchsorted_right_equals_numpy_for_any_query_order(a: list[int], v: list[int]) -> None:
    arr, q = np.sort(np.array(a, np.int64)), np.array(v, np.int64)

    got = kernels.searchsorted_right_nb(arr, q)

    assert got.tolist() == np.searchsorted(arr, q, side="right").tolist()


def _grid_step_oracle(ts: np.ndarray) -> tuple[int, int, int]:
    gaps = np.diff(ts)
    bad = np.flatnonzero(gaps <= 0)
    if bad.size:
        return int(gaps[bad[0]]), int(bad[0]) + 1, 1
    step = int(gaps.min())
    off = np.flatnonzero(np.remainder(gaps, step))
    return step, (int(off[0]) + 1 if off.size else -1), (2 if off.size else 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 12), min_size=1, max_size=30))
def test_grid_check_equals_numpy(gaps: list[int]) -> None:
    ts = np.concatenate(([0], np.cumsum(gaps))).astype(np.int64)

    assert kernels.grid_check_nb(ts) == _grid_step_oracle(ts)


def test_grid_step_error_names_the_row() -> None:
    with pytest.raises(InvalidValueError, match="not a multiple of the 10 ns") as info:
        returns.grid_step_ns(np.array([0, 10, 20, 35], np.int64))
    assert info.value.line == 3


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-0.9, 2.0), min_size=1, max_size=40), st.booleans())
def test_drawdown_min_equals_numpy(r: list[float], compounded: bool) -> None:
    x = np.array(r)
    if compounded:
        wealth = np.concatenate(([1.0], np.cumprod(1.0 + x)))
        peak = np.maximum.accumulate(wealth)
        want = float(np.min((wealth - peak) / peak))
    else:
        wealth = np.concatenate(([1.0], 1.0 + np.cumsum(x)))
        want = float(np.min(wealth - np.maximum.accumulate(wealth)))

    assert kernels.drawdown_min_nb(x, compounded) == want


def _vol_oracle(ts: np.ndarray, mid: np.ndarray, window_ns: int) -> np.ndarray:
    n = ts.size
    out = np.full(n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(mid))
    bad = ~np.isfinite(r)
    sq = np.concatenate(([0.0], np.cumsum(np.where(bad, 0.0, r * r))))
    nbad = np.concatenate(([0], np.cumsum(bad)))
    lo = np.maximum(np.searchsorted(ts, ts - window_ns, side="right") - 1, 0)
    idx = np.arange(n)
    total = np.maximum(sq[idx] - sq[lo], 0.0)
    ok = (ts - ts[0] >= window_ns) & (nbad[idx] - nbad[lo] == 0)
    out[ok] = 1e4 * np.sqrt(total[ok])
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 5), min_size=2, max_size=40),
    st.lists(st.floats(90.0, 110.0) | st.just(float("nan")), min_size=41, max_size=41),
    st.integers(1, 20),
)
def test_realized_vol_equals_numpy(gaps: list[int], mids: list[float], window: int) -> None:
    ts = np.concatenate(([0], np.cumsum(gaps))).astype(np.int64)
    mid = np.array(mids[: ts.size])

    got = trailing_realized_vol_bps(ts, mid, window)

    np.testing.assert_array_equal(got, _vol_oracle(ts, mid, window))


def test_streaks_take_and_terciles() -> None:
    assert kernels.streaks_nb(np.array([1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 0.0]), 1.0) == 3
    got = kernels.take_or_nan_nb(np.array([5.0, 6.0]), np.array([1, -1, 0], np.int64))
    np.testing.assert_array_equal(got, [6.0, np.nan, 5.0])
    codes = kernels.tercile_codes_nb(np.array([1.0, 2.0, 3.0, np.inf, np.nan]), 1.0, 2.0)
    assert codes.tolist() == [0, 1, 2, -1, -1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1, 4), max_size=50))
def test_group_rows_equals_flatnonzero(codes: list[int]) -> None:
    c = np.array(codes, np.int64)

    groups = _groups(c, 4)

    assert [g.tolist() for g in groups] == [np.flatnonzero(c == k).tolist() for k in range(4)]


def test_tercile_labels_match_the_where_oracle() -> None:
    x = np.random.default_rng(3).normal(size=1001)
    x[::97] = np.nan

    labels, (q33, q67) = tercile_labels(x)

    ok = np.isfinite(x)
    want = np.full(x.shape, -1)
    want[ok] = np.where(x[ok] <= q33, 0, np.where(x[ok] <= q67, 1, 2))
    assert labels.tolist() == want.tolist()


def _rank_oracle(x: np.ndarray) -> np.ndarray:
    """The mergesort grouping ``rank_average`` had before the kernel."""
    n = x.size
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.empty(n, dtype=np.bool_)
    new[:1] = True
    new[1:] = xs[1:] != xs[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    ranks = np.empty(n)
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(new) - 1]
    return ranks


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3).map(float), max_size=40))
def test_rank_average_equals_mergesort_grouping(values: list[float]) -> None:
    x = np.array(values)

    np.testing.assert_array_equal(signal_quality.rank_average(x), _rank_oracle(x))


def _forward_oracle(ts: np.ndarray, mid: np.ndarray, t: np.ndarray, h: int) -> np.ndarray:
    out = np.full(t.shape, np.nan)
    start = np.searchsorted(ts, t, side="right") - 1
    end = np.searchsorted(ts, t + h, side="right") - 1
    ok = (start >= 0) & (t + h <= ts[-1])
    ok[ok] = mid[start[ok]] > 0.0
    m0 = mid[start[ok]]
    with np.errstate(over="ignore"):  # a subnormal start mid overflows to inf, as in the kernel
        out[ok] = 1e4 * (mid[end[ok]] - m0) / m0
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 60), min_size=1, max_size=30),
    st.lists(st.floats(0.0, 10.0) | st.just(float("nan")), min_size=12, max_size=12),
    st.integers(1, 25),
)
def test_forward_returns_equal_numpy(t: list[int], mids: list[float], h: int) -> None:
    ts = np.arange(0, 60, 5, dtype=np.int64)
    mid, q = np.array(mids), np.array(t, np.int64)

    got = signal_quality.forward_returns_bps(ts, mid, q, h)

    np.testing.assert_array_equal(got, _forward_oracle(ts, mid, q, h))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-4, 4).map(float) | st.just(float("nan")), min_size=5, max_size=40))
def test_horizon_ics_equal_the_public_functions(values: list[float]) -> None:
    rng = np.random.default_rng(len(values))
    score = np.array(values)
    fwd = np.where(rng.random(score.size) < 0.2, np.nan, rng.integers(-2, 3, score.size) * 1.0)

    n, ic_s, ic_p, hit = signal_quality._horizon_ics(score, np.argsort(score), fwd)

    assert n == int(np.count_nonzero(np.isfinite(score) & np.isfinite(fwd)))
    for got, want in (
        (ic_s, signal_quality.spearman_ic(score, fwd)),
        (ic_p, signal_quality.pearson_ic(score, fwd)),
        (hit, signal_quality.hit_rate(score, fwd)),
    ):
        assert got == want or (np.isnan(got) and np.isnan(want))


@settings(max_examples=80, deadline=None)
@given(st.lists(floats, min_size=2, max_size=50), st.floats(0.0, 100.0))
def test_percentile_sorted_equals_numpy(values: list[float], pct: float) -> None:
    s = np.sort(np.array(values))

    assert risk.percentile_sorted(s, pct) == float(np.percentile(s, pct))


def test_tail_metrics_equal_the_public_functions() -> None:
    r = np.random.default_rng(11).standard_t(3, size=20_001) * 1e-3
    r[::50] = 0.0  # ties at the quantiles

    tail = risk._tail_metrics(r)

    for level in risk.RISK_LEVELS:
        pct = round(level * 100)
        for method in risk.RISK_METHODS:
            assert tail[f"var_{pct}_{method}"] == risk.value_at_risk(r, level, method)
            want = risk.conditional_value_at_risk(r, level, method)
            assert tail[f"cvar_{pct}_{method}"] == pytest.approx(want, rel=1e-13)
        qs = risk.conditional_value_at_risk(r, level, "historical", convention="quantstats")
        assert tail[f"cvar_{pct}_historical_quantstats"] == pytest.approx(qs, rel=1e-13)
    assert tail["tail_ratio"] == risk.tail_ratio(r)


def test_moments_agree_with_numpy_powers() -> None:
    r = np.random.default_rng(5).lognormal(size=10_001) * 1e-3
    d = r - r.mean()
    m2 = np.mean(d**2)

    assert risk.skewness(r) == pytest.approx(np.mean(d**3) / m2**1.5, rel=1e-12)
    assert risk.excess_kurtosis(r) == pytest.approx(np.mean(d**4) / m2**2 - 3.0, rel=1e-12)
    assert risk._moments(r)[1] == float(np.std(r, ddof=1))


def test_memo_computes_once_and_returns_read_only_arrays() -> None:
    eq = np.zeros(4, STATE_DTYPE)
    eq["ts_recv"] = [0, 10, 20, 30]
    eq["equity"] = [0.0, 1.0, 3.0, 2.0]

    with returns.memo():
        first = returns.grid_returns(eq, 10.0)
        second = returns.grid_returns(eq, 10.0)
        col = returns.column(eq, "equity")
    outside = returns.grid_returns(eq, 10.0)

    assert first is second
    assert not first[1].flags.writeable
    assert not col.flags.writeable
    assert outside is not first
    assert outside[1].flags.writeable
    assert outside[1].tolist() == first[1].tolist() == [0.1, 0.2, -0.1]
