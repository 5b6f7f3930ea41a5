"""The numba book on every real sample, against oracles we did not write.

LOBSTER: the vendor's own orderbook file (book after each message). Binance: the
``ReferenceBook`` after every batch. ``OrderBook`` must agree with both at the end.
"""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.book import OrderBook
from l2trader.book.reference import ReferenceBook
from l2trader.book.replay import replay
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.lobster import LobsterReader
from l2trader.schema import F_LAST

STEM = "AMZN_2012-06-21_34200000_57600000"
BINANCE = {
    "spot 0808+0809": (
        ("binance", "BTCUSDT"),
        ["binance_spot_btcusdt_20240808.gz", "binance_spot_btcusdt_20240809.gz"],
    ),
    "usdm": (("binance-futures", "BTCUSDT"), ["binance_usdm_btcusdt_20240808.gz"]),
    "coinm": (("binance-delivery", "BTCUSD_PERP"), ["binance_coinm_btcusd_perp_20240808.gz"]),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("levels", [1, 5])
def test_lobster_replay_equals_vendor_orderbook_file(shared_data: Path, levels: int) -> None:
    folder = shared_data / "lobster-amzn-2012-06-21"
    book_file = folder / f"{STEM}_orderbook_{levels}.csv.gz"
    reader = LobsterReader(
        folder / f"{STEM}_message_{levels}.csv.gz",
        book_file,
        levels=levels,
        instrument=lookup("nasdaq", "AMZN"),
    )
    events = collect(reader.chunks())
    vendor = np.loadtxt(book_file, delimiter=",", dtype=np.int64)

    frame = replay(events, levels=levels)

    rows = slice(1, None)  # frame row 0 is the opening CLEAR+SNAPSHOT batch
    assert len(frame) == len(vendor) + 1
    ask_px, ask_sz = vendor[:, 0::4] // 100, vendor[:, 1::4]
    bid_px, bid_sz = vendor[:, 2::4] // 100, vendor[:, 3::4]
    np.testing.assert_array_equal(frame.ask_ticks[rows], ask_px)
    np.testing.assert_array_equal(frame.bid_ticks[rows], bid_px)
    np.testing.assert_array_equal(frame.ask_qty[rows], ask_sz)
    np.testing.assert_array_equal(frame.bid_qty[rows], bid_sz)
    book = OrderBook()
    book.apply(events)
    assert book.top(levels)[0] == list(
        zip(bid_px[-1].tolist(), bid_sz[-1].astype(float).tolist(), strict=True)
    )


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(BINANCE))
def test_binance_replay_equals_reference_after_every_batch(shared_data: Path, name: str) -> None:
    (venue, symbol), files = BINANCE[name]
    paths = [shared_data / "hftbacktest-binance-hyperliquid" / f for f in files]
    events = collect(BinanceDepthReader(paths, instrument=lookup(venue, symbol)).chunks())

    frame = replay(events, levels=5)

    ref = ReferenceBook()
    ends = np.flatnonzero(events["flags"] & F_LAST)
    start = 0
    for row, end in enumerate(ends.tolist()):
        ref.apply_all(events[start : end + 1])
        start = end + 1
        bids = heapq.nlargest(5, ref.bids.items())
        asks = heapq.nsmallest(5, ref.asks.items())
        assert frame.bid_ticks[row, : len(bids)].tolist() == [p for p, _ in bids], row
        assert frame.ask_qty[row, : len(asks)].tolist() == [q for _, q in asks], row
    assert not np.any(frame.bid_ticks[:, 0] >= frame.ask_ticks[:, 0])
    book = OrderBook()
    book.apply(events)
    assert book.top(10**4) == ref.top(10**4)
