"""Signal evaluation against scipy / plain-Python oracles and hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from l2trader.errors import ConfigError, InvalidValueError
from l2trader.signals.evaluate import (
    DecayCurve,
    EvaluationReport,
    ICSummary,
    evaluate_signal,
    half_life_ns,
    hit_rate,
    ic_by_horizon,
    ic_series,
    ic_summary,
    information_coefficient,
    turnover,
)

S = 1_000_000_000
NAN = math.nan

# few distinct values -> many ties; NaN and inf rows are dropped pairwise
VALUES = st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, NAN, math.inf])
PAIRS = st.lists(st.tuples(VALUES, VALUES), max_size=30)


def scipy_ic(x: np.ndarray, y: np.ndarray, method: str) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return NAN  # scipy also gives NaN here, with a ConstantInputWarning
    fn = stats.spearmanr if method == "spearman" else stats.pearsonr
    return float(fn(x, y)[0])


def loop_hit_rate(x, y) -> float:
    hits = calls = 0
    for a, b in zip(x, y, strict=True):
        if math.isfinite(a) and math.isfinite(b) and a != 0 and b != 0:
            calls += 1
            hits += (a > 0) == (b > 0)
    return hits / calls if calls >= 3 else NAN


def assert_same(got: float, expected: float) -> None:
    assert isinstance(got, float)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("method", ["spearman", "pearson"])
@settings(max_examples=200, deadline=None)
@given(pairs=PAIRS)
def test_ic_equals_scipy(method, pairs) -> None:
    x = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] for p in pairs], dtype=np.float64)

    got = information_coefficient(x, y, method=method)

    assert_same(got, scipy_ic(x, y, method))


@settings(max_examples=200, deadline=None)
@given(pairs=PAIRS)
def test_hit_rate_equals_plain_loop(pairs) -> None:
    x = [p[0] for p in pairs]
    y = [p[1] for p in pairs]

    got = hit_rate(np.array(x), np.array(y))

    assert_same(got, loop_hit_rate(x, y))


def test_ic_exact_values() -> None:
    up = np.array([1.0, 2.0, 3.0, 4.0])

    assert information_coefficient(up, up * 10) == 1.0
    assert information_coefficient(up, -up) == -1.0
    tied = information_coefficient(up, [1.0, 1.0, 2.0, 2.0])  # ranks 1.5 1.5 3.5 3.5
    assert tied == pytest.approx(4.0 / math.sqrt(5.0 * 4.0), rel=1e-12)
    assert information_coefficient(up, [0.1, 0.5, 0.4, np.nan]) == 0.5
    pearson = information_coefficient(up, [1.0, 2.0, 4.0, 8.0], method="pearson")
    assert pearson == pytest.approx(11.5 / math.sqrt(5.0 * 28.75), rel=1e-12)


def test_ic_is_nan_without_enough_pairs_or_with_constant_input() -> None:
    assert math.isnan(information_coefficient([1.0, 2.0, np.nan], [1.0, 2.0, 3.0]))
    assert math.isnan(information_coefficient([], []))
    assert math.isnan(information_coefficient([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(information_coefficient([0.1, 0.1, 0.1], [1.0, 2.0, 3.0], "pearson"))


def test_ic_bad_input_raises() -> None:
    with pytest.raises(ConfigError, match="method must be"):
        information_coefficient([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], method="kendall")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="lengths differ: 3 != 2"):
        information_coefficient([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(InvalidValueError, match="1-d numeric"):
        information_coefficient(np.ones((2, 2)), np.ones((2, 2)))


def test_hit_rate_exact_values() -> None:
    score = [1.0, -1.0, 2.0, 0.0, 3.0, np.nan, -4.0]
    fwd = [0.5, 0.5, 1.0, 1.0, -2.0, 1.0, -0.1]

    assert hit_rate(score, fwd) == 0.6  # zero score and NaN rows are not calls: 3 of 5
    assert math.isnan(hit_rate([1.0, 1.0, 1.0], [1.0, 0.0, 2.0]))  # 2 outcomes < 3


def test_half_life_of_exact_exponential_decay() -> None:
    horizons = np.array([100_000_000, S, 2 * S, 5 * S, 10 * S, 30 * S, 60 * S])
    tau = 4 * S  # IC halves every 4 s after the peak at 100 ms
    ic = 0.3 * 2.0 ** (-(horizons - horizons[0]) / tau)
    curve = DecayCurve(horizons, ic, np.full(7, NAN), np.full(7, 100))

    got = half_life_ns(curve)

    assert got == pytest.approx(4.1 * S, rel=1e-12)


def test_half_life_after_a_rising_start_and_for_negative_ic() -> None:
    horizons = np.array([1, 2, 3, 4, 5]) * S
    ic = np.array([0.05, 0.2, 0.2 * 2**-0.5, 0.2 * 2**-1.0, 0.2 * 2**-1.5])

    rising = half_life_ns(DecayCurve(horizons, ic, ic, np.ones(5)))
    negative = half_life_ns(DecayCurve(horizons, -ic, ic, np.ones(5)))

    assert rising == pytest.approx(4 * S, rel=1e-12)  # peak at 2 s, halves by 4 s
    assert negative == pytest.approx(4 * S, rel=1e-12)


@pytest.mark.parametrize(
    ("ic", "expected_s"),
    [
        ([0.4, 0.3, -0.1], 2.25),  # sign flip: linear between 0.3 @ 2 s and -0.1 @ 3 s
        ([0.4, np.nan, 0.1], 2.0),  # NaN skipped: log-linear between 1 s and 3 s
        ([0.4, 0.3, 0.25], NAN),  # never halves
        ([np.nan, np.nan, np.nan], NAN),
        ([0.0, 0.0, 0.0], NAN),
        ([0.4, 0.2, 0.1], 2.0),  # exactly half at a measured horizon
    ],
)
def test_half_life_edge_cases(ic, expected_s) -> None:
    curve = DecayCurve(np.array([1, 2, 3]) * S, np.array(ic), np.zeros(3), np.ones(3))

    got = half_life_ns(curve)

    assert_same(got / S, expected_s)


@pytest.mark.parametrize(
    ("score", "scale", "expected"),
    [
        ([1.0, 1.0, 1.0], None, 0.0),
        ([1.0, -1.0, 1.0, -1.0], None, 2.0),
        ([2.0, 0.5, 3.0, -0.1], None, 2.0 / 3.0),
        ([np.nan, 1.0, np.nan], None, 1.0),  # NaN = no opinion = flat
        ([0.0, 5.0, 10.0, -10.0], 10.0, 1.0),
        ([0.0, 2.5, 20.0], 10.0, 0.5),  # clipped at +1
        ([np.inf, -np.inf], 10.0, 2.0),
        ([1.0], None, NAN),
        ([], None, NAN),
    ],
)
def test_turnover_hand_made(score, scale, expected) -> None:
    got = turnover(np.array(score, dtype=np.float64), scale=scale)

    assert_same(got, expected)


def test_turnover_bad_scale() -> None:
    with pytest.raises(ConfigError, match="scale must be > 0"):
        turnover([1.0, 2.0], scale=0.0)


def test_ic_by_horizon_drops_nan_per_horizon() -> None:
    score = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    labels = np.array(
        [[1.0, 5.0], [2.0, 4.0], [3.0, np.nan], [4.0, 2.0], [np.nan, 1.0]], dtype=np.float64
    )

    curve = ic_by_horizon(score, labels, [S, 10 * S])

    assert curve.horizons_ns.tolist() == [S, 10 * S]
    assert curve.ic.tolist() == [1.0, -1.0]
    assert curve.hit_rate.tolist() == [1.0, 1.0]  # every sign positive on both sides
    assert curve.n.tolist() == [4, 4]
    assert curve.n.dtype == np.int64


@pytest.mark.parametrize("horizons", [[2, 1], [1, 1], [0, 1], [1], [1.0, 2.0]])
def test_ic_by_horizon_bad_horizons(horizons) -> None:
    with pytest.raises(ConfigError, match="horizons_ns"):
        ic_by_horizon([1.0, 2.0, 3.0], np.zeros((3, 2)), horizons)


def test_ic_by_horizon_bad_labels_shape() -> None:
    with pytest.raises(InvalidValueError, match=r"labels must be f8\[3, H\]"):
        ic_by_horizon([1.0, 2.0, 3.0], np.zeros((4, 2)), [1, 2])


def test_ic_series_exact_buckets() -> None:
    ts = np.array([5, 6, 7, 8, 25, 26, 27, 41], dtype=np.int64)
    score = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 1.0])
    fwd = np.array([1.0, 2.0, 4.0, 3.0, 3.0, 2.0, 1.0, 1.0])

    start, ic = ic_series(ts, score, fwd, bucket_ns=10)

    assert start.tolist() == [0, 20, 40]  # epoch-aligned; the empty bucket 10 is absent
    assert ic[0] == pytest.approx(0.8)
    assert ic[1] == -1.0
    assert math.isnan(ic[2])  # one pair < 3
    assert start.dtype == np.int64
    assert ic.dtype == np.float64


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 100), VALUES, VALUES), max_size=40),
    bucket_ns=st.integers(1, 30),
)
def test_ic_series_equals_per_bucket_scipy(rows, bucket_ns) -> None:
    rows.sort(key=lambda r: r[0])
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    x = np.array([r[1] for r in rows], dtype=np.float64)
    y = np.array([r[2] for r in rows], dtype=np.float64)

    start, ic = ic_series(ts, x, y, bucket_ns)

    keys = sorted({t // bucket_ns * bucket_ns for t in ts.tolist()})
    assert start.tolist() == keys
    for b, got in zip(keys, ic.tolist(), strict=True):
        inside = (ts >= b) & (ts < b + bucket_ns)
        assert_same(got, scipy_ic(x[inside], y[inside], "spearman"))


def test_ic_series_bad_input() -> None:
    with pytest.raises(ConfigError, match="bucket_ns must be > 0"):
        ic_series([0, 1, 2], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0)
    with pytest.raises(InvalidValueError, match="non-decreasing"):
        ic_series([0, 2, 1], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 10)


def test_ic_summary_exact() -> None:
    summary = ic_summary([0.25, 0.75, np.nan, 0.5])

    assert summary == ICSummary(0.5, 0.25, 2.0 * math.sqrt(3.0), 3)
    assert math.isnan(ic_summary([0.1, 0.2]).mean)
    assert ic_summary([0.1, 0.2]).n_buckets == 2
    flat = ic_summary([0.1, 0.1, 0.1])
    assert flat.std == 0.0
    assert math.isnan(flat.t_stat)


def make_report() -> EvaluationReport:
    ts = np.array([0, 1, 2, 3, 10, 11, 12, 13], dtype=np.int64) * S
    score = np.array([1.0, 2.0, 3.0, 4.0, -1.0, -2.0, np.nan, -4.0])
    labels = np.array(
        [[1, 4], [2, 3], [3, 2], [4, 1], [-1, 1], [-2, 2], [-3, 3], [-4, 4]], dtype=np.float64
    )
    return evaluate_signal(ts, score, labels, [S, 5 * S], bucket_ns=10 * S)


def test_evaluate_signal_bundles_every_statistic() -> None:
    report = make_report()

    assert report.n_rows == 8
    assert report.n_scored == 7  # the NaN score row is dropped pairwise
    ic_5s = -0.4221782814732527  # scipy.stats.spearmanr on the 7 valid rows
    assert report.decay.ic.tolist() == [1.0, pytest.approx(ic_5s, rel=1e-12)]
    assert report.decay.hit_rate.tolist() == [1.0, 4 / 7]
    assert report.decay.n.tolist() == [7, 7]
    # peak 1.0 @ 1 s, -0.42 @ 5 s is <= 0: linear interpolation to 0.5
    assert report.half_life_ns == pytest.approx(S + 4 * S * 0.5 / (1.0 - ic_5s), rel=1e-12)
    assert report.turnover == 4 / 7  # sign: 1 1 1 1 -1 -1 0 -1 -> |diff| 0 0 0 2 0 1 1
    assert report.bucket_start_ns.tolist() == [0, 10 * S]
    assert report.bucket_ic.tolist() == [[1.0, -1.0], [1.0, -1.0]]
    assert [s.n_buckets for s in report.stability] == [2, 2]
    assert math.isnan(report.stability[0].mean)  # 2 buckets < 3


def test_report_to_dict_is_json_safe() -> None:
    report = make_report()

    data = report.to_dict()
    text = json.dumps(data, allow_nan=False)

    assert json.loads(text) == data
    assert (data["n_rows"], data["n_scored"], data["bucket_ns"]) == (8, 7, 10 * S)
    assert data["turnover"] == 4 / 7
    assert data["horizons"][0] == {
        "horizon_ns": S,
        "ic": 1.0,
        "hit_rate": 1.0,
        "n": 7,
        "ic_mean": None,  # NaN -> None
        "ic_std": None,
        "ic_t_stat": None,
        "n_buckets": 2,
    }
    assert data["bucket_start_ns"] == [0, 10 * S]
    assert data["bucket_ic"] == [[1.0, -1.0], [1.0, -1.0]]
    assert all(type(v) is float for v in (data["half_life_ns"], data["horizons"][1]["ic"]))


def test_to_dict_turns_nan_into_none() -> None:
    ts = np.arange(4, dtype=np.int64)
    report = evaluate_signal(ts, np.full(4, np.nan), np.ones((4, 1)), [1], bucket_ns=2)

    data = report.to_dict()

    assert data["half_life_ns"] is None
    assert data["horizons"][0]["ic"] is None
    assert data["bucket_ic"] == [[None], [None]]
    assert data["turnover"] == 0.0  # all flat


def test_functions_do_not_mutate_inputs() -> None:
    ts = np.arange(10, dtype=np.int64)
    score = np.array([3.0, np.nan, 1.0, 2.0, 2.0, -1.0, 0.0, 5.0, 4.0, np.inf])
    labels = np.column_stack([score[::-1], score * 2])
    copies = [ts.copy(), score.copy(), labels.copy()]

    evaluate_signal(ts, score, labels, [1, 2], bucket_ns=5)
    information_coefficient(score, labels[:, 0])
    turnover(score, scale=2.0)

    for before, after in zip(copies, [ts, score, labels], strict=True):
        np.testing.assert_array_equal(before, after)
