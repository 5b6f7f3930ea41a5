"""Kraken spot WebSocket v1 ``book`` captures -> C1 events, every checksum verified.

Input: cryptofeed captures (``<ts>: <json>`` lines, ts = local receive time in float
seconds; several pairs interleaved). Book messages are JSON arrays
``[channelID, {..}, ({..},) "book-<depth>", "<pair>"]``:

- snapshot: one object with ``as``/``bs`` (best first) -> one batch: CLEAR bid, bid
  SNAPSHOT rows, CLEAR ask, ask SNAPSHOT rows;
- update: one or two objects with ``a`` and/or ``b`` levels ``[price, volume, ts(, "r")]``
  (``"r"`` = republish of a level re-entering the subscribed depth) and a checksum ``c`` in
  the last object. Both objects form ONE batch (the book is only checked after both).
  Volume is the new absolute size; 0 deletes.

After every level the side is truncated to the subscribed depth (from the channel name
``book-<depth>``): Kraken sends no delete for a level pushed out of scope, so the reader
emits it (a BOOK row with qty 0 in the same batch). After every update the reader computes
the CRC32 of its own top 10 asks + top 10 bids from the venue's price/volume strings (kept
per level in a :class:`~l2trader.data.checksums.StringBook`: exact, no float round trip)
and compares it with ``c``.

``ts_recv`` is the capture time; ``ts_exch`` the newest level timestamp in the message;
``seq`` is -1 (v1 has no sequence numbers).

Policy. Any message the reader cannot apply exactly (a bad level, a checksum mismatch, an
update before the pair's snapshot) leaves the book unknown. ``STRICT`` raises the issue
(a checksum mismatch is ``IssueCode.BAD_VALUE`` -> ``InvalidValueError`` naming
file:line). ``REPAIR`` quarantines that message, emits one CLEAR (side 0, ``F_REPAIRED |
F_GAP_BEFORE``) batch so no consumer keeps a wrong book, quarantines the pair's following
updates (``stats["dropped_unsynced"]``) until the next snapshot (a resubscription; the
capture has no REST snapshots), whose first row carries ``F_GAP_BEFORE``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from l2trader.data.binance_parse import seconds_to_ns
from l2trader.data.checksums import (
    BadLevel,
    BookMessage,
    Level,
    StringBook,
    VerifiedBook,
    Where,
    level_ticks,
    tick_decimal,
)
from l2trader.data.instruments import Instrument
from l2trader.data.json_lines import CaptureReader, LineCore, MessageHandler, infer_tick_sizes
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import ConfigError

__all__ = ["KrakenBookReader", "kraken_tick_sizes"]


class KrakenBookReader(CaptureReader):
    """Stream C1 event chunks of one pair from Kraken v1 ``book`` captures.

    Parameters
    ----------
    paths
        Capture files (``.gz`` read transparently), one stream in this order.
    instrument
        Gives ``tick_size`` (prices become int64 ticks).
    symbol
        Kraken pair to keep, e.g. ``"XBT/CHF"``; None: ``instrument.symbol``.
    policy
        ``STRICT`` raises the first issue; ``REPAIR`` invalidates the book and waits for a
        snapshot (see the module docstring).
    depth
        Subscribed depth to truncate each side to; None: from the ``book-<depth>`` channel.
    chunk_size
        Rows per yielded chunk (a chunk never splits a venue message).

    Examples
    --------
    >>> inst = Instrument(venue="kraken", symbol="XBT/CHF", tick_size=0.1)
    >>> KrakenBookReader(["KRAKEN.ws.50.0"], instrument=inst).symbol
    'XBT/CHF'
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        instrument: Instrument,
        symbol: str | None = None,
        policy: Policy = Policy.STRICT,
        depth: int | None = None,
        chunk_size: int = 262_144,
    ) -> None:
        super().__init__(
            paths, instrument=instrument, symbol=symbol, policy=policy, chunk_size=chunk_size
        )
        if depth is not None and depth < 10:
            raise ConfigError(f"KrakenBookReader: depth must be >= 10 (or None), got {depth}")
        self.depth = depth

    def _handler(self, core: LineCore) -> MessageHandler:
        return _Handler(self, core)


class _Handler:
    """State of one read: the pair's verified book and the local clock."""

    bare_lines = False

    def __init__(self, reader: KrakenBookReader, core: LineCore) -> None:
        self.reader = reader
        self.core = core
        self.report = core.report
        self.stats = core.stats
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.buffer = core.buffer
        self.book = VerifiedBook(
            self.report,
            self.stats,
            self.buffer,
            name=reader.symbol,
            checksum=StringBook.kraken_checksum,
        )

    def on_connect(self) -> None:
        """Nothing to do: the venue resends its snapshot after subscribing."""

    def on_message(self, where: Where, ts: int, payload: str, text: str) -> None:
        """One message line (``ts`` = local receive time, ns)."""
        if not payload.startswith("["):
            self.core.skip("non_book")
            return
        try:
            message = _book_message(payload)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            self.core.issue(where, IssueCode.PARSE_ERROR, f"bad book message: {exc}", text)
            return
        if message is None:
            self.core.skip("non_book")
        elif message[1].upper() != self.reader.symbol:
            self.core.skip("other_symbol")
        else:
            self._book(where, self.core.clock(where, ts), message, text)

    def _book(
        self, where: Where, clock: tuple[int, int], message: tuple[int, str, Any], raw: str
    ) -> None:
        objects = message[2]
        try:
            snapshot = any("as" in o or "bs" in o for o in objects)
            levels, ts_exch = _levels(objects, self.tick, snapshot)
            checksum = _checksum_field(objects)
        except BadLevel as exc:
            self.book.invalidate(where, exc.code, f"{self.reader.symbol}: {exc}", raw)
            return
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            self.book.invalidate(where, IssueCode.PARSE_ERROR, f"bad level: {exc!r}", raw)
            return
        decoded = BookMessage(
            snapshot,
            levels,
            ts_exch,
            clock[0],
            depth=self.reader.depth or message[0],
            checksum=checksum,
            flags=clock[1],
        )
        self.book.apply(where, decoded, raw)


def _book_message(payload: str) -> tuple[int, str, list[dict[str, Any]]] | None:
    """``(depth, pair, objects)`` of a v1 ``book`` array message; None for other channels."""
    msg = orjson.loads(payload)
    if not isinstance(msg, list) or len(msg) < 4:
        raise ValueError("expected [channelID, {..}, .., channelName, pair]")
    channel, pair = msg[-2], msg[-1]
    if not isinstance(channel, str) or not isinstance(pair, str):
        raise TypeError("channel name and pair must be strings")
    if not channel.startswith("book"):
        return None
    depth = int(channel.partition("-")[2] or 10)
    objects = msg[1:-2]
    if not all(isinstance(o, dict) for o in objects):
        raise TypeError("book payloads must be JSON objects")
    return depth, pair, objects


def _levels(
    objects: list[dict[str, Any]], tick: Decimal, snapshot: bool
) -> tuple[list[Level], int]:
    """Levels of every object in message order, and the newest level time (ns; -1 if none)."""
    keys = (("as", False), ("bs", True)) if snapshot else (("a", False), ("b", True))
    out: list[Level] = []
    newest = -1
    for obj in objects:
        for key, is_bid in keys:
            for level in obj.get(key, ()):
                price, volume, stamp = level[0], level[1], level[2]
                if not isinstance(price, str) or not isinstance(volume, str):
                    raise TypeError(f"level {level!r}: price and volume must be strings")
                ticks, qty = level_ticks(price, volume, tick)
                out.append((is_bid, ticks, qty, price, volume))
                newest = max(newest, seconds_to_ns(stamp))
    return out, newest


def _checksum_field(objects: list[dict[str, Any]]) -> int | None:
    for obj in reversed(objects):
        if "c" in obj:
            return int(obj["c"])
    return None


def kraken_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """Pair -> tick size inferred from a capture's snapshot price strings (most decimals).

    Kraken pads prices to the pair's price precision, so this is the venue's precision
    grid (see :func:`~l2trader.data.checksums.tick_size_from_prices`).
    """
    return infer_tick_sizes(paths, _snapshot_prices)


def _snapshot_prices(payload: str) -> Iterator[tuple[str, str]]:
    """``(pair, price string)`` of every level of a snapshot (``as``/``bs``) message."""
    if not payload.startswith("[") or '"as"' not in payload:
        return
    message = _book_message(payload)
    if message is not None:
        for obj in message[2]:
            for key in ("as", "bs"):
                yield from ((message[1], lv[0]) for lv in obj.get(key, ()))
