"""Sampling clocks against pandas/numpy re-implementations, and chunk-split invariance."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.errors import ConfigError, InvalidValueError, OutOfOrderError
from l2trader.features.clocks import (
    ClockSpec,
    Samples,
    format_ns,
    make_clock,
    parse_duration,
)

MS = 1_000_000
S = 1_000_000_000


# --- oracles (straightforward re-implementations; no code shared with the clocks) -----------


def time_oracle(ts: np.ndarray, interval: int, max_gap: int | None = None) -> Samples:
    """Whole-stream time clock via pandas merge_asof (backward: last row with ts <= g)."""
    if len(ts) == 0:
        return Samples(np.zeros(0, np.int64), np.zeros(0, np.int64))
    first = -(-int(ts[0]) // interval) * interval
    grid = np.arange(first, int(ts[-1]) + 1, interval, dtype=np.int64)
    rows = pd.DataFrame({"ts": ts, "row": np.arange(len(ts), dtype=np.int64)})
    merged = pd.merge_asof(pd.DataFrame({"g": grid}), rows, left_on="g", right_on="ts")
    row = merged["row"].to_numpy(np.int64)
    if max_gap is not None:
        following = ts[np.minimum(row + 1, len(ts) - 1)]
        inside = (grid > ts[row]) & (following - ts[row] > max_gap)
        grid, row = grid[~inside], row[~inside]
    return Samples(grid, row)


def changes_oracle(ts: np.ndarray, event_idx: np.ndarray, every: int) -> Samples:
    rows: list[int] = []
    j = 0
    while j < len(event_idx):
        rows.append(j)
        j = int(np.searchsorted(event_idx, event_idx[j] + every, side="left"))
    r = np.array(rows, dtype=np.int64)
    return Samples(ts[r], r)


def volume_oracle(ts: np.ndarray, qty: np.ndarray, volume: float) -> Samples:
    bucket = np.floor(np.cumsum(qty) / volume)
    r = np.flatnonzero(np.diff(np.concatenate([[0.0], bucket])) > 0).astype(np.int64)
    return Samples(ts[r], r)


def oracle(spec: ClockSpec, ts: np.ndarray, eidx: np.ndarray, qty: np.ndarray) -> Samples:
    if spec.kind == "time":
        return time_oracle(ts, spec.interval_ns, spec.max_gap_ns)
    if spec.kind == "changes":
        return changes_oracle(ts, eidx, spec.every)
    if spec.kind == "volume":
        return volume_oracle(ts, qty, spec.volume)
    return Samples(ts.copy(), np.arange(len(ts), dtype=np.int64))


def chunked(spec: ClockSpec, ts, eidx, qty, cuts: list[int]) -> Samples:
    """Feed the stream split at ``cuts``; rows mapped to global indices."""
    clock = make_clock(spec)
    bounds = [0, *sorted(cuts), len(ts)]
    out_ts, out_row = [], []
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        s = clock.select(ts[a:b], eidx[a:b], qty[a:b], final=k == len(bounds) - 2)
        out_ts.append(s.ts)
        out_row.append(s.row + a)  # -1 -> a - 1: the last row before this chunk
    return Samples(np.concatenate(out_ts), np.concatenate(out_row))


def assert_samples(got: Samples, want: Samples) -> None:
    np.testing.assert_array_equal(got.row, want.row)
    np.testing.assert_array_equal(got.ts, want.ts)
    assert got.ts.dtype == np.int64
    assert got.row.dtype == np.int64


def one_shot(spec: ClockSpec, ts, eidx=None, qty=None, *, final: bool = True) -> Samples:
    ts = np.asarray(ts, dtype=np.int64)
    eidx = np.arange(len(ts), dtype=np.int64) if eidx is None else np.asarray(eidx, np.int64)
    qty = np.zeros(len(ts)) if qty is None else np.asarray(qty, dtype=np.float64)
    return make_clock(spec).select(ts, eidx, qty, final=final)


# --- spec, names, durations -------------------------------------------------------------------


def test_parse_and_name_round_trip() -> None:
    texts = ["event", "time:100ms", "time:1.5s", "changes:50", "volume:2.5", "volume:100"]

    names = [ClockSpec.parse(t).name for t in texts]

    assert names == ["event", "time_100ms", "time_1500ms", "changes_50", "volume_2.5", "volume_100"]
    assert ClockSpec.parse("time:2m").interval_ns == 120 * S
    assert ClockSpec.parse(" time : 250us ").interval_ns == 250_000
    assert ClockSpec(kind="time", interval_ns=S, max_gap_ns=60 * S).name == "time_1s_maxgap_60s"


@pytest.mark.parametrize(
    "text", ["", "tick", "event:1", "time", "time:10", "time:-1s", "changes:x", "changes:0",
             "changes:-3", "volume:abc", "volume:0", "volume:-1", "time:0.5ns"],
)  # fmt: skip
def test_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(ConfigError):
        ClockSpec.parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "time"}, {"kind": "time", "interval_ns": -5}, {"kind": "changes", "every": 0},
     {"kind": "volume", "volume": float("nan")}, {"kind": "volume", "volume": float("inf")},
     {"kind": "event", "interval_ns": 10}, {"kind": "time", "interval_ns": 10, "every": 3},
     {"kind": "changes", "every": 3, "max_gap_ns": 10},
     {"kind": "time", "interval_ns": 10, "max_gap_ns": 0}, {"kind": "dollar", "volume": 1.0},
     {"kind": "time", "interval_ns": 10, "unknown": 1}],
)  # fmt: skip
def test_spec_validation_raises_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ClockSpec(**kwargs)


def test_spec_json_round_trip_keeps_id() -> None:
    spec = ClockSpec(kind="time", interval_ns=100 * MS, max_gap_ns=60 * S)

    again = ClockSpec.from_json(spec.to_json())

    assert again == spec
    assert again.id == spec.id
    assert again.id != ClockSpec(kind="time", interval_ns=100 * MS).id


def test_durations_format_and_parse() -> None:
    values = [1, 999, 1_000, 100 * MS, S, 60 * S, 3_600 * S, 1_500 * MS]

    assert [parse_duration(format_ns(v)) for v in values] == values
    assert [format_ns(v) for v in values] == [
        "1ns", "999ns", "1us", "100ms", "1s", "60s", "3600s", "1500ms",
    ]  # fmt: skip
    assert parse_duration("1h") == 3_600 * S
    with pytest.raises(ConfigError, match="whole number"):
        parse_duration("1.5ns")


# --- hand-checked examples --------------------------------------------------------------------


def test_time_clock_exact_example() -> None:
    # rows at 10, 10, 25, 30, 31; grid 10, 20, 30 (40 > last ts)
    got = one_shot(ClockSpec(kind="time", interval_ns=10), [10, 10, 25, 30, 31])

    assert got.ts.tolist() == [10, 20, 30]
    assert got.row.tolist() == [1, 1, 3]  # last of the equal ts; state persists at 20


def test_time_clock_waits_for_a_later_row_unless_final() -> None:
    spec = ClockSpec(kind="time", interval_ns=10)

    pending = one_shot(spec, [3, 10], final=False)
    flushed = one_shot(spec, [3, 10], final=True)

    assert pending.ts.tolist() == []  # a later row could still have ts == 10
    assert (flushed.ts.tolist(), flushed.row.tolist()) == ([10], [1])


def test_time_clock_first_grid_is_first_multiple_at_or_after_first_row() -> None:
    got = one_shot(ClockSpec(kind="time", interval_ns=10), [20, 21, 45])

    assert (got.ts.tolist(), got.row.tolist()) == ([20, 30, 40], [0, 1, 1])


def test_time_clock_minus_one_points_at_previous_chunk() -> None:
    clock = make_clock(ClockSpec(kind="time", interval_ns=10))

    first = clock.select(np.array([10, 12]), np.array([0, 1]), np.zeros(2), final=False)
    empty = clock.select(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), final=False)
    second = clock.select(np.array([25, 26]), np.array([2, 3]), np.zeros(2), final=True)

    assert (first.ts.tolist(), first.row.tolist()) == ([10], [0])
    assert empty.ts.tolist() == []
    assert (second.ts.tolist(), second.row.tolist()) == ([20], [-1])


def test_time_clock_equal_timestamps_across_chunk_boundary() -> None:
    clock = make_clock(ClockSpec(kind="time", interval_ns=10))

    first = clock.select(np.array([5, 10]), np.array([0, 1]), np.zeros(2), final=False)
    second = clock.select(np.array([10, 10, 11]), np.array([2, 3, 4]), np.zeros(3), final=True)

    assert first.ts.tolist() == []  # 10 not yet certain
    assert (second.ts.tolist(), second.row.tolist()) == ([10], [1])  # last row with ts 10


def test_time_clock_max_gap_skips_grid_inside_long_gaps() -> None:
    ts = [0, 10, 15, 100, 101, 130]
    spec = ClockSpec(kind="time", interval_ns=10, max_gap_ns=20)

    got = one_shot(spec, ts)

    # 20..90 lie inside the 15 -> 100 gap (85 > 20): skipped; 10 == ts[1] is kept; 110, 120
    # are inside the 101 -> 130 gap (29 > 20): skipped; 130 is the final row.
    assert got.ts.tolist() == [0, 10, 100, 130]
    assert got.row.tolist() == [0, 1, 3, 5]
    assert_samples(got, time_oracle(np.array(ts), 10, 20))


def test_changes_clock_exact_example() -> None:
    eidx = [4, 5, 7, 8, 9, 12, 13]

    got = one_shot(ClockSpec(kind="changes", every=3), [1, 2, 3, 4, 5, 6, 7], eidx)

    assert got.row.tolist() == [0, 2, 5]  # 4 -> 7 (+3) -> 12 (+5)
    assert got.ts.tolist() == [1, 3, 6]


def test_volume_clock_exact_example() -> None:
    qty = [0.0, 0.6, 0.5, 0.0, 3.2, 0.1, 0.6]  # cumulative 0, .6, 1.1, 1.1, 4.3, 4.4, 5.0

    got = one_shot(ClockSpec(kind="volume", volume=1.0), [1, 2, 3, 4, 5, 6, 7], None, qty)

    assert got.row.tolist() == [2, 4, 6]  # crosses 1; 2, 3 and 4 in one row; 5
    assert got.ts.tolist() == [3, 5, 7]


def test_event_clock_every_row() -> None:
    got = one_shot(ClockSpec(kind="event"), [5, 5, 9])

    assert (got.ts.tolist(), got.row.tolist()) == ([5, 5, 9], [0, 1, 2])


@pytest.mark.parametrize("text", ["event", "time:10ns", "changes:2", "volume:1"])
def test_empty_and_single_row_streams(text: str) -> None:
    spec = ClockSpec.parse(text)

    empty = one_shot(spec, [])
    single = one_shot(spec, [20], None, [1.0])

    assert len(empty.ts) == 0
    assert (single.ts.tolist(), single.row.tolist()) == ([20], [0])


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_raises_typed_errors() -> None:
    spec = ClockSpec(kind="time", interval_ns=10)
    i8 = np.array
    with pytest.raises(OutOfOrderError, match="ts_recv"):
        one_shot(spec, [5, 4])
    with pytest.raises(OutOfOrderError, match="event_idx"):
        one_shot(spec, [5, 6], [3, 3])
    with pytest.raises(InvalidValueError, match="trade_qty"):
        one_shot(spec, [5, 6], None, [0.0, np.nan])
    with pytest.raises(InvalidValueError, match="trade_qty"):
        one_shot(spec, [5, 6], None, [-1.0, 0.0])
    with pytest.raises(InvalidValueError, match="lengths"):
        make_clock(spec).select(i8([1, 2]), i8([0]), np.zeros(2), final=True)
    with pytest.raises(InvalidValueError, match="integer"):
        make_clock(spec).select(np.array([1.0]), i8([0]), np.zeros(1), final=True)


def test_bad_input_across_chunks_and_after_final() -> None:
    clock = make_clock(ClockSpec(kind="changes", every=2))
    clock.select(np.array([10, 20]), np.array([0, 1]), np.zeros(2), final=False)
    with pytest.raises(OutOfOrderError, match="ts_recv"):
        clock.select(np.array([19]), np.array([2]), np.zeros(1), final=False)
    with pytest.raises(OutOfOrderError, match="event_idx"):
        clock.select(np.array([20]), np.array([1]), np.zeros(1), final=False)
    clock.select(np.array([20]), np.array([2]), np.zeros(1), final=True)
    with pytest.raises(OutOfOrderError, match="final"):
        clock.select(np.array([30]), np.array([3]), np.zeros(1), final=False)


def test_select_does_not_mutate_inputs() -> None:
    ts, eidx, qty = np.array([1, 15, 15, 40]), np.array([0, 2, 3, 9]), np.array([0.5, 1, 0, 2])
    copies = ts.copy(), eidx.copy(), qty.copy()

    for text in ("event", "time:10ns", "changes:2", "volume:1"):
        make_clock(ClockSpec.parse(text)).select(ts, eidx, qty, final=True)

    for a, b in zip((ts, eidx, qty), copies, strict=True):
        np.testing.assert_array_equal(a, b)


# --- random streams: oracle and chunk-split invariance ----------------------------------------

SPECS = st.one_of(
    st.just(ClockSpec(kind="event")),
    st.builds(
        lambda i, g: ClockSpec(kind="time", interval_ns=i, max_gap_ns=g),
        st.sampled_from([1, 3, 10]),
        st.sampled_from([None, 4, 12]),
    ),
    st.builds(lambda e: ClockSpec(kind="changes", every=e), st.sampled_from([1, 2, 5])),
    st.builds(lambda v: ClockSpec(kind="volume", volume=v), st.sampled_from([0.3, 1.0, 2.5])),
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    n = draw(st.integers(0, 40))
    steps = draw(st.lists(st.sampled_from([0, 0, 1, 2, 3, 7, 30]), min_size=n, max_size=n))
    jumps = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    qty = draw(st.lists(st.sampled_from([0.0, 0.0, 0.1, 0.7, 1.0, 2.6]), min_size=n, max_size=n))
    cuts = draw(st.lists(st.integers(0, n), max_size=5))
    ts = draw(st.integers(0, 25)) + np.cumsum(np.array(steps, dtype=np.int64))
    eidx = np.cumsum(np.array(jumps, dtype=np.int64)) - 1
    return ts, eidx, np.array(qty, dtype=np.float64), cuts


@settings(max_examples=300, deadline=None, derandomize=True)
@given(spec=SPECS, stream=streams())
def test_any_chunk_split_equals_oracle(spec: ClockSpec, stream: tuple) -> None:
    ts, eidx, qty, cuts = stream

    got = chunked(spec, ts, eidx, qty, cuts)

    assert_samples(got, oracle(spec, ts, eidx, qty))


# --- real data: LOBSTER AMZN 2012-06-21 (level 1) ---------------------------------------------


@pytest.fixture(scope="module")
def amzn(shared_data: Path):
    from l2trader.book.replay import Replayer
    from l2trader.data.instruments import lookup
    from l2trader.data.lobster import LobsterReader

    folder = shared_data / "lobster-amzn-2012-06-21"
    stem = "AMZN_2012-06-21_34200000_57600000"
    reader = LobsterReader(
        folder / f"{stem}_message_1.csv.gz",
        folder / f"{stem}_orderbook_1.csv.gz",
        levels=1,
        instrument=lookup("nasdaq", "AMZN"),
        chunk_size=7_919,  # many chunks, cut at arbitrary places
    )
    replayer = Replayer(levels=1)
    return [replayer.feed(chunk) for chunk in reader.chunks()]


def _concat(frames, name: str) -> np.ndarray:
    return np.concatenate([getattr(f, name) for f in frames])


REAL_SPECS = ["event", "time:100ms", "time:1s", "changes:50", "volume:100", "volume:1000"]


@pytest.mark.shared_data
@pytest.mark.parametrize("text", REAL_SPECS)
def test_real_amzn_streamed_frames_equal_oracle(amzn, text: str) -> None:
    spec = ClockSpec.parse(text)
    ts, eidx = _concat(amzn, "ts_recv"), _concat(amzn, "event_idx")
    qty = _concat(amzn, "trade_qty_buy") + _concat(amzn, "trade_qty_sell")
    clock = make_clock(spec)
    got_ts, got_row, offset = [], [], 0

    for k, frame in enumerate(amzn):
        s = clock.select_frame(frame, final=k == len(amzn) - 1)
        got_ts.append(s.ts)
        got_row.append(s.row + offset)
        offset += len(frame)

    got = Samples(np.concatenate(got_ts), np.concatenate(got_row))
    assert len(amzn) > 10
    assert_samples(got, oracle(spec, ts, eidx, qty))
    assert len(got.ts) == EXPECTED_REAL_COUNTS[text]


# event: 57 515 messages + the opening snapshot batch; time: 09:30:00.1 (or :01) .. 15:59:59.9
EXPECTED_REAL_COUNTS = {"event": 57_516, "time:100ms": 233_999, "time:1s": 23_399,
                        "changes:50": 1_866, "volume:100": 6_629, "volume:1000": 800}  # fmt: skip


@pytest.mark.shared_data
def test_real_amzn_time_clock_with_max_gap(amzn) -> None:
    ts = _concat(amzn, "ts_recv")
    spec = ClockSpec(kind="time", interval_ns=100 * MS, max_gap_ns=S)
    zeros = np.zeros(len(ts))

    got = make_clock(spec).select(ts, np.arange(len(ts)), zeros, final=True)
    plain = make_clock(ClockSpec(kind="time", interval_ns=100 * MS)).select(
        ts, np.arange(len(ts)), zeros, final=True
    )

    assert_samples(got, time_oracle(ts, 100 * MS, S))
    assert (len(got.ts), len(plain.ts)) == (46_618, 233_999)  # 6 144 row gaps exceed 1 s
