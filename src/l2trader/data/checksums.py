"""Venue top-of-book CRC32 checksums, the exact string book they need, and tick inference.

Kraken (v1 ``book``) and OKX (v5 ``books``) publish a CRC32 of the top of their book with
every update. The checksum is computed over the venue's own decimal strings, so the book
that verifies it must keep those strings: :class:`StringBook` stores, per side, the price
levels (int64 ticks, kept sorted best-first) with the venue's last ``(price, size)`` strings.
Verification is therefore exact string arithmetic, never a float round trip.
:class:`VerifiedBook` is the state machine the Kraken/OKX/Kraken Futures readers share.

- Kraken: ``crc32(asks + bids)`` over the top 10 asks (low to high) then the top 10 bids
  (high to low); each level contributes ``price + size`` with the ``.`` removed and leading
  zeros stripped; unsigned 32-bit.
- OKX: ``crc32("bid1px:bid1sz:ask1px:ask1sz:...")`` over the top 25 levels, bid and ask
  interleaved (a side with fewer levels just stops contributing); signed 32-bit.
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from l2trader.data.events import EventBuffer
from l2trader.data.report import IssueCode, QuarantinedRow, ValidationReport
from l2trader.schema import ASK, BID, F_GAP_BEFORE, F_REPAIRED, KIND_BOOK, KIND_CLEAR, KIND_SNAPSHOT

__all__ = [
    "KRAKEN_LEVELS",
    "OKX_LEVELS",
    "BadLevel",
    "BookMessage",
    "BookSide",
    "StringBook",
    "VerifiedBook",
    "decimals",
    "kraken_checksum",
    "level_ticks",
    "okx_checksum",
    "tick_decimal",
    "tick_size_from_prices",
]

KRAKEN_LEVELS: Final = 10
"""Levels per side in a Kraken v1 ``book`` checksum."""
OKX_LEVELS: Final = 25
"""Levels per side in an OKX v5 ``books`` checksum."""

StrLevel = tuple[str, str]
Level = tuple[bool, int, float, str, str]
"""A decoded level: ``(is_bid, price_ticks, qty, price string, size string)``."""
Where = tuple[str, int]
_MAX_TICKS: Final = 2**62


def _kraken_token(price: str, size: str) -> str:
    return price.replace(".", "").lstrip("0") + size.replace(".", "").lstrip("0")


def kraken_checksum(asks: Sequence[StrLevel], bids: Sequence[StrLevel]) -> int:
    """Kraken v1 ``book`` checksum (unsigned CRC32) of best-first ``(price, volume)`` strings.

    Examples
    --------
    >>> kraken_checksum([("0.05005", "0.00000500")], [("0.05000", "0.00000500")])
    3851508195
    """
    text = "".join(_kraken_token(p, s) for p, s in asks[:KRAKEN_LEVELS])
    text += "".join(_kraken_token(p, s) for p, s in bids[:KRAKEN_LEVELS])
    return zlib.crc32(text.encode("ascii"))


def okx_checksum(bids: Sequence[StrLevel], asks: Sequence[StrLevel]) -> int:
    """OKX v5 ``books`` checksum (signed 32-bit CRC32) of best-first ``(px, sz)`` strings.

    Examples
    --------
    >>> okx_checksum([("3366.1", "7")], [("3366.8", "9"), ("3368", "8")])
    -1471518219
    """
    parts: list[str] = []
    for i in range(OKX_LEVELS):
        if i < len(bids):
            parts.extend(bids[i])
        if i < len(asks):
            parts.extend(asks[i])
    value = zlib.crc32(":".join(parts).encode("ascii"))
    return value - (1 << 32) if value >= 1 << 31 else value


class BookSide:
    """One side of a :class:`StringBook`: keys (ask ``ticks``, bid ``-ticks``) sorted best first."""

    def __init__(self, is_bid: bool) -> None:
        self.sign = -1 if is_bid else 1
        self.keys: list[int] = []
        self.strings: dict[int, StrLevel] = {}

    def set(self, ticks: int, price: str, size: str) -> None:
        """Insert or replace the level at ``ticks`` with the venue's strings."""
        key = self.sign * ticks
        if key not in self.strings:
            bisect.insort(self.keys, key)
        self.strings[key] = (price, size)

    def remove(self, ticks: int) -> bool:
        """Delete the level at ``ticks``; False when it was not in the book."""
        key = self.sign * ticks
        if self.strings.pop(key, None) is None:
            return False
        del self.keys[bisect.bisect_left(self.keys, key)]
        return True

    def truncate(self, depth: int) -> list[int]:
        """Drop the levels beyond the best ``depth``; return their ticks (worst last)."""
        if len(self.keys) <= depth:
            return []
        dropped = self.keys[depth:]
        del self.keys[depth:]
        for key in dropped:
            del self.strings[key]
        return [self.sign * key for key in dropped]

    def top(self, n: int) -> list[StrLevel]:
        """The best ``n`` levels' ``(price, size)`` strings, best first."""
        return [self.strings[key] for key in self.keys[:n]]

    def best_ticks(self) -> int | None:
        """Best price in ticks, or None when the side is empty."""
        return self.sign * self.keys[0] if self.keys else None

    def clear(self) -> None:
        """Remove every level."""
        self.keys.clear()
        self.strings.clear()

    def __len__(self) -> int:
        return len(self.keys)


class StringBook:
    """An exact L2 book keeping the venue's decimal strings (the checksum oracle).

    Examples
    --------
    >>> book = StringBook()
    >>> book.bids.set(100, "1.00", "2"); book.asks.set(101, "1.01", "3")
    >>> book.bids.top(1), book.asks.top(1), book.crossed()
    ([('1.00', '2')], [('1.01', '3')], False)
    """

    def __init__(self) -> None:
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)

    def side(self, is_bid: bool) -> BookSide:
        """The bid side when ``is_bid`` else the ask side."""
        return self.bids if is_bid else self.asks

    def clear(self) -> None:
        """Remove every level of both sides."""
        self.bids.clear()
        self.asks.clear()

    def crossed(self) -> bool:
        """True when both sides exist and best bid >= best ask."""
        bid, ask = self.bids.best_ticks(), self.asks.best_ticks()
        return bid is not None and ask is not None and bid >= ask

    def kraken_checksum(self) -> int:
        """:func:`kraken_checksum` of this book."""
        return kraken_checksum(self.asks.top(KRAKEN_LEVELS), self.bids.top(KRAKEN_LEVELS))

    def okx_checksum(self) -> int:
        """:func:`okx_checksum` of this book."""
        return okx_checksum(self.bids.top(OKX_LEVELS), self.asks.top(OKX_LEVELS))


def decimals(text: str) -> int:
    """Number of digits after the decimal point of a decimal string.

    Examples
    --------
    >>> decimals("0.000022900"), decimals("30316"), decimals("1e-05")
    (9, 0, 5)
    """
    mantissa, _, exponent = text.lower().partition("e")
    places = len(mantissa.partition(".")[2])
    return max(0, places - int(exponent)) if exponent else places


def tick_size_from_prices(prices: Iterable[str]) -> float:
    """Tick size inferred from price strings: ``10**-d`` with ``d`` their most decimals.

    A valid grid for every price given, possibly finer than the venue's real tick (0.1
    where the tick is 0.5). Raises ``ValueError`` when ``prices`` is empty.

    Examples
    --------
    >>> tick_size_from_prices(["0.042990", "0.04"]), tick_size_from_prices(["30316", "3.5"])
    (1e-06, 0.1)
    """
    most = -1
    for text in prices:
        most = max(most, decimals(text))
    if most < 0:
        raise ValueError("no prices to infer a tick size from")
    return float(f"1e-{most}")


class BadLevel(ValueError):
    """A level whose price or size is unusable; ``code`` says why."""

    def __init__(self, code: IssueCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def tick_decimal(tick_size: float) -> Decimal:
    """The tick size as an exact decimal (from its shortest repr: ``0.1`` -> ``Decimal('0.1')``)."""
    return Decimal(repr(tick_size))


def level_ticks(price: str, size: str, tick: Decimal) -> tuple[int, float]:
    """``(price_ticks, size)`` of one decimal-string level, exactly; else :class:`BadLevel`.

    ``tick`` comes from :func:`tick_decimal`. The price must be an exact multiple of it
    (decimal arithmetic, no float rounding: 10000000.00000 is on a 1e-05 grid).

    Examples
    --------
    >>> level_ticks("0.042990", "364630.28272081", tick_decimal(1e-06))
    (42990, 364630.28272081)
    """
    try:
        exact = Decimal(price) / tick
    except (InvalidOperation, ArithmeticError) as exc:
        raise BadLevel(IssueCode.BAD_VALUE, f"price {price!r} is not a number") from exc
    if not exact.is_finite() or exact < 1 or exact >= _MAX_TICKS:
        raise BadLevel(IssueCode.BAD_VALUE, f"price {price!r} is not a positive finite number")
    ticks = int(exact)
    if ticks != exact:
        raise BadLevel(IssueCode.OFF_TICK, f"price {price!r} is off the tick grid {tick}")
    qty = float(size)
    if qty != qty:
        raise BadLevel(IssueCode.NAN_QTY, f"size {size!r} is NaN")
    if qty < 0.0:
        raise BadLevel(IssueCode.NEGATIVE_QTY, f"size {size!r} is negative")
    if qty == math.inf:
        raise BadLevel(IssueCode.BAD_VALUE, f"size {size!r} is infinite")
    return ticks, qty


@dataclass(frozen=True, slots=True)
class BookMessage:
    """One decoded venue book message (levels in message order) and its batch fields."""

    snapshot: bool
    levels: list[Level]
    ts_exch: int
    ts_recv: int
    seq: int = -1
    depth: int | None = None
    """Truncate each side to this many levels after every level (None: no truncation)."""
    checksum: int | None = None
    flags: int = 0
    """Extra flags for the whole batch (e.g. ``F_REPAIRED`` for a clamped clock)."""


class VerifiedBook:
    """One instrument's book: apply messages, write C1 rows, verify checksums, apply the policy.

    A message the book cannot apply exactly (bad level, checksum mismatch, sequence gap,
    update before a snapshot) is reported via :meth:`invalidate`: strict mode raises; repair
    mode quarantines it, emits one CLEAR (side 0, ``F_REPAIRED | F_GAP_BEFORE``) batch and
    quarantines later updates (``stats["dropped_unsynced"]``) until the next snapshot, whose
    first row carries ``F_GAP_BEFORE``.

    Parameters
    ----------
    report, stats, buffer
        The reader's report, counters and event buffer.
    name
        Instrument name used in issue messages.
    checksum
        The venue checksum of a book (e.g. :meth:`StringBook.kraken_checksum`); None
        when the venue publishes none.
    """

    def __init__(
        self,
        report: ValidationReport,
        stats: Counter[str],
        buffer: EventBuffer,
        *,
        name: str,
        checksum: Callable[[StringBook], int] | None = None,
    ) -> None:
        self.report = report
        self.stats = stats
        self.buffer = buffer
        self.name = name
        self.checksum = checksum
        self.book = StringBook()
        self.synced = False
        self.resync_flags = 0
        self.last_ts_recv = 0

    def apply(self, where: Where, message: BookMessage, raw: str) -> None:
        """Apply one decoded message (snapshot or update); verify its checksum if it has one."""
        if message.snapshot:
            self.book.clear()
        elif not self.synced:
            self._unsynced(where, raw)
            return
        self.last_ts_recv = message.ts_recv
        if message.snapshot:
            self._snapshot_rows(message)
        else:
            for level in message.levels:
                self._level(message, level, KIND_BOOK)
        if self._mismatch(where, message, raw):
            return
        self.stats["snapshots" if message.snapshot else "updates"] += 1
        self.stats["messages_emitted"] += 1
        extra = self.resync_flags if message.snapshot else 0
        self.buffer.end_message(message.flags | extra)
        self.synced = True
        if message.snapshot:
            self.resync_flags = 0

    def _mismatch(self, where: Where, message: BookMessage, raw: str) -> bool:
        """Verify the venue checksum; on a mismatch drop the rows and invalidate the book."""
        venue = message.checksum
        if self.checksum is None or venue is None:
            self.stats["no_checksum"] += self.checksum is not None
            return False
        ours = self.checksum(self.book)
        if venue == ours:
            self.stats["checksums_verified"] += 1
            return False
        self.buffer.discard_message()
        msg = f"{self.name}: checksum mismatch: venue {venue}, our book {ours}"
        self.invalidate(where, IssueCode.CHECKSUM_MISMATCH, msg, raw, message.seq)
        return True

    def _snapshot_rows(self, message: BookMessage) -> None:
        for is_bid in (True, False):
            side = BID if is_bid else ASK
            self.buffer.append(
                message.ts_exch, message.ts_recv, message.seq, 0, 0.0, KIND_CLEAR, side
            )
            for level in message.levels:
                if level[0] is is_bid:
                    self._level(message, level, KIND_SNAPSHOT)

    def _level(self, message: BookMessage, level: Level, kind: int) -> None:
        is_bid, ticks, qty, price, size = level
        side = self.book.side(is_bid)
        if qty == 0.0:
            if not side.remove(ticks):
                self.stats["deletes_of_absent_level"] += 1
            if kind == KIND_SNAPSHOT:
                return
        else:
            side.set(ticks, price, size)
        code = BID if is_bid else ASK
        ts_exch, ts_recv, seq = message.ts_exch, message.ts_recv, message.seq
        self.buffer.append(ts_exch, ts_recv, seq, ticks, qty, kind, code)
        if message.depth is not None:
            for gone in side.truncate(message.depth):
                self.buffer.append(ts_exch, ts_recv, seq, gone, 0.0, KIND_BOOK, code)
                self.stats["truncated_levels"] += 1

    def invalidate(
        self, where: Where, code: IssueCode, message: str, raw: str, seq: int = -1
    ) -> None:
        """Report an issue that leaves the book unknown (strict raises; see the class doc)."""
        self.report.add(where[1], seq, code, message, raw, source=where[0])
        if self.synced:
            self.buffer.append(-1, self.last_ts_recv, -1, 0, 0.0, KIND_CLEAR, 0)
            self.buffer.end_message(F_REPAIRED | F_GAP_BEFORE)
        self.book.clear()
        self.synced = False
        self.resync_flags = F_GAP_BEFORE | F_REPAIRED

    def _unsynced(self, where: Where, raw: str) -> None:
        if self.resync_flags:
            quarantined = QuarantinedRow(where[0], where[1], IssueCode.NO_SNAPSHOT, raw)
            self.report.quarantined.append(quarantined)
            self.stats["dropped_unsynced"] += 1
            return
        msg = f"{self.name}: book update before any snapshot"
        self.invalidate(where, IssueCode.NO_SNAPSHOT, msg, raw)
