"""Binance diff-depth websocket client: REST snapshot sync, resync on gap, reconnect, alerts.

:class:`BinanceDepthClient` is a :class:`~l2trader.paper.feed.Feed`. It opens the websocket,
buffers depth updates, fetches the REST snapshot and synchronises with the same
:class:`~l2trader.data.binance_sync.DepthSync` state machine (``U``/``u``/``pu`` rules) as the
file reader :class:`~l2trader.data.binance.BinanceDepthReader`, so on the same messages it
emits the same C1 rows (``ts_recv`` aside: here it is the local receive time, ns).

- **Gap** (an update that does not continue the previous one): DepthSync un-syncs and
  holds later updates; the client fetches a new snapshot (``stats.gaps``, ``stats.resyncs``).
- **Disconnect**: reconnect with exponential backoff ``initial * 2**k`` capped at
  ``backoff[1]`` s, then resync: the snapshot after a reconnect starts with CLEAR rows and
  carries ``F_GAP_BEFORE``/``F_REPAIRED``.
- **Stale feed**: no websocket message for ``stale_after_s`` raises one
  :class:`~l2trader.paper.feed.FeedAlert` (``"stale_feed"``) per silent episode, appended to
  ``alerts`` and passed to ``on_alert``.

Bad messages go to ``report`` (default ``Policy.REPAIR``: counted and quarantined; with
``STRICT`` the first one raises its typed error out of the iteration).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from l2trader.data import binance_parse as bp
from l2trader.data.binance_levels import Levels
from l2trader.data.binance_sync import DepthSync, add_issue
from l2trader.data.events import EventBuffer
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.errors import ConfigError
from l2trader.paper.feed import FeedAlert, FeedStats

__all__ = ["BinanceDepthClient", "binance_urls"]

logger = logging.getLogger(__name__)

Item = tuple[str, int, str]  # (what: ws | rest | rest_error | closed, ts_recv ns, text)
_WS_ERRORS = (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed)


def binance_urls(
    symbol: str, market: Literal["spot", "futures"] = "spot", *, depth_ms: int = 100
) -> tuple[str, str]:
    """Production ``(ws_url, rest_url)`` for ``symbol``'s diff depth and aggTrade streams.

    Examples
    --------
    >>> binance_urls("BTCUSDT")[1]
    'https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000'
    """
    sym = symbol.lower()
    streams = f"{sym}@depth@{depth_ms}ms/{sym}@aggTrade"
    if market == "futures":
        base, rest = "wss://fstream.binance.com", "https://fapi.binance.com/fapi/v1/depth"
    else:
        base, rest = "wss://stream.binance.com:9443", "https://api.binance.com/api/v3/depth"
    return f"{base}/stream?streams={streams}", f"{rest}?symbol={symbol.upper()}&limit=1000"


def _loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


class BinanceDepthClient:
    """Live Binance order-book feed for one symbol, as C1 batches.

    Parameters
    ----------
    ws_url
        Websocket URL (combined ``/stream?streams=...`` or raw); see :func:`binance_urls`.
    rest_url
        Depth-snapshot URL (``.../depth?symbol=S&limit=1000``).
    symbol
        Symbol to keep (case-insensitive); messages of other symbols are skipped.
    instrument
        Gives ``tick_size`` (prices become int64 ticks).
    market
        ``"spot"`` or ``"futures"`` sync rules.
    stale_after_s
        Seconds without a websocket message before a stale-feed alert.
    backoff
        ``(initial, max)`` reconnect / snapshot-retry delays, seconds.
    on_alert
        Called with every :class:`FeedAlert` (also kept in ``alerts``).
    include_trades
        Emit ``trade``/``aggTrade`` messages as TRADE events.
    """

    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        *,
        symbol: str,
        instrument: Instrument,
        market: Literal["spot", "futures"] = "spot",
        stale_after_s: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        on_alert: Callable[[FeedAlert], None] | None = None,
        include_trades: bool = True,
        policy: Policy = Policy.REPAIR,
        http_timeout_s: float = 10.0,
    ) -> None:
        if market not in ("spot", "futures"):
            raise ConfigError(f"market must be 'spot' or 'futures', got {market!r}")
        if not (stale_after_s > 0 and 0 < backoff[0] <= backoff[1] and http_timeout_s > 0):
            raise ConfigError(
                f"need stale_after_s > 0, 0 < backoff[0] <= backoff[1], http_timeout_s > 0; "
                f"got {stale_after_s}, {backoff}, {http_timeout_s}"
            )
        self.ws_url, self.rest_url = ws_url, rest_url
        self.symbol = symbol.upper()
        self.tick = instrument.tick_size
        self.futures = market == "futures"
        self.stale_after_s = stale_after_s
        self.backoff = backoff
        self.on_alert = on_alert
        self.include_trades = include_trades
        self.http_timeout_s = http_timeout_s
        self.report = ValidationReport(f"{self.symbol}@{ws_url}", Policy(policy))
        self.counters: Counter[str] = Counter()
        """DepthSync's normal-event counters (stale updates, snapshots applied, ...)."""
        self.stats = FeedStats()
        self.alerts: list[FeedAlert] = []
        self._buffer = EventBuffer(1 << 30)
        self._sync = DepthSync(self.report, self._buffer, futures=self.futures, stats=self.counters)
        self._stopping = False
        self._ws: ClientConnection | None = None
        self._fetching = False
        self._fetch_failures = 0
        self._last_ns = -1
        self._ever_synced = False
        self._last_stamp = 0

    @property
    def synced(self) -> bool:
        """True while the book is synchronised (snapshot applied, no gap since)."""
        return self._sync.synced

    def stop(self) -> None:
        """End the iteration: close the connection; ``async for`` returns soon after."""
        self._stopping = True
        if self._ws is not None:
            task = asyncio.get_running_loop().create_task(self._ws.close())
            task.add_done_callback(lambda _: None)

    def restart(self) -> bool:
        """Drop the connection (an operator's "restart the feed"): reconnect, resync.

        Returns False when there is no open connection (nothing to restart).
        """
        if self._ws is None or self._stopping:
            return False
        task = asyncio.get_running_loop().create_task(self._ws.close())
        task.add_done_callback(lambda _: None)
        return True

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        """Connect, sync and yield C1 arrays until :meth:`stop` (reconnecting on loss)."""
        attempt = 0
        while not self._stopping:
            try:
                proxy: Literal[True] | None = None if _loopback(self.ws_url) else True
                async with connect(self.ws_url, max_size=None, proxy=proxy) as ws:
                    self._ws = ws
                    if self.stats.disconnects:
                        self.stats.reconnects += 1
                    async for rows in self._session(ws):
                        attempt = 0
                        yield rows
            except _WS_ERRORS as exc:
                logger.info("%s: connection lost: %r", self.symbol, exc)
            self._ws = None
            if self._stopping:
                return
            self.stats.disconnects += 1
            self._sync.desync()
            await asyncio.sleep(self._delay(attempt))
            attempt += 1

    def _delay(self, attempt: int) -> float:
        return float(min(self.backoff[1], self.backoff[0] * 2.0**attempt))

    # ------------------------------------------------------------------ one connection

    async def _session(self, ws: ClientConnection) -> AsyncIterator[np.ndarray]:
        queue: asyncio.Queue[Item] = asyncio.Queue()
        tasks = {asyncio.get_running_loop().create_task(self._read(ws, queue))}
        self._last_ns, self._fetching = time.monotonic_ns(), False
        stale = False
        try:
            while True:
                if not self._sync.synced and not self._fetching:
                    self._fetching = True
                    tasks.add(asyncio.get_running_loop().create_task(self._fetch(queue)))
                item, stale = await self._next(queue, stale)
                if item is None:
                    continue
                if item[0] == "closed":
                    return
                self._handle(item)
                rows = self._buffer.take()
                if len(rows):
                    self.stats.count(rows)
                    yield rows
        finally:
            for task in tasks:
                task.cancel()

    async def _read(self, ws: ClientConnection, queue: asyncio.Queue[Item]) -> None:
        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode()
                queue.put_nowait(("ws", self._stamp(), text))
        except ConnectionClosed as exc:
            queue.put_nowait(("closed", self._stamp(), repr(exc)))
            return
        queue.put_nowait(("closed", self._stamp(), "closed"))

    async def _fetch(self, queue: asyncio.Queue[Item]) -> None:
        """GET the snapshot (after a backoff delay when earlier ones did not sync)."""
        if self._fetch_failures:
            await asyncio.sleep(self._delay(self._fetch_failures - 1))
        try:
            text = await asyncio.to_thread(self._http_get)
        except (OSError, ValueError) as exc:
            queue.put_nowait(("rest_error", self._stamp(), repr(exc)))
            return
        queue.put_nowait(("rest", self._stamp(), text))

    def _http_get(self) -> str:
        """GET ``rest_url`` (system proxies apply, except to a loopback host)."""
        handlers = [urllib.request.ProxyHandler({})] if _loopback(self.rest_url) else []
        opener = urllib.request.build_opener(*handlers)
        with opener.open(self.rest_url, timeout=self.http_timeout_s) as response:
            body: bytes = response.read()
        return body.decode()

    def _stamp(self) -> int:
        """Local receive time, ns since the epoch, never before the previous stamp."""
        self._last_stamp = max(time.time_ns(), self._last_stamp)
        return self._last_stamp

    async def _next(self, queue: asyncio.Queue[Item], stale: bool) -> tuple[Item | None, bool]:
        """Next queued item; raises one stale alert when the websocket is silent too long."""
        if stale:
            item = await queue.get()
            return item, item[0] != "ws"
        left = self.stale_after_s - (time.monotonic_ns() - self._last_ns) / 1e9
        try:
            return await asyncio.wait_for(queue.get(), timeout=max(left, 0.0)), False
        except TimeoutError:
            silent = (time.monotonic_ns() - self._last_ns) / 1e9
            self._alert(FeedAlert("stale_feed", time.time_ns(), self._stale_text(silent), silent))
            return None, True

    def _stale_text(self, silent: float) -> str:
        return f"{self.symbol}: no websocket message for {silent:.3f} s"

    def _alert(self, alert: FeedAlert) -> None:
        self.stats.stale_alerts += 1
        self.alerts.append(alert)
        logger.warning("%s", alert.message)
        if self.on_alert is not None:
            self.on_alert(alert)

    # ------------------------------------------------------------------ messages

    def _handle(self, item: Item) -> None:
        what, ts, text = item
        if what == "ws":
            self._last_ns = time.monotonic_ns()
            self.stats.messages += 1
            self.stats.last_msg_ns = ts
            self._on_ws(ts, text)
        elif what == "rest":
            self._fetching = False
            self._on_rest(ts, text)
        else:
            self._fetching = False
            self._fetch_failures += 1
            logger.info("%s: snapshot request failed: %s", self.symbol, text)

    def _decode(self, where: tuple[str, int], text: str) -> tuple[bp.Kind, str, Any] | None:
        try:
            return bp.decode_payload(text)
        except (ValueError, TypeError, KeyError) as exc:
            add_issue(self.report, where, -1, IssueCode.PARSE_ERROR, f"bad JSON: {exc}", text)
            return None

    def _on_ws(self, ts: int, text: str) -> None:
        where = ("ws", self.stats.messages)
        self.report.rows_in += 1
        decoded = self._decode(where, text)
        if decoded is None:
            return
        kind, symbol, data = decoded
        wanted = kind in (bp.Kind.DEPTH, bp.Kind.TRADE, bp.Kind.AGG_TRADE)
        if kind is not bp.Kind.DEPTH and not self.include_trades:
            wanted = False
        if data is None or not wanted or (symbol and symbol != self.symbol):
            self.report.rows_skipped += 1
            return
        message = self._build(where, kind, data, ts, text)
        if isinstance(message, bp.DepthUpdate):
            was_synced = self._sync.synced
            self._sync.on_depth(message)
            self.stats.gaps += int(was_synced and not self._sync.synced)
        elif isinstance(message, bp.Trade):
            self._sync.on_trade(message, aggregate=kind is bp.Kind.AGG_TRADE)

    def _on_rest(self, ts: int, text: str) -> None:
        where = ("rest", self.stats.snapshots + 1)
        decoded = self._decode(where, text)
        if decoded is None or decoded[0] is not bp.Kind.SNAPSHOT:
            if decoded is not None:
                msg = f"REST response is not a depth snapshot: {text[:200]!r}"
                add_issue(self.report, where, -1, IssueCode.PARSE_ERROR, msg, text)
            self._fetch_failures += 1
            return
        snap = self._build(where, bp.Kind.SNAPSHOT, decoded[2], ts, text)
        if not isinstance(snap, bp.Snapshot):
            self._fetch_failures += 1
            return
        self.stats.snapshots += 1
        self.stats.resyncs += int(self._ever_synced)
        self._sync.on_snapshot(snap)
        self._ever_synced = self._ever_synced or self._sync.synced
        self._fetch_failures = 0 if self._sync.synced else self._fetch_failures + 1

    def _build(
        self, where: tuple[str, int], kind: bp.Kind, data: Any, ts: int, text: str
    ) -> bp.DepthUpdate | bp.Snapshot | bp.Trade | None:
        """Decode one message (issues reported); None when it cannot be read."""
        context = (where[0], where[1], ts, text)
        try:
            if kind is bp.Kind.DEPTH:
                message: bp.DepthUpdate | bp.Snapshot | bp.Trade = bp.depth_update(
                    data, self.tick, context
                )
            elif kind is bp.Kind.SNAPSHOT:
                message = bp.snapshot(data, self.tick, context)
            else:
                message = bp.trade(data, kind, self.tick, context)
        except (KeyError, ValueError, TypeError) as exc:
            text_ = f"bad {kind.name.lower()} message: {type(exc).__name__}: {exc}"
            add_issue(self.report, where, -1, IssueCode.PARSE_ERROR, text_, text)
            return None
        message.repaired = self._report_levels(message)
        return message

    def _report_levels(self, message: bp.DepthUpdate | bp.Snapshot | bp.Trade) -> bool:
        """Report invalid levels (strict raises); True when some were dropped."""
        sides: tuple[Levels, ...]
        if isinstance(message, bp.Trade):
            seq, sides = message.trade_id, (message.price,)
        else:
            seq, sides = message.last_id, (message.bids, message.asks)
        problems = [p for levels in sides for p in levels.problems]
        where = (message.source, message.line)
        for problem in problems:
            add_issue(self.report, where, seq, problem.code, problem.message)
        return bool(problems)
