from __future__ import annotations

import math

import numpy as np
import pytest

from l2trader.book.book import OrderBook
from l2trader.book.replay import Replayer, replay
from l2trader.errors import BookError, InvalidValueError
from l2trader.schema import EVENT_DTYPE, KIND_CLEAR, KIND_TRADE
from l2trader.testing import make_events, random_events, realistic_events
from tests.unit.book._oracle import assert_frame_matches


@pytest.mark.parametrize(
    ("field", "value"),
    [("qty", math.nan), ("qty", -1.0), ("qty", math.inf), ("kind", 9), ("side", 0), ("side", 5)],
)
def test_invalid_event_raises_and_keeps_rows_before_it(field, value):
    events = make_events([(100, 1.0, 1), (101, 2.0, -1), (99, 3.0, 1)], batch=False)
    events[1][field] = value
    events["seq"] = [10, 11, 12]
    book = OrderBook()

    with pytest.raises(InvalidValueError, match="event 1 is not a valid book event") as info:
        book.apply(events)

    assert info.value.seq == 11
    assert book.top(5) == ([(100, 1.0)], [])


def test_invalid_event_index_is_global_across_chunks():
    rp = Replayer(1)
    rp.feed(make_events([(100, 1.0, 1)] * 3, batch=False))
    bad = make_events([(101, -2.0, -1)])

    with pytest.raises(InvalidValueError, match="event 3 is not"):
        rp.feed(bad)


def test_trade_with_unknown_side_is_not_counted():
    frame = replay(make_events([(100, 1.0, 0)], kind=KIND_TRADE), 1)

    assert (frame.trade_qty_buy[0], frame.trade_qty_sell[0]) == (0.0, 0.0)


def test_wrong_dtype_and_bad_sizes_raise_book_error():
    with pytest.raises(BookError, match="EVENT_DTYPE"):
        OrderBook().apply(np.zeros(3, dtype=np.float64))
    with pytest.raises(BookError, match="power of two"):
        OrderBook(window=100)
    with pytest.raises(BookError, match="levels=0"):
        Replayer(0)


def test_empty_input_gives_empty_frame():
    frame = replay(np.zeros(0, dtype=EVENT_DTYPE), 4)

    assert len(frame) == 0
    assert frame.bid_ticks.shape == (0, 4)
    assert frame.levels == 4


def test_overflow_and_window_grow_without_losing_levels():
    rng = np.random.default_rng(3)
    prices = rng.choice(np.arange(-50_000, 50_000), size=3_000, replace=False)
    rows = [(int(p), float(i + 1), 1 if p < 0 else -1) for i, p in enumerate(prices)]
    events = make_events(rows, batch=False)
    book = OrderBook(window=8, max_window=256)

    book.apply(events)

    bids = sorted(((p, q) for p, q, s in rows if s == 1), reverse=True)
    asks = sorted((p, q) for p, q, s in rows if s == -1)
    assert book.top(3_000) == (bids, asks)
    assert book.q.shape[1] == 256
    assert book.ovf_px.shape[1] >= max(len(bids), len(asks)) - 256


def test_realistic_stream_is_uncrossed_and_matches_reference():
    events = realistic_events(np.random.default_rng(5), 20_000)
    rp = Replayer(10)

    frame = rp.feed(events)

    assert assert_frame_matches(frame, events, 10) == int((events["flags"] & 1).sum())
    assert rp.crossed_event_idx.size == 0


def test_to_polars_has_decimal_prices_and_nan_for_empty_levels():
    events = make_events([(6_000_000, 1.5, 1), (6_000_001, 2.0, -1)], ts_recv=7)
    frame = replay(events, 2)

    df = frame.to_polars(0.01)

    assert df.columns == [
        "ts_exch", "ts_recv", "bid_px_1", "bid_px_2", "bid_sz_1", "bid_sz_2",
        "ask_px_1", "ask_px_2", "ask_sz_1", "ask_sz_2",
    ]  # fmt: skip
    row = df.row(0, named=True)
    assert (row["ts_recv"], row["bid_px_1"], row["bid_sz_1"]) == (7, 60000.0, 1.5)
    assert (row["ask_px_1"], row["ask_sz_1"], row["ask_sz_2"]) == (60000.01, 2.0, 0.0)
    assert math.isnan(row["bid_px_2"])
    assert math.isnan(row["ask_px_2"])


def test_random_events_are_valid_c1():
    events = random_events(np.random.default_rng(11), 500)

    assert (np.diff(events["ts_recv"]) >= 0).all()
    assert (events["qty"] >= 0).all()
    assert int((events["flags"] & 1).sum()) == 500
    assert events["flags"][-1] & 1
    book_prices = events["price_ticks"][events["kind"] != KIND_CLEAR]
    assert np.ptp(book_prices) >= 10**6  # jumps happen
