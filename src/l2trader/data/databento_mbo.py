"""Databento MBO (market by order) -> L2 C1 events, aggregated per price level.

:class:`MboBook` keeps ``order_id -> (side, price, size)`` and the per-level totals:
``A`` adds, ``C`` removes ``size`` from the order (the rest stays), ``M`` moves the order
to its new price and size, ``R`` clears the book (a CLEAR row), ``T`` emits a TRADE row
(side = aggressor) and ``F`` changes nothing (the resting order is reduced by the ``C``
that follows). Rows are emitted once per venue event, at its DBN ``F_LAST`` record:
trades, then one BOOK row per level whose published size changed (its new total).

Snapshots: a run of ``F_SNAPSHOT`` records is one batch, CLEAR (both sides) + SNAPSHOT
rows of the aggregated levels (bids then asks, best first). A snapshot without a leading
``R`` clears the book implicitly; a run that ends without ``F_LAST`` (the next record is
live) is closed at its last record (counted as ``snapshot_unterminated``).

Crossed book after an event (CME pre-open, e.g. ESH4 2023-12-25 22:39:55-23:00 UTC):
strict raises :class:`~l2trader.errors.CrossedBookError` at the record; repair keeps the
true order book but *publishes* an uncrossed view, with the ingest's newest-wins rule:
the side of the event's last A/C/M record is trusted (bid if none) and the opposite
levels at or through its best are hidden (published as 0) until the book uncrosses,
when their true sizes are published again. While the book stays crossed the trusted
side is kept (sticky), so the hidden set only changes at its edge. Issues:
``crossed_book`` / ``locked_book``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import numpy as np

from l2trader.data.databento import (
    DBN_F_LAST,
    DBN_F_SNAPSHOT,
    MBO_DTYPE,
    UNDEF_PRICE,
    DbnReaderBase,
)
from l2trader.data.report import IssueCode
from l2trader.schema import (
    EVENT_DTYPE,
    F_LAST,
    F_REPAIRED,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)

__all__ = ["DatabentoMboReader", "MboBook"]

OnIssue = Callable[[int, IssueCode, str], None]
"""Callback ``(record index, code, message)``; raises in strict mode, returns in repair."""
_ROW_FIELDS = ("rec", "close", "price_ticks", "qty", "kind", "side", "flags")
_SIDE = {b"B": 1, b"A": -1}


class MboBook:
    """Order-level book aggregated to price levels; :meth:`apply` turns MBO records into rows.

    Parameters
    ----------
    units
        DBN price units (1e-9) per tick.
    on_issue
        Called for every problem (module docstring); the record is then repaired.
    """

    def __init__(self, units: int, on_issue: OnIssue) -> None:
        self.units = units
        self.on_issue = on_issue
        self.orders: dict[int, tuple[int, int, int]] = {}
        self.levels: dict[int, dict[int, int]] = {1: {}, -1: {}}
        self.published: dict[int, dict[int, int]] = {1: {}, -1: {}}
        self.hidden: set[tuple[int, int]] = set()
        self._heaps: dict[int, list[int]] = {1: [], -1: []}
        self.stats: dict[str, int] = {"snapshot_unterminated": 0, "crossed_events": 0}
        self._rows: list[tuple[int, int, int, float, int, int, int]] = []
        self._new_batch()

    def _new_batch(self) -> None:
        self.changed: dict[tuple[int, int], None] = {}
        self.trades: list[tuple[int, int, float, int]] = []
        self.clear_rec = -1
        self.in_snapshot = False
        self.trusted = 1
        self.repaired = False

    @property
    def open(self) -> bool:
        """True when records were applied since the last emitted batch."""
        return bool(self.changed or self.trades or self.clear_rec >= 0 or self.in_snapshot)

    def apply(self, recs: np.ndarray, *, final: bool = False) -> dict[str, np.ndarray]:
        """Apply MBO records; return the rows (fields of ``_ROW_FIELDS``) of closed events.

        ``rec``/``close`` index ``recs``: the row's own record and the event's closing
        record. With ``final``, an open event is closed at the last record (repaired).
        """
        cols = [recs[k].tolist() for k in ("action", "side", "price", "size", "order_id")]
        flags = recs["flags"].tolist()
        for i, (act, side, price, size, oid) in enumerate(zip(*cols, strict=True)):
            snap = bool(flags[i] & DBN_F_SNAPSHOT)
            if self.in_snapshot and not snap:
                self.stats["snapshot_unterminated"] += 1
                self.flush(i - 1)
            if snap and not self.in_snapshot:
                self.clear(i)
            self.record(i, act, _SIDE.get(side, 0), price, size, oid)
            if flags[i] & DBN_F_LAST:
                self.flush(i)
        if final and self.open and len(recs):
            self.on_issue(len(recs) - 1, IssueCode.UNCLOSED_BATCH, "file ends inside an event")
            self.repaired = True
            self.flush(len(recs) - 1)
        rows, self._rows = self._rows, []
        cols_out = list(zip(*rows, strict=True)) if rows else [()] * len(_ROW_FIELDS)
        types = (np.int64, np.int64, np.int64, np.float64, np.uint8, np.int8, np.uint8)
        return {k: np.asarray(c, t) for k, c, t in zip(_ROW_FIELDS, cols_out, types, strict=True)}

    def record(self, i: int, act: bytes, side: int, price: int, size: int, oid: int) -> None:
        """Apply one record (index ``i`` in the current block)."""
        if act == b"T":
            self.trades.append((i, price // self.units, float(size), side))
        elif act == b"R":
            self.clear(i)
        elif act in (b"A", b"C", b"M"):
            if side == 0:
                self._issue(i, IssueCode.BAD_VALUE, f"side must be B or A for action {act!r}")
                return
            self.trusted = side
            getattr(self, f"_on_{act.decode().lower()}")(i, side, price // self.units, size, oid)

    def _on_a(self, i: int, side: int, ticks: int, size: int, oid: int) -> None:
        if oid in self.orders:
            self._issue(i, IssueCode.BAD_VALUE, f"add of live order_id {oid} (replaced)")
            self._remove(oid)
        self.orders[oid] = (side, ticks, size)
        self._change(side, ticks, size)

    def _on_c(self, i: int, side: int, ticks: int, size: int, oid: int) -> None:
        order = self.orders.get(oid)
        if order is None:
            self._issue(i, IssueCode.BAD_VALUE, f"cancel of unknown order_id {oid} (skipped)")
            return
        if size > order[2]:
            self._issue(i, IssueCode.BAD_VALUE, f"cancel {size} > order size {order[2]}")
            size = order[2]
        self._remove(oid)
        if order[2] - size > 0:
            self.orders[oid] = (order[0], order[1], order[2] - size)
            self._change(order[0], order[1], order[2] - size)

    def _on_m(self, i: int, side: int, ticks: int, size: int, oid: int) -> None:
        if oid not in self.orders:
            self._issue(i, IssueCode.BAD_VALUE, f"modify of unknown order_id {oid} (added)")
        self._remove(oid)
        if size > 0:
            self.orders[oid] = (side, ticks, size)
            self._change(side, ticks, size)

    def _remove(self, oid: int) -> None:
        order = self.orders.pop(oid, None)
        if order is not None:
            self._change(order[0], order[1], -order[2])

    def _change(self, side: int, ticks: int, delta: int) -> None:
        level = self.levels[side]
        new = level.get(ticks, 0) + delta
        if new <= 0:
            level.pop(ticks, None)
        else:
            if ticks not in level:
                heapq.heappush(self._heaps[side], -side * ticks)
            level[ticks] = new
        self.changed[(side, ticks)] = None

    def _issue(self, i: int, code: IssueCode, message: str) -> None:
        self.on_issue(i, code, message)
        self.repaired = True

    def clear(self, i: int) -> None:
        """Empty the book (an ``R`` record or a snapshot start at record ``i``)."""
        self.orders.clear()
        for side in (1, -1):
            self.levels[side].clear()
            self.published[side].clear()
            self._heaps[side].clear()
        self.hidden.clear()
        self.changed.clear()
        self.clear_rec = i
        self.in_snapshot = True

    def best(self, side: int) -> int | None:
        """Best true price (ticks) of ``side`` (+1 bid, -1 ask), None when empty."""
        heap, level = self._heaps[side], self.levels[side]
        if len(heap) > 4 * len(level) + 64:
            heap[:] = [-side * p for p in level]
            heapq.heapify(heap)
        while heap and -side * heap[0] not in level:
            heapq.heappop(heap)
        return -side * heap[0] if heap else None

    def flush(self, close: int) -> None:
        """Emit the open event's rows, closing at record ``close`` (F_LAST on the last row)."""
        if not self.open:
            return
        snapshot = self.clear_rec >= 0 and self.in_snapshot
        rows = [(close, close, 0, 0.0, KIND_CLEAR, 0)] if self.clear_rec >= 0 else []
        rows += [(rec, close, px, qty, KIND_TRADE, side) for rec, px, qty, side in self.trades]
        self._uncross(close)
        rows += self._level_rows(close, snapshot)
        flags = F_REPAIRED if self.repaired else 0
        for k, row in enumerate(rows):
            self._rows.append((*row, flags | (F_LAST if k == len(rows) - 1 else 0)))
        self._new_batch()

    def _uncross(self, close: int) -> None:
        """Check the true book; in repair mode recompute the hidden (crossed) levels."""
        bid, ask = self.best(1), self.best(-1)
        hidden: set[tuple[int, int]] = set()
        if bid is not None and ask is not None and bid >= ask:
            self.stats["crossed_events"] += 1
            code = IssueCode.LOCKED_BOOK if bid == ask else IssueCode.CROSSED_BOOK
            self._issue(close, code, f"best bid {bid} >= best ask {ask} (ticks) after F_LAST")
            kept = {side for side, _ in self.hidden}  # sticky while crossed: less churn
            trusted = -kept.pop() if kept else self.trusted
            best = bid if trusted == 1 else ask
            hidden = {(-trusted, p) for p in self.levels[-trusted] if trusted * (p - best) <= 0}
        for key in self.hidden ^ hidden:
            self.changed[key] = None
        self.hidden = hidden

    def _level_rows(
        self, close: int, snapshot: bool
    ) -> list[tuple[int, int, int, float, int, int]]:
        if snapshot:
            keys = [(1, p) for p in sorted(self.levels[1], reverse=True)]
            keys += [(-1, p) for p in sorted(self.levels[-1])]
        else:
            keys = list(self.changed)
        rows = []
        kind = KIND_SNAPSHOT if snapshot else KIND_BOOK
        for side, ticks in keys:
            size = 0 if (side, ticks) in self.hidden else self.levels[side].get(ticks, 0)
            if size == self.published[side].get(ticks, 0):
                continue
            if size:
                self.published[side][ticks] = size
            else:
                self.published[side].pop(ticks, None)
            rows.append((close, close, ticks, float(size), kind, side))
        return rows


class DatabentoMboReader(DbnReaderBase):
    """Stream a Databento MBO file as L2 C1 event chunks (see the module docstring).

    Parameters are those of :class:`~l2trader.data.databento.DatabentoMbpReader`; the
    file must have schema ``mbo``. :attr:`stats` adds ``snapshot_unterminated``,
    ``crossed_events`` and ``crossed_first_ts`` / ``crossed_last_ts`` (ns, venue time
    ``ts_event`` of the closing record of the first and last crossed event).
    """

    schemas = ("mbo",)
    dtype = MBO_DTYPE
    actions = (b"A", b"C", b"M", b"T", b"F", b"R")

    def __init__(self, path: Any, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.book = MboBook(self.units, self._on_issue)
        self._block: tuple[np.ndarray, np.ndarray] | None = None

    def _reset(self) -> None:
        self.book = MboBook(self.units, self._on_issue)

    def _schema_checks(self, recs: np.ndarray) -> list[tuple[np.ndarray, IssueCode, str]]:
        priced = np.isin(recs["action"], [b"A", b"M", b"T", b"C", b"F"])
        return [
            (self._off_grid(recs["price"], priced), IssueCode.OFF_TICK, "price off the tick grid"),
            (
                np.isin(recs["action"], [b"A", b"M"]) & (recs["price"] == UNDEF_PRICE),
                IssueCode.BAD_VALUE,
                "add/modify without a price",
            ),
        ]

    def _on_issue(self, i: int, code: IssueCode, message: str) -> None:
        assert self._block is not None
        recs, lines = self._block
        if code in (IssueCode.CROSSED_BOOK, IssueCode.LOCKED_BOOK):
            ts = int(recs["ts_event"][i])
            self.stats["crossed_first_ts"] = self.stats["crossed_first_ts"] or ts
            self.stats["crossed_last_ts"] = ts
        self.report.add(int(lines[i]), int(recs["sequence"][i]), code, message)

    def _events(self, recs: np.ndarray, lines: np.ndarray, *, final: bool) -> np.ndarray:
        self._block = (recs, lines)
        repaired = np.isin(lines, list(self._repaired_lines))
        if repaired.any():
            self.book.repaired = True  # a dropped record precedes this block's first event
        rows = self.book.apply(recs, final=final)
        for key in ("snapshot_unterminated", "crossed_events"):
            self.stats[key] += self.book.stats[key]
            self.book.stats[key] = 0
        for action, count in zip(*np.unique(recs["action"], return_counts=True), strict=True):
            self.stats[f"action_{action.decode()}"] += int(count)
        if not len(rows["rec"]):
            return np.zeros(0, EVENT_DTYPE)
        return self._assemble(recs, rows)
