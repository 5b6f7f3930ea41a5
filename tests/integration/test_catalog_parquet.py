from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader import errors
from l2trader.data.catalog import Catalog, IngestResult
from l2trader.data.instruments import Instrument
from l2trader.data.io import sha256_file
from l2trader.data.parquet import PartitionFileWriter, events_to_table, iter_file_events
from l2trader.data.repair import repair_events
from l2trader.data.report import Policy, ValidationReport
from l2trader.schema import EVENT_DTYPE, F_LAST, KIND_BOOK, KIND_TRADE
from l2trader.testing import tree_snapshot
from l2trader.units import NS_PER_DAY

DAY0 = 19_700 * NS_PER_DAY  # 2023-12-09
INSTRUMENT = Instrument(venue="binance", symbol="BTCUSDT", tick_size=0.01)


def _stream(ts_recv: list[int], kind: int = KIND_BOOK, seq0: int = 1) -> np.ndarray:
    """One-row batches at the given (sorted) receive times."""
    out = np.zeros(len(ts_recv), dtype=EVENT_DTYPE)
    out["ts_recv"] = ts_recv
    out["ts_exch"] = np.asarray(ts_recv) - 5
    out["seq"] = np.arange(seq0, seq0 + len(ts_recv)) if kind == KIND_BOOK else -1
    out["price_ticks"] = 100 + np.arange(len(ts_recv)) % 7
    out["qty"] = 0.5 + np.arange(len(ts_recv)) % 3
    out["kind"] = kind
    out["side"] = np.where(np.arange(len(ts_recv)) % 2 == 0, 1, -1)
    out["flags"] = F_LAST
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    names = EVENT_DTYPE.names or ()
    return len(a) == len(b) and all(a[f].tobytes() == b[f].tobytes() for f in names)


def _source(tmp: Path, name: str = "raw.csv", text: str = "raw bytes") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _write(
    cat: Catalog, events: np.ndarray, source: Path, report: ValidationReport | None = None
) -> IngestResult:
    chunks = [events[i : i + 3] for i in range(0, len(events), 3)]
    return cat.write(INSTRUMENT, chunks, sources=[source], report=report or ValidationReport("s"))


@settings(max_examples=25, deadline=None)
@given(offsets=st.lists(st.integers(-NS_PER_DAY, 3 * NS_PER_DAY), max_size=40))
def test_write_read_round_trip_splits_by_utc_date(offsets: list[int]) -> None:
    events = _stream(sorted(DAY0 + o for o in offsets))
    with tempfile.TemporaryDirectory() as tmp:
        cat = Catalog(Path(tmp) / "cat")

        result = _write(cat, events, _source(Path(tmp)))

        days = (events["ts_recv"] // NS_PER_DAY).tolist()
        want = {str(np.datetime64(d, "D")): days.count(d) for d in sorted(set(days))}
        assert result.per_date == want
        assert {p.date: p.rows for p in cat.partitions()} == want
        assert _same(cat.read_all("binance", "BTCUSDT"), events)


def test_empty_stream_writes_no_partition_but_a_manifest_entry(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")

    result = _write(cat, _stream([]), _source(tmp_path))

    assert (result.events, result.per_date, cat.partitions()) == (0, {}, [])
    assert cat.info("binance", "BTCUSDT")["ingests"][0]["partitions"] == []


def _failing(events: np.ndarray, error: BaseException) -> Iterator[np.ndarray]:
    yield events[:2]
    yield events[2:]
    raise error


@pytest.mark.parametrize(
    "error", [errors.SequenceGapError("gap", source="f", line=3), KeyboardInterrupt()]
)
def test_failed_ingest_leaves_the_tree_unchanged(tmp_path: Path, error: BaseException) -> None:
    cat = Catalog(tmp_path / "cat")
    _write(cat, _stream([DAY0 + 1, DAY0 + 2]), _source(tmp_path, "a.csv"))
    before = tree_snapshot(cat.root)
    events = _stream([DAY0 + 3, DAY0 + 4, DAY0 + NS_PER_DAY + 1], seq0=10)

    with pytest.raises(type(error)):
        cat.write(
            INSTRUMENT,
            _failing(events, error),
            sources=[_source(tmp_path, "b.csv", "other")],
            report=ValidationReport("b"),
        )

    assert tree_snapshot(cat.root) == before


def test_failed_first_ingest_leaves_no_catalog(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "new")

    with pytest.raises(errors.ParseError):
        cat.write(
            INSTRUMENT,
            _failing(_stream([DAY0, DAY0 + 1, DAY0 + 2]), errors.ParseError("bad")),
            sources=[_source(tmp_path)],
            report=ValidationReport("s"),
        )

    assert not cat.root.exists()


def test_reingesting_the_same_sources_is_idempotent(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    events = _stream([DAY0 + 1, DAY0 + 2, DAY0 + NS_PER_DAY])
    source = _source(tmp_path)
    first = _write(cat, events, source)
    files = {p: sha256_file(p) for p in first.files}

    second = _write(cat, events, source)

    assert second.key == first.key
    assert {p: sha256_file(p) for p in second.files} == files
    assert sorted(cat.root.rglob("*.parquet")) == sorted(files)
    assert len(json.loads(cat.manifest_path.read_text())["ingests"]) == 1
    assert _same(cat.read_all("binance", "BTCUSDT"), events)


def test_reingest_removes_dates_the_new_ingest_no_longer_has(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    source = _source(tmp_path)
    _write(cat, _stream([DAY0 + 1, DAY0 + NS_PER_DAY]), source)

    _write(cat, _stream([DAY0 + 1]), source)

    assert [p.date for p in cat.partitions()] == ["2023-12-09"]


def test_read_by_inclusive_date_range(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    events = _stream([DAY0 + d * NS_PER_DAY + 1 for d in range(4)])
    _write(cat, events, _source(tmp_path))

    middle = cat.read_all("binance", "BTCUSDT", "2023-12-10", "2023-12-11")
    tail = cat.read_all("binance", "BTCUSDT", start="2023-12-12")
    none = list(cat.read("binance", "BTCUSDT", "2024-01-01"))

    assert _same(middle, events[1:3])
    assert _same(tail, events[3:])
    assert none == []
    with pytest.raises(errors.ConfigError, match="end="):
        cat.read("binance", "BTCUSDT", end="12/11/2023")


def test_unknown_symbol_lists_what_exists(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    _write(cat, _stream([DAY0]), _source(tmp_path))

    with pytest.raises(errors.PartitionNotFoundError, match="holds: binance/BTCUSDT"):
        cat.read("binance", "ETHUSDT")
    with pytest.raises(errors.PartitionNotFoundError, match="empty catalog"):
        Catalog(tmp_path / "none").read_all("binance", "BTCUSDT")


def test_quarantine_file_holds_the_dropped_rows(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    events = _stream([DAY0 + 1, DAY0 + 2, DAY0 + 3])
    events["qty"][1] = -1.0
    report = ValidationReport("raw.csv", policy=Policy.REPAIR)
    repaired = repair_events(events, report)

    result = cat.write(INSTRUMENT, [repaired], sources=[_source(tmp_path)], report=report)

    table = cat.quarantine("binance", "BTCUSDT")
    assert table.to_pylist() == [
        {
            "source": "raw.csv",
            "line": 1,
            "reason": "negative_qty",
            "raw": f"ts_exch={DAY0 - 3} ts_recv={DAY0 + 2} seq=2 price_ticks=101 qty=-1.0 "
            "kind=BOOK side=-1 flags=1",
        }
    ]
    entry = cat.info("binance", "BTCUSDT")["ingests"][0]
    assert entry["quarantine"]["rows"] == 1 == result.quarantined
    assert entry["report"]["counts"] == {"negative_qty": 1}


def test_manifest_records_sources_partitions_and_version(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    source = _source(tmp_path)
    seen: list[int] = []

    cat.write(
        INSTRUMENT,
        [_stream([DAY0 + 1, DAY0 + 2]), _stream([DAY0 + 3], seq0=3)],
        sources=[source],
        report=ValidationReport("s"),
        progress=seen.append,
    )

    entry = json.loads(cat.manifest_path.read_text())["ingests"][0]
    assert seen == [2, 1]
    assert entry["sources"] == [
        {"path": str(source), "sha256": sha256_file(source), "bytes": source.stat().st_size}
    ]
    assert entry["partitions"][0]["rows"] == 3
    assert (entry["partitions"][0]["min_ts_recv"], entry["partitions"][0]["max_ts_recv"]) == (
        DAY0 + 1,
        DAY0 + 3,
    )
    assert entry["l2trader_version"] == "0.1.0"
    assert cat.instruments() == {"binance/BTCUSDT": INSTRUMENT}


def test_tick_size_change_is_refused(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    _write(cat, _stream([DAY0]), _source(tmp_path))
    other = Instrument(venue="binance", symbol="BTCUSDT", tick_size=0.1)

    with pytest.raises(errors.CatalogError, match="tick_size"):
        cat.write(other, [], sources=[_source(tmp_path)], report=ValidationReport("s"))


def test_unsorted_chunks_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")

    with pytest.raises(errors.CatalogError, match="event 1"):
        _write(cat, _stream([DAY0 + 5, DAY0 + 1]), _source(tmp_path))

    assert not cat.root.exists()


def test_overlapping_files_in_a_partition_are_merged_stably(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    book = _stream([DAY0 + 1, DAY0 + 3, DAY0 + 5])
    trades = _stream([DAY0 + 2, DAY0 + 3, DAY0 + 6], kind=KIND_TRADE)
    _write(cat, book, _source(tmp_path, "book.csv"))
    _write(cat, trades, _source(tmp_path, "trades.csv", "t"))

    merged = cat.read_all("binance", "BTCUSDT")

    assert merged["ts_recv"].tolist() == [DAY0 + t for t in (1, 2, 3, 3, 5, 6)]
    assert merged["kind"].tolist() == [1, 2, 1, 2, 1, 2]
    assert cat.partitions()[0].files == 2


def test_non_overlapping_files_are_streamed_in_time_order(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    _write(cat, _stream([DAY0 + 10, DAY0 + 11], seq0=5), _source(tmp_path, "late.csv"))
    _write(cat, _stream([DAY0 + 1, DAY0 + 2]), _source(tmp_path, "early.csv", "e"))

    chunks = list(cat.read("binance", "BTCUSDT"))

    assert [c["ts_recv"].tolist() for c in chunks] == [[DAY0 + 1, DAY0 + 2], [DAY0 + 10, DAY0 + 11]]


def test_mismatched_partition_file_is_named(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "cat")
    _write(cat, _stream([DAY0]), _source(tmp_path))
    bad = cat.partitions()[0].path / "events-bad.parquet"
    table = events_to_table(_stream([DAY0 + 1]))
    pq.write_table(table.set_column(4, "qty", pa.array([1.0], type=pa.float32())), bad)

    with pytest.raises(errors.CatalogError, match=r"events-bad\.parquet"):
        cat.read_all("binance", "BTCUSDT")


def test_row_groups_end_on_batch_boundaries(tmp_path: Path) -> None:
    events = _stream([DAY0 + i // 3 for i in range(10)])
    events["flags"] = [0, 0, 1, 0, 0, 1, 0, 0, 1, 1]
    writer = PartitionFileWriter(tmp_path / "p.parquet", row_group_rows=4)

    writer.append(events[:4])
    writer.append(events[4:])
    writer.close()

    groups = [len(g) for g in iter_file_events(tmp_path / "p.parquet")]
    assert groups == [3, 7]
    assert pq.ParquetFile(tmp_path / "p.parquet").metadata.row_group(0).column(0).compression == (
        "ZSTD"
    )


@pytest.mark.shared_data
def test_real_binance_spot_pair_validates_clean_and_splits_at_midnight(
    shared_data: Path, tmp_path: Path
) -> None:
    from l2trader.data.events import collect
    from l2trader.data.instruments import lookup
    from l2trader.data.repair import repair_chunks
    from l2trader.data.sources import SourceFormat, open_source

    folder = shared_data / "hftbacktest-binance-hyperliquid"
    paths = [folder / f"binance_spot_btcusdt_2024080{d}.gz" for d in (8, 9)]
    instrument = lookup("binance", "BTCUSDT")
    source = open_source(SourceFormat.BINANCE, paths, instrument=instrument)
    events = collect(source.chunks())
    report = ValidationReport("spot", policy=Policy.STRICT)
    cat = Catalog(tmp_path / "cat")
    chunks = [events[i : i + 50_000] for i in range(0, len(events), 50_000)]

    result = cat.write(instrument, repair_chunks(chunks, report), sources=paths, report=report)

    midnight = int(np.datetime64("2024-08-09", "ns").astype(np.int64))
    before = int(np.count_nonzero(events["ts_recv"] < midnight))
    assert report.ok
    assert result.per_date == {"2024-08-08": before, "2024-08-09": len(events) - before}
    assert _same(cat.read_all("binance", "BTCUSDT"), events)
