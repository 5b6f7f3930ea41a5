"""BitmexBookReader on small hand-written capture lines (issue 8)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from l2trader.data.bitmex import BitmexBookReader, bitmex_tick_sizes
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import InvalidValueError, SnapshotSyncError
from l2trader.schema import (
    ASK,
    BID,
    F_GAP_BEFORE,
    F_LAST,
    F_REPAIRED,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
)

INST = Instrument(venue="bitmex", symbol="XBTUSD", tick_size=0.5)


def _msg(action: str, *rows: dict[str, object]) -> dict[str, object]:
    return {
        "table": "orderBookL2",
        "action": action,
        "data": [{"symbol": "XBTUSD", **r} for r in rows],
    }


PARTIAL = _msg(
    "partial",
    {"id": 1, "side": "Sell", "size": 300, "price": 32001.5},
    {"id": 2, "side": "Buy", "size": 100, "price": 32000.0},
    {"id": 3, "side": "Buy", "size": 50, "price": 31999},
)
INSERT = _msg("insert", {"id": 4, "side": "Sell", "size": 7, "price": 32001.0})
UPDATE = _msg("update", {"id": 2, "side": "Buy", "size": 120})
DELETE = _msg("delete", {"id": 1, "side": "Sell"})
OTHER = {
    "table": "orderBookL2",
    "action": "insert",
    "data": [{"symbol": "ETHUSD", "id": 9, "side": "Buy", "size": 1, "price": 2.0}],
}
QUOTE = {"table": "quote", "action": "insert", "data": [{"symbol": "XBTUSD", "bidPrice": 32000.0}]}


def _capture(tmp_path: Path, messages: Sequence[tuple[str, object]]) -> Path:
    path = tmp_path / "BITMEX.ws.test"
    lines = ["wss://www.bitmex.com/realtime <-> 1.0"]
    lines += [f"{ts}: {json.dumps(m, separators=(',', ':'))}" for ts, m in messages]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_prices_update_and_delete_rows_from_the_id_map(tmp_path: Path) -> None:
    # Arrange
    messages = [("1.5", PARTIAL), ("1.6", QUOTE), ("1.7", OTHER), ("2.0", INSERT)]
    messages += [("2.5", UPDATE), ("3.0", DELETE)]
    reader = BitmexBookReader([_capture(tmp_path, messages)], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    rows = [(r[1], *r[3:]) for r in events.tolist()]  # ts_exch and seq are -1
    assert rows == [
        (1_500_000_000, 0, 0.0, KIND_CLEAR, BID, 0),
        (1_500_000_000, 64000, 100.0, KIND_SNAPSHOT, BID, 0),
        (1_500_000_000, 63998, 50.0, KIND_SNAPSHOT, BID, 0),
        (1_500_000_000, 0, 0.0, KIND_CLEAR, ASK, 0),
        (1_500_000_000, 64003, 300.0, KIND_SNAPSHOT, ASK, F_LAST),
        (2_000_000_000, 64002, 7.0, KIND_BOOK, ASK, F_LAST),
        (2_500_000_000, 64000, 120.0, KIND_BOOK, BID, F_LAST),
        (3_000_000_000, 64003, 0.0, KIND_BOOK, ASK, F_LAST),
    ]
    assert set(events["ts_exch"].tolist()) == {-1}
    assert set(events["seq"].tolist()) == {-1}
    assert (reader.stats["non_book"], reader.stats["other_symbol"]) == (1, 1)
    assert reader.report.ok


def test_row_timestamp_becomes_ts_exch(tmp_path: Path) -> None:
    # Arrange
    insert = _msg(
        "insert",
        {
            "id": 4,
            "side": "Sell",
            "size": 7,
            "price": 32001.0,
            "timestamp": "2021-07-22T22:36:07.865Z",
        },
    )
    reader = BitmexBookReader(
        [_capture(tmp_path, [("1.5", PARTIAL), ("2.0", insert)])], instrument=INST
    )

    # Act
    events = collect(reader.chunks())

    # Assert
    assert int(events[-1]["ts_exch"]) == 1_626_993_367_865_000_000


def test_unknown_id_is_an_invalid_value_naming_the_line(tmp_path: Path) -> None:
    # Arrange
    update = _msg("update", {"id": 99, "side": "Buy", "size": 1})
    reader = BitmexBookReader(
        [_capture(tmp_path, [("1.5", PARTIAL), ("2.0", update)])], instrument=INST
    )

    # Act / Assert
    with pytest.raises(InvalidValueError, match=r"BITMEX\.ws\.test:3: .*unknown level id 99"):
        collect(reader.chunks())


def test_side_change_and_reinsert_are_invalid_values(tmp_path: Path) -> None:
    # Arrange
    flip = _msg("update", {"id": 2, "side": "Sell", "size": 1})
    again = _msg("insert", {"id": 2, "side": "Buy", "size": 1, "price": 32000.0})
    flip_reader = BitmexBookReader(
        [_capture(tmp_path, [("1.5", PARTIAL), ("2.0", flip)])], instrument=INST
    )
    again_path = tmp_path / "again"
    again_path.mkdir()
    again_reader = BitmexBookReader(
        [_capture(again_path, [("1.5", PARTIAL), ("2.0", again)])], instrument=INST
    )

    # Act / Assert
    with pytest.raises(InvalidValueError, match=r"id 2: side 'Sell' changed"):
        collect(flip_reader.chunks())
    with pytest.raises(InvalidValueError, match=r"insert of id 2, already in book"):
        collect(again_reader.chunks())


def test_update_before_partial_raises_snapshot_sync_error(tmp_path: Path) -> None:
    # Arrange
    reader = BitmexBookReader([_capture(tmp_path, [("2.0", UPDATE)])], instrument=INST)

    # Act / Assert
    with pytest.raises(SnapshotSyncError, match=r":2: .*before any snapshot"):
        collect(reader.chunks())


def test_repair_clears_book_and_ids_then_resyncs_on_the_next_partial(tmp_path: Path) -> None:
    # Arrange
    unknown = _msg("delete", {"id": 99, "side": "Buy"})
    messages = [
        ("1.5", PARTIAL),
        ("2.0", unknown),
        ("2.5", UPDATE),
        ("3.0", PARTIAL),
        ("3.5", UPDATE),
    ]
    reader = BitmexBookReader([_capture(tmp_path, messages)], instrument=INST, policy=Policy.REPAIR)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events["kind"].tolist() == [4, 3, 3, 4, 3, 4, 4, 3, 3, 4, 3, 1]
    assert int(events[5]["flags"]) == F_LAST | F_REPAIRED | F_GAP_BEFORE
    assert int(events[6]["flags"]) == F_GAP_BEFORE | F_REPAIRED
    assert (int(events[-1]["price_ticks"]), float(events[-1]["qty"])) == (64000, 120.0)
    assert reader.report.counts == {IssueCode.BAD_VALUE.value: 1}
    assert [q.line for q in reader.report.quarantined] == [3, 4]


def test_tick_sizes_come_from_float_reprs(tmp_path: Path) -> None:
    # Arrange
    path = _capture(tmp_path, [("1.5", PARTIAL), ("1.7", OTHER)])

    # Act / Assert
    assert bitmex_tick_sizes([path]) == {"ETHUSD": 0.1, "XBTUSD": 0.1}
