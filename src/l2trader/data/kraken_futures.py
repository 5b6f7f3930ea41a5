"""Kraken Futures WebSocket v1 ``book`` captures -> C1 events, per-product ``seq`` checked.

Input: cryptofeed captures (``<ts>: <json>`` lines, ts = local receive time in float
seconds; several products interleaved). Book messages:

- ``{"feed":"book_snapshot","product_id":..,"timestamp":<ms>,"seq":..,"bids":[{"price":p,
  "qty":q},..],"asks":[..]}`` -> one batch: CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask
  SNAPSHOT rows;
- ``{"feed":"book","product_id":..,"side":"buy"|"sell","seq":..,"price":p,"qty":q,
  "timestamp":<ms>}`` -> one BOOK row (``qty`` is the new absolute size, 0 deletes).

Prices and sizes are JSON numbers; a price is put on the tick grid exactly from its
shortest decimal repr. ``seq`` is per product and must grow by exactly 1 from the snapshot
on. ``ts_recv`` = capture time, ``ts_exch`` = ``timestamp`` (ms -> ns; monotonic per product
only), ``seq`` = ``seq``. Trades, tickers and acks are skipped (counted).

Policy: strict raises the first issue (a gap is ``SequenceGapError``, a repeated or older
``seq`` ``DuplicateError``/``OutOfOrderError``). Repair drops (quarantines) a repeated or
older message and keeps the book; on a gap or a bad level it quarantines the message, emits
a CLEAR (side 0) batch flagged ``F_REPAIRED | F_GAP_BEFORE`` and drops the product's updates
until its next ``book_snapshot`` (see :class:`~l2trader.data.checksums.VerifiedBook`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from l2trader.data.checksums import (
    BadLevel,
    BookMessage,
    Level,
    VerifiedBook,
    Where,
    level_ticks,
    tick_decimal,
)
from l2trader.data.json_lines import CaptureReader, LineCore, MessageHandler, infer_tick_sizes
from l2trader.data.report import IssueCode
from l2trader.units import NS_PER_MILLISECOND

__all__ = ["KrakenFuturesBookReader", "kraken_futures_tick_sizes"]


class KrakenFuturesBookReader(CaptureReader):
    """Stream C1 event chunks of one product from Kraken Futures v1 ``book`` captures.

    Parameters
    ----------
    paths
        Capture files (``.gz`` read transparently), one stream in this order.
    instrument
        Gives ``tick_size`` (prices become int64 ticks).
    symbol
        ``product_id`` to keep, e.g. ``"PI_XBTUSD"``; None: ``instrument.symbol``.
    policy
        ``STRICT`` raises the first issue; ``REPAIR`` see the module docstring.
    chunk_size
        Rows per yielded chunk (a chunk never splits a venue message).

    Examples
    --------
    >>> from l2trader.data.instruments import Instrument
    >>> inst = Instrument(venue="kraken-futures", symbol="PI_ETHUSD", tick_size=0.05)
    >>> KrakenFuturesBookReader(["KRAKEN_FUTURES.ws.1.0"], instrument=inst).symbol
    'PI_ETHUSD'
    """

    def _handler(self, core: LineCore) -> MessageHandler:
        return _Handler(self, core)


class _Handler:
    """State of one read: the product's book, last ``seq`` and local clock."""

    bare_lines = False

    def __init__(self, reader: KrakenFuturesBookReader, core: LineCore) -> None:
        self.reader = reader
        self.core = core
        self.report = core.report
        self.stats = core.stats
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.buffer = core.buffer
        self.book = VerifiedBook(self.report, self.stats, self.buffer, name=reader.symbol)
        self.last_seq = -1

    def on_connect(self) -> None:
        """Nothing to do: the venue resends its snapshot after subscribing."""

    def on_message(self, where: Where, ts: int, payload: str, text: str) -> None:
        """One message line (``ts`` = local receive time, ns)."""
        try:
            msg = _decode(payload)
        except (ValueError, TypeError) as exc:
            self.core.issue(where, IssueCode.PARSE_ERROR, f"bad line: {exc}", text)
            return
        if msg is None:
            self.core.skip("non_book")
        elif str(msg.get("product_id", "")).upper() != self.reader.symbol:
            self.core.skip("other_symbol")
        else:
            self._book(where, self.core.clock(where, ts), msg, text)

    def _book(self, where: Where, clock: tuple[int, int], msg: dict[str, Any], raw: str) -> None:
        try:
            message = _message(msg, self.tick, clock)
        except BadLevel as exc:
            self.book.invalidate(where, exc.code, f"{self.reader.symbol}: {exc}", raw)
            return
        except (ValueError, TypeError, KeyError) as exc:
            text = f"bad book message: {type(exc).__name__}: {exc}"
            self.book.invalidate(where, IssueCode.PARSE_ERROR, text, raw)
            return
        if message.snapshot or not self.book.synced or self._in_sequence(where, message, raw):
            self.book.apply(where, message, raw)
            if self.book.synced:
                self.last_seq = message.seq

    def _in_sequence(self, where: Where, message: BookMessage, raw: str) -> bool:
        """True when ``seq`` continues the product's stream; else report (repair: drop)."""
        seq, expected = message.seq, self.last_seq + 1
        if seq == expected:
            return True
        name = self.reader.symbol
        if seq > expected:
            msg = f"{name}: seq {seq} after {self.last_seq}: {seq - expected} updates missing"
            self.book.invalidate(where, IssueCode.SEQUENCE_GAP, msg, raw, seq)
            return False
        code = IssueCode.DUPLICATE_SEQ if seq == self.last_seq else IssueCode.OUT_OF_ORDER_SEQ
        text = f"{name}: seq {seq} is not after the previous one, {self.last_seq}: dropped"
        self.report.add(where[1], seq, code, text, raw, source=where[0])
        return False


def _decode(payload: str) -> dict[str, Any] | None:
    """The JSON object of a ``book``/``book_snapshot`` message; None for any other feed."""
    if '"feed":"book' not in payload:
        return None
    msg = orjson.loads(payload)
    if not isinstance(msg, dict) or "event" in msg or msg.get("feed") not in _FEEDS:
        return None
    return msg


_FEEDS = ("book", "book_snapshot")


def _number(value: Any, name: str) -> str:
    if type(value) not in (int, float):
        raise TypeError(f"{name} must be a JSON number, got {value!r}")
    return repr(float(value))


def _message(msg: dict[str, Any], tick: Decimal, clock: tuple[int, int]) -> BookMessage:
    snapshot = msg["feed"] == "book_snapshot"
    if snapshot:
        levels = _levels(msg["bids"], True, tick) + _levels(msg["asks"], False, tick)
    else:
        side = msg["side"]
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        levels = _levels([msg], side == "buy", tick)
    seq = msg["seq"]
    if type(seq) is not int:
        raise TypeError(f"seq must be an integer, got {seq!r}")
    ts_exch = int(msg["timestamp"]) * NS_PER_MILLISECOND
    return BookMessage(snapshot, levels, ts_exch, clock[0], seq=seq, flags=clock[1])


def _levels(levels: Any, is_bid: bool, tick: Decimal) -> list[Level]:
    if not isinstance(levels, list):
        raise TypeError("levels must be a list")
    out: list[Level] = []
    for level in levels:
        price, size = _number(level["price"], "price"), _number(level["qty"], "qty")
        ticks, qty = level_ticks(price, size, tick)
        out.append((is_bid, ticks, qty, price, size))
    return out


def kraken_futures_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """product_id -> tick size inferred from the shortest reprs of its book prices.

    JSON numbers lose trailing zeros, so this is the finest precision seen: a valid grid
    for every price in the capture, possibly finer than the venue's tick (e.g. 0.1 for a
    0.5 tick).
    """
    return infer_tick_sizes(paths, _prices)


def _prices(payload: str) -> Iterator[tuple[str, str]]:
    """``(product_id, shortest price repr)`` of every level of a book message."""
    msg = _decode(payload)
    if msg is not None:
        rows = [msg] if msg["feed"] == "book" else [*msg["bids"], *msg["asks"]]
        yield from ((str(msg["product_id"]), _number(row["price"], "price")) for row in rows)
