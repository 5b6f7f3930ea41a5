"""Forward-return labels against a brute-force loop, plus leakage and edge cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.errors import ConfigError, InvalidValueError, OutOfOrderError
from l2trader.features.clocks import ClockSpec, make_clock
from l2trader.features.labels import forward_return_bps, label_columns

MS = 1_000_000
S = 1_000_000_000


def brute_force(book_ts, book_mid, sample_ts, sample_mid, horizons) -> np.ndarray:
    """Scan the book from the start for the first row at or after t + h."""
    out = np.full((len(sample_ts), len(horizons)), np.nan)
    for i, (t, m0) in enumerate(zip(sample_ts.tolist(), sample_mid.tolist(), strict=True)):
        for k, h in enumerate(horizons):
            for j, bt in enumerate(book_ts.tolist()):
                if bt >= t + h:
                    fut = float(book_mid[j])
                    if m0 > 0 and not math.isnan(fut):
                        out[i, k] = 1e4 * (fut / m0 - 1.0)
                    break
    return out


def test_exact_example() -> None:
    book_ts = np.array([0, 5, 5, 10, 20])
    book_mid = np.array([100.0, 101.0, 102.0, 104.0, 99.0])
    sample_ts, sample_mid = np.array([0, 4, 20]), np.array([100.0, 100.0, 99.0])

    got = forward_return_bps(book_ts, book_mid, sample_ts, sample_mid, [1, 6])

    # t=0: h=1 -> first row >= 1 is ts 5 (the FIRST of the two) -> 101; h=6 -> ts 10 -> 104
    # t=4: h=1 -> ts 5 -> 101; h=6 -> ts 10 -> 104;  t=20: nothing at or after 21 / 26
    expected = [[100.0, 400.0], [100.0, 400.0], [np.nan, np.nan]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert got.dtype == np.float64
    assert got.shape == (3, 2)


def test_row_exactly_at_t_plus_h_is_used() -> None:
    got = forward_return_bps(np.array([0, 10, 11]), np.array([1.0, 2.0, 3.0]),
                             np.array([0]), np.array([1.0]), [10])  # fmt: skip

    assert got.tolist() == [[1e4]]


def test_nan_mids_give_nan() -> None:
    book_mid = np.array([100.0, np.nan, 101.0])
    book_ts = np.array([0, 10, 20])

    got = forward_return_bps(book_ts, book_mid, np.array([0, 0, 0]),
                             np.array([100.0, np.nan, 0.0]), [10, 20])  # fmt: skip

    assert np.isnan(got[0, 0])  # future mid NaN
    assert got[0, 1] == pytest.approx(100.0, abs=1e-9)
    assert np.isnan(got[1]).all()  # sample mid NaN
    assert np.isnan(got[2]).all()  # sample mid 0: no return defined


def test_empty_inputs() -> None:
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)

    no_samples = forward_return_bps(np.array([1]), np.array([1.0]), empty_i, empty_f, [5])
    no_book = forward_return_bps(empty_i, empty_f, np.array([1]), np.array([1.0]), [5])

    assert no_samples.shape == (0, 1)
    assert no_book.shape == (1, 1)
    assert np.isnan(no_book).all()


def test_label_columns_names() -> None:
    assert label_columns([100 * MS, S, 60 * S, 250_000]) == [
        "label_fwd_ret_bps_100ms",
        "label_fwd_ret_bps_1s",
        "label_fwd_ret_bps_60s",
        "label_fwd_ret_bps_250us",
    ]


@pytest.mark.parametrize("horizons", [[0], [-5], [10, 0], [10, 10]])
def test_bad_horizons_raise_config_error(horizons: list[int]) -> None:
    with pytest.raises(ConfigError):
        forward_return_bps(np.array([0]), np.array([1.0]), np.array([0]), np.array([1.0]), horizons)
    with pytest.raises(ConfigError):
        label_columns(horizons)


def test_bad_arrays_raise_typed_errors() -> None:
    one_i, one_f = np.array([0]), np.array([1.0])
    with pytest.raises(OutOfOrderError, match="book_ts"):
        forward_return_bps(np.array([0, 5, 4]), np.ones(3), one_i, one_f, [1])
    with pytest.raises(InvalidValueError, match="lengths"):
        forward_return_bps(np.array([0, 5]), one_f, one_i, one_f, [1])
    with pytest.raises(InvalidValueError, match="book_ts"):
        forward_return_bps(np.array([0.5]), one_f, one_i, one_f, [1])
    with pytest.raises(InvalidValueError, match="sample_mid"):
        forward_return_bps(one_i, one_f, one_i, np.array([1]), [1])


@st.composite
def books(draw: st.DrawFn):
    n = draw(st.integers(0, 25))
    steps = draw(st.lists(st.sampled_from([0, 0, 1, 2, 5]), min_size=n, max_size=n))
    mids = draw(
        st.lists(st.sampled_from([99.0, 100.0, 100.5, 101.0, np.nan]), min_size=n, max_size=n)
    )
    m = draw(st.integers(0, 10))
    sample_ts = draw(st.lists(st.integers(-2, 40), min_size=m, max_size=m))
    sample_mid = draw(st.lists(st.sampled_from([100.0, 99.5, np.nan]), min_size=m, max_size=m))
    horizons = draw(st.lists(st.integers(1, 12), max_size=3, unique=True))
    ts = np.cumsum(np.array(steps, dtype=np.int64))
    return ts, np.array(mids), np.array(sample_ts, np.int64), np.array(sample_mid), horizons


@settings(max_examples=200, deadline=None, derandomize=True)
@given(case=books())
def test_equals_brute_force_on_random_books(case) -> None:
    got = forward_return_bps(*case)

    np.testing.assert_array_equal(got, brute_force(*case))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(case=books(), data=st.data())
def test_no_leakage_only_first_row_at_or_after_t_plus_h_matters(case, data) -> None:
    book_ts, book_mid, sample_ts, _sample_mid, horizons = case
    if not len(sample_ts) or not horizons or not len(book_ts):
        return
    book_mid = np.where(np.isnan(book_mid), 100.0, book_mid)
    i = data.draw(st.integers(0, len(sample_ts) - 1))
    h = horizons[data.draw(st.integers(0, len(horizons) - 1))]
    t, m0 = sample_ts[i : i + 1], np.array([100.0])
    base = forward_return_bps(book_ts, book_mid, t, m0, [h])
    target = int(np.searchsorted(book_ts, t[0] + h, side="left"))
    others = np.arange(len(book_ts)) != target

    perturbed = np.where(others, book_mid + 7.0, book_mid)  # every row but the target
    moved_target = np.where(others, book_mid, book_mid + 7.0)

    np.testing.assert_array_equal(forward_return_bps(book_ts, perturbed, t, m0, [h]), base)
    changed = forward_return_bps(book_ts, moved_target, t, m0, [h])
    if target < len(book_ts):
        assert changed[0, 0] == pytest.approx(base[0, 0] + 700.0)
    else:
        assert np.isnan(changed[0, 0])
        assert np.isnan(base[0, 0])


# --- real data: labels on a 1 s clock over the LOBSTER AMZN day -------------------------------


@pytest.mark.shared_data
def test_real_amzn_labels_on_time_clock_equal_brute_force(shared_data: Path) -> None:
    from l2trader.book.replay import replay
    from l2trader.data.events import collect
    from l2trader.data.instruments import lookup
    from l2trader.data.lobster import LobsterReader

    folder = shared_data / "lobster-amzn-2012-06-21"
    stem = "AMZN_2012-06-21_34200000_57600000"
    reader = LobsterReader(
        folder / f"{stem}_message_1.csv.gz",
        folder / f"{stem}_orderbook_1.csv.gz",
        levels=1,
        instrument=lookup("nasdaq", "AMZN"),
    )
    frame = replay(collect(reader.chunks()), levels=1)
    both = (frame.bid_qty[:, 0] > 0) & (frame.ask_qty[:, 0] > 0)
    mid = np.where(both, (frame.bid_ticks[:, 0] + frame.ask_ticks[:, 0]) / 2.0, np.nan)
    samples = make_clock(ClockSpec(kind="time", interval_ns=S)).select_frame(frame, final=True)
    sample_mid = mid[samples.row]
    horizons = [100 * MS, S, 60 * S]

    got = forward_return_bps(frame.ts_recv, mid, samples.ts, sample_mid, horizons)

    picks = np.r_[0:40, 11_000:11_040, len(samples.ts) - 80 : len(samples.ts)]
    want = brute_force_sorted(frame.ts_recv, mid, samples.ts[picks], sample_mid[picks], horizons)
    np.testing.assert_array_equal(got[picks], want)
    nan_counts = np.isnan(got).sum(axis=0).tolist()
    assert got.shape == (23_399, 3)
    assert nan_counts == EXPECTED_NAN_COUNTS


EXPECTED_NAN_COUNTS = [0, 1, 60]  # end of data: last 1 s sample, last 60 s


def brute_force_sorted(book_ts, book_mid, sample_ts, sample_mid, horizons) -> np.ndarray:
    """Linear scan (from a moving start, as the samples are sorted) for the first row >= t + h."""
    out = np.full((len(sample_ts), len(horizons)), np.nan)
    ts = book_ts.tolist()
    for k, h in enumerate(horizons):
        j = 0
        for i, t in enumerate(sample_ts.tolist()):
            while j < len(ts) and ts[j] < t + h:
                j += 1
            if j < len(ts) and sample_mid[i] > 0:
                out[i, k] = 1e4 * (book_mid[j] / sample_mid[i] - 1.0)
    return out
