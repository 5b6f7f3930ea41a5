"""Validation issues, the policy that decides what happens to them, and quarantine rows.

Every reader and check reports problems the same way: an :class:`Issue` with the
source, 1-based line, sequence id, a :class:`IssueCode` and a message. Under
``Policy.STRICT`` the first issue raises the matching :mod:`l2trader.errors` exception;
under ``Policy.REPAIR`` it is counted, the bad row is quarantined with its reason,
and the repaired stream is flagged ``F_REPAIRED`` / ``F_GAP_BEFORE``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from l2trader import errors

__all__ = ["Issue", "IssueCode", "Policy", "QuarantinedRow", "ValidationReport"]


class Policy(StrEnum):
    """What to do with bad input."""

    STRICT = "strict"
    """Raise on the first issue, naming file:line:seq and the reason."""
    REPAIR = "repair"
    """Drop or resync, flag the repaired rows, count per reason and quarantine bad rows."""


class IssueCode(StrEnum):
    """Reason codes of validation issues (stable: they are stored in reports)."""

    PARSE_ERROR = "parse_error"
    NAN_QTY = "nan_qty"
    NEGATIVE_QTY = "negative_qty"
    OFF_TICK = "off_tick"
    BAD_VALUE = "bad_value"
    DUPLICATE_SEQ = "duplicate_seq"
    OUT_OF_ORDER_SEQ = "out_of_order_seq"
    OUT_OF_ORDER_TS = "out_of_order_ts"
    SEQUENCE_GAP = "sequence_gap"
    STALE_UPDATE = "stale_update"
    NO_SNAPSHOT = "no_snapshot"
    CROSSED_BOOK = "crossed_book"
    LOCKED_BOOK = "locked_book"
    EMPTY_SIDE = "empty_side"
    UNCLOSED_BATCH = "unclosed_batch"
    CHECKSUM_MISMATCH = "checksum_mismatch"


_ERROR_FOR_CODE: dict[IssueCode, type[errors.DataError]] = {
    IssueCode.PARSE_ERROR: errors.ParseError,
    IssueCode.NAN_QTY: errors.InvalidValueError,
    IssueCode.NEGATIVE_QTY: errors.InvalidValueError,
    IssueCode.OFF_TICK: errors.InvalidValueError,
    IssueCode.BAD_VALUE: errors.InvalidValueError,
    IssueCode.DUPLICATE_SEQ: errors.DuplicateError,
    IssueCode.OUT_OF_ORDER_SEQ: errors.OutOfOrderError,
    IssueCode.OUT_OF_ORDER_TS: errors.OutOfOrderError,
    IssueCode.SEQUENCE_GAP: errors.SequenceGapError,
    IssueCode.STALE_UPDATE: errors.OutOfOrderError,
    IssueCode.NO_SNAPSHOT: errors.SnapshotSyncError,
    IssueCode.CROSSED_BOOK: errors.CrossedBookError,
    IssueCode.LOCKED_BOOK: errors.CrossedBookError,
    IssueCode.EMPTY_SIDE: errors.EmptySideError,
    IssueCode.UNCLOSED_BATCH: errors.InvalidValueError,
    IssueCode.CHECKSUM_MISMATCH: errors.ChecksumError,
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in the input, at ``source:line`` (1-based) with venue ``seq``."""

    source: str
    line: int
    seq: int
    code: IssueCode
    message: str

    def to_error(self) -> errors.DataError:
        """The typed exception that strict mode raises for this issue."""
        return _ERROR_FOR_CODE[self.code](
            self.message, source=self.source, line=self.line, seq=self.seq
        )


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A raw input row set aside by the repair policy, with why."""

    source: str
    line: int
    reason: IssueCode
    raw: str


@dataclass
class ValidationReport:
    """Issues found while reading/validating one source, and what the policy did.

    ``rows_in`` counts input rows (lines/messages) read; ``events_out`` counts C1 events
    emitted; ``quarantined`` holds the rows set aside. Invariant checked in tests: every
    input row is either turned into events, skipped as non-book data (``rows_skipped``),
    or quarantined.
    """

    source: str
    policy: Policy = Policy.STRICT
    issues: list[Issue] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    rows_in: int = 0
    rows_skipped: int = 0
    events_out: int = 0
    max_issues_kept: int = 10_000
    counts: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        line: int,
        seq: int,
        code: IssueCode,
        message: str,
        raw: str | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """Record an issue; raise it in strict mode, else count (and quarantine ``raw``).

        ``source`` names the file the issue is in when a report covers several files
        (default: the report's own ``source``).
        """
        where = self.source if source is None else source
        issue = Issue(where, line, seq, code, message)
        if self.policy is Policy.STRICT:
            raise issue.to_error()
        self.counts[code.value] += 1
        if len(self.issues) < self.max_issues_kept:
            self.issues.append(issue)
        if raw is not None:
            self.quarantined.append(QuarantinedRow(where, line, code, raw))

    def reset(self) -> None:
        """Forget every issue and counter, in place (callers keep the same object)."""
        self.issues.clear()
        self.quarantined.clear()
        self.counts.clear()
        self.rows_in = self.rows_skipped = self.events_out = 0

    @property
    def ok(self) -> bool:
        """True when no issue was found."""
        return not self.counts

    def merge(self, other: ValidationReport) -> None:
        """Add ``other``'s issues and counters to this report."""
        self.issues.extend(other.issues[: max(0, self.max_issues_kept - len(self.issues))])
        self.quarantined.extend(other.quarantined)
        self.counts.update(other.counts)
        self.rows_in += other.rows_in
        self.rows_skipped += other.rows_skipped
        self.events_out += other.events_out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (issues truncated to the first 1000)."""
        return {
            "source": self.source,
            "policy": self.policy.value,
            "rows_in": self.rows_in,
            "rows_skipped": self.rows_skipped,
            "events_out": self.events_out,
            "quarantined": len(self.quarantined),
            "counts": dict(sorted(self.counts.items())),
            "issues": [
                {"line": i.line, "seq": i.seq, "code": i.code.value, "message": i.message}
                for i in self.issues[:1000]
            ],
        }
