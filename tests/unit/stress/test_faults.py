"""Data-quality faults: validation reports each one with the right code and exact count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from l2trader.data.repair import repair_events
from l2trader.data.report import Policy, ValidationReport
from l2trader.data.validate import validate_events
from l2trader.errors import DuplicateError, InvalidValueError, OutOfOrderError
from l2trader.ingest import checked_chunks
from l2trader.stress import compose
from l2trader.stress.faults import (
    CorruptRows,
    CorruptRowsParams,
    CountParams,
    Disorder,
    DropMessages,
    Duplicates,
    SequenceGap,
    StaleFeed,
    StaleFeedParams,
    Truncate,
)
from l2trader.testing import event_streams
from tests.unit.stress import synthetic_events, usdm_events, validation_counts

DETECTED = [
    Duplicates(CountParams(n=40), seed=1),
    Disorder(CountParams(n=40), seed=2),
    CorruptRows(CorruptRowsParams(n=40), seed=3),
    Truncate(seed=4),
]
SILENT = [DropMessages(seed=5), SequenceGap(seed=6), StaleFeed(seed=7)]


def _repair(events: np.ndarray) -> tuple[np.ndarray, ValidationReport]:
    report = ValidationReport("stress", policy=Policy.REPAIR)
    return repair_events(events, report), report


@pytest.mark.shared_data
@pytest.mark.parametrize("fault", DETECTED, ids=lambda s: s.name)
def test_each_fault_is_reported_with_its_code_and_count_on_real_data(
    shared_data: Path, fault: object
) -> None:
    events = usdm_events(shared_data)
    before = events.tobytes()

    out, info = fault.apply(events)  # type: ignore[attr-defined]

    assert events.tobytes() == before
    assert not info.keeps_c1
    assert info.category == "data"
    assert validation_counts(out) == dict(info.expected_issues)
    clean, report = _repair(out)
    dropped = sum(n for code, n in info.expected_issues.items() if code != "unclosed_batch")
    assert len(report.quarantined) == dropped
    assert len(clean) + len(report.quarantined) == len(out)  # events in = kept + quarantined
    assert validation_counts(clean) == {}


@pytest.mark.shared_data
def test_fault_counts_on_real_data_are_the_stated_ones(shared_data: Path) -> None:
    events = usdm_events(shared_data)

    dup = Duplicates(CountParams(n=40), seed=1).apply(events)[1]
    dis = Disorder(CountParams(n=40), seed=2).apply(events)[1]
    bad = CorruptRows(CorruptRowsParams(n=40), seed=3).apply(events)[1]

    assert dup.rows_added == dup.expected_issues["duplicate_seq"] >= 40  # >= 1 row per message
    assert dis.rows_altered == dis.expected_issues["out_of_order_ts"] >= 40
    assert bad.rows_altered == sum(bad.expected_issues.values()) == 40


def test_strict_mode_raises_the_typed_error_of_each_fault() -> None:
    events = synthetic_events()
    cases = [
        (Duplicates(seed=1), DuplicateError),
        (Disorder(seed=2), OutOfOrderError),
        (CorruptRows(CorruptRowsParams(modes=("nan_qty",)), seed=3), InvalidValueError),
        (Truncate(), InvalidValueError),
    ]
    for fault, error in cases:
        out, _ = fault.apply(events)
        with pytest.raises(error):
            validate_events(out, ValidationReport("stress"), final=True)


@pytest.mark.parametrize("fault", DETECTED, ids=lambda s: s.name)
def test_faults_on_synthetic_data_match_their_expected_issues(fault: object) -> None:
    events = synthetic_events()

    out, info = fault.apply(events)  # type: ignore[attr-defined]

    assert validation_counts(out) == dict(info.expected_issues) != {}
    clean, report = _repair(out)
    assert len(clean) + len(report.quarantined) == len(out)


@pytest.mark.shared_data
@pytest.mark.parametrize("fault", SILENT, ids=lambda s: s.name)
def test_lost_messages_keep_c1_structure_but_the_book_check_sees_the_drift(
    shared_data: Path, fault: object
) -> None:
    events = usdm_events(shared_data)

    out, info = fault.apply(events)  # type: ignore[attr-defined]

    assert info.keeps_c1
    assert info.rows_removed > 0
    assert len(out) == len(events) - info.rows_removed
    assert validation_counts(out) == {}  # the C1 stream checks cannot see a loss
    report = ValidationReport("stress", policy=Policy.REPAIR)
    list(checked_chunks([out], report))
    assert report.counts["crossed_book"] + report.counts["locked_book"] >= 1  # stale levels


def test_stale_feed_leaves_no_update_for_the_stated_duration() -> None:
    events = synthetic_events()

    out, info = StaleFeed(StaleFeedParams(duration_s=12.5)).apply(events)

    assert validation_counts(out) == {}
    t0, t1 = info.window_ns
    assert t1 - t0 == 12_500_000_000
    ts = out["ts_recv"]
    assert not bool(((ts >= t0) & (ts < t1)).any())
    assert int(np.diff(ts).max()) >= 12_500_000_000


def test_same_seed_gives_identical_bytes_for_every_fault() -> None:
    events = synthetic_events()
    for fault in [*DETECTED, *SILENT]:
        twin = type(fault)(fault.params, seed=fault.seed)
        assert fault.apply(events)[0].tobytes() == twin.apply(events)[0].tobytes()


def test_composed_faults_add_their_expected_issues() -> None:
    events = synthetic_events()
    chain = compose(Duplicates(seed=1), CorruptRows(CorruptRowsParams(n=10), seed=2))

    out, info = chain.apply(events)

    assert validation_counts(out) == dict(info.expected_issues)
    assert not info.keeps_c1
    assert info.category == "data"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_streams(max_messages=40))
def test_disorder_and_corruption_counts_hold_on_random_streams(events: np.ndarray) -> None:
    for fault in (Disorder(CountParams(n=3), seed=1), CorruptRows(CorruptRowsParams(n=3))):
        out, info = fault.apply(events)
        assert validation_counts(out) == dict(info.expected_issues)
