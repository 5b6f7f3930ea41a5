"""Coinbase, BitMEX, Bybit, Gemini and Hyperliquid readers on the real captures (issue 8).

For every instrument of every capture: 0 validation issues, the replayed book is never
crossed or locked after an ``F_LAST``, ``ts_recv`` never goes backwards, and the message
counts equal those stated in ../shared/data/README.md (§1, §2, §5).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.reference import ReferenceBook
from l2trader.book.replay import Replayer
from l2trader.data.bitmex import BitmexBookReader, bitmex_tick_sizes
from l2trader.data.bybit import BybitBookReader, BybitL2V1Reader, bybit_tick_sizes
from l2trader.data.coinbase import CoinbaseBookReader, coinbase_tick_sizes
from l2trader.data.events import collect
from l2trader.data.gemini import GeminiBookReader, gemini_tick_sizes
from l2trader.data.hyperliquid import HyperliquidBookReader, hyperliquid_tick_sizes
from l2trader.data.instruments import Instrument
from l2trader.data.json_lines import CaptureReader
from l2trader.schema import F_LAST

CRYPTOFEED = "cryptofeed-ws-captures"
Ticks = Callable[[Sequence[str | Path]], dict[str, float]]


def _ingest_all(
    paths: list[Path], reader_type: type[CaptureReader], tick_sizes: Ticks, venue: str
) -> tuple[Counter[str], dict[str, np.ndarray]]:
    """Read every instrument of a capture; assert the per-instrument invariants."""
    totals: Counter[str] = Counter()
    books: dict[str, np.ndarray] = {}
    for symbol, tick in tick_sizes(paths).items():
        instrument = Instrument(venue=venue, symbol=symbol, tick_size=tick)
        reader = reader_type(paths, instrument=instrument)
        events = collect(reader.chunks())
        replayer = Replayer(levels=1)
        replayer.feed(events)
        assert reader.report.ok, (symbol, reader.report.counts)
        assert len(replayer.crossed_event_idx) == 0, symbol
        assert bool(np.all(np.diff(events["ts_recv"]) >= 0)), symbol
        assert int(events[-1]["flags"]) & F_LAST, symbol
        assert reader.report.events_out == len(events)
        totals.update(reader.stats)
        books[symbol] = events
    return totals, books


@pytest.mark.shared_data
def test_coinbase_level2_capture(shared_data: Path) -> None:
    # Arrange
    paths = [shared_data / CRYPTOFEED / "COINBASE.ws.28.0"]

    # Act
    totals, books = _ingest_all(paths, CoinbaseBookReader, coinbase_tick_sizes, "coinbase")

    # Assert: README §2: 10 products, 9,719 l2update + 10 snapshot
    assert len(books) == 10
    assert (totals["snapshots"], totals["updates"]) == (10, 9_719)


@pytest.mark.shared_data
def test_bitmex_order_book_l2_capture(shared_data: Path) -> None:
    # Arrange
    paths = [shared_data / CRYPTOFEED / "BITMEX.ws.1.0"]

    # Act
    totals, books = _ingest_all(paths, BitmexBookReader, bitmex_tick_sizes, "bitmex")

    # Assert: README §2: 10 partial, 445 insert + 1,090 update + 434 delete, no unknown id
    assert len(books) == 10
    assert (totals["snapshots"], totals["updates"]) == (10, 445 + 1_090 + 434)


@pytest.mark.shared_data
def test_bybit_v1_order_book_l2_25_capture(shared_data: Path) -> None:
    # Arrange
    paths = [shared_data / CRYPTOFEED / "BYBIT.ws.26.0"]

    # Act
    totals, books = _ingest_all(paths, BybitL2V1Reader, bybit_tick_sizes, "bybit")

    # Assert: README §2: BTCUSD and EOSUSD, 2 snapshots + 1,016 deltas; 25 levels a side
    assert sorted(books) == ["BTCUSD", "EOSUSD"]
    assert (totals["snapshots"], totals["updates"]) == (2, 1_016)
    for events in books.values():
        book = ReferenceBook()
        book.apply_all(events)
        assert (len(book.bids), len(book.asks)) == (25, 25)


@pytest.mark.shared_data
def test_bybit_ob500_history_download(shared_data: Path) -> None:
    # Arrange
    paths = [shared_data / "bybit-ob500-xrpusdt" / "2024-12-01_XRPUSDT_ob500.data.zip"]

    # Act
    totals, books = _ingest_all(paths, BybitBookReader, bybit_tick_sizes, "bybit")

    # Assert: README §5: 1 snapshot + 49 deltas, u 20254869 -> 20254918, final book 500 x 500
    # with best 1.9537 / 1.9538
    events = books["XRPUSDT"]
    assert (totals["snapshots"], totals["updates"]) == (1, 49)
    assert (int(events[0]["seq"]), int(events[-1]["seq"])) == (20_254_869, 20_254_918)
    book = ReferenceBook()
    book.apply_all(events)
    assert (len(book.bids), len(book.asks)) == (500, 500)
    assert (book.best_bid(), book.best_ask()) == ((19_537, 10_605.0), (19_538, 6_702.0))


@pytest.mark.shared_data
def test_gemini_l2_capture(shared_data: Path) -> None:
    # Arrange
    paths = [shared_data / CRYPTOFEED / "GEMINI.ws.1.0"]

    # Act
    totals, books = _ingest_all(paths, GeminiBookReader, gemini_tick_sizes, "gemini")

    # Assert: README §2: 10 symbols, 655 l2_updates (the first per symbol is the full book)
    assert len(books) == 10
    assert (totals["snapshots"], totals["updates"]) == (10, 645)


@pytest.mark.shared_data
def test_hyperliquid_l2book_recording(shared_data: Path) -> None:
    # Arrange
    paths = [shared_data / "hftbacktest-binance-hyperliquid" / "hyperliquid_btcusd_20250126.gz"]

    # Act
    totals, books = _ingest_all(paths, HyperliquidBookReader, hyperliquid_tick_sizes, "hl")

    # Assert: README §1: 46 l2Book snapshots (20 levels a side), 9 trades messages skipped
    events = books["BTC"]
    assert (totals["snapshots"], totals["non_book"]) == (46, 9)
    assert int(np.count_nonzero(events["flags"] & F_LAST)) == 46
    assert bool(np.all(np.diff(events["ts_exch"]) >= 0))
