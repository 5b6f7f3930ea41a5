from __future__ import annotations

import numpy as np
import pytest

from l2trader import errors
from l2trader.config import FrozenConfig
from l2trader.data.events import EventBuffer, collect
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.schema import EVENT_DTYPE, F_GAP_BEFORE, F_LAST, KIND_BOOK
from l2trader.units import from_ticks, off_grid, to_ticks


def test_event_dtype_is_48_bytes_aligned() -> None:
    assert EVENT_DTYPE.itemsize == 48
    assert EVENT_DTYPE.isalignedstruct
    assert list(EVENT_DTYPE.names) == [
        "ts_exch",
        "ts_recv",
        "seq",
        "price_ticks",
        "qty",
        "kind",
        "side",
        "flags",
    ]


def test_ticks_round_trip_on_grid() -> None:
    prices = np.array([60123.45, 0.01, 99999.99, 1.0])
    ticks = to_ticks(prices, 0.01)
    assert ticks.tolist() == [6012345, 1, 9999999, 100]
    assert not off_grid(prices, 0.01).any()
    np.testing.assert_array_equal(from_ticks(ticks, 0.01), prices)


def test_off_grid_detects_half_tick() -> None:
    assert off_grid(np.array([1.005]), 0.01).tolist() == [True]


def test_data_error_names_location() -> None:
    err = errors.SequenceGapError("U=5 after u=3", source="f.gz", line=12, seq=5)
    assert str(err) == "f.gz:12 (seq 5): sequence_gap: U=5 after u=3"
    assert isinstance(err, errors.DataError)
    assert (err.source, err.line, err.seq) == ("f.gz", 12, 5)


class _Cfg(FrozenConfig):
    levels: int = 10
    name: str = "x"


def test_config_frozen_validated_and_hashed() -> None:
    cfg = _Cfg(levels=5)
    with pytest.raises(errors.ConfigError, match="extra"):
        _Cfg(levels=5, bogus=1)
    with pytest.raises(errors.ConfigError):
        _Cfg(levels="many")
    with pytest.raises(Exception, match="frozen"):
        cfg.levels = 3  # type: ignore[misc]
    assert cfg.id == _Cfg(levels=5).id != _Cfg(levels=6).id
    assert _Cfg.from_toml(cfg.to_toml()) == cfg
    assert _Cfg.from_json(cfg.to_json()) == cfg


def test_report_strict_raises_typed_error() -> None:
    report = ValidationReport("s.csv", policy=Policy.STRICT)
    with pytest.raises(errors.SequenceGapError, match=r"s.csv:7 \(seq 9\)"):
        report.add(7, 9, IssueCode.SEQUENCE_GAP, "gap")


def test_report_repair_counts_and_quarantines() -> None:
    report = ValidationReport("s.csv", policy=Policy.REPAIR)
    report.add(3, -1, IssueCode.PARSE_ERROR, "bad", raw="garbage")
    report.add(4, -1, IssueCode.PARSE_ERROR, "bad", raw="garbage2")
    assert report.counts == {"parse_error": 2}
    assert [q.line for q in report.quarantined] == [3, 4]
    assert not report.ok


def test_event_buffer_sets_last_flag_and_never_splits_messages() -> None:
    buf = EventBuffer(chunk_size=2)
    buf.append(1, 1, 1, 100, 1.0, KIND_BOOK, 1)
    buf.append(1, 1, 1, 101, 1.0, KIND_BOOK, -1)
    buf.append(1, 1, 1, 102, 1.0, KIND_BOOK, -1)
    buf.end_message(F_GAP_BEFORE)
    buf.append(2, 2, 2, 100, 0.0, KIND_BOOK, 1)
    assert buf.full
    first = buf.take()
    assert len(first) == 3
    assert first["flags"].tolist() == [F_GAP_BEFORE, 0, F_LAST]
    buf.end_message()
    rest = collect([buf.take(final=True)])
    assert rest["flags"].tolist() == [F_LAST]


def test_event_buffer_extend_levels_shares_fields_across_rows() -> None:
    buf = EventBuffer()
    buf.extend_levels(5, 6, 7, KIND_BOOK, -1, [101, 102], [1.5, 0.0])
    buf.end_message()
    out = buf.take()
    assert out[["ts_exch", "ts_recv", "seq", "price_ticks", "qty", "kind", "side"]].tolist() == [
        (5, 6, 7, 101, 1.5, KIND_BOOK, -1),
        (5, 6, 7, 102, 0.0, KIND_BOOK, -1),
    ]
    assert out["flags"].tolist() == [0, F_LAST]


def test_report_issue_names_the_file_it_is_in() -> None:
    report = ValidationReport("a.gz,b.gz", policy=Policy.REPAIR)
    report.add(3, 9, IssueCode.PARSE_ERROR, "bad", raw="x", source="b.gz")
    assert (report.issues[0].source, report.quarantined[0].source) == ("b.gz", "b.gz")
    assert report.source == "a.gz,b.gz"
    strict = ValidationReport("a.gz,b.gz", policy=Policy.STRICT)
    with pytest.raises(errors.ParseError, match=r"^b.gz:3 \(seq 9\)"):
        strict.add(3, 9, IssueCode.PARSE_ERROR, "bad", source="b.gz")
