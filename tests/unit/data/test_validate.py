from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader import errors
from l2trader.data import kernels as k
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.data.validate import ValidationState, render_event, validate_events
from l2trader.schema import EVENT_DTYPE, F_LAST

# row = (ts_recv, seq, price_ticks, qty, kind, side, flags)
Row = tuple[int, int, int, float, int, int, int]


def _ev(rows: list[Row]) -> np.ndarray:
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (ts, seq, price, qty, kind, side, flags) in enumerate(rows):
        out[i] = (ts, ts, seq, price, qty, kind, side, flags)
    return out


class _RefState:
    def __init__(self) -> None:
        self.last_ts: int | None = None
        self.last_seq: int | None = None
        self.open_batch = False
        self.seq_in_batch = False
        self.cleared: set[int] = set()


def _ref_row_code(kind: int, side: int, qty: float, price: int, check_prices: bool) -> int:
    if kind not in (1, 2, 3, 4):
        return k.V_BAD_KIND
    if side not in (-1, 0, 1) or (side == 0 and kind in (1, 3)):
        return k.V_BAD_SIDE
    if not math.isfinite(qty):
        return k.V_NAN_QTY
    if qty < 0:
        return k.V_NEGATIVE_QTY
    if check_prices and kind != 4 and price <= 0:
        return k.V_BAD_PRICE
    return k.V_OK


def _ref_order_code(st_: _RefState, ts: int, seq: int, kind: int, side: int) -> int:
    if st_.last_ts is not None and ts < st_.last_ts:
        return k.V_TS_BACKWARDS
    new = not st_.open_batch or ts > (st_.last_ts or 0)
    if kind != 2 and seq >= 0 and st_.last_seq is not None:
        if seq < st_.last_seq:
            return k.V_SEQ_BACKWARDS
        if seq == st_.last_seq and (new or not st_.seq_in_batch):
            return k.V_DUPLICATE_SEQ
    if kind == 3 and side not in (set() if new else st_.cleared):
        return k.V_SNAPSHOT_NO_CLEAR
    if st_.open_batch and ts > (st_.last_ts or 0):
        return k.V_UNCLOSED_BATCH
    return k.V_OK


def _ref_keep(st_: _RefState, ts: int, seq: int, kind: int, side: int) -> None:
    if not st_.open_batch or ts > (st_.last_ts or 0):
        st_.open_batch, st_.seq_in_batch, st_.cleared = True, False, set()
    st_.last_ts = ts
    if kind != 2 and seq >= 0:
        st_.last_seq, st_.seq_in_batch = seq, True
    if kind == 4:
        st_.cleared |= {1, -1} if side == 0 else {side}


def _reference_codes(events: np.ndarray, check_prices: bool = True) -> list[int]:
    """Plain-Python oracle of validate_nb (same policy, written row by row)."""
    codes: list[int] = []
    state = _RefState()
    for _, ts, seq, price, qty, kind, side, flags in events.tolist():
        code = _ref_row_code(kind, side, qty, price, check_prices)
        if code == k.V_OK:
            code = _ref_order_code(state, ts, seq, kind, side)
        if code in (k.V_OK, k.V_UNCLOSED_BATCH):
            _ref_keep(state, ts, seq, kind, side)
        if flags & F_LAST:
            state.open_batch = False
        codes.append(code)
    return codes


_rows = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(-1, 3),
        st.sampled_from([-1, 0, 1, 100]),
        st.sampled_from([math.nan, math.inf, -1.0, 0.0, 1.5]),
        st.integers(0, 5),
        st.integers(-2, 2),
        st.sampled_from([0, 1, 1, 3]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rows=_rows, check_prices=st.booleans())
def test_kernel_codes_equal_reference(rows: list[Row], check_prices: bool) -> None:
    events = _ev(rows)
    codes = np.zeros(len(events), dtype=np.uint8)

    n = k.validate_nb(
        events["ts_recv"],
        events["seq"],
        events["price_ticks"],
        events["qty"],
        events["kind"],
        events["side"],
        events["flags"],
        k.new_state(),
        0,
        check_prices,
        codes,
    )

    assert codes.tolist() == _reference_codes(events, check_prices)
    assert n == int(np.count_nonzero(codes))


@settings(max_examples=100, deadline=None)
@given(rows=_rows, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_chunked_validation_equals_one_shot(rows: list[Row], cuts: list[int]) -> None:
    events = _ev(rows)
    whole = ValidationReport("s", policy=Policy.REPAIR)
    keep_whole, state_whole = validate_events(events, whole, final=True)
    bounds = [0, *sorted(c for c in cuts if c <= len(events)), len(events)]
    chunked = ValidationReport("s", policy=Policy.REPAIR)
    state: ValidationState | None = None
    masks = []

    for lo, hi in itertools.pairwise(bounds):
        keep, state = validate_events(
            events[lo:hi], chunked, state=state, offset=lo, final=hi == len(events)
        )
        masks.append(keep)

    assert np.concatenate(masks).tolist() == keep_whole.tolist()
    assert chunked.issues == whole.issues
    assert chunked.quarantined == whole.quarantined
    assert state is not None
    assert state.values.tolist() == state_whole.values.tolist()


BOOK, TRADE, SNAP, CLEAR = 1, 2, 3, 4
STRICT_CASES = [
    (
        [(1, 5, 100, 1.0, BOOK, 1, 0), (1, 5, 101, math.nan, BOOK, -1, 1)],
        errors.InvalidValueError,
        1,
    ),
    ([(1, 5, 100, -2.0, BOOK, 1, 1)], errors.InvalidValueError, 0),
    ([(1, 5, 100, 1.0, 9, 1, 1)], errors.InvalidValueError, 0),
    ([(1, 5, 100, 1.0, BOOK, 0, 1)], errors.InvalidValueError, 0),
    ([(1, 5, 0, 1.0, TRADE, 1, 1)], errors.InvalidValueError, 0),
    ([(2, 5, 100, 1.0, BOOK, 1, 1), (1, 6, 100, 1.0, BOOK, 1, 1)], errors.OutOfOrderError, 1),
    ([(1, 5, 100, 1.0, BOOK, 1, 1), (2, 4, 100, 1.0, BOOK, 1, 1)], errors.OutOfOrderError, 1),
    ([(1, 5, 100, 1.0, BOOK, 1, 1), (1, 5, 100, 1.0, BOOK, 1, 1)], errors.DuplicateError, 1),
    ([(1, 5, 0, 0.0, CLEAR, 1, 0), (1, 5, 100, 1.0, SNAP, -1, 1)], errors.SnapshotSyncError, 1),
    ([(1, 5, 100, 1.0, BOOK, 1, 0), (2, 6, 100, 1.0, BOOK, 1, 1)], errors.InvalidValueError, 1),
    ([(1, 5, 100, 1.0, BOOK, 1, 1), (2, 6, 100, 1.0, BOOK, 1, 0)], errors.InvalidValueError, 1),
]


@pytest.mark.parametrize(("rows", "error", "index"), STRICT_CASES)
def test_strict_raises_typed_error_naming_event_and_seq(
    rows: list[Row], error: type[errors.DataError], index: int
) -> None:
    events = _ev(rows)
    report = ValidationReport("feed.gz", policy=Policy.STRICT)

    with pytest.raises(error) as info:
        validate_events(events, report, offset=10, final=True)

    assert info.value.line == 10 + index
    assert info.value.seq == int(events["seq"][index])
    assert f"event {10 + index}:" in info.value.message


def test_clean_stream_passes_and_keeps_everything() -> None:
    events = _ev(
        [
            (1, 5, 0, 0.0, CLEAR, 0, 0),
            (1, 5, 100, 1.0, SNAP, 1, 0),
            (1, 5, 101, 2.0, SNAP, -1, 1),
            (2, -1, 101, 0.5, TRADE, 0, 1),
            (2, 6, 100, 0.0, BOOK, 1, 0),
            (2, 6, 99, 3.0, BOOK, 1, 1),
        ]
    )
    report = ValidationReport("s", policy=Policy.STRICT)

    keep, state = validate_events(events, report, final=True)

    assert keep.all()
    assert report.ok
    assert (state.last_ts_recv, state.last_seq, state.batch_open) == (2, 6, False)


def test_repair_counts_and_quarantines_dropped_rows_only() -> None:
    events = _ev(
        [
            (1, 5, 100, -1.0, BOOK, 1, 0),
            (1, 5, 101, 1.0, BOOK, -1, 0),
            (2, 6, 100, 1.0, BOOK, 1, 1),
            (1, 7, 100, 1.0, BOOK, 1, 1),
        ]
    )
    report = ValidationReport("s", policy=Policy.REPAIR)

    keep, _ = validate_events(events, report, final=True)

    assert keep.tolist() == [False, True, True, False]
    assert dict(report.counts) == {"negative_qty": 1, "unclosed_batch": 1, "out_of_order_ts": 1}
    assert [(q.line, q.reason) for q in report.quarantined] == [
        (0, IssueCode.NEGATIVE_QTY),
        (3, IssueCode.OUT_OF_ORDER_TS),
    ]
    assert report.quarantined[1].raw == render_event(events[3])


def test_price_check_is_optional() -> None:
    events = _ev([(1, -1, -5, 1.0, TRADE, 1, 1)])

    keep, _ = validate_events(events, ValidationReport("s"), check_prices=False, final=True)

    assert keep.tolist() == [True]


def test_wrong_dtype_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        validate_events(np.zeros(2), ValidationReport("s"))


def test_render_event_names_an_unknown_kind_by_number() -> None:
    row = _ev([(3, 9, 100, 1.5, 7, -1, 1)])[0]

    assert render_event(row) == (
        "ts_exch=3 ts_recv=3 seq=9 price_ticks=100 qty=1.5 kind=7 side=-1 flags=1"
    )
