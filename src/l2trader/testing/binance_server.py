"""Loopback Binance venue for tests: replays a recorded capture over websocket + REST.

:class:`BinanceReplayServer` serves, on ``127.0.0.1``, one websocket endpoint that sends
the capture's received messages (every stream and symbol, or those named in the URL's
``?streams=a/b`` query) with their original inter-arrival timing divided by ``speed``, and
a REST ``GET .../depth?symbol=S`` endpoint answered by the same server (websockets'
``process_request`` hook).

The server is the venue: it keeps the true book of every symbol as decimal strings. The
first snapshot request of a symbol gets the **recorded** REST response, sent no earlier
than the replay reaches its recorded receive time; every later request gets the venue's
current book (all levels) with ``lastUpdateId`` = the last applied update id ``u``. The
venue book starts at the recorded snapshot; an update is part of it iff its ``u`` is
greater than the book's id (the capture is gap-free, so that is the whole truth).

The replay clock starts with the first websocket connection and is shared by every
connection: a client that is disconnected misses what is sent meanwhile, as on the real
venue. Faults are given by index ``k`` into :attr:`BinanceReplayServer.messages`:
``disconnect_at`` closes every client connection before message ``k``; ``drop`` never
sends message ``k`` (the venue book still applies it: a gap); ``stall`` pauses ``s``
seconds of wall time before message ``k`` (later messages are delayed by as much).
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from l2trader.data import binance_parse as bp
from l2trader.data.io import iter_lines
from l2trader.errors import ConfigError

__all__ = ["BinanceReplayServer", "Capture", "ReplayMessage", "ServerStats", "load_capture"]

_Levels = dict[Decimal, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ReplayMessage:
    """One received websocket message of the capture (``ts_ns`` = recorded receive time)."""

    ts_ns: int
    stream: str
    symbol: str
    kind: bp.Kind
    text: str


@dataclass(slots=True)
class Capture:
    """A capture's websocket messages in receive order and its REST snapshots per symbol."""

    messages: list[ReplayMessage] = field(default_factory=list)
    snapshots: dict[str, tuple[int, str]] = field(default_factory=dict)

    def depth_indices(self, symbol: str) -> list[int]:
        """Indices into :attr:`messages` of ``symbol``'s diff-depth messages."""
        sym = symbol.upper()
        return [
            i for i, m in enumerate(self.messages) if m.symbol == sym and m.kind is bp.Kind.DEPTH
        ]


def load_capture(ws_paths: Sequence[str | Path], http_paths: Sequence[str | Path] = ()) -> Capture:
    """Read cryptofeed ``.ws.``/``.http.`` files (or recorder files with inline snapshots).

    Only the first REST snapshot of each symbol is kept (the one the replay serves).
    """
    capture = Capture()
    for path in [*ws_paths, *http_paths]:
        for _, text in iter_lines(Path(path)):
            if text.strip():
                _add_line(capture, text)
    capture.messages.sort(key=lambda m: m.ts_ns)  # stable: file order for equal stamps
    return capture


def _add_line(capture: Capture, text: str) -> None:
    ts, payload, url_sym = bp.split_line(text)
    if not payload:
        return
    if url_sym or not payload.startswith(bp.STREAM_PREFIX):
        kind, symbol, _ = bp.decode_payload(payload)
        if kind is bp.Kind.SNAPSHOT:
            sym = url_sym or symbol or _only_symbol(capture)
            capture.snapshots.setdefault(sym, (ts, payload))
            return
    end = payload.find('"', len(bp.STREAM_PREFIX))
    stream = payload[len(bp.STREAM_PREFIX) : end] if end > 0 else ""
    symbol, _, channel = stream.partition("@")
    capture.messages.append(
        ReplayMessage(ts, stream, symbol.upper(), bp.channel_kind(channel), payload)
    )


def _only_symbol(capture: Capture) -> str:
    symbols = {m.symbol for m in capture.messages if m.kind is bp.Kind.DEPTH}
    if len(symbols) != 1:
        raise ConfigError(f"snapshot without a symbol, and the depth streams name {symbols}")
    return symbols.pop()


class _VenueBook:
    """The venue's true book of one symbol: decimal-string levels and the last update id."""

    def __init__(self) -> None:
        self.bids: _Levels = {}
        self.asks: _Levels = {}
        self.last_id = -1
        self.known = False
        self.futures = False
        self.times: tuple[int, int] = (0, 0)
        self.pending: list[dict[str, Any]] = []

    def seed(self, snapshot: dict[str, Any]) -> None:
        self.bids, self.asks = _levels(snapshot["bids"]), _levels(snapshot["asks"])
        self.last_id, self.known = int(snapshot["lastUpdateId"]), True
        held, self.pending = self.pending, []
        for data in held:
            self.update(data)

    def update(self, data: dict[str, Any]) -> None:
        self.futures = self.futures or "pu" in data
        if not self.known:
            self.pending.append(data)
            return
        if int(data["u"]) <= self.last_id:
            return
        _apply(self.bids, data["b"])
        _apply(self.asks, data["a"])
        self.last_id = int(data["u"])
        self.times = (int(data["E"]), int(data.get("T", data["E"])))

    def snapshot_text(self, next_first_id: int | None) -> str:
        """The book as a REST response.

        Spot: ``lastUpdateId`` = the last applied ``u`` (the next update has ``U = u + 1``).
        Futures: the venue snapshots mid-way through aggregating the next update, so
        ``lastUpdateId`` = that update's ``U`` when known (the book is the one before it;
        the update sets absolute sizes, so applying it whole gives the exact book).
        """
        last = next_first_id if self.futures and next_first_id is not None else self.last_id
        body: dict[str, Any] = {"lastUpdateId": last}
        if self.futures:
            body["E"], body["T"] = self.times
        body["bids"] = [list(self.bids[p]) for p in sorted(self.bids, reverse=True)]
        body["asks"] = [list(self.asks[p]) for p in sorted(self.asks)]
        return orjson.dumps(body).decode()


def _levels(pairs: Iterable[Sequence[str]]) -> _Levels:
    out: _Levels = {}
    _apply(out, pairs)
    return out


def _apply(levels: _Levels, pairs: Iterable[Sequence[str]]) -> None:
    for price, qty in pairs:
        key = Decimal(price)
        if Decimal(qty) == 0:
            levels.pop(key, None)
        else:
            levels[key] = (price, qty)


@dataclass(slots=True)
class ServerStats:
    """What the server did: connections, frames sent/dropped/lost, REST answers."""

    connections: int = 0
    sent: int = 0
    """Frames delivered to client connections (one per connection and message)."""
    dropped: int = 0
    """Messages withheld by the ``drop`` fault."""
    unsent: int = 0
    """Messages that no connected client subscribed to (e.g. while disconnected)."""
    disconnects: int = 0
    rest_recorded: int = 0
    rest_live: int = 0


class BinanceReplayServer:
    """Loopback websocket + REST server replaying a Binance capture (use ``async with``).

    Parameters
    ----------
    capture
        From :func:`load_capture`.
    speed
        Replay speed factor (1.0 = recorded timing, 10.0 = ten times faster; ``math.inf``
        = as fast as possible, still yielding to the event loop between messages).
    disconnect_at, drop, stall
        Faults by message index (see the module docstring); ``stall`` maps index -> s.
    """

    def __init__(
        self,
        capture: Capture,
        *,
        speed: float = 1.0,
        disconnect_at: Iterable[int] = (),
        drop: Iterable[int] = (),
        stall: Mapping[int, float] | None = None,
    ) -> None:
        if not speed > 0:
            raise ConfigError(f"speed must be > 0 (math.inf = as fast as possible), got {speed}")
        self.capture = capture
        self.messages = capture.messages
        self.speed = speed
        self.disconnect_at = frozenset(disconnect_at)
        self.drop = frozenset(drop)
        self.stall = dict(stall or {})
        self.stats = ServerStats()
        self.finished = asyncio.Event()
        self._books = {sym: _VenueBook() for sym in capture.snapshots}
        self._reached = {sym: asyncio.Event() for sym in capture.snapshots}
        self._served: set[str] = set()
        self._position = -1  # index of the last message the replay has processed
        self._next_ids = {sym: _first_ids(capture, sym) for sym in capture.snapshots}
        self._clients: dict[ServerConnection, frozenset[str] | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._replay: asyncio.Task[None] | None = None
        self._server: Server | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> BinanceReplayServer:
        self._server = await serve(
            self._handler, "127.0.0.1", 0, process_request=self._process_request,
            open_timeout=None, max_size=None,
        )  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in [*self._tasks, *([self._replay] if self._replay else [])]:
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def ws_url(self) -> str:
        """Combined-stream websocket URL (add ``?streams=a/b`` to subscribe to a subset)."""
        return f"ws://127.0.0.1:{self.port}/stream"

    def rest_url(self, symbol: str, market: str = "spot") -> str:
        """Depth-snapshot URL of ``symbol`` with Binance's path for ``market``."""
        path = "/fapi/v1/depth" if market == "futures" else "/api/v3/depth"
        return f"http://127.0.0.1:{self.port}{path}?symbol={symbol.upper()}&limit=1000"

    def start(self) -> None:
        """Start the replay clock (done by the first websocket connection)."""
        if self._replay is None:
            self._replay = asyncio.get_running_loop().create_task(self._run())

    # ------------------------------------------------------------------ websocket side

    async def _handler(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        streams = query.get("streams", [""])[0]
        self._clients[ws] = frozenset(streams.split("/")) if streams else None
        self.stats.connections += 1
        self.start()
        try:
            await ws.wait_closed()
        finally:
            self._clients.pop(ws, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        timeline = self._timeline()
        t0, ts0, shift = loop.time(), (timeline[0][0] if timeline else 0), 0.0
        for ts, index, symbol in timeline:
            due = t0 + shift + (ts - ts0) / 1e9 / self.speed  # loop.time() seconds
            await asyncio.sleep(max(0.0, due - loop.time()) if math.isfinite(due) else 0.0)
            if index < 0:
                self._books[symbol].seed(orjson.loads(self.capture.snapshots[symbol][1]))
                self._reached[symbol].set()
                continue
            if index in self.stall:
                await asyncio.sleep(self.stall[index])
                shift += self.stall[index]
            await self._step(index)
        self.finished.set()

    def _timeline(self) -> list[tuple[int, int, str]]:
        """(ts, message index or -1 for a snapshot, symbol), in replay order."""
        items = [(m.ts_ns, i, m.symbol) for i, m in enumerate(self.messages)]
        items += [(ts, -1, sym) for sym, (ts, _) in self.capture.snapshots.items()]
        return sorted(items, key=lambda x: (x[0], x[1] >= 0))

    async def _step(self, index: int) -> None:
        self._position = index
        if index in self.disconnect_at:
            self._disconnect_all()
        message = self.messages[index]
        if message.kind is bp.Kind.DEPTH and message.symbol in self._books:
            self._books[message.symbol].update(orjson.loads(message.text)["data"])
        if index in self.drop:
            self.stats.dropped += 1
            return
        targets = [ws for ws, s in self._clients.items() if s is None or message.stream in s]
        if not targets:
            self.stats.unsent += 1
        for ws in targets:
            try:
                await ws.send(message.text)
                self.stats.sent += 1
            except ConnectionClosed:
                pass

    def _disconnect_all(self) -> None:
        for ws in list(self._clients):
            self._clients.pop(ws, None)
            self.stats.disconnects += 1
            task = asyncio.get_running_loop().create_task(ws.close(1001, "injected disconnect"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ REST side

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        self.start()
        url = urlsplit(request.path)
        symbol = parse_qs(url.query).get("symbol", [""])[0].upper()
        if not url.path.endswith("/depth"):
            return _json(ws, 404, '{"code":-1,"msg":"not found"}')
        if symbol not in self._books:
            return _json(ws, 400, '{"code":-1121,"msg":"Invalid symbol."}')
        return _json(ws, 200, await self._snapshot_text(symbol))

    async def _snapshot_text(self, symbol: str) -> str:
        await self._reached[symbol].wait()
        if symbol not in self._served:
            self._served.add(symbol)
            self.stats.rest_recorded += 1
            return self.capture.snapshots[symbol][1]
        self.stats.rest_live += 1
        indices, first_ids = self._next_ids[symbol]
        at = bisect.bisect_right(indices, self._position)
        return self._books[symbol].snapshot_text(first_ids[at] if at < len(indices) else None)


def _first_ids(capture: Capture, symbol: str) -> tuple[list[int], list[int]]:
    """Indices of ``symbol``'s depth messages and their first update ids ``U``."""
    indices = capture.depth_indices(symbol)
    return indices, [int(orjson.loads(capture.messages[i].text)["data"]["U"]) for i in indices]


def _json(ws: ServerConnection, status: int, body: str) -> Response:
    response = ws.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
