"""Binance diff-depth stream + REST snapshot -> C1 events, streaming, in bounded memory.

Reads recorder files (``<local_ns> <json>``, snapshot inline) and cryptofeed captures
(``.ws.`` files plus ``.http.`` snapshot files, several symbols interleaved); the format is
detected per line. Several ``paths`` are one continuous stream, read in order: the sync
state carries over from file to file. Snapshot files are merged into the stream by local
receive time. The sync rules and the repair policy are described in
:mod:`l2trader.data.binance_sync`.

Every input line (of ``paths`` and ``snapshot_paths``) ends up in exactly one of: turned
into events (``stats["lines_emitted"]``), skipped (``report.rows_skipped``: other streams,
other symbols, stale or empty updates, capture bookkeeping) or quarantined
(``report.quarantined``). Streams other than depth and trades are recognised from the
envelope's stream name and are not decoded, so they are not validated either.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from l2trader.data import binance_parse as bp
from l2trader.data.binance_levels import Levels
from l2trader.data.binance_sync import DepthSync, add_issue
from l2trader.data.events import EventBuffer
from l2trader.data.instruments import Instrument
from l2trader.data.io import iter_lines
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.errors import ConfigError

__all__ = ["BinanceDepthReader"]

logger = logging.getLogger(__name__)

Where = tuple[str, int]
Message = bp.DepthUpdate | bp.Snapshot | bp.Trade
_NEVER = 2**63 - 1
_PendingSnapshot = tuple[str, int, int, str, str, str]  # source, line, ts, payload, symbol, raw


class BinanceDepthReader:
    """Stream C1 event chunks from Binance diff-depth files synchronised with REST snapshots.

    Parameters
    ----------
    paths
        Recorder or capture files (``.gz`` read transparently), one stream in this order.
    instrument
        Gives ``tick_size`` (prices become int64 ticks).
    policy
        ``STRICT`` raises the first issue; ``REPAIR`` drops/resyncs, flags and quarantines.
    market
        ``"spot"`` or ``"futures"`` sync rules; None: futures when updates carry ``pu``.
    snapshot_paths
        cryptofeed ``.http.`` REST snapshot files, merged by local receive time.
    symbol
        Symbol to keep (case-insensitive) when several are interleaved; None keeps the
        first symbol seen.
    include_trades
        Emit ``trade``/``aggTrade`` messages as TRADE events.
    chunk_size
        Rows per yielded chunk (a chunk never splits a venue message).

    Examples
    --------
    >>> from l2trader.data.instruments import lookup
    >>> reader = BinanceDepthReader(["a.gz"], instrument=lookup("binance", "BTCUSDT"))
    >>> reader.source
    'a.gz'
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        instrument: Instrument,
        policy: Policy = Policy.STRICT,
        market: Literal["spot", "futures"] | None = None,
        snapshot_paths: Sequence[str | Path] = (),
        symbol: str | None = None,
        include_trades: bool = True,
        chunk_size: int = 262_144,
    ) -> None:
        if not paths:
            raise ConfigError("BinanceDepthReader: paths must name at least one file")
        if market not in (None, "spot", "futures"):
            raise ConfigError(
                f"BinanceDepthReader: market must be 'spot' or 'futures', got {market!r}"
            )
        if chunk_size <= 0:
            raise ConfigError(f"BinanceDepthReader: chunk_size must be > 0, got {chunk_size}")
        self.paths = [Path(p) for p in paths]
        self.snapshot_paths = [Path(p) for p in snapshot_paths]
        self.instrument = instrument
        self.policy = Policy(policy)
        self.market = market
        self.symbol = symbol.upper() if symbol else None
        self.include_trades = include_trades
        self.chunk_size = chunk_size
        self.source = ",".join(p.name for p in [*self.paths, *self.snapshot_paths])
        self.report = ValidationReport(self.source, self.policy)
        self.stats: Counter[str] = Counter()
        """Normal events: ``lines_emitted``, ``stale_updates``, ``empty_updates``, ..."""

    def chunks(self) -> Iterator[np.ndarray]:
        """Yield C1 ``EVENT_DTYPE`` chunks; ``report`` and ``stats`` restart on each call."""
        self.report.reset()
        self.stats = Counter()
        for chunk in _Pass(self).run():
            self.report.events_out += len(chunk)
            yield chunk


class _Pass:
    """State of one read through the input (sync state, clock, snapshot-file cursor)."""

    def __init__(self, reader: BinanceDepthReader) -> None:
        self.reader = reader
        self.report = reader.report
        self.stats = reader.stats
        self.tick = reader.instrument.tick_size
        self.symbol = reader.symbol
        self.buffer = EventBuffer(reader.chunk_size)
        futures = None if reader.market is None else reader.market == "futures"
        self.sync = DepthSync(self.report, self.buffer, futures=futures, stats=self.stats)
        self.last_ts = -1
        self.snapshot_due = _NEVER  # local ts of the next snapshot-file line (or _NEVER)
        self.snapshot_lines = self._snapshot_file_lines()
        self.next_snapshot: _PendingSnapshot | None = None

    def run(self) -> Iterator[np.ndarray]:
        self._peek_snapshot()
        for path in self.reader.paths:
            name = path.name
            for line_no, text in iter_lines(path):
                self.report.rows_in += 1
                if not self._fast_skip(text):
                    self._main_line((name, line_no), text)
                if self.buffer.full:
                    yield self.buffer.take()
        self._inject_snapshots(None)
        self.sync.finish()
        last = self.buffer.take(final=True)
        if len(last):
            yield last

    # ------------------------------------------------------------------ lines

    def _fast_skip(self, text: str) -> bool:
        """Skip a recorder line of a non-book stream without decoding it (the common case)."""
        space = text.find(" ")
        head = text[:space]
        start = space + 1 + len(bp.STREAM_PREFIX)
        if space <= 0 or not text.startswith(bp.STREAM_PREFIX, space + 1):
            return False
        if not (head.isascii() and head.isdigit()):
            return False
        end = text.find('"', start)
        at = text.find("@", start, end)
        if at < 0 or bp.channel_kind(text[at + 1 : end]) is not bp.Kind.OTHER:
            return False
        ts = int(head)
        if not self.last_ts <= ts < self.snapshot_due:
            return False
        self.last_ts = ts
        self._skip("non_book")
        return True

    def _main_line(self, where: Where, text: str) -> None:
        split = self._split(where, text)
        if split is None:
            return
        ts, payload, url_sym = split
        self._inject_snapshots(ts)
        self._dispatch(where, ts, payload, url_sym, text)

    def _split(self, where: Where, text: str) -> tuple[int, str, str] | None:
        if not text.strip():
            self._skip("blank_lines")
            return None
        try:
            return bp.split_line(text)
        except ValueError as exc:
            add_issue(self.report, where, -1, IssueCode.PARSE_ERROR, f"bad line: {exc}", text)
            return None

    def _dispatch(self, where: Where, ts: int, payload: str, url_sym: str, raw: str) -> None:
        ts, clamped = self._check_clock(where, ts)
        if not payload:
            self._skip("capture_meta")
            return
        try:
            kind, symbol, data = bp.decode_payload(payload)
        except (ValueError, TypeError, KeyError) as exc:
            add_issue(self.report, where, -1, IssueCode.PARSE_ERROR, f"bad JSON: {exc}", raw)
            return
        if data is None or kind is bp.Kind.OTHER:
            self._skip("non_book")
        elif not self._wanted(url_sym or symbol):
            self._skip("other_symbol")
        elif kind in (bp.Kind.TRADE, bp.Kind.AGG_TRADE) and not self.reader.include_trades:
            self._skip("trades_skipped")
        else:
            self._build_and_route(where, kind, data, (where[0], where[1], ts, raw), clamped)

    def _build_and_route(
        self,
        where: Where,
        kind: bp.Kind,
        data: dict[str, Any],
        context: tuple[str, int, int, str],
        clamped: bool,
    ) -> None:
        try:
            message = self._build(kind, data, context)
        except (KeyError, ValueError, TypeError) as exc:
            text = f"bad {kind.name.lower()} message: {type(exc).__name__}: {exc}"
            add_issue(self.report, where, -1, IssueCode.PARSE_ERROR, text, context[3])
            return
        message.repaired = self._report_levels(message) or clamped
        if isinstance(message, bp.DepthUpdate):
            self.sync.on_depth(message)
        elif isinstance(message, bp.Snapshot):
            self.sync.on_snapshot(message)
        else:
            self.sync.on_trade(message, aggregate=kind is bp.Kind.AGG_TRADE)

    def _build(
        self, kind: bp.Kind, data: dict[str, Any], context: tuple[str, int, int, str]
    ) -> Message:
        if kind is bp.Kind.DEPTH:
            return bp.depth_update(data, self.tick, context)
        if kind is bp.Kind.SNAPSHOT:
            return bp.snapshot(data, self.tick, context)
        return bp.trade(data, kind, self.tick, context)

    def _report_levels(self, message: Message) -> bool:
        """Report invalid levels (strict raises); True when some were dropped."""
        sides: tuple[Levels, ...]
        if isinstance(message, bp.Trade):
            seq, sides = message.trade_id, (message.price,)
        else:
            seq, sides = message.last_id, (message.bids, message.asks)
        where = (message.source, message.line)
        found = False
        for levels in sides:
            for problem in levels.problems:
                add_issue(self.report, where, seq, problem.code, problem.message)
                found = True
        return found

    def _check_clock(self, where: Where, ts: int) -> tuple[int, bool]:
        """Local time must not go backwards; repair clamps it to the previous ``ts_recv``."""
        if ts >= self.last_ts:
            self.last_ts = ts
            return ts, False
        msg = f"local timestamp {ts} ns is before the previous one, {self.last_ts} ns"
        add_issue(self.report, where, -1, IssueCode.OUT_OF_ORDER_TS, msg)
        return self.last_ts, True

    def _wanted(self, symbol: str) -> bool:
        if not symbol:
            return True
        if self.symbol is None:
            logger.debug("%s: reading symbol %s", self.reader.source, symbol)
            self.symbol = symbol
        return symbol == self.symbol

    def _skip(self, why: str) -> None:
        self.report.rows_skipped += 1
        self.stats[why] += 1

    # ------------------------------------------------------------------ snapshot files

    def _snapshot_file_lines(self) -> Iterator[tuple[Where, str]]:
        for path in self.reader.snapshot_paths:
            for line_no, text in iter_lines(path):
                yield (path.name, line_no), text

    def _peek_snapshot(self) -> _PendingSnapshot | None:
        """Next snapshot-file line for our symbol (other lines are accounted on the way)."""
        while self.next_snapshot is None:
            item = next(self.snapshot_lines, None)
            if item is None:
                self.snapshot_due = _NEVER
                return None
            where, text = item
            self.report.rows_in += 1
            split = self._split(where, text)
            if split is None:
                continue
            ts, payload, url_sym = split
            if payload and not self._wanted(url_sym):
                self._skip("other_symbol")
                continue
            self.next_snapshot = (where[0], where[1], ts, payload, url_sym, text)
            self.snapshot_due = ts
        return self.next_snapshot

    def _inject_snapshots(self, ts: int | None) -> None:
        """Feed snapshot-file lines received at or before ``ts`` (None: all that remain)."""
        while (snap := self._peek_snapshot()) is not None and (ts is None or snap[2] <= ts):
            self.next_snapshot = None
            self.snapshot_due = _NEVER
            source, line, snap_ts, payload, url_sym, raw = snap
            self._dispatch((source, line), snap_ts, payload, url_sym, raw)
