"""OKX v5 order-book channel captures -> C1 events, every checksum verified.

Input: cryptofeed captures (``<ts>: <json>`` lines, ts = local receive time in float
seconds; several instruments and channels interleaved). Book messages are
``{"arg":{"channel":"books","instId":..},"action":"snapshot"|"update","data":[{"asks":
[[px, sz, "0", n_orders], ..],"bids":[..],"ts":"<ms>","checksum":<int>(,"seqId","prevSeqId")}]}``:
``sz`` is the new absolute size ("0" deletes), the deprecated ``"0"`` and the order count are
ignored. A snapshot becomes one batch (CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask SNAPSHOT
rows); an update one batch of BOOK rows. Channels ``books``, ``books-l2-tbt`` and
``books50-l2-tbt`` are read; every other channel and the subscription acks are skipped.

After every message (snapshots included) the reader computes the signed CRC32 of its own top
25 levels (``bid:ask`` interleaved ``px:sz`` strings, the venue's own strings kept per
level) and compares it with ``checksum``. When the messages carry ``seqId``/``prevSeqId``
(newer captures), ``prevSeqId`` must equal the previous ``seqId`` (else ``SEQUENCE_GAP``).

``ts_recv`` is the capture time; ``ts_exch`` the message ``ts`` (ms -> ns); ``seq`` the
``seqId`` when present, else -1.

Policy (as :class:`~l2trader.data.checksums.VerifiedBook`): strict raises the first issue
(a checksum mismatch is ``IssueCode.BAD_VALUE`` -> ``InvalidValueError`` naming file:line);
repair quarantines the message, emits a CLEAR (side 0) batch flagged ``F_REPAIRED |
F_GAP_BEFORE`` and drops the instrument's updates until its next snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import orjson

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
from l2trader.units import NS_PER_MILLISECOND

__all__ = ["BOOK_CHANNELS", "OkxBookReader", "okx_tick_sizes"]

BOOK_CHANNELS: Final = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})
"""OKX channels with snapshot/update semantics and a checksum."""


class OkxBookReader(CaptureReader):
    """Stream C1 event chunks of one instrument from OKX v5 book-channel captures.

    Parameters
    ----------
    paths
        Capture files (``.gz`` read transparently), one stream in this order.
    instrument
        Gives ``tick_size`` (prices become int64 ticks).
    symbol
        ``instId`` to keep, e.g. ``"BTC-USDT"``; None: ``instrument.symbol``.
    policy
        ``STRICT`` raises the first issue; ``REPAIR`` invalidates the book and waits for a
        snapshot (see the module docstring).
    depth
        Truncate each side to this many levels after every level (None: keep all; OKX
        sends the deletes itself).
    chunk_size
        Rows per yielded chunk (a chunk never splits a venue message).

    Examples
    --------
    >>> inst = Instrument(venue="okx", symbol="BTC-USDT", tick_size=0.1)
    >>> OkxBookReader(["OKX.ws.1.0"], instrument=inst).symbol
    'BTC-USDT'
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
        if depth is not None and depth < 25:
            raise ConfigError(f"OkxBookReader: depth must be >= 25 (or None), got {depth}")
        self.depth = depth

    def _handler(self, core: LineCore) -> MessageHandler:
        return _Handler(self, core)


class _Handler:
    """State of one read: the instrument's verified book, last ``seqId`` and local clock."""

    bare_lines = False

    def __init__(self, reader: OkxBookReader, core: LineCore) -> None:
        self.reader = reader
        self.core = core
        self.report = core.report
        self.stats = core.stats
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.buffer = core.buffer
        self.book = VerifiedBook(
            self.report, self.stats, self.buffer, name=reader.symbol, checksum=_okx
        )
        self.last_seq: int | None = None

    def on_connect(self) -> None:
        """Nothing to do: the venue resends its snapshot after subscribing."""

    def on_message(self, where: Where, ts: int, payload: str, text: str) -> None:
        """One message line (``ts`` = local receive time, ns)."""
        try:
            decoded = _decode(payload)
        except (ValueError, TypeError, KeyError) as exc:
            self.core.issue(where, IssueCode.PARSE_ERROR, f"bad line: {exc}", text)
            return
        if decoded is None:
            self.core.skip("non_book")
        elif decoded[0].upper() != self.reader.symbol:
            self.core.skip("other_symbol")
        else:
            self._book(where, self.core.clock(where, ts), decoded[1], decoded[2], text)

    def _book(
        self, where: Where, clock: tuple[int, int], action: str, entry: dict[str, Any], raw: str
    ) -> None:
        try:
            message = self._message(action, entry, clock)
        except BadLevel as exc:
            self.book.invalidate(where, exc.code, f"{self.reader.symbol}: {exc}", raw)
            return
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            text = f"bad book data: {type(exc).__name__}: {exc}"
            self.book.invalidate(where, IssueCode.PARSE_ERROR, text, raw)
            return
        if not message.snapshot and self.book.synced and self._gap(entry):
            msg = f"{self.reader.symbol}: prevSeqId {entry['prevSeqId']} != last {self.last_seq}"
            self.book.invalidate(where, IssueCode.SEQUENCE_GAP, msg, raw, message.seq)
            return
        self.book.apply(where, message, raw)
        self.last_seq = message.seq if self.book.synced else None

    def _message(self, action: str, entry: dict[str, Any], clock: tuple[int, int]) -> BookMessage:
        if action not in ("snapshot", "update"):
            raise ValueError(f"unknown action {action!r}")
        levels = _levels(entry["bids"], True, self.tick) + _levels(entry["asks"], False, self.tick)
        checksum = entry.get("checksum")
        if checksum is not None and type(checksum) is not int:
            raise TypeError(f"checksum must be an integer, got {checksum!r}")
        return BookMessage(
            action == "snapshot",
            levels,
            int(entry["ts"]) * NS_PER_MILLISECOND,
            clock[0],
            seq=int(entry.get("seqId", -1)),
            depth=self.reader.depth,
            checksum=checksum,
            flags=clock[1],
        )

    def _gap(self, entry: dict[str, Any]) -> bool:
        prev = entry.get("prevSeqId")
        return prev is not None and self.last_seq is not None and int(prev) != self.last_seq


def _okx(book: StringBook) -> int:
    return book.okx_checksum()


def _decode(payload: str) -> tuple[str, str, dict[str, Any]] | None:
    """``(instId, action, data entry)`` of a book message; None for anything else."""
    if '"books' not in payload:
        return None
    msg = orjson.loads(payload)
    if not isinstance(msg, dict) or "data" not in msg:
        return None
    arg = msg["arg"]
    if arg["channel"] not in BOOK_CHANNELS:
        return None
    data = msg["data"]
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        raise TypeError("book data must be a list holding one object")
    return str(arg["instId"]), str(msg.get("action", "")), data[0]


def _levels(levels: Any, is_bid: bool, tick: Decimal) -> list[Level]:
    if not isinstance(levels, list):
        raise TypeError("levels must be a list")
    out: list[Level] = []
    for level in levels:
        price, size = level[0], level[1]
        if not isinstance(price, str) or not isinstance(size, str):
            raise TypeError(f"level {level!r}: px and sz must be strings")
        ticks, qty = level_ticks(price, size, tick)
        out.append((is_bid, ticks, qty, price, size))
    return out


def okx_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """Map instId -> tick size inferred from a capture's book price strings (most decimals).

    OKX prints prices without trailing zeros, so this is a lower bound on the precision
    seen; it is a valid grid for every price in the capture (see
    :func:`~l2trader.data.checksums.tick_size_from_prices`).
    """
    return infer_tick_sizes(paths, _prices)


def _prices(payload: str) -> Iterator[tuple[str, str]]:
    """``(instId, price string)`` of every level of a book message."""
    decoded = _decode(payload)
    if decoded is not None:
        for key in ("bids", "asks"):
            yield from ((decoded[0], lv[0]) for lv in decoded[2][key])
