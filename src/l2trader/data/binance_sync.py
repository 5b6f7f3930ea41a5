"""Binance REST-snapshot + diff-depth synchronisation (the documented ``U``/``u``/``pu`` rules).

Depth updates seen before a snapshot are buffered. When a snapshot arrives it is emitted
as one message (CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask SNAPSHOT rows), then the
buffer is replayed through the normal rules:

- stale updates are dropped (a normal event, counted in ``stats["stale_updates"]``):
  spot ``u <= lastUpdateId``, futures ``u < lastUpdateId``;
- the first applied update straddles the snapshot: spot ``U <= lastUpdateId + 1 <= u``,
  futures ``U <= lastUpdateId <= u``;
- every later update continues the previous one: spot ``U == prev_u + 1``, futures
  ``pu == prev_u``.

Buffered updates applied after a snapshot get ``ts_recv`` = the snapshot's ``ts_recv``: that
is the moment the synchronised book first existed locally, and it keeps ``ts_recv``
non-decreasing. A snapshot that arrives while the book is in sync is not needed and is
skipped (``stats["snapshots_ignored"]``).

Repair policy: a gap records ``SEQUENCE_GAP`` and un-syncs the book; later updates are
buffered again and the next snapshot resyncs it (its rows carry ``F_REPAIRED`` and its
first row ``F_GAP_BEFORE``). Buffered updates that the resync snapshot makes obsolete are
quarantined with reason ``SEQUENCE_GAP``; without a later snapshot they are quarantined at
the end of the stream (``NO_SNAPSHOT`` issue).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Final

from l2trader.data.binance_parse import DepthUpdate, Snapshot, Trade
from l2trader.data.events import EventBuffer
from l2trader.data.report import IssueCode, Policy, QuarantinedRow, ValidationReport
from l2trader.schema import (
    ASK,
    BID,
    F_GAP_BEFORE,
    F_REPAIRED,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)

__all__ = ["PENDING_LIMIT", "DepthSync", "add_issue"]

PENDING_LIMIT: Final = 20_000
"""Most depth updates held while waiting for a snapshot (oldest dropped beyond it)."""


def add_issue(
    report: ValidationReport,
    where: tuple[str, int],
    seq: int,
    code: IssueCode,
    message: str,
    raw: str | None = None,
) -> None:
    """``report.add`` with the issue attributed to file ``where[0]``, line ``where[1]``.

    The report of a multi-file reader names every file; each issue names the one it is in.
    """
    report.add(where[1], seq, code, message, raw, source=where[0])


class DepthSync:
    """Apply snapshot/depth/trade messages of one symbol and write C1 rows to ``buffer``.

    Parameters
    ----------
    report
        Receives issues (raises in strict mode), skip counts and quarantined rows.
    buffer
        Where the C1 rows go, one closed message per venue message.
    futures
        True for futures rules (``pu``), False for spot; None decides at the first update
        (``pu`` present -> futures).
    stats
        Counters of normal events (stale updates, empty updates, lines emitted, ...).
    """

    def __init__(
        self,
        report: ValidationReport,
        buffer: EventBuffer,
        *,
        futures: bool | None,
        stats: Counter[str],
        pending_limit: int = PENDING_LIMIT,
    ) -> None:
        self.report = report
        self.buffer = buffer
        self.futures = futures
        self.stats = stats
        self.pending_limit = pending_limit
        self.pending: deque[DepthUpdate] = deque()
        self.synced = False
        self.need_first = False
        self.ever_synced = False
        self.after_gap = False
        self.carry_repaired = False
        self.snap_id = -1
        self.prev_id = -1
        self.last_trade_id: dict[bool, int] = {}

    # ------------------------------------------------------------------ depth updates

    def on_depth(self, update: DepthUpdate) -> None:
        """Buffer (not in sync) or check and apply one diff-depth update."""
        if self.futures is None:
            self.futures = update.prev_id is not None
        elif self.futures and update.prev_id is None:
            where = (update.source, update.line)
            msg = "futures depth update without 'pu'"
            add_issue(self.report, where, update.last_id, IssueCode.PARSE_ERROR, msg, update.raw)
            return
        if self.synced:
            self._apply(update)
        else:
            self._hold(update)

    def _apply(self, update: DepthUpdate) -> None:
        if self.need_first:
            if self._is_stale(update):
                self._drop_stale(update)
                return
            if not self._straddles(update):
                self._gap(update, self._first_rule_text(update))
                return
            self.need_first = False
        elif not self._continues(update):
            return
        self.prev_id = update.last_id
        self._emit_depth(update)

    def _is_stale(self, update: DepthUpdate) -> bool:
        if self.futures:
            return update.last_id < self.snap_id
        return update.last_id <= self.snap_id

    def _straddles(self, update: DepthUpdate) -> bool:
        target = self.snap_id if self.futures else self.snap_id + 1
        return update.first_id <= target <= update.last_id

    def _first_rule_text(self, update: DepthUpdate) -> str:
        target = "lastUpdateId" if self.futures else "lastUpdateId+1"
        return (
            f"first update after snapshot lastUpdateId={self.snap_id} must have "
            f"U <= {target} <= u, got U={update.first_id} u={update.last_id}"
        )

    def _continues(self, update: DepthUpdate) -> bool:
        """Check ``update`` follows ``prev_id``; report (and drop) it if not."""
        where, seq = (update.source, update.line), update.last_id
        if seq <= self.prev_id:
            code = IssueCode.DUPLICATE_SEQ if seq == self.prev_id else IssueCode.OUT_OF_ORDER_SEQ
            msg = f"update id u={seq} does not advance past previous u={self.prev_id}"
            add_issue(self.report, where, seq, code, msg, update.raw)
            return False
        if self.futures and update.prev_id != self.prev_id:
            self._gap(update, f"expected pu={self.prev_id}, got pu={update.prev_id} (u={seq})")
            return False
        if not self.futures and update.first_id != self.prev_id + 1:
            expected = f"expected U={self.prev_id + 1} (previous u={self.prev_id})"
            self._gap(update, f"{expected}, got U={update.first_id} u={seq}")
            return False
        return True

    def _gap(self, update: DepthUpdate, message: str) -> None:
        where = (update.source, update.line)
        add_issue(self.report, where, update.last_id, IssueCode.SEQUENCE_GAP, message)
        self.synced = False
        self.need_first = False
        self.after_gap = True
        self._hold(update)

    def desync(self) -> None:
        """Forget the sync state after a lost connection: buffer again, the next snapshot resyncs.

        The resync snapshot carries ``F_GAP_BEFORE``/``F_REPAIRED`` when the book had been in
        sync (or had updates pending), since updates were missed while disconnected.
        """
        if self.synced or self.pending:
            self.synced = self.need_first = False
            self.after_gap = True
        self.pending.clear()

    def _hold(self, update: DepthUpdate) -> None:
        update.post_gap = self.after_gap
        self.pending.append(update)
        if len(self.pending) > self.pending_limit:
            self._discard(self.pending.popleft())

    def _discard(self, update: DepthUpdate) -> None:
        """Drop a buffered update that can no longer be used."""
        if self.report.policy is Policy.STRICT:
            self.report.rows_skipped += 1
            self.stats["pending_overflow"] += 1
            return
        reason = IssueCode.SEQUENCE_GAP if update.post_gap else IssueCode.NO_SNAPSHOT
        self._quarantine(update.source, update.line, reason, update.raw)

    def _drop_stale(self, update: DepthUpdate) -> None:
        if update.post_gap:
            self._quarantine(update.source, update.line, IssueCode.SEQUENCE_GAP, update.raw)
        else:
            self.report.rows_skipped += 1
            self.stats["stale_updates"] += 1

    def _quarantine(self, source: str, line: int, reason: IssueCode, raw: str) -> None:
        self.report.quarantined.append(QuarantinedRow(source, line, reason, raw))

    def _emit_depth(self, update: DepthUpdate) -> None:
        bids, asks = update.bids, update.asks
        if not bids.ticks and not asks.ticks:
            if bids.problems or asks.problems:  # every level was invalid and dropped
                self.carry_repaired = True
                reason = (bids.problems or asks.problems)[0].code
                self._quarantine(update.source, update.line, reason, update.raw)
            else:
                self.report.rows_skipped += 1
                self.stats["empty_updates"] += 1
            return
        for side, levels in ((BID, bids), (ASK, asks)):
            self.buffer.extend_levels(
                update.ts_exch, update.ts_recv, update.last_id, KIND_BOOK, side,
                levels.ticks, levels.qty,
            )  # fmt: skip
        self._close(update.repaired)

    def _close(self, repaired: bool, extra: int = 0) -> None:
        """End a book message; ``F_REPAIRED`` also marks the first after an all-invalid one."""
        if repaired or self.carry_repaired:
            extra |= F_REPAIRED
            self.carry_repaired = False
        self.buffer.end_message(extra)
        self.stats["lines_emitted"] += 1

    # ------------------------------------------------------------------ snapshots

    def on_snapshot(self, snap: Snapshot) -> None:
        """Synchronise on ``snap`` (emit it, replay the buffer), unless already in sync."""
        if self.synced:
            self.report.rows_skipped += 1
            self.stats["snapshots_ignored"] += 1
            return
        self._emit_snapshot(snap)
        self.synced = self.need_first = self.ever_synced = True
        self.after_gap = False
        self.snap_id = self.prev_id = snap.last_id
        held = list(self.pending)
        self.pending.clear()
        for update in held:
            update.ts_recv = max(update.ts_recv, snap.ts_recv)
            if self.synced:
                self._apply(update)
            else:
                self._hold(update)

    def _emit_snapshot(self, snap: Snapshot) -> None:
        ts_exch, ts_recv, seq = snap.ts_exch, snap.ts_recv, snap.last_id
        gap_flag = F_GAP_BEFORE if self.after_gap else 0
        self.buffer.append(ts_exch, ts_recv, seq, 0, 0.0, KIND_CLEAR, BID, gap_flag)
        self.buffer.extend_levels(
            ts_exch, ts_recv, seq, KIND_SNAPSHOT, BID, snap.bids.ticks, snap.bids.qty
        )
        self.buffer.append(ts_exch, ts_recv, seq, 0, 0.0, KIND_CLEAR, ASK, 0)
        self.buffer.extend_levels(
            ts_exch, ts_recv, seq, KIND_SNAPSHOT, ASK, snap.asks.ticks, snap.asks.qty
        )
        self._close(snap.repaired or self.after_gap)
        self.stats["snapshots_applied"] += 1

    # ------------------------------------------------------------------ trades

    def on_trade(self, trade: Trade, *, aggregate: bool) -> None:
        """Emit a trade as its own message; a repeated or backwards trade id is an issue."""
        where, seq = (trade.source, trade.line), trade.trade_id
        last = self.last_trade_id.get(aggregate, -1)
        if seq <= last:
            code = IssueCode.DUPLICATE_SEQ if seq == last else IssueCode.OUT_OF_ORDER_SEQ
            msg = f"trade id {seq} does not advance past previous id {last}"
            add_issue(self.report, where, seq, code, msg, trade.raw)
            return
        self.last_trade_id[aggregate] = seq
        if not trade.price.ticks:  # invalid price/qty, already reported
            self._quarantine(trade.source, trade.line, trade.price.problems[0].code, trade.raw)
            return
        ticks, qty = trade.price.ticks[0], trade.price.qty[0]
        self.buffer.append(trade.ts_exch, trade.ts_recv, seq, ticks, qty, KIND_TRADE, trade.side)
        self.buffer.end_message(F_REPAIRED if trade.repaired else 0)
        self.stats["lines_emitted"] += 1

    # ------------------------------------------------------------------ end of stream

    def finish(self) -> None:
        """Deal with updates still waiting for a snapshot at the end of the input."""
        if not self.pending:
            return
        first = self.pending[0]
        n = len(self.pending)
        if self.ever_synced:
            msg = f"no snapshot after the sequence gap: {n} depth updates cannot be applied"
        else:
            msg = f"no REST snapshot to synchronise with: {n} depth updates cannot be applied"
        add_issue(
            self.report, (first.source, first.line), first.last_id, IssueCode.NO_SNAPSHOT, msg
        )
        while self.pending:
            self._discard(self.pending.popleft())
