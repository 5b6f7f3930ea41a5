"""Stream-level checks of C1 event arrays: everything that needs no order book.

The crossed-book check needs the book and lives with the replay. The checks run in one
numba pass (:func:`l2trader.data.kernels.validate_nb`) that carries its state across
chunks, so checking a stream chunk by chunk equals checking it in one piece.

Policy per check. ``Policy.STRICT`` raises the typed error of the first issue (its
message names the event index; ``line`` is the 0-based event index, ``seq`` the row's
seq). ``Policy.REPAIR`` counts the issue in the report and applies the action below;
dropped rows are quarantined with a readable rendering of the row.

=======================================================  ==================  ==============
check                                                    IssueCode (error)   repair action
=======================================================  ==================  ==============
``kind`` not in 1..4                                     BAD_VALUE           drop
``side`` not valid for the kind (BOOK/SNAPSHOT: +-1;     BAD_VALUE           drop
CLEAR/TRADE: -1, 0, +1)
``qty`` NaN or infinite                                  NAN_QTY             drop
``qty`` < 0                                              NEGATIVE_QTY        drop
``price_ticks`` <= 0 for BOOK/SNAPSHOT/TRADE (optional)  BAD_VALUE           drop
``ts_recv`` earlier than the previous kept row           OUT_OF_ORDER_TS     drop
book ``seq`` (non-TRADE, >= 0) below the previous        OUT_OF_ORDER_SEQ    drop
book ``seq`` equal to the seq of an earlier message      DUPLICATE_SEQ       drop
SNAPSHOT row without a CLEAR of its side (or both sides) NO_SNAPSHOT         drop
earlier in its batch
``ts_recv`` moves on inside an open batch (the batch     UNCLOSED_BATCH      clamp: close
lacked ``F_LAST``)                                                           the batch
stream does not end with ``F_LAST``                      UNCLOSED_BATCH      clamp: close
                                                                             the last batch
=======================================================  ==================  ==============

Dropped rows do not advance the clocks or the seq; the ``F_LAST`` of a dropped row still
ends its batch (:func:`l2trader.data.repair.apply_repair` moves it to the batch's last kept
row). No check only reports: every issue either drops or clamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from l2trader.data import kernels as k
from l2trader.data.report import IssueCode, ValidationReport
from l2trader.schema import EVENT_DTYPE, EventKind

__all__ = [
    "ISSUE_CODE",
    "ValidationState",
    "finish_validation",
    "issue_codes",
    "render_event",
    "validate_events",
]

ISSUE_CODE: dict[int, tuple[IssueCode, str, bool]] = {
    k.V_BAD_KIND: (IssueCode.BAD_VALUE, "kind is not 1..4 (BOOK, TRADE, SNAPSHOT, CLEAR)", True),
    k.V_BAD_SIDE: (IssueCode.BAD_VALUE, "side is not valid for this kind", True),
    k.V_NAN_QTY: (IssueCode.NAN_QTY, "qty is not finite", True),
    k.V_NEGATIVE_QTY: (IssueCode.NEGATIVE_QTY, "qty is negative", True),
    k.V_BAD_PRICE: (IssueCode.BAD_VALUE, "price_ticks is not positive", True),
    k.V_TS_BACKWARDS: (IssueCode.OUT_OF_ORDER_TS, "ts_recv goes backwards", True),
    k.V_SEQ_BACKWARDS: (IssueCode.OUT_OF_ORDER_SEQ, "book seq goes backwards", True),
    k.V_DUPLICATE_SEQ: (IssueCode.DUPLICATE_SEQ, "book seq repeats an earlier message", True),
    k.V_SNAPSHOT_NO_CLEAR: (
        IssueCode.NO_SNAPSHOT,
        "SNAPSHOT row without a CLEAR of its side earlier in its batch",
        True,
    ),
    k.V_UNCLOSED_BATCH: (
        IssueCode.UNCLOSED_BATCH,
        "ts_recv changes inside a batch: the previous batch lacks F_LAST",
        False,
    ),
}
"""Kernel code -> (IssueCode, what is wrong, whether the row is dropped)."""


@dataclass
class ValidationState:
    """What the checks carry from one chunk to the next (an int64 array for the kernel)."""

    values: NDArray[np.int64] = field(default_factory=k.new_state)

    @property
    def batch_open(self) -> bool:
        """True when kept rows were seen since the last ``F_LAST``."""
        return bool(self.values[k.S_BATCH_OPEN])

    @property
    def last_ts_recv(self) -> int:
        """``ts_recv`` of the last kept row (ns); ``INT64_MIN`` before the first."""
        return int(self.values[k.S_LAST_TS])

    @property
    def last_seq(self) -> int:
        """Last kept book seq; -1 if none yet."""
        return int(self.values[k.S_LAST_SEQ])


def validate_events(
    events: np.ndarray,
    report: ValidationReport,
    *,
    state: ValidationState | None = None,
    offset: int = 0,
    final: bool = False,
    check_prices: bool = True,
) -> tuple[NDArray[np.bool_], ValidationState]:
    """Check a chunk of C1 events; return the keep-mask and the (updated) state.

    Parameters
    ----------
    events
        C-contiguous ``EVENT_DTYPE`` array (one chunk of a stream).
    report
        Receives every issue: raises in strict mode, counts and quarantines in repair mode.
    state
        State returned by the previous chunk's call (updated in place); None starts a stream.
    offset
        Stream index of ``events[0]``, used as the issue's ``line``.
    final
        This is the last chunk: also check that the stream ends with ``F_LAST``.
    check_prices
        Drop BOOK/SNAPSHOT/TRADE rows with ``price_ticks <= 0``.

    Examples
    --------
    >>> from l2trader.data.report import Policy
    >>> from l2trader.testing import make_events
    >>> ev = make_events([(100, 1.0, 1), (101, float("nan"), -1)])
    >>> report = ValidationReport("demo", policy=Policy.REPAIR)
    >>> keep, _ = validate_events(ev, report, final=True)
    >>> keep.tolist(), dict(report.counts)
    ([True, False], {'nan_qty': 1})
    """
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"validate_events: events must have EVENT_DTYPE, got {events.dtype}")
    state = ValidationState() if state is None else state
    codes = issue_codes(events, state, offset=offset, check_prices=check_prices)
    if codes.any():
        _report_codes(events, codes, report, offset)
    if final:
        finish_validation(state, report)
    keep = (codes == k.V_OK) | (codes == k.V_UNCLOSED_BATCH)
    return keep, state


def issue_codes(
    events: np.ndarray, state: ValidationState, *, offset: int = 0, check_prices: bool = True
) -> NDArray[np.uint8]:
    """Per-row kernel issue codes (``kernels.V_*``, 0 = fine); ``state`` is updated in place."""
    codes = np.zeros(len(events), dtype=np.uint8)
    k.validate_nb(
        events["ts_recv"],
        events["seq"],
        events["price_ticks"],
        events["qty"],
        events["kind"],
        events["side"],
        events["flags"],
        state.values,
        offset,
        check_prices,
        codes,
    )
    return codes


def finish_validation(state: ValidationState, report: ValidationReport) -> bool:
    """End-of-stream check: the last batch must be closed; return True if it was not.

    In repair mode the state is marked closed (``apply_repair(final=True)`` closes it).
    """
    if not state.batch_open:
        return False
    index = int(state.values[k.S_LAST_KEPT_IDX])
    report.add(
        index,
        int(state.values[k.S_LAST_KEPT_SEQ]),
        IssueCode.UNCLOSED_BATCH,
        f"event {index}: the stream ends without F_LAST (last batch left open)",
    )
    state.values[k.S_BATCH_OPEN] = 0
    return True


def render_event(row: np.void) -> str:
    """A readable one-line rendering of an event row (the quarantine ``raw`` column).

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> render_event(make_events([(100, 2.5, 1)], ts_recv=7)[0])
    'ts_exch=7 ts_recv=7 seq=-1 price_ticks=100 qty=2.5 kind=BOOK side=1 flags=1'
    """
    kind = int(row["kind"])
    kind_name = EventKind(kind).name if kind in EventKind._value2member_map_ else str(kind)
    return (
        f"ts_exch={int(row['ts_exch'])} ts_recv={int(row['ts_recv'])} seq={int(row['seq'])} "
        f"price_ticks={int(row['price_ticks'])} qty={float(row['qty'])!r} kind={kind_name} "
        f"side={int(row['side'])} flags={int(row['flags'])}"
    )


def _report_codes(
    events: np.ndarray, codes: NDArray[np.uint8], report: ValidationReport, offset: int
) -> None:
    """Send every non-zero code to ``report`` in stream order (strict raises on the first)."""
    for i in np.flatnonzero(codes).tolist():
        issue, what, drop = ISSUE_CODE[int(codes[i])]
        row = events[i]
        index = offset + i
        message = (
            f"event {index}: {what} (kind={int(row['kind'])} side={int(row['side'])} "
            f"qty={float(row['qty'])!r} price_ticks={int(row['price_ticks'])} "
            f"ts_recv={int(row['ts_recv'])} seq={int(row['seq'])})"
        )
        report.add(index, int(row["seq"]), issue, message, raw=render_event(row) if drop else None)
