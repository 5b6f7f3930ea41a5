"""BinanceDepthClient over a loopback venue replaying the real cryptofeed Binance captures.

The oracle is :class:`BinanceDepthReader` on the same files: without faults the client must
emit the same C1 rows (``ts_recv`` aside); with an injected gap or disconnect it must
resync and end with the same book; a stall must raise exactly one stale-feed alert.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.errors import ConfigError
from l2trader.paper.binance_ws import BinanceDepthClient, binance_urls
from l2trader.paper.feed import FeedAlert, ReplayFeed
from l2trader.schema import F_GAP_BEFORE, F_LAST, KIND_BOOK, KIND_SNAPSHOT, KIND_TRADE
from l2trader.testing import ReferenceBook
from l2trader.testing.binance_server import BinanceReplayServer, load_capture

CF = "cryptofeed-ws-captures"
Market = Literal["spot", "futures"]
SYMBOLS: list[tuple[str, str, Market]] = [
    *[("BINANCE_FUTURES", s, "futures") for s in ("SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT")],
    *[("BINANCE", s, "spot") for s in ("NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR")],
]
SETTLE_TIMEOUT_S = 60.0  # hang guard only, never a performance assertion


def _files(shared: Path, venue: str) -> tuple[Path, Path]:
    return shared / CF / f"{venue}.ws.1.0", shared / CF / f"{venue}.http.0.0"


def _instrument(http: Path, venue: str, symbol: str) -> Instrument:
    """Tick size = the smallest price step in the recorded REST snapshot."""
    for line in http.read_text().splitlines():
        if f"symbol={symbol}&" in line:
            body = json.loads(line.split(": ", 1)[1])
            prices = sorted({Decimal(p) for p, _ in body["bids"] + body["asks"]})
            tick = min(b - a for a, b in itertools.pairwise(prices))
            return Instrument(venue=venue.lower(), symbol=symbol, tick_size=float(tick))
    raise AssertionError(symbol)


def _reader_events(shared: Path, venue: str, symbol: str) -> np.ndarray:
    ws, http = _files(shared, venue)
    inst = _instrument(http, venue, symbol)
    return collect(
        BinanceDepthReader([ws], instrument=inst, snapshot_paths=[http], symbol=symbol).chunks()
    )


def _run_client(
    shared: Path,
    venue: str,
    symbol: str,
    market: Market,
    restart_at: int | None = None,
    **server_kw: Any,
) -> tuple[np.ndarray, BinanceDepthClient, BinanceReplayServer, list[FeedAlert]]:
    """Replay the capture to a client until it received every frame sent and is in sync.

    ``restart_at``: once the synced client received that many messages, it restarts itself
    (an operator's ``restart_feed``); the run fails if there was no connection to drop.
    """
    ws, http = _files(shared, venue)
    capture = load_capture([ws], [http])

    async def run() -> tuple[np.ndarray, BinanceDepthClient, BinanceReplayServer, list[FeedAlert]]:
        async with BinanceReplayServer(capture, **server_kw) as server:
            client = BinanceDepthClient(
                server.ws_url, server.rest_url(symbol, market), symbol=symbol,
                instrument=_instrument(http, venue, symbol), market=market,
                stale_after_s=0.3, backoff=(0.05, 0.5),
            )  # fmt: skip
            out: list[np.ndarray] = []

            async def consume() -> None:
                async for rows in client:
                    out.append(rows)

            task = asyncio.create_task(consume())
            if restart_at is not None:
                while client.stats.messages < restart_at or not client.synced:
                    await asyncio.sleep(0.005)
                assert client.restart()
            await asyncio.wait_for(_settled(server, client), SETTLE_TIMEOUT_S)
            alerts = list(client.alerts)
            client.stop()
            await asyncio.wait_for(task, SETTLE_TIMEOUT_S)
            return collect(out), client, server, alerts

    return asyncio.run(run())


async def _settled(server: BinanceReplayServer, client: BinanceDepthClient) -> None:
    await server.finished.wait()
    while client.stats.messages < server.stats.sent or not client.synced:
        await asyncio.sleep(0.01)


def _book(events: np.ndarray) -> ReferenceBook:
    book = ReferenceBook()
    book.apply_all(events)
    return book


def _same_book(a: np.ndarray, b: np.ndarray) -> bool:
    x, y = _book(a), _book(b)
    return x.bids == y.bids and x.asks == y.asks


def _without_ts_recv(events: np.ndarray) -> np.ndarray:
    return events[[n for n in events.dtype.names or () if n != "ts_recv"]]


def _same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and bool((_without_ts_recv(a) == _without_ts_recv(b)).all())


def _depth_index(shared: Path, venue: str, symbol: str, nth: int) -> int:
    ws, http = _files(shared, venue)
    return load_capture([ws], [http]).depth_indices(symbol)[nth]


@pytest.mark.shared_data
@pytest.mark.parametrize(("venue", "symbol", "market"), SYMBOLS)
def test_client_emits_the_reader_rows_on_the_real_capture(
    shared_data: Path, venue: str, symbol: str, market: Market
) -> None:
    # Arrange
    expected = _reader_events(shared_data, venue, symbol)
    # Act
    got, client, server, alerts = _run_client(shared_data, venue, symbol, market, speed=math.inf)
    # Assert: book rows in order, trade rows in order (their interleaving with the
    # snapshot batch depends on when the REST answer arrives), same final book
    is_trade_e, is_trade_g = expected["kind"] == KIND_TRADE, got["kind"] == KIND_TRADE
    assert _same_rows(got[~is_trade_g], expected[~is_trade_e])
    assert _same_rows(got[is_trade_g], expected[is_trade_e])
    assert _same_book(got, expected)
    assert np.all(np.diff(got["ts_recv"]) >= 0)
    assert got["flags"][-1] & F_LAST
    assert client.report.ok
    assert (client.stats.gaps, client.stats.resyncs, client.stats.snapshots) == (0, 0, 1)
    assert client.stats.messages == server.stats.sent == len(server.messages)
    assert server.stats.rest_recorded == 1
    assert alerts == []


@pytest.mark.shared_data
@pytest.mark.parametrize(("venue", "symbol", "market"), [SYMBOLS[0], SYMBOLS[4]])
def test_dropped_update_is_a_gap_that_resyncs_to_the_correct_book(
    shared_data: Path, venue: str, symbol: str, market: Market
) -> None:
    # Arrange: withhold the symbol's 40th depth update (~1/4 into the capture)
    expected = _reader_events(shared_data, venue, symbol)
    k = _depth_index(shared_data, venue, symbol, 40)
    # Act
    got, client, server, _ = _run_client(shared_data, venue, symbol, market, speed=20.0, drop=[k])
    # Assert
    assert server.stats.dropped == 1
    assert (client.stats.gaps, client.stats.resyncs, client.stats.snapshots) == (1, 1, 2)
    assert client.report.counts == {"sequence_gap": 1}
    assert _same_book(got, expected)
    resync = int(np.flatnonzero(got["flags"] & F_GAP_BEFORE)[0])
    assert got["kind"][resync + 1] == KIND_SNAPSHOT
    assert np.count_nonzero(got["kind"][resync:] == KIND_BOOK) > 0  # updates after the resync


@pytest.mark.shared_data
@pytest.mark.parametrize(("venue", "symbol", "market"), [SYMBOLS[0], SYMBOLS[4]])
def test_disconnect_reconnects_resyncs_and_ends_with_the_correct_book(
    shared_data: Path, venue: str, symbol: str, market: Market
) -> None:
    # Arrange: the venue drops the connection before the symbol's 40th depth update
    expected = _reader_events(shared_data, venue, symbol)
    k = _depth_index(shared_data, venue, symbol, 40)
    # Act
    got, client, server, _ = _run_client(
        shared_data, venue, symbol, market, speed=20.0, disconnect_at=[k]
    )
    # Assert
    assert server.stats.disconnects == 1
    assert server.stats.connections == 2
    assert (client.stats.disconnects, client.stats.reconnects) == (1, 1)
    assert (client.stats.resyncs, client.stats.snapshots) == (1, 2)
    assert _same_book(got, expected)
    assert np.count_nonzero(got["flags"] & F_GAP_BEFORE) == 1
    assert np.all(np.diff(got["ts_recv"]) >= 0)


@pytest.mark.shared_data
def test_operator_restart_reconnects_resyncs_and_ends_with_the_correct_book(
    shared_data: Path,
) -> None:
    # Arrange: an alert's "restart_feed" response drops the client's connection mid-stream
    venue, symbol, market = SYMBOLS[0]
    expected = _reader_events(shared_data, venue, symbol)
    # Act
    got, client, server, _ = _run_client(shared_data, venue, symbol, market, restart_at=40,
                                         speed=20.0)  # fmt: skip
    # Assert
    assert server.stats.connections == 2
    assert (client.stats.disconnects, client.stats.reconnects) == (1, 1)
    assert client.stats.snapshots == 2
    assert _same_book(got, expected)
    assert np.all(np.diff(got["ts_recv"]) >= 0)


@pytest.mark.shared_data
def test_stall_raises_exactly_one_stale_alert(shared_data: Path) -> None:
    # Arrange: replay as fast as possible, the venue goes silent for 1 s mid-way
    venue, symbol, market = SYMBOLS[0]
    expected = _reader_events(shared_data, venue, symbol)
    k = _depth_index(shared_data, venue, symbol, 100)
    # Act
    got, client, _, alerts = _run_client(
        shared_data, venue, symbol, market, speed=math.inf, stall={k: 1.0}
    )
    # Assert
    assert len(alerts) == 1
    assert alerts[0].kind == "stale_feed"
    assert alerts[0].silent_s >= 0.3
    assert client.stats.stale_alerts >= 1  # counted (a later one may follow after the end)
    assert _same_book(got, expected)


@pytest.mark.shared_data
def test_replay_feed_yields_the_reader_rows_of_a_real_capture(shared_data: Path) -> None:
    # Arrange
    expected = _reader_events(shared_data, "BINANCE_FUTURES", "SUSHIUSDT")

    async def run() -> list[np.ndarray]:
        return [rows async for rows in ReplayFeed(expected, speed=None)]

    # Act
    arrivals = asyncio.run(run())
    # Assert
    got = collect(arrivals)
    assert len(got) == len(expected)
    assert bool((got == expected).all())
    assert all(len(set(a["ts_recv"].tolist())) == 1 for a in arrivals)


def test_client_config_errors() -> None:
    inst = Instrument(venue="binance", symbol="X", tick_size=0.01)
    with pytest.raises(ConfigError, match="market"):
        BinanceDepthClient("ws://x", "http://x", symbol="X", instrument=inst, market="perp")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="backoff"):
        BinanceDepthClient("ws://x", "http://x", symbol="X", instrument=inst, backoff=(1.0, 0.5))


def test_binance_urls_name_the_production_endpoints() -> None:
    ws, rest = binance_urls("SUSHIUSDT", "futures")
    assert ws == "wss://fstream.binance.com/stream?streams=sushiusdt@depth@100ms/sushiusdt@aggTrade"
    assert rest == "https://fapi.binance.com/fapi/v1/depth?symbol=SUSHIUSDT&limit=1000"


def test_unreachable_venue_counts_disconnects_and_stops() -> None:
    # Arrange: nothing listens on port 9 of loopback
    inst = Instrument(venue="binance", symbol="X", tick_size=0.01)
    client = BinanceDepthClient(
        "ws://127.0.0.1:9/stream", "http://127.0.0.1:9/depth", symbol="X", instrument=inst,
        backoff=(0.01, 0.02),
    )  # fmt: skip

    async def run() -> list[np.ndarray]:
        out: list[np.ndarray] = []

        async def consume() -> None:
            async for rows in client:
                out.append(rows)

        task = asyncio.create_task(consume())
        while client.stats.disconnects < 3:
            await asyncio.sleep(0.01)
        client.stop()
        await asyncio.wait_for(task, SETTLE_TIMEOUT_S)
        return out

    # Act
    out = asyncio.run(run())
    # Assert
    assert out == []
    assert client.stats.reconnects == 0
