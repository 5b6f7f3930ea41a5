from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.data.catalog import _check_date, _check_name
from l2trader.data.manifest import ingest_key, read_manifest, upsert_entry
from l2trader.data.parquet import EVENT_SCHEMA, events_to_table, table_to_events
from l2trader.data.partition import check_chunk, split_by_date, whole_batches
from l2trader.errors import CatalogError, ConfigError
from l2trader.schema import EVENT_DTYPE, F_LAST
from l2trader.units import NS_PER_DAY

I64 = st.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max)
_row = st.tuples(
    I64,
    I64,
    I64,
    I64,
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(0, 255),
    st.integers(-128, 127),
    st.integers(0, 255),
)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    names = EVENT_DTYPE.names or ()
    return len(a) == len(b) and all(a[f].tobytes() == b[f].tobytes() for f in names)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(_row, max_size=30))
def test_table_round_trip_is_exact(rows: list[tuple[int, ...]]) -> None:
    events = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, row in enumerate(rows):
        events[i] = row

    back = table_to_events(events_to_table(events))

    assert back.dtype == EVENT_DTYPE
    assert back.flags["C_CONTIGUOUS"]
    assert back.tobytes() == events.tobytes()  # padding is zero on both sides


def test_edge_values_survive_the_table() -> None:
    events = np.zeros(3, dtype=EVENT_DTYPE)
    events["ts_recv"] = [np.iinfo(np.int64).min, -1, np.iinfo(np.int64).max]
    events["qty"] = [-0.0, np.nan, np.inf]
    events["side"] = [-128, 0, 127]
    events["flags"] = [0, 255, 7]

    back = table_to_events(events_to_table(events))

    assert _same(back, events)
    assert np.signbit(back["qty"][0])


def test_table_schema_is_the_event_dtype() -> None:
    table = events_to_table(np.zeros(0, dtype=EVENT_DTYPE))

    assert table.num_rows == 0
    assert [(f.name, str(f.type)) for f in table.schema] == [
        ("ts_exch", "int64"),
        ("ts_recv", "int64"),
        ("seq", "int64"),
        ("price_ticks", "int64"),
        ("qty", "double"),
        ("kind", "uint8"),
        ("side", "int8"),
        ("flags", "uint8"),
    ]


def test_mismatched_table_names_the_source() -> None:
    table = events_to_table(np.zeros(2, dtype=EVENT_DTYPE))
    bad = table.set_column(4, "qty", pa.array([1.0, 2.0], type=pa.float32()))

    with pytest.raises(CatalogError, match=r"part\.parquet: columns/types"):
        table_to_events(bad, name="part.parquet")


def test_nulls_are_refused() -> None:
    arrays = [pa.array([None], type=f.type) for f in EVENT_SCHEMA]
    table = pa.Table.from_arrays(arrays, names=EVENT_SCHEMA.names)

    with pytest.raises(CatalogError, match="nulls"):
        table_to_events(table, name="x")


def test_wrong_dtype_cannot_become_a_table() -> None:
    with pytest.raises(CatalogError, match="EVENT_DTYPE"):
        events_to_table(np.zeros(3))


def test_split_by_utc_date() -> None:
    events = np.zeros(5, dtype=EVENT_DTYPE)
    events["ts_recv"] = [-1, 0, NS_PER_DAY - 1, NS_PER_DAY, 3 * NS_PER_DAY]

    parts = [(d, len(p)) for d, p in split_by_date(events)]

    assert parts == [("1969-12-31", 1), ("1970-01-01", 2), ("1970-01-02", 1), ("1970-01-04", 1)]


def test_check_chunk_names_the_backward_event() -> None:
    events = np.zeros(3, dtype=EVENT_DTYPE)
    events["ts_recv"] = [5, 6, 4]

    with pytest.raises(CatalogError, match="event 12"):
        check_chunk(events, last_ts=0, seen=10)
    with pytest.raises(CatalogError, match="event 10"):
        check_chunk(events[:1], last_ts=9, seen=10)
    with pytest.raises(CatalogError, match="EVENT_DTYPE"):
        check_chunk(np.zeros(2), last_ts=0, seen=0)


def test_whole_batches_never_split_a_batch() -> None:
    events = np.zeros(6, dtype=EVENT_DTYPE)
    events["flags"] = [0, F_LAST, 0, 0, F_LAST, 0]
    events["price_ticks"] = np.arange(6)

    out = list(whole_batches([events[:1], events[1:3], events[3:]]))

    assert [c["price_ticks"].tolist() for c in out] == [[0, 1], [2, 3, 4], [5]]


def test_ingest_key_ignores_source_order() -> None:
    a = ingest_key([{"sha256": "aa"}, {"sha256": "bb"}])

    assert a == ingest_key([{"sha256": "bb"}, {"sha256": "aa"}])
    assert len(a) == 16
    assert a != ingest_key([{"sha256": "aa"}])


def test_manifest_upsert_replaces_same_ingest(tmp_path: Path) -> None:
    manifest = read_manifest(tmp_path / "manifest.json")
    first = {"venue": "v", "symbol": "s", "key": "k", "n": 1}

    manifest = upsert_entry(upsert_entry(manifest, first), {**first, "n": 2})

    assert manifest["ingests"] == [{**first, "n": 2}]


def test_bad_manifest_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("{not json")

    with pytest.raises(CatalogError, match="unreadable manifest"):
        read_manifest(path)


@pytest.mark.parametrize("value", ["2024-13-01", "2024-1-01", "yesterday", "2024-02-30"])
def test_bad_dates_are_config_errors(value: str) -> None:
    with pytest.raises(ConfigError, match="start="):
        _check_date(value, "start")


@pytest.mark.parametrize("value", ["", ".hidden", "a/b", "x=y"])
def test_unsafe_names_are_refused(value: str) -> None:
    with pytest.raises(CatalogError, match="venue="):
        _check_name(value, "venue")
