"""Bybit order-book data -> C1 events: ``orderbook.N`` (v5 / history) and v1 ``orderBookL2_25``.

**``orderbook.N``** (:class:`BybitBookReader`): Bybit's historical order-book downloads
(``<date>_<SYMBOL>_ob500.data``, bare JSON lines, usually zipped) and v5 WebSocket captures
(the same JSON behind a local timestamp). Each message is ``{"topic":"orderbook.N.SYM",
"type":"snapshot"|"delta","ts":<ms>,"cts":<ms>,"data":{"s","b":[[px, sz]],"a":[..],
"u":<update id>,"seq":<cross seq>}}``; ``sz`` is the new absolute size ("0" deletes). A
snapshot is one batch (CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask SNAPSHOT rows), a delta
one batch of BOOK rows; each side is truncated to ``N`` levels (the dropped levels are
emitted as size-0 rows). A delta's ``u`` must be the previous ``u`` + 1 (else
``SEQUENCE_GAP``). ``seq`` = ``u``; ``ts_exch`` = ``cts`` (matching engine, else ``ts``);
``ts_recv`` = the line's local time, or ``ts`` for bare download lines (they carry no
receive time: ``ts`` is when Bybit published the message).

**v1 ``orderBookL2_25``** (:class:`BybitL2V1Reader`, a retired API kept for old captures):
cryptofeed capture lines; levels are id-keyed rows ``{"price","symbol","id","side","size"}``.
``snapshot`` data is the row list (or ``{"order_book": [..]}``); ``delta`` data is
``{"delete":[..],"update":[..],"insert":[..]}``, applied in that order as one batch. ``seq``
= ``cross_seq``, which must increase (not contiguous: a repeat or older value is dropped as
``DUPLICATE_SEQ``/``OUT_OF_ORDER_SEQ``); ``ts_exch`` = ``timestamp_e6`` (µs -> ns).

Trades, acks and other topics are skipped (counted). Policy: see
:class:`~l2trader.data.json_lines.CaptureReader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from l2trader.data.bitmex import IdLevels
from l2trader.data.checksums import BookMessage, VerifiedBook, Where, tick_decimal
from l2trader.data.json_lines import (
    CaptureReader,
    LineCore,
    MessageHandler,
    apply_decoded,
    decode_object,
    infer_tick_sizes,
    number_text,
    pair_levels,
)
from l2trader.data.report import IssueCode
from l2trader.units import NS_PER_MICROSECOND, NS_PER_MILLISECOND

__all__ = ["BybitBookReader", "BybitL2V1Reader", "bybit_tick_sizes"]


class BybitBookReader(CaptureReader):
    """Stream C1 event chunks of one symbol from Bybit ``orderbook.N`` JSON lines.

    Parameters are those of :class:`~l2trader.data.json_lines.CaptureReader`;
    ``symbol`` is the Bybit symbol (e.g. ``"XRPUSDT"``).

    Examples
    --------
    >>> from l2trader.data.instruments import Instrument
    >>> inst = Instrument(venue="bybit", symbol="XRPUSDT", tick_size=0.0001)
    >>> BybitBookReader(["2024-12-01_XRPUSDT_ob500.data.zip"], instrument=inst).symbol
    'XRPUSDT'
    """

    def _handler(self, core: LineCore) -> MessageHandler:
        return _BookHandler(self, core)


class BybitL2V1Reader(CaptureReader):
    """Stream C1 event chunks of one symbol from Bybit v1 ``orderBookL2_25`` captures.

    Parameters are those of :class:`~l2trader.data.json_lines.CaptureReader`;
    ``symbol`` is the Bybit symbol (e.g. ``"BTCUSD"``).

    Examples
    --------
    >>> from l2trader.data.instruments import Instrument
    >>> inst = Instrument(venue="bybit", symbol="BTCUSD", tick_size=0.5)
    >>> BybitL2V1Reader(["BYBIT.ws.26.0"], instrument=inst).symbol
    'BTCUSD'
    """

    def _handler(self, core: LineCore) -> MessageHandler:
        return _V1Handler(self, core)


def _topic_symbol(msg: dict[str, Any]) -> str:
    return str(msg.get("topic", "")).rpartition(".")[2].upper()


class _BookHandler:
    """One read of ``orderbook.N``: the symbol's book and last update id."""

    bare_lines = True

    def __init__(self, reader: CaptureReader, core: LineCore) -> None:
        self.core = core
        self.symbol = reader.symbol
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.book = VerifiedBook(core.report, core.stats, core.buffer, name=reader.symbol)
        self.last_u = -1

    def on_connect(self) -> None:
        """Nothing to do: the venue sends a snapshot after the subscription."""

    def on_message(self, where: Where, ts: int, payload: str, raw: str) -> None:
        if '"orderbook.' not in payload:
            self.core.skip("non_book")
            return
        msg = self.core.decode(where, payload, raw)
        if msg is None:
            return
        if not str(msg.get("topic", "")).startswith("orderbook."):
            self.core.skip("non_book")
        elif _topic_symbol(msg) != self.symbol:
            self.core.skip("other_symbol")
        else:
            apply_decoded(self.book, where, raw, lambda: self._message(where, ts, msg, raw))
            if self.book.synced:
                self.last_u = int(msg["data"]["u"])

    def _message(self, where: Where, ts: int, msg: dict[str, Any], raw: str) -> BookMessage | None:
        kind, data = msg["type"], msg["data"]
        if kind not in ("snapshot", "delta"):
            raise ValueError(f"unknown type {kind!r}")
        u = data["u"]
        if type(u) is not int:
            raise TypeError(f"u must be an integer, got {u!r}")
        published = int(msg["ts"]) * NS_PER_MILLISECOND
        ts_recv, flags = self.core.clock(where, published if ts < 0 else ts)
        ts_exch = int(msg["cts"]) * NS_PER_MILLISECOND if "cts" in msg else published
        depth = int(msg["topic"].split(".")[1])
        snapshot = kind == "snapshot"
        if not snapshot and self.book.synced and u != self.last_u + 1:
            text = f"{self.symbol}: u {u} after {self.last_u}: {u - self.last_u - 1} missing"
            self.book.invalidate(where, IssueCode.SEQUENCE_GAP, text, raw, u)
            return None
        levels = pair_levels(data["b"], True, self.tick) + pair_levels(data["a"], False, self.tick)
        return BookMessage(snapshot, levels, ts_exch, ts_recv, seq=u, depth=depth, flags=flags)


class _V1Handler:
    """One read of v1 ``orderBookL2_25``: the symbol's book, id map and last ``cross_seq``."""

    bare_lines = False

    def __init__(self, reader: CaptureReader, core: LineCore) -> None:
        self.core = core
        self.symbol = reader.symbol
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.book = VerifiedBook(core.report, core.stats, core.buffer, name=reader.symbol)
        self.ids = IdLevels()
        self.last_seq = -1

    def on_connect(self) -> None:
        """Nothing to do: the venue sends a snapshot after the subscription."""

    def on_message(self, where: Where, ts: int, payload: str, raw: str) -> None:
        if '"orderBook' not in payload:
            self.core.skip("non_book")
            return
        msg = self.core.decode(where, payload, raw)
        if msg is None:
            return
        if not str(msg.get("topic", "")).startswith("orderBook"):
            self.core.skip("non_book")
        elif _topic_symbol(msg) != self.symbol:
            self.core.skip("other_symbol")
        elif self._in_order(where, msg, raw):
            clock = self.core.clock(where, ts)
            apply_decoded(self.book, where, raw, lambda: self._message(msg, clock))
            if self.book.synced:
                self.last_seq = int(msg["cross_seq"])
            else:
                self.ids.clear()

    def _in_order(self, where: Where, msg: dict[str, Any], raw: str) -> bool:
        """False (after reporting; repair drops it) when ``cross_seq`` does not increase."""
        seq = msg.get("cross_seq")
        if type(seq) is not int:
            self.core.issue(where, IssueCode.PARSE_ERROR, f"bad cross_seq {seq!r}", raw)
            return False
        if seq > self.last_seq or msg.get("type") == "snapshot" or not self.book.synced:
            return True
        code = IssueCode.DUPLICATE_SEQ if seq == self.last_seq else IssueCode.OUT_OF_ORDER_SEQ
        text = f"{self.symbol}: cross_seq {seq} is not after {self.last_seq}: dropped"
        self.core.report.add(where[1], seq, code, text, raw, source=where[0])
        return False

    def _message(self, msg: dict[str, Any], clock: tuple[int, int]) -> BookMessage:
        kind, data = msg["type"], msg["data"]
        ts_exch = int(msg["timestamp_e6"]) * NS_PER_MICROSECOND
        seq = int(msg["cross_seq"])
        if kind == "snapshot":
            rows = data["order_book"] if isinstance(data, dict) else data
            self.ids.clear()
            levels = self.ids.insert_rows(rows, self.tick)
        elif kind != "delta":
            raise ValueError(f"unknown type {kind!r}")
        elif not self.book.synced:
            levels = []  # the book rejects it as an update before the snapshot
        else:
            levels = self.ids.delete_rows(data["delete"]) + self.ids.update_rows(data["update"])
            levels += self.ids.insert_rows(data["insert"], self.tick)
        return BookMessage(kind == "snapshot", levels, ts_exch, clock[0], seq=seq, flags=clock[1])


def _prices(payload: str) -> list[tuple[str, str]]:
    if '"orderbook.' not in payload and '"orderBook' not in payload:
        return []
    msg = decode_object(payload)
    symbol, topic = _topic_symbol(msg), str(msg.get("topic", ""))
    data: Any = msg.get("data")
    if not topic.lower().startswith("orderbook"):
        return []
    if topic.startswith("orderbook."):
        return [(symbol, number_text(p[0], "price")) for p in [*data["b"], *data["a"]]]
    if isinstance(data, dict) and "order_book" not in data:
        rows: list[Any] = [*data["delete"], *data["update"], *data["insert"]]
    else:
        rows = data["order_book"] if isinstance(data, dict) else data
    return [(symbol, number_text(r["price"], "price")) for r in rows]


def bybit_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """Symbol -> tick size inferred from book price strings, for either format.

    Bybit prints prices with the symbol's full precision ("7.943", "1.9530"), so this is
    usually the venue's tick, but for a 0.5 tick (BTCUSD) it is 0.5's decimals: 0.1. See
    :func:`~l2trader.data.json_lines.infer_tick_sizes`.
    """
    return infer_tick_sizes(paths, _prices)
