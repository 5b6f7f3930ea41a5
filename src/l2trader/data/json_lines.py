"""Shared machinery of the JSON-lines capture readers (Coinbase, Gemini, BitMEX, Bybit, ...).

The readers in :mod:`~l2trader.data.coinbase`, :mod:`~l2trader.data.gemini`,
:mod:`~l2trader.data.bitmex`, :mod:`~l2trader.data.bybit` and
:mod:`~l2trader.data.hyperliquid` differ only in how they decode one venue message. What
they share lives here:

- :func:`split_any`: one input line -> ``(ts_recv ns or -1, payload, connection opened)``
  for cryptofeed captures (``<ts>: <json>``, float seconds), hftbacktest recordings
  (``<ns> <json>``) and bare JSON lines (historical downloads: no local clock);
- :class:`CaptureReader`: the one abstract base (constructor, ``chunks()``, the line loop,
  the monotonic local clock, skip counters) over a per-read :class:`MessageHandler`;
- level decoding (:func:`pair_levels`, :func:`change_levels`, :func:`apply_decoded`);
- small parsers: :func:`iso_to_ns`, :func:`side_is_bid`, :func:`number_text`, and
  :func:`infer_tick_sizes` (tick per symbol = ``10**-d``, ``d`` the most decimals seen,
  a valid grid for every price in the file, possibly finer than the venue's own tick).

Books are kept by :class:`~l2trader.data.checksums.VerifiedBook`, which writes the C1 rows
and applies the policy (strict raises; repair clears and waits for the next snapshot).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from l2trader.data.binance_parse import split_line
from l2trader.data.checksums import (
    BadLevel,
    BookMessage,
    Level,
    VerifiedBook,
    Where,
    level_ticks,
    tick_size_from_prices,
)
from l2trader.data.events import EventBuffer
from l2trader.data.instruments import Instrument
from l2trader.data.io import iter_lines
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.errors import ConfigError
from l2trader.schema import F_REPAIRED
from l2trader.units import NS_PER_SECOND

__all__ = [
    "CaptureReader",
    "LineCore",
    "MessageHandler",
    "apply_decoded",
    "change_levels",
    "decode_object",
    "infer_tick_sizes",
    "iso_to_ns",
    "number_text",
    "pair_levels",
    "side_is_bid",
    "split_any",
]

_BID_WORDS = frozenset({"buy", "bid", "b"})
_ASK_WORDS = frozenset({"sell", "ask", "a"})


def split_any(text: str) -> tuple[int, str, bool]:
    """``(ts_recv ns, payload, connection_opened)`` of one line of any supported layout.

    ``ts_recv`` is -1 for a bare JSON line (no local clock); ``payload`` is ``''`` for
    capture bookkeeping lines. Raises ``ValueError`` for an unknown layout.

    Examples
    --------
    >>> split_any('1618677816.5: {"type":"x"}')
    (1618677816500000000, '{"type":"x"}', False)
    >>> split_any("wss://ws-feed.pro.coinbase.com <-> 1618677816.8434298")
    (1618677816843429800, '', True)
    >>> split_any('{"topic":"t"}')
    (-1, '{"topic":"t"}', False)
    """
    if text[:1] in ("{", "["):
        return -1, text, False
    ts, payload, _ = split_line(text)
    return ts, payload, (not payload and text.split(" ", 2)[1:2] == ["<->"])


def iso_to_ns(text: str) -> int:
    """Exact ns since the epoch of an ISO-8601 UTC time with up to 9 fraction digits.

    Examples
    --------
    >>> iso_to_ns("2021-04-17T16:43:37.075687Z")
    1618677817075687000
    >>> iso_to_ns("2021-07-22T22:36:07.865Z")
    1626993367865000000
    """
    if not text.endswith("Z"):
        raise ValueError(f"time {text!r} must be UTC ('Z' suffix)")
    whole, _, frac = text[:-1].partition(".")
    if len(frac) > 9 or not (frac == "" or frac.isdigit()):
        raise ValueError(f"bad fraction of a second in {text!r}")
    stamp = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return int(stamp.timestamp()) * NS_PER_SECOND + int((frac + "000000000")[:9])


def side_is_bid(text: Any) -> bool:
    """True for a bid word (``buy``/``Buy``/``bid``/``b``), False for an ask word.

    Examples
    --------
    >>> side_is_bid("Buy"), side_is_bid("sell")
    (True, False)
    """
    word = str(text).lower()
    if word in _BID_WORDS:
        return True
    if word in _ASK_WORDS:
        return False
    raise ValueError(f"unknown side {text!r}")


def number_text(value: Any, name: str) -> str:
    """Decimal string of a JSON number or numeric string (shortest float repr for floats).

    Examples
    --------
    >>> number_text(1.814e-05, "price"), number_text("7.943", "price"), number_text(3000, "size")
    ('1.814e-05', '7.943', '3000')
    """
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return repr(value)
    raise TypeError(f"{name} must be a number, got {value!r}")


def decode_object(payload: str) -> dict[str, Any]:
    """The JSON object of a message; ``ValueError``/``TypeError`` when it is not one."""
    msg = orjson.loads(payload)
    if not isinstance(msg, dict):
        raise TypeError(f"message must be a JSON object, got {type(msg).__name__}")
    return msg


def pair_levels(rows: Any, is_bid: bool, tick: Decimal) -> list[Level]:
    """Levels of ``[[price, size], ..]`` string pairs (extra items per row ignored).

    Examples
    --------
    >>> pair_levels([["1.05", "2"]], True, Decimal("0.01"))
    [(True, 105, 2.0, '1.05', '2')]
    """
    if not isinstance(rows, list):
        raise TypeError("levels must be a list")
    out: list[Level] = []
    for row in rows:
        price, size = number_text(row[0], "price"), number_text(row[1], "size")
        ticks, qty = level_ticks(price, size, tick)
        out.append((is_bid, ticks, qty, price, size))
    return out


def change_levels(rows: Any, tick: Decimal) -> list[Level]:
    """Levels of ``[[side, price, new size], ..]`` changes (Coinbase, Gemini).

    Examples
    --------
    >>> change_levels([["sell", "1.06", "0"]], Decimal("0.01"))
    [(False, 106, 0.0, '1.06', '0')]
    """
    if not isinstance(rows, list):
        raise TypeError("changes must be a list")
    out: list[Level] = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 3:
            raise TypeError(f"change {row!r} must be [side, price, size]")
        out.extend(pair_levels([row[1:]], side_is_bid(row[0]), tick))
    return out


def apply_decoded(
    book: VerifiedBook, where: Where, raw: str, build: Callable[[], BookMessage | None]
) -> None:
    """Decode one message with ``build`` and apply it; a decoding failure invalidates the book.

    ``build`` may return None when the message turns out to need no book change. A
    :class:`~l2trader.data.checksums.BadLevel` keeps its issue code; any other
    ``ValueError``/``TypeError``/``KeyError``/``IndexError`` is a ``PARSE_ERROR``.
    """
    try:
        message = build()
    except BadLevel as exc:
        book.invalidate(where, exc.code, f"{book.name}: {exc}", raw)
        return
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        text = f"{book.name}: bad book message: {type(exc).__name__}: {exc}"
        book.invalidate(where, IssueCode.PARSE_ERROR, text, raw)
        return
    if message is not None:
        book.apply(where, message, raw)


class MessageHandler(Protocol):
    """Venue-specific decoding for one read, driven by :class:`LineCore`."""

    bare_lines: bool
    """True when lines without a local receive time are expected (their ``ts`` is -1)."""

    def on_message(self, where: Where, ts: int, payload: str, raw: str) -> None:
        """Handle one message line (``ts`` = local ns, or -1 when the line has none)."""
        ...

    def on_connect(self) -> None:
        """A capture line says a new connection opened (the venue resends snapshots)."""
        ...


class LineCore:
    """State shared by every reader for one read: buffer, report, counters, local clock."""

    def __init__(self, reader: CaptureReader) -> None:
        self.report = reader.report
        self.stats = reader.stats
        self.buffer = EventBuffer(reader.chunk_size)
        self.last_ts = -1

    def run(self, paths: Sequence[Path], handler: MessageHandler) -> Iterator[np.ndarray]:
        """Feed every line of ``paths`` to ``handler``; yield closed chunks as they fill."""
        for path in paths:
            for line_no, text in iter_lines(path):
                self.report.rows_in += 1
                self._line(handler, (path.name, line_no), text)
                if self.buffer.full:
                    yield self.buffer.take()
        last = self.buffer.take(final=True)
        if len(last):
            yield last

    def _line(self, handler: MessageHandler, where: Where, text: str) -> None:
        if not text.strip():
            self.skip("blank_lines")
            return
        try:
            ts, payload, opened = split_any(text)
        except (ValueError, IndexError) as exc:
            self.issue(where, IssueCode.PARSE_ERROR, f"bad line: {exc}", text)
            return
        if not payload:
            self.skip("capture_meta")
            if opened:
                handler.on_connect()
        elif ts < 0 and not handler.bare_lines:
            self.issue(where, IssueCode.PARSE_ERROR, "line has no local receive time", text)
        else:
            handler.on_message(where, ts, payload, text)

    def decode(self, where: Where, payload: str, raw: str) -> dict[str, Any] | None:
        """The message's JSON object; None (after reporting a ``PARSE_ERROR``) when bad."""
        try:
            return decode_object(payload)
        except (ValueError, TypeError) as exc:
            self.issue(where, IssueCode.PARSE_ERROR, f"bad JSON: {exc}", raw)
            return None

    def clock(self, where: Where, ts: int) -> tuple[int, int]:
        """``(ts_recv, flags)``: a backwards local time is an issue; repair clamps it."""
        if ts >= self.last_ts:
            self.last_ts = ts
            return ts, 0
        msg = f"local timestamp {ts} ns is before the previous one, {self.last_ts} ns"
        self.issue(where, IssueCode.OUT_OF_ORDER_TS, msg, None)
        return self.last_ts, F_REPAIRED

    def issue(self, where: Where, code: IssueCode, message: str, raw: str | None) -> None:
        """Report an issue at ``where`` (strict raises the typed error)."""
        self.report.add(where[1], -1, code, message, raw, source=where[0])

    def skip(self, why: str) -> None:
        """Count one input row skipped as non-book data, by reason."""
        self.report.rows_skipped += 1
        self.stats[why] += 1


class CaptureReader:
    """Base of the JSON-lines readers: stream C1 chunks of one instrument.

    Parameters
    ----------
    paths
        Input files (``.gz`` and single-file ``.zip`` read transparently), one stream in
        this order.
    instrument
        Gives ``tick_size`` (prices become int64 ticks; off-grid prices are issues).
    symbol
        Venue symbol to keep; None: ``instrument.symbol``. Compared upper-case.
    policy
        ``STRICT`` raises the first issue; ``REPAIR`` clears the book (a CLEAR batch
        flagged ``F_REPAIRED | F_GAP_BEFORE``) and waits for the next snapshot.
    chunk_size
        Rows per yielded chunk (a chunk never splits a venue message).
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        instrument: Instrument,
        symbol: str | None = None,
        policy: Policy = Policy.STRICT,
        chunk_size: int = 262_144,
    ) -> None:
        name = type(self).__name__
        if not paths:
            raise ConfigError(f"{name}: paths must name at least one file")
        if chunk_size <= 0:
            raise ConfigError(f"{name}: chunk_size must be > 0, got {chunk_size}")
        self.paths = [Path(p) for p in paths]
        self.instrument = instrument
        self.symbol = (symbol or instrument.symbol).upper()
        self.policy = Policy(policy)
        self.chunk_size = chunk_size
        self.source = ",".join(p.name for p in self.paths)
        self.report = ValidationReport(self.source, self.policy)
        self.stats: Counter[str] = Counter()
        """``messages_emitted``, ``snapshots``, ``updates``, skips by reason, ..."""

    def chunks(self) -> Iterator[np.ndarray]:
        """Yield C1 ``EVENT_DTYPE`` chunks; ``report`` and ``stats`` restart on each call."""
        self.report.reset()
        self.stats = Counter()
        for chunk in self._run():
            self.report.events_out += len(chunk)
            yield chunk

    def _run(self) -> Iterator[np.ndarray]:
        """One read of the input (readers with their own line loop override it)."""
        core = LineCore(self)
        return core.run(self.paths, self._handler(core))

    def _handler(self, core: LineCore) -> MessageHandler:
        """The venue's decoder for one read (subclasses override)."""
        raise NotImplementedError


def infer_tick_sizes(
    paths: Sequence[str | Path], prices: Callable[[str], Iterable[tuple[str, str]]]
) -> dict[str, float]:
    """Symbol -> tick size ``10**-d`` (``d`` = most decimals of its price strings).

    ``prices(payload)`` yields ``(SYMBOL, price string)`` pairs of one message (nothing
    for non-book messages). The result is a valid grid for every price seen, possibly
    finer than the venue's tick.
    """
    seen: dict[str, list[str]] = {}
    for path in paths:
        for _, text in iter_lines(path):
            if not text.strip():
                continue
            _, payload, _ = split_any(text)
            for symbol, price in prices(payload) if payload else ():
                seen.setdefault(symbol.upper(), []).append(price)
    return {symbol: tick_size_from_prices(p) for symbol, p in sorted(seen.items())}
