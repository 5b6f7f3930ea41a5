"""Opt-in gap rules of validate_events: silent book feed and venue seq jumps (issue 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader import errors
from l2trader.data.report import Policy, ValidationReport
from l2trader.data.validate import GapCounts, ValidationState, gap_counts, validate_events
from l2trader.schema import EVENT_DTYPE, F_LAST, KIND_BOOK, KIND_CLEAR, KIND_TRADE
from l2trader.stress.faults import DropMessages, SequenceGap, StaleFeed
from tests.unit.stress import synthetic_events, usdm_events

SECOND = 1_000_000_000
USDM_RULES = {"max_silence_ns": SECOND, "check_seq_contiguous": "trade"}

# row = (ts_recv, seq, kind, flags); price 100, qty 1, side +1 (trades: +1 too)
Row = tuple[int, int, int, int]


def _ev(rows: list[Row]) -> np.ndarray:
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (ts, seq, kind, flags) in enumerate(rows):
        out[i] = (ts, ts, seq, 0 if kind == KIND_CLEAR else 100, 1.0, kind, 1, flags)
    return out


def _issues(events: np.ndarray, **rules: object) -> list[tuple[int, str, str]]:
    report = ValidationReport("t", policy=Policy.REPAIR)
    validate_events(events, report, final=True, **rules)  # type: ignore[arg-type]
    return [(i.line, i.code.value, i.message) for i in report.issues]


def _oracle(events: np.ndarray, keep: np.ndarray, silence: int, stream: str) -> list[int]:
    """Rows with a gap issue, one entry per issue, from a plain loop over the kept rows."""
    out: list[int] = []
    last_book: int | None = None
    high = -1
    for i in range(len(events)):
        if not keep[i]:
            continue
        kind, ts, seq = int(events["kind"][i]), int(events["ts_recv"][i]), int(events["seq"][i])
        if kind != KIND_TRADE:
            if last_book is not None and ts - last_book > silence:
                out.append(i)
            last_book = ts
        follows = stream == "all" or (stream == "trade") == (kind == KIND_TRADE)
        if seq >= 0 and follows:
            if high >= 0 and seq > high + 1:
                out.append(i)
            high = max(high, seq)
    return out


def test_rules_are_off_by_default_and_existing_counts_do_not_change() -> None:
    events = _ev([(0, 1, KIND_BOOK, F_LAST), (10 * SECOND, 9, KIND_BOOK, F_LAST)])

    assert _issues(events) == []
    assert gap_counts(events) == GapCounts(0, 0, 0)


def test_silence_and_seq_jump_are_reported_at_the_row_after_the_gap() -> None:
    events = _ev([(0, 1, KIND_BOOK, F_LAST), (5, 2, KIND_TRADE, F_LAST),
                  (3 * SECOND, 7, KIND_BOOK, F_LAST)])  # fmt: skip

    issues = _issues(events, max_silence_ns=SECOND, check_seq_contiguous=True)

    silent = "event 2: book feed silent for 3000000000 ns (ts_recv 0 -> 3000000000)"
    jump = "event 2: venue seq jumps from 2 to 7: 4 ids missing (3..6)"
    assert issues == [(2, "sequence_gap", silent), (2, "sequence_gap", jump)]


def test_trades_do_not_reset_the_book_silence_clock() -> None:
    events = _ev([(0, -1, KIND_BOOK, F_LAST), (SECOND, -1, KIND_TRADE, F_LAST),
                  (2 * SECOND, -1, KIND_BOOK, F_LAST)])  # fmt: skip

    assert gap_counts(events, max_silence_ns=SECOND + 1) == GapCounts(1, 0, 0)


def test_strict_mode_raises_a_sequence_gap_error_naming_the_missing_range() -> None:
    events = _ev([(0, 10, KIND_TRADE, F_LAST), (1, 13, KIND_TRADE, F_LAST)])

    with pytest.raises(errors.SequenceGapError, match=r"event 1: .* 2 ids missing \(11..12\)"):
        validate_events(events, ValidationReport("t"), final=True, check_seq_contiguous="trade")


def test_gap_rows_are_kept_and_rows_dropped_by_other_checks_are_skipped() -> None:
    events = _ev([(0, 1, KIND_BOOK, F_LAST), (1, 1, KIND_BOOK, F_LAST),  # duplicate: dropped
                  (2, 2, KIND_BOOK, F_LAST), (3, 4, KIND_BOOK, F_LAST)])  # fmt: skip
    report = ValidationReport("t", policy=Policy.REPAIR)

    keep, _ = validate_events(events, report, final=True, check_seq_contiguous="book")

    assert keep.tolist() == [True, False, True, True]
    assert dict(report.counts) == {"duplicate_seq": 1, "sequence_gap": 1}
    assert gap_counts(events, check_seq_contiguous="book") == GapCounts(0, 1, 1)


def test_bad_rule_values_raise_config_errors() -> None:
    events = _ev([(0, 1, KIND_BOOK, F_LAST)])
    with pytest.raises(errors.ConfigError, match="max_silence_ns"):
        validate_events(events, ValidationReport("t"), max_silence_ns=0)
    with pytest.raises(errors.ConfigError, match="check_seq_contiguous"):
        validate_events(events, ValidationReport("t"), check_seq_contiguous="bids")  # type: ignore[arg-type]


_row = st.tuples(
    st.integers(0, 40), st.integers(-1, 12), st.sampled_from([KIND_BOOK, KIND_TRADE, KIND_CLEAR])
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=40), stream=st.sampled_from(["all", "book",
       "trade"]), cut=st.integers(0, 40))  # fmt: skip
def test_gap_issues_equal_the_plain_loop_and_do_not_depend_on_chunking(
    rows: list[tuple[int, int, int]], stream: str, cut: int
) -> None:
    ts = np.cumsum([d for d, _, _ in rows])  # non-decreasing, gaps 0..40 ns
    events = _ev([(int(t), seq, kind, F_LAST) for t, (_, seq, kind) in zip(ts, rows, strict=True)])
    report = ValidationReport("t", policy=Policy.REPAIR)
    keep, _ = validate_events(events, report, final=True)
    rules = {"max_silence_ns": 20, "check_seq_contiguous": stream}

    whole = _issues(events, **rules)
    state, chunked = ValidationState(), ValidationReport("t", policy=Policy.REPAIR)
    for lo, hi in ((0, cut), (cut, len(events))):
        validate_events(events[lo:hi], chunked, state=state, offset=lo, **rules)  # type: ignore[arg-type]

    gaps = [line for line, code, _ in whole if code == "sequence_gap"]
    assert gaps == _oracle(events, keep, 20, stream)
    assert [(i.line, i.code.value, i.message) for i in chunked.issues] == whole


@pytest.mark.shared_data
def test_the_real_usdm_capture_has_no_gap_under_the_stress_rules(shared_data: Path) -> None:
    events = usdm_events(shared_data)

    assert gap_counts(events, **USDM_RULES) == GapCounts(0, 0, 0)  # type: ignore[arg-type]
    # book rows carry Binance's final update id u: it jumps on every message (2255 of them)
    assert gap_counts(events, check_seq_contiguous="book").seq_gaps == 2254


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (DropMessages(seed=5), GapCounts(0, 47, 48)),  # 1001 rows: 48 trade ids in 47 runs
        (SequenceGap(seed=6), GapCounts(2, 0, 0)),  # 3 x 50 book messages; 2 runs last > 1 s
        (StaleFeed(seed=7), GapCounts(1, 1, 356)),  # 10 s of nothing: 356 trades lost
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_lost_data_faults_are_counted_exactly_on_the_real_usdm_capture(
    shared_data: Path, fault: object, expected: GapCounts
) -> None:
    events = usdm_events(shared_data)
    out, info = fault.apply(events)  # type: ignore[attr-defined]
    keep = np.ones(len(out), dtype=np.bool_)

    counts = gap_counts(out, **USDM_RULES)  # type: ignore[arg-type]

    assert info.keeps_c1
    assert counts == expected
    oracle = _oracle(out, keep, SECOND, "trade")
    assert len(oracle) == counts.silences + counts.seq_gaps


def test_lost_data_faults_are_seen_by_seq_contiguity_on_synthetic_data() -> None:
    events = synthetic_events()
    rules = {"max_silence_ns": SECOND, "check_seq_contiguous": True}

    counts = [gap_counts(f.apply(events)[0], **rules) for f in  # type: ignore[arg-type]
              (DropMessages(seed=5), SequenceGap(seed=6), StaleFeed(seed=7))]  # fmt: skip

    assert gap_counts(events, **rules) == GapCounts(0, 0, 0)  # type: ignore[arg-type]
    assert counts == [GapCounts(0, 92, 93), GapCounts(0, 43, 150), GapCounts(1, 1, 1000)]
