"""Ingest pipeline: reader -> stream validation/repair -> crossed-book check -> catalog.

It sits above ``data`` and ``book`` because the crossed-book check needs the book, and
``data`` may not import ``book`` (see docs/architecture.md).

Crossed-book policy (after an ``F_LAST`` the best bid is >= the best ask):
- ``strict``: raise :class:`~l2trader.errors.CrossedBookError` with the event's seq.
- ``repair``: the newest information wins. The last BOOK/SNAPSHOT row of the batch is
  trusted; the opposite-side levels at or through its price are stale and are deleted by
  BOOK rows (qty 0) appended to the same batch, flagged ``F_REPAIRED``; the issue is
  counted as ``crossed_book`` (or ``locked_book`` when bid == ask).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l2trader.book.book import OrderBook
from l2trader.book.replay import Replayer
from l2trader.data.catalog import Catalog, IngestResult
from l2trader.data.events import EventSource
from l2trader.data.instruments import Instrument
from l2trader.data.repair import repair_chunks
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.schema import (
    ASK,
    BID,
    EVENT_DTYPE,
    F_LAST,
    F_REPAIRED,
    KIND_BOOK,
    KIND_SNAPSHOT,
)

__all__ = ["BookCheck", "IngestSummary", "checked_chunks", "ingest_source"]


@dataclass(frozen=True)
class IngestSummary:
    """One finished ingest: the instrument and what the catalog wrote."""

    instrument: Instrument
    result: IngestResult


def ingest_source(
    source: EventSource,
    catalog: Catalog,
    instrument: Instrument,
    *,
    sources: Sequence[Path],
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Read ``source`` through every check into ``catalog`` (atomic: all or nothing)."""
    chunks = checked_chunks(source.chunks(), source.report)
    result = catalog.write(
        instrument, chunks, sources=sources, report=source.report, progress=progress
    )
    return IngestSummary(instrument, result)


def checked_chunks(chunks: Iterable[np.ndarray], report: ValidationReport) -> Iterator[np.ndarray]:
    """Validate/repair a chunk stream, then check the book after every ``F_LAST``."""
    check = BookCheck(report)
    for chunk in repair_chunks(chunks, report):
        yield check.check(chunk)


class BookCheck:
    """Streaming crossed/locked-book check with the policy of ``report`` (module docstring)."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.replayer = Replayer(levels=1)
        self.offset = 0

    def check(self, chunk: np.ndarray) -> np.ndarray:
        """Return ``chunk`` (unchanged when the book never crosses), else raise or repair."""
        saved = copy.deepcopy(self.replayer.book) if self.report.policy is Policy.REPAIR else None
        before = len(self.replayer.crossed_event_idx)
        self.replayer.feed(chunk, reuse=True)
        crossed = self.replayer.crossed_event_idx[before:]
        if len(crossed) and saved is None:
            self._report(chunk, int(crossed[0]) - self.offset, self.replayer.book)
        if len(crossed) and saved is not None:
            chunk = self._repair(chunk, saved)
            self.replayer.book = saved
        self.offset += len(chunk)
        return chunk

    def _report(self, chunk: np.ndarray, i: int, book: OrderBook) -> None:
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None
        assert ask is not None
        code = IssueCode.LOCKED_BOOK if bid[0] == ask[0] else IssueCode.CROSSED_BOOK
        self.report.add(
            self.offset + i,
            int(chunk["seq"][i]),
            code,
            f"event {self.offset + i}: book {code.value.split('_')[0]} after F_LAST: "
            f"best bid {bid[0]} >= best ask {ask[0]} (ticks)",
        )

    def _repair(self, chunk: np.ndarray, book: OrderBook) -> np.ndarray:
        """Replay ``chunk`` batch by batch on ``book``, appending stale-level deletes."""
        ends = np.flatnonzero(chunk["flags"] & F_LAST) + 1
        parts: list[np.ndarray] = []
        start = 0
        for end in [*ends.tolist(), len(chunk)]:
            if end <= start:
                continue
            batch = chunk[start:end]
            book.apply(batch)
            parts.append(batch)
            if batch["flags"][-1] & F_LAST and book.crossed():
                self._report(chunk, end - 1, book)
                fix = uncross_rows(book, batch)
                book.apply(fix)
                parts[-1] = _close_with(batch, fix)
            start = end
        out = np.zeros(sum(len(p) for p in parts), dtype=EVENT_DTYPE)
        np.concatenate(parts, out=out)
        return out


def uncross_rows(book: OrderBook, batch: np.ndarray) -> np.ndarray:
    """BOOK deletes (qty 0) of the levels at or through the trusted side's best price.

    The trusted side is the side of the batch's newest BOOK/SNAPSHOT row.

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> book = OrderBook()
    >>> book.apply(make_events([(101, 1.0, -1), (102, 1.0, -1)]))
    >>> batch = make_events([(101, 2.0, 1)])
    >>> book.apply(batch)
    >>> uncross_rows(book, batch)[["price_ticks", "qty", "side"]].tolist()
    [(101, 0.0, -1)]
    """
    is_level = (batch["kind"] == KIND_BOOK) | (batch["kind"] == KIND_SNAPSHOT)
    last = batch[np.flatnonzero(is_level)[-1]] if is_level.any() else batch[-1]
    trusted = BID if int(last["side"]) == BID else ASK
    stale = _levels_through(book, trusted)
    fix = np.zeros(len(stale), dtype=EVENT_DTYPE)
    fix["ts_exch"], fix["ts_recv"], fix["seq"] = last["ts_exch"], last["ts_recv"], last["seq"]
    fix["price_ticks"] = stale
    fix["kind"], fix["side"], fix["flags"] = KIND_BOOK, -trusted, F_REPAIRED
    return fix


def _levels_through(book: OrderBook, trusted: int) -> list[int]:
    """Prices (ticks) of the side opposite ``trusted`` at or through its best price."""
    best = book.best_bid() if trusted == BID else book.best_ask()
    assert best is not None
    depth = 16
    while True:
        bids, asks = book.top(depth)
        levels = asks if trusted == BID else bids
        through = [p for p, _ in levels if (p <= best[0] if trusted == BID else p >= best[0])]
        if len(through) < len(levels) or len(levels) < depth:
            return through
        depth *= 2


def _close_with(batch: np.ndarray, fix: np.ndarray) -> np.ndarray:
    out = np.zeros(len(batch) + len(fix), dtype=EVENT_DTYPE)
    out[: len(batch)] = batch
    out[len(batch) :] = fix
    out["flags"][len(batch) - 1] &= ~np.uint8(F_LAST)
    out["flags"][-1] |= F_LAST
    out["flags"] |= F_REPAIRED
    return out
