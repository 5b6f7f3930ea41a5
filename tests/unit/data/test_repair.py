from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader import errors
from l2trader.data.kernels import reclose_nb
from l2trader.data.repair import apply_repair, repair_chunks, repair_events
from l2trader.data.report import Policy, ValidationReport
from l2trader.data.validate import validate_events
from l2trader.schema import EVENT_DTYPE, F_LAST, F_REPAIRED

BOOK, TRADE, SNAP, CLEAR = 1, 2, 3, 4


def _reference_reclose(ts: list[int], flags: list[int], keep: list[bool], final: bool) -> list[int]:
    """Plain-Python oracle of reclose_nb."""
    out = list(flags)
    batches, start = [], 0
    for i, f in enumerate(flags):
        if f & F_LAST or i == len(flags) - 1:
            batches.append((start, i + 1, bool(f & F_LAST) or final))
            start = i + 1
    for lo, hi, close in batches:
        kept = [r for r in range(lo, hi) if keep[r]]
        touched = len(kept) != hi - lo
        for a, b in itertools.pairwise(kept):
            if ts[a] != ts[b] and not out[a] & F_LAST:
                out[a] |= F_LAST
                touched = True
        if kept and close and not out[kept[-1]] & F_LAST:
            out[kept[-1]] |= F_LAST
            touched = True
        if kept and touched:
            for r in kept:
                out[r] |= F_REPAIRED
    return out


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0, 1]), st.booleans()), max_size=30
    ),
    final=st.booleans(),
)
def test_reclose_kernel_equals_reference(rows: list[tuple[int, int, bool]], final: bool) -> None:
    ts = np.array(sorted(r[0] for r in rows), dtype=np.int64)
    flags = np.array([r[1] for r in rows], dtype=np.uint8)
    keep = np.array([r[2] for r in rows], dtype=np.bool_)
    out = np.zeros(len(rows), dtype=np.uint8)

    reclose_nb(ts, flags, keep, final, out)

    assert out.tolist() == _reference_reclose(ts.tolist(), flags.tolist(), keep.tolist(), final)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Field-wise bit equality (padding bytes ignored, NaN-safe)."""
    names = EVENT_DTYPE.names or ()
    return len(a) == len(b) and all(a[f].tobytes() == b[f].tobytes() for f in names)


def _clean_stream(kinds: list[int], sizes: list[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A valid stream of batches (kind per batch) and each batch's (start, stop) rows."""
    rows: list[tuple[int, int, int, float, int, int, int]] = []
    spans: list[tuple[int, int]] = []
    seq = 100
    for b, (kind, size) in enumerate(zip(kinds, sizes, strict=True)):
        ts = 1_000 * (b + 1)
        start = len(rows)
        if kind == TRADE:
            rows.append((ts, -1, 100 + b, 1.0, TRADE, 1 if b % 2 else -1, 0))
        elif kind == SNAP:
            seq += 1
            rows.append((ts, seq, 0, 0.0, CLEAR, 0, 0))
            rows += [(ts, seq, 90 + i, 1.0 + i, SNAP, 1 if i % 2 else -1, 0) for i in range(size)]
        else:
            seq += 1
            rows += [(ts, seq, 95 + i, 2.0 + i, BOOK, 1 if i % 2 else -1, 0) for i in range(size)]
        rows[-1] = (*rows[-1][:6], F_LAST)
        spans.append((start, len(rows)))
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (ts, sq, price, qty, kind, side, flags) in enumerate(rows):
        out[i] = (ts - 7, ts, sq, price, qty, kind, side, flags)
    return out, spans


GARBLE = {
    "nan": ("qty", np.nan, "nan_qty"),
    "negative": ("qty", -3.0, "negative_qty"),
    "kind": ("kind", 9, "bad_value"),
    "side": ("side", 5, "bad_value"),
    "price": ("price_ticks", 0, "bad_value"),
}


def _corrupt(
    events: np.ndarray, spans: list[tuple[int, int]], ops: list[tuple[str, int]]
) -> tuple[np.ndarray, Counter[str], int]:
    """Apply each (op, batch) corruption; return the stream, expected counts, rows dropped."""
    pieces = [events[a:b].copy() for a, b in spans]
    expected: Counter[str] = Counter()
    dropped = 0
    for op, b in ops:
        batch = pieces[b]
        if op == "swap":  # reorder: batch b+1 arrives before batch b
            pieces[b], pieces[b + 1] = pieces[b + 1], batch
            expected["out_of_order_ts"] += len(batch)
            dropped += len(batch)
        elif op == "duplicate" and batch["seq"][0] >= 0:
            pieces[b] = np.concatenate([batch, batch])
            expected["duplicate_seq"] += len(batch)
            dropped += len(batch)
        elif op == "drop_last" and len(batch) >= 2:  # next batch (or stream end) is unclosed
            pieces[b] = batch[:-1]
            expected["unclosed_batch"] += 1
        elif op in GARBLE:
            field, value, code = GARBLE[op]
            row = len(batch) - 1  # never the CLEAR that opens a snapshot batch
            batch[field][row] = value
            expected[code] += 1
            dropped += 1
    return np.concatenate(pieces), expected, dropped


_streams = st.lists(
    st.tuples(st.sampled_from([BOOK, BOOK, TRADE, SNAP]), st.integers(1, 4)),
    min_size=3,
    max_size=25,
)
_ops = st.lists(
    st.sampled_from(["swap", "duplicate", "drop_last", *GARBLE]), min_size=1, max_size=8
)


@settings(max_examples=150, deadline=None)
@given(batches=_streams, ops=_ops, data=st.data())
def test_corrupted_stream_strict_raises_and_repair_counts_match(
    batches: list[tuple[int, int]], ops: list[str], data: st.DataObject
) -> None:
    clean, spans = _clean_stream([b[0] for b in batches], [b[1] for b in batches])
    slots = list(range(0, len(spans) - 1, 3))  # op at b touches b and b+1 only
    where = data.draw(st.lists(st.sampled_from(slots), unique=True, max_size=len(ops)))
    corrupted, expected, dropped = _corrupt(clean, spans, list(zip(ops, where, strict=False)))
    repair = ValidationReport("s", policy=Policy.REPAIR)

    repaired = repair_events(corrupted, repair)

    assert dict(repair.counts) == dict(expected)
    assert len(repaired) == len(corrupted) - dropped
    assert len(repair.quarantined) == dropped
    recheck = ValidationReport("again", policy=Policy.STRICT)
    keep, _ = validate_events(repaired, recheck, final=True)
    assert keep.all()
    if expected:
        with pytest.raises(errors.DataError):
            repair_events(corrupted, ValidationReport("s", policy=Policy.STRICT))
    else:
        assert repaired is corrupted


@settings(max_examples=100, deadline=None)
@given(batches=_streams, ops=_ops, data=st.data())
def test_repair_chunks_equals_one_shot(
    batches: list[tuple[int, int]], ops: list[str], data: st.DataObject
) -> None:
    clean, spans = _clean_stream([b[0] for b in batches], [b[1] for b in batches])
    where = data.draw(st.lists(st.integers(0, len(spans) - 2), max_size=len(ops)))
    corrupted, _, _ = _corrupt(clean, spans, list(zip(ops, where, strict=False)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(corrupted)), max_size=5)))
    bounds = [0, *cuts, len(corrupted)]
    one = ValidationReport("s", policy=Policy.REPAIR)
    many = ValidationReport("s", policy=Policy.REPAIR)

    whole = repair_events(corrupted, one)
    chunks = list(repair_chunks((corrupted[a:b] for a, b in itertools.pairwise(bounds)), many))

    joined = np.concatenate(chunks) if chunks else corrupted[:0]
    assert _same(joined, whole)
    assert many.issues == one.issues
    assert all(c["flags"][-1] & F_LAST for c in chunks)


def test_dropping_a_batch_last_row_recloses_and_flags_the_batch() -> None:
    events, _ = _clean_stream([BOOK, BOOK], [3, 1])
    keep = np.array([True, True, False, True])

    out = apply_repair(events, keep)

    assert out["flags"].tolist() == [F_REPAIRED, F_LAST | F_REPAIRED, F_LAST]
    assert out["price_ticks"].tolist() == [95, 96, 95]


def test_unclosed_batch_is_closed_where_ts_moves_on() -> None:
    events, _ = _clean_stream([BOOK, BOOK], [2, 2])
    events["flags"][1] = 0

    out = apply_repair(events, np.ones(4, dtype=np.bool_))

    assert out["flags"].tolist() == [2, 3, 2, 3]


def test_open_tail_is_closed_only_when_final() -> None:
    events, _ = _clean_stream([BOOK], [2])
    events["flags"][1] = 0
    keep = np.ones(2, dtype=np.bool_)

    assert apply_repair(events, keep, final=False) is events
    assert apply_repair(events, keep, final=True)["flags"].tolist() == [2, 3]


def test_repair_chunks_bounds_an_unclosed_batch() -> None:
    events, _ = _clean_stream([BOOK], [6])
    events["flags"][:] = 0
    report = ValidationReport("s", policy=Policy.REPAIR)

    chunks = list(repair_chunks([events[:3], events[3:]], report, max_open_rows=2))

    assert [len(c) for c in chunks] == [3, 3]
    assert dict(report.counts) == {"unclosed_batch": 1}


def test_apply_repair_checks_its_inputs() -> None:
    events, _ = _clean_stream([BOOK], [2])

    with pytest.raises(ValueError, match="shape"):
        apply_repair(events, np.ones(3, dtype=np.bool_))
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        apply_repair(np.zeros(2), np.ones(2, dtype=np.bool_))
