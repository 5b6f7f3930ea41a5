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

Two opt-in gap rules (off by default, so existing counts never change) look at the rows
the checks above keep and only report (the row is kept; a gap cannot be repaired here):

- ``max_silence_ns``: two consecutive book rows (every kind but TRADE) further apart in
  ``ts_recv`` than this: a silent or stale book feed (``SEQUENCE_GAP``, issue at the row
  after the silence). Trades do not reset this clock: a book feed that stops while trades
  still print leaves the book stale, which is what the rule is for.
- ``check_seq_contiguous``: the venue seq must not jump (``SEQUENCE_GAP``, the message
  names the missing range). ``True``/``"all"``: one sequence over every row with
  ``seq >= 0`` (rows of one message share it); ``"book"``/``"trade"``: only that stream.
  Only for venues whose C1 seq is contiguous: Binance book rows carry the final update id
  ``u`` (it jumps every message), so there only ``"trade"`` (trade ids) applies.

Both rules use :data:`IssueCode.SEQUENCE_GAP` (strict: :class:`~l2trader.errors.SequenceGapError`);
:func:`gap_counts` tells them apart.

Dropped rows do not advance the clocks or the seq; the ``F_LAST`` of a dropped row still
ends its batch (:func:`l2trader.data.repair.apply_repair` moves it to the batch's last kept
row). No check only reports: every issue either drops or clamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from l2trader.data import kernels as k
from l2trader.data.report import IssueCode, ValidationReport
from l2trader.errors import ConfigError
from l2trader.schema import EVENT_DTYPE, KIND_TRADE, EventKind

__all__ = [
    "GAP_SEQ",
    "GAP_SILENCE",
    "ISSUE_CODE",
    "GapCounts",
    "SeqStream",
    "ValidationState",
    "finish_validation",
    "gap_codes",
    "gap_counts",
    "issue_codes",
    "render_event",
    "validate_events",
]

SeqStream = Literal["all", "book", "trade"]
"""Which rows :func:`validate_events`'s ``check_seq_contiguous`` follows."""
GAP_SILENCE: Final = 1
"""Bit of :func:`gap_codes`: the book feed was silent for longer than ``max_silence_ns``."""
GAP_SEQ: Final = 2
"""Bit of :func:`gap_codes`: the venue seq jumped (ids missing before this row)."""
_NO_TS: Final = np.iinfo(np.int64).min

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
    last_book_ts: int = _NO_TS
    """Gap rules: ``ts_recv`` of the last kept book row (ns); ``INT64_MIN`` before it."""
    max_seq: int = -1
    """Gap rules: highest kept seq of the followed stream; -1 before the first."""

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
    max_silence_ns: int | None = None,
    check_seq_contiguous: bool | SeqStream = False,
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
    max_silence_ns
        Opt-in: report book rows more than this many ns after the previous book row.
    check_seq_contiguous
        Opt-in: report jumps of the venue seq (``True`` = ``"all"``; module docstring).

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
    stream = _seq_stream(check_seq_contiguous)
    if max_silence_ns is not None and not max_silence_ns > 0:
        raise ConfigError(f"max_silence_ns={max_silence_ns!r}: must be > 0 ns (or None)")
    state = ValidationState() if state is None else state
    codes = issue_codes(events, state, offset=offset, check_prices=check_prices)
    keep = (codes == k.V_OK) | (codes == k.V_UNCLOSED_BATCH)
    gaps = None
    if max_silence_ns is not None or stream is not None:
        gaps = _gaps(events, keep, state, max_silence_ns, stream)
    if codes.any() or (gaps is not None and gaps[0].any()):
        _report_codes(events, codes, report, offset, gaps)
    if final:
        finish_validation(state, report)
    return keep, state


def _seq_stream(check: bool | str) -> SeqStream | None:
    """``check_seq_contiguous`` as a stream name (None: off); ConfigError if unknown."""
    if check is False:
        return None
    if check is True or check == "all":
        return "all"
    if check in ("book", "trade"):
        return "book" if check == "book" else "trade"
    raise ConfigError(
        f"check_seq_contiguous={check!r}: must be False, True, 'all', 'book' or 'trade'"
    )


def gap_codes(
    events: np.ndarray,
    keep: NDArray[np.bool_],
    state: ValidationState,
    *,
    max_silence_ns: int | None,
    seq_stream: SeqStream | None,
) -> NDArray[np.uint8]:
    """Per-row gap bits (:data:`GAP_SILENCE`, :data:`GAP_SEQ`) over the kept rows.

    ``state.last_book_ts`` and ``state.max_seq`` carry across chunks (updated in place), so
    a chunked stream gets the codes of one pass. Vectorised numpy (no loop to compile).
    """
    return _gaps(events, keep, state, max_silence_ns, seq_stream)[0]


def _gaps(
    events: np.ndarray,
    keep: NDArray[np.bool_],
    state: ValidationState,
    max_silence_ns: int | None,
    seq_stream: SeqStream | None,
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64]]:
    """Gap bits, and per row the previous book ``ts_recv`` / highest earlier seq (ns, id)."""
    out = np.zeros(len(events), dtype=np.uint8)
    prev_ts = np.full(len(events), _NO_TS, dtype=np.int64)
    prev_seq = np.full(len(events), -1, dtype=np.int64)
    if max_silence_ns is not None:
        rows = np.flatnonzero(keep & (events["kind"] != KIND_TRADE))
        ts = events["ts_recv"][rows]
        if rows.size:
            prev_ts[rows] = np.concatenate([[state.last_book_ts], ts[:-1]])
            silent = (prev_ts[rows] != _NO_TS) & (ts - prev_ts[rows] > max_silence_ns)
            out[rows[silent]] |= GAP_SILENCE
            state.last_book_ts = int(ts[-1])
    if seq_stream is not None:
        rows = np.flatnonzero(keep & (events["seq"] >= 0) & _stream_mask(events, seq_stream))
        seq = events["seq"][rows]
        if rows.size:
            prev_seq[rows] = np.maximum.accumulate(np.concatenate([[state.max_seq], seq]))[:-1]
            jump = (prev_seq[rows] >= 0) & (seq > prev_seq[rows] + 1)
            out[rows[jump]] |= GAP_SEQ
            state.max_seq = max(state.max_seq, int(seq.max()))
    return out, prev_ts, prev_seq


def _stream_mask(events: np.ndarray, stream: SeqStream) -> NDArray[np.bool_]:
    if stream == "all":
        return np.ones(len(events), dtype=np.bool_)
    trade = events["kind"] == KIND_TRADE
    return np.asarray(trade if stream == "trade" else ~trade, dtype=np.bool_)


class GapCounts(NamedTuple):
    """What the gap rules found: silences, seq jumps and the seq ids missing in them."""

    silences: int
    seq_gaps: int
    missing_seq: int


def gap_counts(
    events: np.ndarray,
    *,
    max_silence_ns: int | None = None,
    check_seq_contiguous: bool | SeqStream = False,
) -> GapCounts:
    """Run the gap rules over a whole stream (rows the other checks drop are skipped).

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> ev = make_events([(100, 1.0, 1)] * 3)
    >>> ev["seq"], ev["ts_recv"] = [1, 2, 6], [0, 10, 5_000]
    >>> gap_counts(ev, max_silence_ns=1_000, check_seq_contiguous=True)
    GapCounts(silences=1, seq_gaps=1, missing_seq=3)
    """
    codes = issue_codes(events, ValidationState())
    keep = (codes == k.V_OK) | (codes == k.V_UNCLOSED_BATCH)
    stream = _seq_stream(check_seq_contiguous)
    gaps, _, prev_seq = _gaps(events, keep, ValidationState(), max_silence_ns, stream)
    jump = (gaps & GAP_SEQ) != 0
    missing = int((events["seq"][jump] - prev_seq[jump] - 1).sum())
    silences = int(np.count_nonzero(gaps & GAP_SILENCE))
    return GapCounts(silences, int(np.count_nonzero(jump)), missing)


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
    events: np.ndarray,
    codes: NDArray[np.uint8],
    report: ValidationReport,
    offset: int,
    gaps: tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64]] | None,
) -> None:
    """Send every issue to ``report`` in stream order (strict raises on the first)."""
    flagged = codes != 0 if gaps is None else (codes != 0) | (gaps[0] != 0)
    for i in np.flatnonzero(flagged).tolist():
        row = events[i]
        index = offset + i
        if codes[i]:
            issue, what, drop = ISSUE_CODE[int(codes[i])]
            message = (
                f"event {index}: {what} (kind={int(row['kind'])} side={int(row['side'])} "
                f"qty={float(row['qty'])!r} price_ticks={int(row['price_ticks'])} "
                f"ts_recv={int(row['ts_recv'])} seq={int(row['seq'])})"
            )
            raw = render_event(row) if drop else None
            report.add(index, int(row["seq"]), issue, message, raw=raw)
        if gaps is not None and gaps[0][i]:
            for message in _gap_messages(row, index, int(gaps[0][i]), gaps[1][i], gaps[2][i]):
                report.add(index, int(row["seq"]), IssueCode.SEQUENCE_GAP, message)


def _gap_messages(row: np.void, index: int, bits: int, prev_ts: int, prev_seq: int) -> list[str]:
    """Messages of one row's gap issues: the silence's length, the missing seq range."""
    out = []
    ts, seq = int(row["ts_recv"]), int(row["seq"])
    if bits & GAP_SILENCE:
        out.append(f"event {index}: book feed silent for {ts - prev_ts} ns "
                   f"(ts_recv {prev_ts} -> {ts})")  # fmt: skip
    if bits & GAP_SEQ:
        out.append(f"event {index}: venue seq jumps from {prev_seq} to {seq}: "
                   f"{seq - prev_seq - 1} ids missing ({prev_seq + 1}..{seq - 1})")  # fmt: skip
    return out
