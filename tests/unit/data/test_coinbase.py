"""CoinbaseBookReader on small hand-written capture lines (issue 8)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from l2trader.data.coinbase import CoinbaseBookReader, coinbase_tick_sizes
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import InvalidValueError, OutOfOrderError, ParseError, SnapshotSyncError
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

INST = Instrument(venue="coinbase", symbol="SKL-USD", tick_size=0.0001)
SNAPSHOT = {
    "type": "snapshot",
    "product_id": "SKL-USD",
    "bids": [["0.5001", "10.5"], ["0.5000", "3"]],
    "asks": [["0.5003", "7"]],
}
UPDATE = {
    "type": "l2update",
    "product_id": "SKL-USD",
    "changes": [["buy", "0.5000", "0"], ["sell", "0.5002", "1.25"]],
    "time": "2021-04-17T16:43:37.075687Z",
}
OTHER = {**UPDATE, "product_id": "SKL-BTC", "changes": [["buy", "0.00001306", "1"]]}
TICKER = {"type": "ticker", "product_id": "SKL-USD", "price": "0.5002"}
T_EXCH = 1_618_677_817_075_687_000


def _capture(tmp_path: Path, messages: Sequence[tuple[str, object]]) -> Path:
    path = tmp_path / "COINBASE.ws.test"
    lines = ["wss://ws-feed.pro.coinbase.com <-> 1.0"]
    lines += [f"{ts}: {json.dumps(m, separators=(',', ':'))}" for ts, m in messages]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_emits_exact_events_and_skips_other_messages(tmp_path: Path) -> None:
    # Arrange
    messages = [("1.5", SNAPSHOT), ("1.6", TICKER), ("1.7", OTHER), ("2.0", UPDATE)]
    reader = CoinbaseBookReader([_capture(tmp_path, messages)], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events.tolist() == [
        (-1, 1_500_000_000, -1, 0, 0.0, KIND_CLEAR, BID, 0),
        (-1, 1_500_000_000, -1, 5001, 10.5, KIND_SNAPSHOT, BID, 0),
        (-1, 1_500_000_000, -1, 5000, 3.0, KIND_SNAPSHOT, BID, 0),
        (-1, 1_500_000_000, -1, 0, 0.0, KIND_CLEAR, ASK, 0),
        (-1, 1_500_000_000, -1, 5003, 7.0, KIND_SNAPSHOT, ASK, F_LAST),
        (T_EXCH, 2_000_000_000, -1, 5000, 0.0, KIND_BOOK, BID, 0),
        (T_EXCH, 2_000_000_000, -1, 5002, 1.25, KIND_BOOK, ASK, F_LAST),
    ]
    assert (reader.stats["non_book"], reader.stats["other_symbol"]) == (1, 1)
    assert reader.stats["capture_meta"] == 1
    assert reader.report.ok
    assert reader.report.rows_in == 5
    assert reader.report.rows_skipped == 3


def test_tick_sizes_from_a_capture(tmp_path: Path) -> None:
    # Arrange
    path = _capture(tmp_path, [("1.5", SNAPSHOT), ("1.7", OTHER), ("2.0", UPDATE)])

    # Act
    ticks = coinbase_tick_sizes([path])

    # Assert
    assert ticks == {"SKL-BTC": 1e-08, "SKL-USD": 0.0001}


def test_update_before_snapshot_raises_snapshot_sync_error(tmp_path: Path) -> None:
    # Arrange
    reader = CoinbaseBookReader([_capture(tmp_path, [("2.0", UPDATE)])], instrument=INST)

    # Act / Assert
    with pytest.raises(SnapshotSyncError, match=r"COINBASE\.ws\.test:2: .*before any snapshot"):
        collect(reader.chunks())


def test_off_tick_price_is_an_invalid_value_naming_the_line(tmp_path: Path) -> None:
    # Arrange
    bad = {**UPDATE, "changes": [["buy", "0.50005", "1"]]}
    path = _capture(tmp_path, [("1.5", SNAPSHOT), ("2.0", bad)])
    reader = CoinbaseBookReader([path], instrument=INST)

    # Act / Assert
    with pytest.raises(InvalidValueError, match=r":3: .*off the tick grid"):
        collect(reader.chunks())


def test_bad_json_and_bad_side_are_parse_errors(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "c.txt"
    path.write_text('1.0: {"type":"snapshot",\n')
    bad_side = {**UPDATE, "changes": [["up", "0.5000", "1"]]}
    reader = CoinbaseBookReader([path], instrument=INST)
    path2 = _capture(tmp_path, [("1.5", SNAPSHOT), ("2.0", bad_side)])
    reader2 = CoinbaseBookReader([path2], instrument=INST)

    # Act / Assert
    with pytest.raises(ParseError, match=r"c\.txt:1: .*bad JSON"):
        collect(reader.chunks())
    with pytest.raises(ParseError, match=r"unknown side 'up'"):
        collect(reader2.chunks())


def test_backwards_local_time_is_out_of_order(tmp_path: Path) -> None:
    # Arrange
    path = _capture(tmp_path, [("2.5", SNAPSHOT), ("2.0", UPDATE)])
    reader = CoinbaseBookReader([path], instrument=INST)

    # Act / Assert
    with pytest.raises(OutOfOrderError, match=r":3: .*local timestamp 2000000000 ns"):
        collect(reader.chunks())


def test_repair_clears_the_book_and_resyncs_on_the_next_snapshot(tmp_path: Path) -> None:
    # Arrange
    bad = {**UPDATE, "changes": [["buy", "0.50005", "1"]]}
    messages = [("1.5", SNAPSHOT), ("2.0", bad), ("2.5", UPDATE), ("3.0", SNAPSHOT)]
    path = _capture(tmp_path, messages)
    reader = CoinbaseBookReader([path], instrument=INST, policy=Policy.REPAIR)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events["kind"].tolist() == [4, 3, 3, 4, 3, 4, 4, 3, 3, 4, 3]
    assert (int(events[5]["side"]), int(events[5]["flags"])) == (
        0,
        F_LAST | F_REPAIRED | F_GAP_BEFORE,
    )
    assert int(events[6]["flags"]) == F_GAP_BEFORE | F_REPAIRED
    assert int(events[-1]["flags"]) == F_LAST | F_REPAIRED
    assert reader.report.counts == {IssueCode.OFF_TICK.value: 1}
    assert [q.line for q in reader.report.quarantined] == [3, 4]
    assert reader.stats["dropped_unsynced"] == 1
