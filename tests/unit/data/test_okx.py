"""OkxBookReader and the OKX checksum on small hand-written capture lines (issue 8)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from l2trader.data.checksums import okx_checksum
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.okx import OkxBookReader, okx_tick_sizes
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import ChecksumError, SequenceGapError
from l2trader.schema import ASK, BID, F_GAP_BEFORE, F_LAST, F_REPAIRED, KIND_BOOK, KIND_CLEAR

INST = Instrument(venue="okx", symbol="BTC-USDT", tick_size=0.1)


def _signed(text: bytes) -> int:
    value = zlib.crc32(text)
    return value - 2**32 if value >= 2**31 else value


SNAP_SUM = _signed(b"100.1:7:100.2:9:100:1:100.3:8")
UPD_SUM = _signed(b"100.1:7:100.2:5:100.3:8")


def _book(
    action: str, bids: list[list[str]], asks: list[list[str]], checksum: int, **extra: int
) -> dict[str, object]:
    data = {"asks": asks, "bids": bids, "ts": "1652459225500", "checksum": checksum, **extra}
    return {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action, "data": [data]}


SNAPSHOT = _book(
    "snapshot",
    [["100.1", "7", "0", "1"], ["100", "1", "0", "2"]],
    [["100.2", "9", "0", "1"], ["100.3", "8", "0", "1"]],
    SNAP_SUM,
)
UPDATE = _book("update", [["100.0", "0", "0", "0"]], [["100.2", "5", "0", "3"]], UPD_SUM)


def _capture(tmp_path: Path, messages: list[tuple[str, object]]) -> Path:
    path = tmp_path / "OKX.ws.test"
    lines = ["wss://ws.okx.com:8443/ws/v5/public <-> 1.0"]
    lines += [f"{ts}: {json.dumps(m, separators=(',', ':'))}" for ts, m in messages]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_okx_checksum_interleaves_bids_and_asks_and_is_signed() -> None:
    # Arrange
    bids = [("100.1", "7"), ("100", "1")]
    asks = [("100.2", "9"), ("100.3", "8")]

    # Act
    value = okx_checksum(bids, asks)

    # Assert
    assert value == SNAP_SUM
    assert okx_checksum([], [("1", "2")]) == _signed(b"1:2")


def test_reader_emits_exact_events_and_verifies_every_checksum(tmp_path: Path) -> None:
    # Arrange
    ack = {"event": "subscribe", "arg": {"channel": "books", "instId": "BTC-USDT"}}
    trade = {"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": []}
    path = _capture(tmp_path, [("1.0", ack), ("1.5", SNAPSHOT), ("1.7", trade), ("2.0", UPDATE)])
    reader = OkxBookReader([path], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    ts = 1_652_459_225_500_000_000
    rows = [(r[0], r[1], *r[3:]) for r in events.tolist()]  # without seq (-1)
    assert rows == [
        (ts, 1_500_000_000, 0, 0.0, KIND_CLEAR, BID, 0),
        (ts, 1_500_000_000, 1001, 7.0, 3, BID, 0),
        (ts, 1_500_000_000, 1000, 1.0, 3, BID, 0),
        (ts, 1_500_000_000, 0, 0.0, KIND_CLEAR, ASK, 0),
        (ts, 1_500_000_000, 1002, 9.0, 3, ASK, 0),
        (ts, 1_500_000_000, 1003, 8.0, 3, ASK, F_LAST),
        (ts, 2_000_000_000, 1000, 0.0, KIND_BOOK, BID, 0),
        (ts, 2_000_000_000, 1002, 5.0, KIND_BOOK, ASK, F_LAST),
    ]
    assert reader.stats["checksums_verified"] == 2
    assert set(events["seq"].tolist()) == {-1}
    assert reader.stats["non_book"] == 2
    assert reader.report.ok
    assert okx_tick_sizes([path]) == {"BTC-USDT": 0.1}


def test_corrupted_size_is_caught_by_the_checksum_with_file_and_line(tmp_path: Path) -> None:
    # Arrange
    bad = _book("update", [["100.0", "0", "0", "0"]], [["100.2", "6", "0", "3"]], UPD_SUM)
    reader = OkxBookReader([_capture(tmp_path, [("1.5", SNAPSHOT), ("2.0", bad)])], instrument=INST)

    # Act / Assert
    with pytest.raises(ChecksumError, match=r"OKX\.ws\.test:3: .*checksum mismatch"):
        collect(reader.chunks())


def test_seq_id_gap_raises_sequence_gap_error(tmp_path: Path) -> None:
    # Arrange
    snapshot = _book("snapshot", [["100.1", "7", "0", "1"]], [], _signed(b"100.1:7"), seqId=10)
    update = _book("update", [], [], _signed(b"100.1:7"), seqId=12, prevSeqId=11)
    path = _capture(tmp_path, [("1.5", snapshot), ("2.0", update)])
    reader = OkxBookReader([path], instrument=INST)

    # Act / Assert
    with pytest.raises(SequenceGapError, match=r":3 \(seq 12\): .*prevSeqId 11 != last 10"):
        collect(reader.chunks())


def test_repair_invalidates_then_resyncs_on_the_next_snapshot(tmp_path: Path) -> None:
    # Arrange
    bad = _book("update", [], [["100.2", "6", "0", "3"]], UPD_SUM)
    messages = [("1.5", SNAPSHOT), ("2.0", bad), ("2.5", UPDATE), ("3.0", SNAPSHOT)]
    reader = OkxBookReader([_capture(tmp_path, messages)], instrument=INST, policy=Policy.REPAIR)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events["kind"].tolist() == [4, 3, 3, 4, 3, 3, 4, 4, 3, 3, 4, 3, 3]
    assert int(events[6]["side"]) == 0
    assert int(events[6]["flags"]) == F_LAST | F_REPAIRED | F_GAP_BEFORE
    assert int(events[7]["flags"]) == F_GAP_BEFORE | F_REPAIRED
    assert reader.report.counts == {IssueCode.CHECKSUM_MISMATCH.value: 1}
    assert [q.line for q in reader.report.quarantined] == [3, 4]
