from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2trader.book.book import OrderBook
from l2trader.book.replay import BookFrame, Replayer, replay
from l2trader.schema import (
    F_LAST,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
    NO_ASK_TICKS,
    NO_BID_TICKS,
)
from l2trader.testing import event_streams, make_events, random_events
from tests.unit.book._oracle import assert_frame_matches, reference_rows

SMALL = {
    "window": 8,
    "max_window": 64,
}  # tiny window: re-centring, overflow and growth all the time


def _frames_equal(a: BookFrame, b: BookFrame) -> None:
    for name in BookFrame.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [1, 5, 20])
@pytest.mark.parametrize("sizes", [SMALL, {}], ids=["small-window", "default-window"])
def test_replay_equals_reference_on_random_streams(seed, levels, sizes):
    events = random_events(np.random.default_rng(seed), 600)

    frame = Replayer(levels, **sizes).feed(events)

    assert assert_frame_matches(frame, events, levels) == 600


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_streams(), levels=st.sampled_from([1, 3, 8]))
def test_replay_equals_reference_on_hypothesis_streams(events, levels):
    frame = Replayer(levels, **SMALL).feed(events)

    assert_frame_matches(frame, events, levels)


@settings(max_examples=40, deadline=None)
@given(events=event_streams(max_messages=20), data=st.data())
def test_chunked_replay_equals_one_shot(events, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4)))
    one_shot = Replayer(4, **SMALL).feed(events)
    rp = Replayer(4, **SMALL)

    parts = [rp.feed(chunk) for chunk in np.split(events, cuts)]

    joined = BookFrame(
        *(
            np.concatenate([getattr(p, name) for p in parts])
            for name in BookFrame.__dataclass_fields__
        )
    )
    _frames_equal(joined, one_shot)
    assert rp.n_events == len(events)
    np.testing.assert_array_equal(rp.crossed_event_idx, _crossed(events))


def _crossed(events: np.ndarray) -> np.ndarray:
    rows = reference_rows(events, 1)
    return np.array([r.event_idx for r in rows if r.crossed], dtype=np.int64)


@pytest.mark.parametrize("seed", range(3))
def test_chunked_random_splits_equal_one_shot_on_long_stream(seed):
    rng = np.random.default_rng(100 + seed)
    events = random_events(rng, 3000)
    cuts = np.sort(rng.integers(0, len(events), size=25))
    rp = Replayer(10)

    parts = [rp.feed(chunk) for chunk in np.split(events, cuts)]

    one_shot = replay(events, 10)
    for name in BookFrame.__dataclass_fields__:
        got = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_array_equal(got, getattr(one_shot, name), err_msg=name)
    np.testing.assert_array_equal(rp.crossed_event_idx, _crossed(events))


@pytest.mark.parametrize("seed", range(4))
def test_orderbook_equals_reference_after_every_batch(seed):
    events = random_events(np.random.default_rng(seed), 400)
    ends = np.flatnonzero(events["flags"] & F_LAST) + 1
    book = OrderBook(window=16, max_window=128)
    ref = reference_rows(events, 20)

    for start, stop, want in zip(np.r_[0, ends[:-1]], ends, ref, strict=True):
        book.apply(events[start:stop])

        assert book.top(20) == (want.bids, want.asks)
        assert book.best_bid() == (want.bids[0] if want.bids else None)
        assert book.best_ask() == (want.asks[0] if want.asks else None)
        assert book.crossed() == want.crossed


def test_trade_volume_accumulates_between_samples():
    events = np.concatenate(
        [
            make_events([(100, 0.5, 1), (100, 0.25, 1), (101, 2.0, -1)], kind=KIND_TRADE),
            make_events([(100, 1.0, 0), (99, 3.0, 1)], kind=KIND_TRADE, batch=False),
            make_events([(100, 1.0, 1)]),
        ]
    )

    frame = replay(events, 1)

    assert frame.trade_qty_buy.tolist() == [0.75, 0.0, 3.0, 0.0]
    assert frame.trade_qty_sell.tolist() == [2.0, 0.0, 0.0, 0.0]
    assert frame.bid_ticks[:, 0].tolist() == [NO_BID_TICKS] * 3 + [100]


def test_empty_book_rows_hold_sentinels_and_zero_sizes():
    events = make_events([(100, 1.0, 1), (100, 0.0, 1)], batch=False)

    frame = replay(events, 3)

    assert frame.bid_ticks.tolist() == [[100, NO_BID_TICKS, NO_BID_TICKS], [NO_BID_TICKS] * 3]
    assert frame.bid_qty.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert frame.ask_ticks.tolist() == [[NO_ASK_TICKS] * 3] * 2


def test_price_jumps_of_ten_million_ticks_keep_every_level():
    far = 10**7
    events = make_events(
        [
            (1_000, 1.0, 1),
            (999, 2.0, 1),
            (1_001, 3.0, -1),
            (1_000 + far, 4.0, 1),  # bid jumps up 1e7 ticks: old bids stay
            (1_001 + far, 5.0, -1),
            (1_000 + far, 0.0, 1),  # best bid gone: next best is 1e7 ticks below
            (1_001 - far, 6.0, -1),  # ask jumps down 1e7 ticks: crossed
        ],
        batch=False,
    )

    frame = replay(events, 3)
    book = OrderBook()
    book.apply(events)

    assert frame.bid_ticks[3].tolist() == [1_000 + far, 1_000, 999]
    assert frame.bid_ticks[5].tolist() == [1_000, 999, NO_BID_TICKS]
    assert frame.ask_ticks[6].tolist() == [1_001 - far, 1_001, 1_001 + far]
    assert book.top(3) == (
        [(1_000, 1.0), (999, 2.0)],
        [(1_001 - far, 6.0), (1_001, 3.0), (1_001 + far, 5.0)],
    )
    assert book.crossed() is True
    assert_frame_matches(frame, events, 3)


def test_clear_removes_one_side_or_both():
    levels = make_events([(100, 1.0, 1), (101, 1.0, -1)])
    clear = [make_events([(0, 0.0, s)], kind=KIND_CLEAR) for s in (1, -1, 0)]
    book_bid, book_ask, book_both = OrderBook(), OrderBook(), OrderBook()

    for book, c in zip((book_bid, book_ask, book_both), clear, strict=True):
        book.apply(levels)
        book.apply(c)

    assert book_bid.top(5) == ([], [(101, 1.0)])
    assert book_ask.top(5) == ([(100, 1.0)], [])
    assert book_both.top(5) == ([], [])


def test_snapshot_rows_rebuild_the_top_levels():
    events = random_events(np.random.default_rng(7), 300)
    book = OrderBook()
    book.apply(events)

    rows = book.snapshot(5)
    rebuilt = OrderBook()
    rebuilt.apply(rows)

    assert rebuilt.top(50) == book.top(5)
    assert rows["kind"].tolist().count(KIND_CLEAR) == 2
    assert set(rows["kind"][rows["kind"] != KIND_CLEAR].tolist()) <= {KIND_SNAPSHOT}
    assert rows["flags"].tolist() == [0] * (len(rows) - 1) + [F_LAST]
    assert (rows["ts_recv"] == events["ts_recv"][-1]).all()


def test_depth_mid_and_crossed():
    book = OrderBook()
    book.apply(make_events([(100, 1.0, 1), (98, 2.5, 1), (103, 4.0, -1), (104, 0.5, -1)]))

    assert book.depth(1) == (1.0, 4.0)
    assert book.depth(10) == (3.5, 4.5)
    assert book.mid_ticks() == 101.5
    assert book.crossed() is False
    book.apply(make_events([(103, 1.0, 1)]))
    assert book.crossed() is True
    assert OrderBook().mid_ticks() is None


def test_crossed_and_locked_states_are_reported_by_event_index():
    events = make_events(
        [(100, 1.0, 1), (101, 1.0, -1), (101, 1.0, 1), (101, 0.0, 1), (102, 1.0, 1)], batch=False
    )
    rp = Replayer(1)

    rp.feed(events)

    assert rp.crossed_event_idx.tolist() == [2, 4]
