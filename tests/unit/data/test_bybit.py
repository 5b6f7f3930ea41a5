"""Bybit readers (``orderbook.N`` and v1 ``orderBookL2_25``) on hand-written lines (issue 8)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from l2trader.data.bybit import BybitBookReader, BybitL2V1Reader, bybit_tick_sizes
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import DuplicateError, InvalidValueError, SequenceGapError
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

XRP = Instrument(venue="bybit", symbol="XRPUSDT", tick_size=0.0001)
EOS = Instrument(venue="bybit", symbol="EOSUSD", tick_size=0.001)
MS = 1_000_000


def _ob(
    kind: str, u: int, ts: int, bids: list[list[str]], asks: list[list[str]], depth: int = 2
) -> dict[str, object]:
    data = {"s": "XRPUSDT", "b": bids, "a": asks, "u": u, "seq": 1000 + u}
    return {
        "topic": f"orderbook.{depth}.XRPUSDT",
        "type": kind,
        "ts": ts,
        "cts": ts - 2,
        "data": data,
    }


SNAP = _ob("snapshot", 10, 1000, [["1.9531", "62"], ["1.9530", "24"]], [["1.9533", "8"]])
DELTA = _ob("delta", 11, 1100, [["1.9532", "5"]], [["1.9533", "0"]])


def _zip(tmp_path: Path, messages: list[object]) -> Path:
    path = tmp_path / "2024-12-01_XRPUSDT_ob2.data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(path.stem, "\n".join(json.dumps(m) for m in messages) + "\n")
    return path


def test_orderbook_lines_in_a_zip_give_exact_events_and_truncate_to_depth(tmp_path: Path) -> None:
    # Arrange
    reader = BybitBookReader([_zip(tmp_path, [SNAP, DELTA])], instrument=XRP)

    # Act
    events = collect(reader.chunks())

    # Assert
    snap, delta = (998 * MS, 1000 * MS, 10), (1098 * MS, 1100 * MS, 11)
    assert events.tolist() == [
        (*snap, 0, 0.0, KIND_CLEAR, BID, 0),
        (*snap, 19531, 62.0, KIND_SNAPSHOT, BID, 0),
        (*snap, 19530, 24.0, KIND_SNAPSHOT, BID, 0),
        (*snap, 0, 0.0, KIND_CLEAR, ASK, 0),
        (*snap, 19533, 8.0, KIND_SNAPSHOT, ASK, F_LAST),
        (*delta, 19532, 5.0, KIND_BOOK, BID, 0),
        (*delta, 19530, 0.0, KIND_BOOK, BID, 0),  # depth 2: the worst bid falls out
        (*delta, 19533, 0.0, KIND_BOOK, ASK, F_LAST),
    ]
    assert reader.stats["truncated_levels"] == 1
    assert reader.report.ok
    assert bybit_tick_sizes([tmp_path / "2024-12-01_XRPUSDT_ob2.data.zip"]) == {"XRPUSDT": 0.0001}


def test_orderbook_capture_line_uses_the_local_time(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "bybit.gz.txt"
    path.write_text(f"5.0: {json.dumps(SNAP)}\n")

    # Act
    events = collect(BybitBookReader([path], instrument=XRP).chunks())

    # Assert
    assert set(events["ts_recv"].tolist()) == {5_000_000_000}


def test_orderbook_u_gap_raises_sequence_gap_error(tmp_path: Path) -> None:
    # Arrange
    gap = _ob("delta", 13, 1100, [], [])
    reader = BybitBookReader([_zip(tmp_path, [SNAP, gap])], instrument=XRP)

    # Act / Assert
    with pytest.raises(
        SequenceGapError, match=r"\.data\.zip:2 \(seq 13\): .*u 13 after 10: 2 missing"
    ):
        collect(reader.chunks())


def test_orderbook_repair_resyncs_on_the_next_snapshot(tmp_path: Path) -> None:
    # Arrange
    gap = _ob("delta", 13, 1100, [], [])
    later = _ob("delta", 14, 1200, [["1.9529", "1"]], [])
    snap = _ob("snapshot", 20, 1300, [["1.9531", "1"]], [])
    reader = BybitBookReader(
        [_zip(tmp_path, [SNAP, gap, later, snap])], instrument=XRP, policy=Policy.REPAIR
    )

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events["kind"].tolist() == [4, 3, 3, 4, 3, 4, 4, 3, 4]
    assert int(events[5]["flags"]) == F_LAST | F_REPAIRED | F_GAP_BEFORE
    assert reader.report.counts == {IssueCode.SEQUENCE_GAP.value: 1}
    assert [q.line for q in reader.report.quarantined] == [2, 3]


def _v1_delta(
    seq: int, delete: list[object], update: list[object], insert: list[object]
) -> dict[str, object]:
    data = {"delete": delete, "update": update, "insert": insert, "transactTimeE6": 0}
    return {
        "topic": "orderBookL2_25.EOSUSD",
        "type": "delta",
        "data": data,
        "cross_seq": seq,
        "timestamp_e6": 1_618_677_786_598_877,
    }


def _row(price: str, level_id: int, side: str, size: int | None = None) -> dict[str, object]:
    row: dict[str, object] = {"price": price, "symbol": "EOSUSD", "id": level_id, "side": side}
    return row if size is None else {**row, "size": size}


V1_SNAP = {
    "topic": "orderBookL2_25.EOSUSD",
    "type": "snapshot",
    "data": [_row("7.943", 79430, "Buy", 154), _row("7.945", 79450, "Sell", 19)],
    "cross_seq": 100,
    "timestamp_e6": 1_618_677_786_558_146,
}
V1_DELTA = _v1_delta(
    101,
    [_row("7.945", 79450, "Sell")],
    [_row("7.943", 79430, "Buy", 150)],
    [_row("7.946", 79460, "Sell", 7)],
)
TRADE = {"topic": "trade.EOSUSD", "data": [{"price": 7.97}]}
OTHER = {**V1_SNAP, "topic": "orderBookL2_25.BTCUSD"}


def _capture(tmp_path: Path, messages: Sequence[tuple[str, object]]) -> Path:
    path = tmp_path / "BYBIT.ws.test"
    lines = ["wss://stream.bybit.com/realtime <-> 1.0"]
    lines += [f"{ts}: {json.dumps(m)}" for ts, m in messages]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_v1_delta_applies_delete_update_insert_in_order(tmp_path: Path) -> None:
    # Arrange
    messages = [("1.5", V1_SNAP), ("1.6", TRADE), ("1.7", OTHER), ("2.0", V1_DELTA)]
    reader = BybitL2V1Reader([_capture(tmp_path, messages)], instrument=EOS)

    # Act
    events = collect(reader.chunks())

    # Assert
    snap = (1_618_677_786_558_146_000, 1_500_000_000, 100)
    delta = (1_618_677_786_598_877_000, 2_000_000_000, 101)
    assert events.tolist() == [
        (*snap, 0, 0.0, KIND_CLEAR, BID, 0),
        (*snap, 7943, 154.0, KIND_SNAPSHOT, BID, 0),
        (*snap, 0, 0.0, KIND_CLEAR, ASK, 0),
        (*snap, 7945, 19.0, KIND_SNAPSHOT, ASK, F_LAST),
        (*delta, 7945, 0.0, KIND_BOOK, ASK, 0),
        (*delta, 7943, 150.0, KIND_BOOK, BID, 0),
        (*delta, 7946, 7.0, KIND_BOOK, ASK, F_LAST),
    ]
    assert (reader.stats["non_book"], reader.stats["other_symbol"]) == (1, 1)
    assert reader.report.ok
    assert bybit_tick_sizes([tmp_path / "BYBIT.ws.test"]) == {"BTCUSD": 0.001, "EOSUSD": 0.001}


def test_v1_repeated_cross_seq_raises_duplicate_error_and_repair_drops_it(tmp_path: Path) -> None:
    # Arrange
    again = _v1_delta(100, [], [_row("7.943", 79430, "Buy", 1)], [])
    path = _capture(tmp_path, [("1.5", V1_SNAP), ("2.0", again), ("2.5", V1_DELTA)])
    strict = BybitL2V1Reader([path], instrument=EOS)
    repair = BybitL2V1Reader([path], instrument=EOS, policy=Policy.REPAIR)

    # Act
    with pytest.raises(DuplicateError, match=r":3 \(seq 100\): .*cross_seq 100 is not after 100"):
        collect(strict.chunks())
    events = collect(repair.chunks())

    # Assert
    assert len(events) == 7
    assert repair.report.counts == {IssueCode.DUPLICATE_SEQ.value: 1}


def test_v1_unknown_id_is_an_invalid_value(tmp_path: Path) -> None:
    # Arrange
    bad = _v1_delta(101, [], [_row("7.944", 79440, "Buy", 1)], [])
    reader = BybitL2V1Reader([_capture(tmp_path, [("1.5", V1_SNAP), ("2.0", bad)])], instrument=EOS)

    # Act / Assert
    with pytest.raises(InvalidValueError, match=r"BYBIT\.ws\.test:3: .*unknown level id 79440"):
        collect(reader.chunks())
