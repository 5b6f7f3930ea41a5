"""LOBSTER message + orderbook files -> C1 events built from the messages.

Message row ``i`` caused orderbook row ``i`` (top N levels after it). Types 1-4 change the
level ``(price, direction)`` (BOOK row with the new absolute size); types 4 and 5 also
emit a TRADE (aggressor = -direction; type 5 leaves the book alone); type 7 is skipped.
After each message the book is reconciled with the row in the same batch (levels revealed
from beyond N are set, levels pushed beyond N removed), so the event book equals the
file's top-N view after every message; these corrections are counted in
:class:`LobsterStats`. A disagreement at the level the message itself changed is an issue.
Midpoint (sub-tick) hidden executions are rounded half up to the tick grid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from l2trader.data.csv_blocks import (
    CsvBlock,
    LinePairs,
    Rows,
    RowValidator,
    assemble_slots,
    iter_csv_blocks,
    split_chunks,
)
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.errors import ConfigError, DataError
from l2trader.schema import (
    F_REPAIRED,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)
from l2trader.units import NS_PER_SECOND

__all__ = ["LobsterReader", "LobsterStats"]

_MESSAGE = ["time", "type", "order_id", "size", "price", "direction"]
_EMPTY_PRICE = 9_999_999_999
_MISMATCH = "orderbook row disagrees with the message at its own price level"
_PRICE_SCALE = 10_000  # LOBSTER prices are USD x 10000


@dataclass
class LobsterStats:
    """Reader statistics (not issues): how the messages were reconciled with the rows.

    ``reveal_corrections``: levels set from a row that entered the top N from beyond N;
    ``truncated_levels``: levels removed because they were pushed beyond the top N;
    ``unexplained_changes``: corrections inside the previously visible range not caused by
    the message; ``out_of_view_messages``: type 1-4 messages at a level outside the visible
    range (no BOOK row); ``message_mismatches``: rows disagreeing with the message at its
    own level (also issues); ``subtick_trades``: hidden executions between ticks.
    """

    messages: int = 0
    halts: int = 0
    reveal_corrections: int = 0
    truncated_levels: int = 0
    unexplained_changes: int = 0
    out_of_view_messages: int = 0
    message_mismatches: int = 0
    subtick_trades: int = 0


class LobsterReader:
    """Stream a LOBSTER message/orderbook pair (plain or ``.gz``) as C1 event chunks.

    Parameters
    ----------
    message_path, orderbook_path
        The ``..._message_N.csv`` and ``..._orderbook_N.csv`` files (no header).
    levels
        N, the number of levels per side in the orderbook file.
    instrument
        Gives the tick size; ``tick_size * 10000`` must be a whole number.
    date
        Trading day ``YYYY-MM-DD``; default: parsed from the message file name.
    policy
        STRICT raises on the first bad row; REPAIR drops it and flags the next batch.
    tz
        Time zone of the ``time`` column (seconds after local midnight).
    chunk_size
        Target events per yielded chunk (a chunk never splits a message).
    """

    def __init__(
        self,
        message_path: str | Path,
        orderbook_path: str | Path,
        *,
        levels: int,
        instrument: Instrument,
        date: str | None = None,
        policy: Policy = Policy.STRICT,
        tz: str = "America/New_York",
        chunk_size: int = 262_144,
    ) -> None:
        self.message_path, self.orderbook_path = Path(message_path), Path(orderbook_path)
        self.source = str(self.message_path)
        if levels < 1:
            raise ConfigError(f"LobsterReader: levels must be >= 1, got {levels}")
        self.levels = levels
        self.instrument = instrument
        self.price_per_tick = _price_per_tick(instrument.tick_size)
        self.midnight_ns = _midnight_ns(date or _date_from_name(self.message_path), tz)
        self.chunk_size = chunk_size
        self.report = ValidationReport(self.source, policy=policy)
        self.ob_report = ValidationReport(str(self.orderbook_path), policy=policy)
        self.stats = LobsterStats()
        self._prev: Levels | None = None
        self._max_ts = np.iinfo(np.int64).min

    def chunks(self) -> Iterator[np.ndarray]:
        """Yield C1 event chunks in message order; fills :attr:`report` and :attr:`stats`."""
        self._prev = None
        for messages, books in self._aligned():
            events = self._events(messages, books)
            self.report.events_out += len(events)
            yield from split_chunks(events, self.chunk_size)

    def _aligned(self) -> Iterator[tuple[Rows, Rows]]:
        """Validated message and orderbook rows with equal line numbers, in order."""
        block_bytes = min(max(self.chunk_size * 64, 256), 1 << 23)
        names = [f"c{i}" for i in range(4 * self.levels)]
        m_iter = iter_csv_blocks(
            self.message_path,
            _MESSAGE,
            {"time": pa.float64(), **dict.fromkeys(_MESSAGE[1:], pa.int64())},
            block_bytes=block_bytes,
            header=False,
        )
        o_iter = iter_csv_blocks(
            self.orderbook_path,
            names,
            dict.fromkeys(names, pa.int64()),
            block_bytes=block_bytes,
            header=False,
        )
        pairs = LinePairs()
        while not all(pairs.done):
            which = int(pairs.done[0] or (pairs.end[1] < pairs.end[0] and not pairs.done[1]))
            block = next(o_iter if which else m_iter, None)
            parse = self._book_rows if which else self._message_rows
            pairs.add(which, None if block is None else parse(block))
            if (ready := pairs.take()) is not None:
                yield ready
        if pairs.end[0] != pairs.end[1]:
            raise DataError(
                f"row counts differ: message file has {pairs.end[0] - 1} rows, orderbook file "
                f"{self.orderbook_path.name} has {pairs.end[1] - 1}",
                source=self.source,
            )

    def _message_rows(self, block: CsvBlock) -> tuple[Rows, int]:
        self.report.rows_in += block.n_lines
        check = RowValidator(self.report, block, seq_offset=-1)
        kind = check.column_i8("type")
        size = check.column_i8("size")
        price = check.column_i8("price")
        direction = check.column_i8("direction")
        trades = (kind >= 1) & (kind <= 5)
        check.flag(~np.isin(kind, [1, 2, 3, 4, 5, 7]), IssueCode.BAD_VALUE, "unknown type")
        check.flag(np.abs(direction) != 1, IssueCode.BAD_VALUE, "direction is not 1 or -1")
        check.flag(size < 0, IssueCode.NEGATIVE_QTY, "size is negative")
        check.flag(trades & (price <= 0), IssueCode.BAD_VALUE, "price is not positive")
        off = (price % self.price_per_tick != 0) & trades & (kind != 5)
        check.flag(off, IssueCode.OFF_TICK, "price off the tick grid")
        seconds = check.column_f8("time")
        check.flag(~np.isfinite(seconds), IssueCode.BAD_VALUE, "time is not finite")
        ts = self.midnight_ns + np.rint(np.nan_to_num(seconds) * NS_PER_SECOND).astype(np.int64)
        rows = {"ts": ts, "kind": kind, "size": size, "price": price, "direction": direction}
        self._max_ts = check.monotonic(ts, self._max_ts)
        return check.finish(rows), block.first_line + block.n_lines + block.n_empty

    def _book_rows(self, block: CsvBlock) -> tuple[Rows, int]:
        check = RowValidator(self.ob_report, block, seq_offset=-1)
        table = np.stack([check.column_i8(f"c{i}") for i in range(4 * self.levels)], axis=1)
        prices, sizes = table[:, 0::2], table[:, 1::2]
        empty = np.abs(prices) == _EMPTY_PRICE
        check.flag((sizes < 0).any(1), IssueCode.NEGATIVE_QTY, "level size is negative")
        off = (prices % self.price_per_tick != 0) & ~empty
        check.flag(off.any(1), IssueCode.OFF_TICK, "level price off the tick grid")
        check.flag((empty & (sizes != 0)).any(1), IssueCode.BAD_VALUE, "empty level has a size")
        rows = {"prices": np.where(empty, 0, prices // self.price_per_tick), "sizes": sizes}
        kept = check.finish(rows)
        self.report.issues.extend(self.ob_report.issues)
        self.report.quarantined.extend(self.ob_report.quarantined)
        self.report.counts.update(self.ob_report.counts)
        self.ob_report = ValidationReport(self.ob_report.source, policy=self.ob_report.policy)
        return kept, block.first_line + block.n_lines + block.n_empty

    def _events(self, messages: Rows, books: Rows) -> np.ndarray:
        """C1 events of aligned rows (the first call prepends the initial snapshot)."""
        rows = Levels(
            books["prices"].reshape(-1, self.levels, 2).transpose(0, 2, 1),
            books["sizes"].reshape(-1, self.levels, 2).transpose(0, 2, 1) * 1.0,
        )
        price, per_tick = messages["price"], self.price_per_tick
        hidden = messages["kind"] == 5
        ticks = np.where(hidden, price + per_tick // 2, price) // per_tick
        self.stats.subtick_trades += int(np.count_nonzero(hidden & (price % per_tick != 0)))
        parts = []
        if self._prev is None:
            self._prev = _first_book(rows, messages, ticks)
            parts.append(_snapshot_events(self._prev, int(messages["ts"][0])))
        before = _stack_before(self._prev, rows)
        self._prev = Levels(rows.prices[-1:], rows.sizes[-1:])
        events, mismatch, counts = _message_events(before, rows, messages, ticks)
        self._record(np.flatnonzero(mismatch), messages)
        for key, value in counts.items():
            setattr(self.stats, key, getattr(self.stats, key) + value)
        parts.append(events)
        return np.concatenate(parts)

    def _record(self, mismatch_rows: np.ndarray, messages: Rows) -> None:
        self.stats.messages += len(messages["ts"])
        halts = int(np.count_nonzero(messages["kind"] == 7))
        self.stats.halts += halts
        self.report.rows_skipped += halts
        for i in mismatch_rows:
            line = int(messages["line"][i])
            self.report.add(line, line - 1, IssueCode.BAD_VALUE, _MISMATCH)


def _price_per_tick(tick_size: float) -> int:
    """LOBSTER price units (USD x 10000) per tick; must be whole."""
    units = tick_size * _PRICE_SCALE
    if units < 1 or abs(units - round(units)) > 1e-9:
        raise ConfigError(f"LobsterReader: tick_size {tick_size} is not a multiple of 0.0001")
    return round(units)


def _date_from_name(path: Path) -> str:
    found = re.search(r"_(\d{4}-\d{2}-\d{2})_", path.name)
    if found is None:
        raise ConfigError(f"cannot find a YYYY-MM-DD date in {path.name!r}: pass date=")
    return found.group(1)


def _midnight_ns(date: str, tz: str) -> int:
    """Local midnight of ``date`` in ns UTC, with the UTC offset in force at noon.

    Examples
    --------
    >>> _midnight_ns("2012-06-21", "America/New_York")  # EDT = UTC-4
    1340251200000000000
    """
    try:
        day = datetime.strptime(date, "%Y-%m-%d")
    except ValueError as exc:
        raise ConfigError(f"LobsterReader: date must be YYYY-MM-DD, got {date!r}") from exc
    offset = (day + timedelta(hours=12)).replace(tzinfo=ZoneInfo(tz)).utcoffset()
    assert offset is not None
    return ((day - datetime(1970, 1, 1)) - offset) // timedelta(microseconds=1) * 1000


# Reconciling messages with the top-N rows (vectorized over messages) ------------------------

_ASK, _BID = 0, 1
_SIDE = np.array([-1, 1], dtype=np.int8)  # C1 side of axis-1 index 0 (ask) and 1 (bid)


class Levels(NamedTuple):
    """Books as ``(n, 2, L)`` arrays, axis 1 = (ask, bid), best first; size 0 = empty slot."""

    prices: np.ndarray
    sizes: np.ndarray


def _inside(book: Levels, q: np.ndarray, n_levels: int, *, inclusive: bool) -> np.ndarray:
    """True where price ``q`` (``(n, 2, M)``) lies within the N visible levels of ``book``."""
    full = (book.sizes > 0).sum(-1, keepdims=True) >= n_levels
    worst = book.prices[..., n_levels - 1 : n_levels]
    sign = -_SIDE[None, :, None].astype(np.int64)  # ask: lower is better
    better = sign * q < sign * worst
    return np.asarray(~full | better | (inclusive & (q == worst)))


def _first_book(rows: Levels, messages: Rows, ticks: np.ndarray) -> Levels:
    """Orderbook row 0 with message 0 undone, ``N + 1`` slots per side."""
    n_levels, s_ix, p = rows.prices.shape[2], int(messages["direction"][0] == 1), int(ticks[0])
    pairs = [
        zip(rows.prices[0, s].tolist(), rows.sizes[0, s].tolist(), strict=True) for s in (0, 1)
    ]
    sides = [{px: qty for px, qty in side if qty > 0} for side in pairs]
    kind, size, side = int(messages["kind"][0]), float(messages["size"][0]), sides[s_ix]
    visible = _inside(
        Levels(rows.prices[:1], rows.sizes[:1]), np.full((1, 2, 1), p), n_levels, inclusive=True
    )[0, s_ix, 0]
    if 1 <= kind <= 4 and (p in side or visible):
        left = side.pop(p, 0.0) - (size if kind == 1 else -size)
        if left > 0:
            side[p] = left
    out = Levels(np.zeros((1, 2, n_levels + 1), np.int64), np.zeros((1, 2, n_levels + 1)))
    for s, levels in enumerate(sides):
        for k, (price, qty) in enumerate(sorted(levels.items(), reverse=s == _BID)):
            out.prices[0, s, k], out.sizes[0, s, k] = price, qty
    return out


def _stack_before(prev: Levels, rows: Levels) -> Levels:
    """The book before each message: ``prev`` then rows ``0..n-2``, padded to prev's width."""
    width = prev.prices.shape[2]
    pad = ((0, 0), (0, 0), (0, width - rows.prices.shape[2]))
    prices = np.concatenate([prev.prices, np.pad(rows.prices[:-1], pad)])
    return Levels(prices, np.concatenate([prev.sizes, np.pad(rows.sizes[:-1], pad)]))


def _snapshot_events(book: Levels, ts: int) -> np.ndarray:
    """One CLEAR(both) + SNAPSHOT message (bids then asks, best first) of a one-row book."""
    order, one = [_BID, _ASK], np.ones((1, 1), np.bool_)
    blocks = [
        (one * 0, one * 0.0, KIND_CLEAR, one * 0, one),
        (
            book.prices[:, order],
            book.sizes[:, order],
            KIND_SNAPSHOT,
            _SIDE[order][None, :, None],
            book.sizes[:, order] > 0,
        ),
    ]
    return assemble_slots(blocks, np.array([ts]), np.array([-1]), np.zeros(1, np.uint8))


def _message_level(
    before: Levels, rows: Levels, m: Rows, ticks: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per message: side index, visible, new level size, mismatch, extra delete, changing."""
    r = np.arange(len(ticks))
    sidx = (m["direction"] == 1).astype(np.intp)
    changing = (m["kind"] >= 1) & (m["kind"] <= 4)
    bp, bs = before.prices[r, sidx], before.sizes[r, sidx]
    cp, cs = rows.prices[r, sidx], rows.sizes[r, sidx]
    at_b = (bp == ticks[:, None]) & (bs > 0)
    at_c = (cp == ticks[:, None]) & (cs > 0)
    q = np.broadcast_to(ticks[:, None, None], (len(ticks), 2, 1))
    inside = _inside(rows, q, rows.prices.shape[2], inclusive=False)[r, sidx, 0]
    in_view = changing & (at_b.any(1) | at_c.any(1) | inside)
    new = (bs * at_b).sum(1) + np.where(m["kind"] == 1, m["size"], -m["size"])
    mismatch = in_view & ((cs * at_c).sum(1) != new)
    extra = in_view & (new > 0) & ~at_b.any(1) & ~at_c.any(1)
    return sidx, in_view, new, mismatch, extra, changing


def _message_events(
    before: Levels, rows: Levels, m: Rows, ticks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Events, mismatch mask and statistics of ``n`` messages (book before each = ``before``)."""
    n, n_levels = rows.prices.shape[0], rows.prices.shape[2]
    sidx, in_view, new, mismatch, extra, changing = _message_level(before, rows, m, ticks)
    own = in_view[:, None, None] & (np.arange(2)[None, :, None] == sidx[:, None, None])
    eq = (rows.prices[..., :, None] == before.prices[..., None, :]) & (rows.sizes[..., None] > 0)
    eq &= before.sizes[..., None, :] > 0
    tracked = np.where(eq, before.sizes[..., None, :], 0.0).sum(-1)
    own_row = own & (rows.prices == ticks[:, None, None])
    tracked = np.where(own_row, np.maximum(new, 0)[:, None, None], tracked)
    set_row = (rows.sizes > 0) & (tracked != rows.sizes)
    own_old = own & (before.prices == ticks[:, None, None])
    drop = (before.sizes > 0) & ~eq.any(-2) & ~(own_old & (new <= 0)[:, None, None])
    seen_before = _inside(before, rows.prices, n_levels, inclusive=True)
    still_seen = _inside(rows, before.prices, n_levels, inclusive=False)
    counts = {
        "reveal_corrections": int((set_row & ~own_row & ~seen_before).sum()),
        "truncated_levels": int((drop & ~own_old & ~still_seen).sum()),
        "unexplained_changes": int(
            (set_row & ~own_row & seen_before).sum() + (drop & ~own_old & still_seen).sum()
        ),
        "out_of_view_messages": int((changing & ~in_view).sum()),
        "message_mismatches": int(mismatch.sum()),
    }
    direction, zero = m["direction"][:, None], np.zeros((n, 1))
    blocks = [
        (
            ticks[:, None],
            m["size"][:, None],
            KIND_TRADE,
            -direction,
            np.isin(m["kind"], [4, 5])[:, None],
        ),
        (ticks[:, None], np.maximum(new, 0)[:, None], KIND_BOOK, direction, in_view[:, None]),
        (ticks[:, None], zero, KIND_BOOK, direction, extra[:, None]),
        (rows.prices, rows.sizes, KIND_BOOK, _SIDE[None, :, None], set_row),
        (before.prices, before.sizes * 0, KIND_BOOK, _SIDE[None, :, None], drop),
    ]
    flags = np.where(mismatch | m["repaired"], F_REPAIRED, 0)
    return assemble_slots(blocks, m["ts"], m["line"] - 1, flags), mismatch, counts
