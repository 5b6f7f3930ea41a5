"""ReplayFeed: arrival grouping, scaled timing on an injected clock, errors, catalog source."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from l2trader.data.catalog import Catalog
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.report import Policy, ValidationReport
from l2trader.errors import ConfigError, InvalidValueError, OutOfOrderError
from l2trader.paper.feed import Feed, FeedStats, ReplayFeed, split_arrivals
from l2trader.schema import EVENT_DTYPE
from l2trader.testing import make_events

T0 = 1_700_000_000 * 10**9  # 2023-11-14 UTC, ns


class FakeClock:
    """Monotonic ns clock that only moves when the feed sleeps; records every sleep (s)."""

    def __init__(self) -> None:
        self.now = 0
        self.sleeps: list[float] = []

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += round(seconds * 1e9)


def _stream() -> np.ndarray:
    """4 batches, 3 arrivals: ts_recv T0 (2 rows), T0+1 s (two batches), T0+3 s."""
    return np.concatenate(
        [
            make_events([(100, 1.0, 1), (101, 2.0, -1)], ts_recv=T0),
            make_events([(99, 3.0, 1)], ts_recv=T0 + 10**9),
            make_events([(102, 4.0, -1)], ts_recv=T0 + 10**9),
            make_events([(100, 0.0, 1)], ts_recv=T0 + 3 * 10**9),
        ]
    )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal C1 arrays, field by field (padding bytes ignored)."""
    return a.dtype == b.dtype and len(a) == len(b) and bool((a == b).all())


def _drain(feed: Feed) -> list[np.ndarray]:
    async def run() -> list[np.ndarray]:
        return [rows async for rows in feed]

    return asyncio.run(run())


def test_split_arrivals_groups_batches_sharing_ts_recv() -> None:
    # Arrange
    events = _stream()
    # Act
    sizes = [len(a) for a in split_arrivals(events)]
    # Assert
    assert sizes == [2, 2, 1]


def test_replay_at_10x_sleeps_one_tenth_of_each_interval() -> None:
    # Arrange
    clock = FakeClock()
    feed = ReplayFeed(_stream(), speed=10.0, clock=clock, sleep=clock.sleep)
    # Act
    out = _drain(feed)
    # Assert
    assert clock.sleeps == [0.1, 0.2]
    assert clock.now == 300_000_000  # the 3 s span / 10
    assert [int(a["ts_recv"][0]) for a in out] == [T0, T0 + 10**9, T0 + 3 * 10**9]


def test_replay_at_1x_sleeps_the_recorded_intervals() -> None:
    # Arrange
    clock = FakeClock()
    feed = ReplayFeed(_stream(), speed=1.0, clock=clock, sleep=clock.sleep)
    # Act
    _drain(feed)
    # Assert
    assert clock.sleeps == [1.0, 2.0]


def test_replay_does_not_drift_when_the_consumer_is_slow() -> None:
    # Arrange: the clock jumps 1.5 s before the second arrival is due (a slow consumer)
    clock = FakeClock()
    feed = ReplayFeed(_stream(), speed=1.0, clock=clock, sleep=clock.sleep)

    async def run() -> None:
        async for rows in feed:
            if int(rows["ts_recv"][0]) == T0:
                clock.now += 1_500_000_000

    # Act
    asyncio.run(run())
    # Assert: second arrival is late (no sleep), third still due at +3 s
    assert clock.sleeps == [1.5]


def test_as_fast_as_possible_yields_identical_rows_without_sleeping() -> None:
    # Arrange
    clock = FakeClock()
    events = _stream()
    feed = ReplayFeed(events, speed=None, clock=clock, sleep=clock.sleep)
    # Act
    out = collect(_drain(feed))
    # Assert
    assert _same(out, events)
    assert clock.sleeps == []
    last = feed.stats.last_msg_ns
    assert feed.stats == FeedStats(messages=3, batches=4, events=5, last_msg_ns=last)


def test_chunks_that_split_a_batch_are_recut_into_whole_batches() -> None:
    # Arrange
    events = _stream()
    chunks = [events[:1], events[1:3], events[3:]]
    # Act
    out = _drain(ReplayFeed(chunks, speed=None))
    # Assert
    assert [len(a) for a in out] == [2, 2, 1]
    assert _same(collect(out), events)


def test_unclosed_final_batch_raises_in_strict_mode() -> None:
    # Arrange
    events = _stream()
    events["flags"][-1] = 0
    # Act / Assert
    with pytest.raises(InvalidValueError, match="not a closed batch"):
        _drain(ReplayFeed(events, speed=None))


def test_unclosed_final_batch_is_dropped_and_counted_in_repair_mode() -> None:
    # Arrange
    events = _stream()
    events["flags"][-1] = 0
    feed = ReplayFeed(events, speed=None, policy=Policy.REPAIR)
    # Act
    out = collect(_drain(feed))
    # Assert
    assert _same(out, events[:4])
    assert feed.report.counts == {"unclosed_batch": 1}


def test_backwards_ts_recv_raises_in_strict_mode() -> None:
    # Arrange
    events = _stream()
    events["ts_recv"][-1] = T0
    # Act / Assert
    with pytest.raises(OutOfOrderError, match="goes back"):
        _drain(ReplayFeed(events, speed=None))


def test_backwards_ts_recv_is_replayed_at_once_in_repair_mode() -> None:
    # Arrange
    clock = FakeClock()
    events = _stream()
    events["ts_recv"][-1] = T0
    feed = ReplayFeed(events, speed=1.0, clock=clock, sleep=clock.sleep, policy=Policy.REPAIR)
    # Act
    out = _drain(feed)
    # Assert
    assert len(out) == 3
    assert clock.sleeps == [1.0]
    assert feed.report.counts == {"out_of_order_ts": 1}


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_bad_speed_is_a_config_error(speed: float) -> None:
    with pytest.raises(ConfigError, match="speed"):
        ReplayFeed(_stream(), speed=speed)


def test_wrong_dtype_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="EVENT_DTYPE"):
        ReplayFeed(np.zeros(3, dtype=np.int64))


def test_restamp_sets_wall_clock_receive_time() -> None:
    # Arrange
    events = _stream()
    # Act
    out = _drain(ReplayFeed(events, speed=None, restamp=True))
    # Assert
    stamps = [int(t) for a in out for t in a["ts_recv"]]
    assert all(t > T0 for t in stamps)  # the recorded stamps are in 2023
    assert stamps == sorted(stamps)
    assert events["ts_recv"][0] == T0  # the input is not modified


def test_empty_source_yields_nothing() -> None:
    assert _drain(ReplayFeed(np.zeros(0, dtype=EVENT_DTYPE), speed=None)) == []


def test_replay_from_catalog_yields_the_catalog_rows(tmp_path: Path) -> None:
    # Arrange
    events = _stream()
    instrument = Instrument(venue="synthetic", symbol="SYN", tick_size=0.01)
    catalog = Catalog(tmp_path / "catalog")
    source = tmp_path / "source.txt"
    source.write_text("synthetic\n")
    catalog.write(instrument, [events], sources=[source], report=ValidationReport("mem"))
    clock = FakeClock()
    # Act
    feed = ReplayFeed.from_catalog(
        catalog, "synthetic", "SYN", speed=10.0, clock=clock, sleep=clock.sleep
    )
    out = collect(_drain(feed))
    # Assert
    assert _same(out, events)
    assert clock.sleeps == [0.1, 0.2]
