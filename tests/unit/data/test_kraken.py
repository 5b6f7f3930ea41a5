"""KrakenBookReader and the Kraken checksum on small hand-written capture lines (issue 8)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from l2trader.data.checksums import kraken_checksum
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.kraken import KrakenBookReader, kraken_tick_sizes
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import ChecksumError, InvalidValueError, OutOfOrderError, SnapshotSyncError
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

INST = Instrument(venue="kraken", symbol="XBT/USD", tick_size=0.0001)
SNAPSHOT = [
    1,
    {
        "as": [["1.0010", "2.00000000", "1.100000"], ["1.0020", "3.00000000", "1.200000"]],
        "bs": [["1.0000", "4.00000000", "1.050000"]],
    },
    "book-10",
    "XBT/USD",
]
# asks 1.0020 x 3; bids 1.0005 x 1.5, 1.0000 x 4 -> tokens without '.' and leading zeros
CHECKSUM = zlib.crc32(b"10020" + b"300000000" + b"10005" + b"150000000" + b"10000" + b"400000000")
UPDATE = [
    1,
    {"a": [["1.0010", "0.00000000", "1.900000"]]},
    {"b": [["1.0005", "1.50000000", "1.950000", "r"]], "c": str(CHECKSUM)},
    "book-10",
    "XBT/USD",
]


def _capture(tmp_path: Path, messages: list[tuple[str, object]]) -> Path:
    path = tmp_path / "KRAKEN.ws.test"
    lines = ["wss://ws.kraken.com <-> 1.0"]
    lines += [f"{ts}: {json.dumps(m, separators=(',', ':'))}" for ts, m in messages]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(events: np.ndarray) -> list[tuple[int, int, int, int, float, int, int, int]]:
    return [
        (
            int(e["ts_exch"]),
            int(e["ts_recv"]),
            int(e["seq"]),
            int(e["price_ticks"]),
            float(e["qty"]),
            int(e["kind"]),
            int(e["side"]),
            int(e["flags"]),
        )
        for e in events
    ]


def test_kraken_checksum_concatenates_asks_then_bids_without_dots_and_leading_zeros() -> None:
    # Arrange
    asks = [("0.05005", "0.00000500"), ("0.05010", "1.00000000")]
    bids = [("0.05000", "0.00000500")]

    # Act
    value = kraken_checksum(asks, bids)

    # Assert
    assert value == zlib.crc32(b"5005500" + b"5010100000000" + b"5000500")


def test_reader_emits_exact_events_and_verifies_the_checksum(tmp_path: Path) -> None:
    # Arrange
    path = _capture(tmp_path, [("1.5", SNAPSHOT), ("2.0", {"event": "heartbeat"}), ("2.5", UPDATE)])
    reader = KrakenBookReader([path], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    s, u = 1_200_000_000, 1_950_000_000
    r1, r2 = 1_500_000_000, 2_500_000_000
    assert _rows(events) == [
        (s, r1, -1, 0, 0.0, KIND_CLEAR, BID, 0),
        (s, r1, -1, 10000, 4.0, KIND_SNAPSHOT, BID, 0),
        (s, r1, -1, 0, 0.0, KIND_CLEAR, ASK, 0),
        (s, r1, -1, 10010, 2.0, KIND_SNAPSHOT, ASK, 0),
        (s, r1, -1, 10020, 3.0, KIND_SNAPSHOT, ASK, F_LAST),
        (u, r2, -1, 10010, 0.0, KIND_BOOK, ASK, 0),
        (u, r2, -1, 10005, 1.5, KIND_BOOK, BID, F_LAST),
    ]
    assert reader.stats["checksums_verified"] == 1
    assert reader.stats["messages_emitted"] == 2
    assert reader.stats["non_book"] == 1
    assert reader.stats["capture_meta"] == 1
    assert reader.report.ok
    assert reader.report.rows_in == 4


def test_corrupted_size_is_caught_by_the_checksum_with_file_and_line(tmp_path: Path) -> None:
    # Arrange
    bad = json.loads(json.dumps(UPDATE))
    bad[2]["b"][0][1] = "1.50000001"
    path = _capture(tmp_path, [("1.5", SNAPSHOT), ("2.5", bad)])
    reader = KrakenBookReader([path], instrument=INST)

    # Act / Assert
    with pytest.raises(ChecksumError, match=r"KRAKEN\.ws\.test:3: .*checksum mismatch"):
        collect(reader.chunks())


def test_repair_clears_the_book_and_waits_for_the_next_snapshot(tmp_path: Path) -> None:
    # Arrange
    bad = json.loads(json.dumps(UPDATE))
    bad[2]["b"][0][1] = "1.50000001"
    messages = [("1.5", SNAPSHOT), ("2.5", bad), ("3.0", UPDATE), ("4.0", SNAPSHOT)]
    reader = KrakenBookReader([_capture(tmp_path, messages)], instrument=INST, policy=Policy.REPAIR)

    # Act
    events = collect(reader.chunks())

    # Assert
    kinds = events["kind"].tolist()
    assert kinds == [4, 3, 4, 3, 3, 4, 4, 3, 4, 3, 3]
    clear = events[5]
    assert (int(clear["side"]), int(clear["ts_recv"])) == (0, 2_500_000_000)
    assert int(clear["flags"]) == F_LAST | F_REPAIRED | F_GAP_BEFORE
    assert int(events[6]["flags"]) == F_GAP_BEFORE | F_REPAIRED
    assert reader.report.counts == {IssueCode.CHECKSUM_MISMATCH.value: 1}
    assert [q.line for q in reader.report.quarantined] == [3, 4]
    assert reader.stats["dropped_unsynced"] == 1


def test_replacing_a_level_on_a_full_side_truncates_nothing(tmp_path: Path) -> None:
    # Arrange
    bids = [[f"1.{9999 - i:04d}", "1.00000000", "1.000000"] for i in range(10)]
    snapshot = [1, {"as": [["2.0000", "1.00000000", "1.000000"]], "bs": bids}, "book-10", "P"]
    kept = [("1.9999", "2.00000000")] + [(p, v) for p, v, _ in bids[1:]]
    value = kraken_checksum([("2.0000", "1.00000000")], kept)
    update = [1, {"b": [["1.9999", "2.00000000", "2.000000"]], "c": str(value)}, "book-10", "P"]
    inst = Instrument(venue="kraken", symbol="P", tick_size=0.0001)
    path = _capture(tmp_path, [("1", snapshot), ("2", update)])
    reader = KrakenBookReader([path], instrument=inst)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert reader.stats["truncated_levels"] == 0
    assert reader.stats["checksums_verified"] == 1
    assert len(events) == 14


def test_new_best_level_on_a_full_side_truncates_the_worst(tmp_path: Path) -> None:
    # Arrange
    bids = [[f"1.{9990 - i:04d}", "1.00000000", "1.000000"] for i in range(10)]
    snapshot = [1, {"as": [["2.0000", "1.00000000", "1.000000"]], "bs": bids}, "book-10", "P"]
    kept = [("1.9995", "2.00000000")] + [(p, v) for p, v, _ in bids[:9]]
    value = kraken_checksum([("2.0000", "1.00000000")], kept)
    update = [1, {"b": [["1.9995", "2.00000000", "2.000000"]], "c": str(value)}, "book-10", "P"]
    inst = Instrument(venue="kraken", symbol="P", tick_size=0.0001)
    reader = KrakenBookReader(
        [_capture(tmp_path, [("1", snapshot), ("2", update)])], instrument=inst
    )

    # Act
    events = collect(reader.chunks())

    # Assert
    last = _rows(events[-2:])
    assert last == [
        (2_000_000_000, 2_000_000_000, -1, 19995, 2.0, KIND_BOOK, BID, 0),
        (2_000_000_000, 2_000_000_000, -1, 19981, 0.0, KIND_BOOK, BID, F_LAST),
    ]
    assert reader.stats["truncated_levels"] == 1
    assert reader.stats["checksums_verified"] == 1


def test_update_before_snapshot_raises_snapshot_sync_error(tmp_path: Path) -> None:
    # Arrange
    reader = KrakenBookReader([_capture(tmp_path, [("2.5", UPDATE)])], instrument=INST)

    # Act / Assert
    with pytest.raises(SnapshotSyncError, match=r":2: .*before any snapshot"):
        collect(reader.chunks())


def test_off_tick_price_is_an_invalid_value(tmp_path: Path) -> None:
    # Arrange
    coarse = Instrument(venue="kraken", symbol="XBT/USD", tick_size=0.001)
    reader = KrakenBookReader(
        [_capture(tmp_path, [("1.5", SNAPSHOT), ("2.5", UPDATE)])], instrument=coarse
    )

    # Act / Assert
    with pytest.raises(InvalidValueError, match=r":3: .*off the tick grid"):
        collect(reader.chunks())


def test_other_pairs_are_skipped_and_counted(tmp_path: Path) -> None:
    # Arrange
    other = [*SNAPSHOT[:-1], "ETH/USD"]
    path = _capture(tmp_path, [("1.0", other), ("1.5", SNAPSHOT)])
    reader = KrakenBookReader([path], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert len(events) == 5
    assert reader.stats["other_symbol"] == 1
    assert kraken_tick_sizes([path]) == {"ETH/USD": 0.0001, "XBT/USD": 0.0001}


def test_local_time_going_backwards_is_out_of_order_and_repair_clamps_it(tmp_path: Path) -> None:
    # Arrange
    path = _capture(tmp_path, [("3.0", SNAPSHOT), ("2.5", UPDATE)])

    # Act
    repair = KrakenBookReader([path], instrument=INST, policy=Policy.REPAIR)
    events = collect(repair.chunks())

    # Assert
    with pytest.raises(OutOfOrderError, match=r":3: .*before the previous one"):
        collect(KrakenBookReader([path], instrument=INST).chunks())
    assert events["ts_recv"].tolist()[-2:] == [3_000_000_000, 3_000_000_000]
    assert events["flags"].tolist()[-2:] == [F_REPAIRED, F_REPAIRED | F_LAST]
    assert repair.report.counts == {IssueCode.OUT_OF_ORDER_TS.value: 1}
