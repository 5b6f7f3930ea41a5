"""KrakenFuturesBookReader on small hand-written capture lines (issue 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.kraken_futures import KrakenFuturesBookReader, kraken_futures_tick_sizes
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import DuplicateError, SequenceGapError
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

INST = Instrument(venue="kraken-futures", symbol="PI_ETHUSD", tick_size=0.05)
SNAPSHOT = {
    "feed": "book_snapshot",
    "product_id": "PI_ETHUSD",
    "timestamp": 1000,
    "seq": 7,
    "tickSize": None,
    "bids": [{"price": 2000.5, "qty": 10.0}],
    "asks": [{"price": 2001.0, "qty": 20.0}, {"price": 2001.05, "qty": 5.0}],
}


def _update(seq: int, side: str, price: float, qty: float) -> dict[str, object]:
    return {
        "feed": "book",
        "product_id": "PI_ETHUSD",
        "side": side,
        "seq": seq,
        "price": price,
        "qty": qty,
        "timestamp": 1000 + seq,
    }


def _capture(tmp_path: Path, messages: list[tuple[str, object]]) -> Path:
    path = tmp_path / "KRAKEN_FUTURES.ws.test"
    lines = ["wss://futures.kraken.com/ws/v1 <-> 1.0"]
    lines += [f"{ts}: {json.dumps(m, separators=(',', ':'))}" for ts, m in messages]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_emits_exact_events(tmp_path: Path) -> None:
    # Arrange
    ticker = {"feed": "ticker_lite", "product_id": "PI_ETHUSD", "bid": 1.0}
    other = {**_update(1, "buy", 1.0, 1.0), "product_id": "PI_XBTUSD"}
    messages = [
        ("1.5", SNAPSHOT),
        ("1.6", ticker),
        ("1.7", other),
        ("2.0", _update(8, "sell", 2001.0, 0.0)),
    ]
    reader = KrakenFuturesBookReader([_capture(tmp_path, messages)], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    rows = events.tolist()  # (ts_exch, ts_recv, seq, price_ticks, qty, kind, side, flags)
    assert rows == [
        (1_000_000_000, 1_500_000_000, 7, 0, 0.0, KIND_CLEAR, BID, 0),
        (1_000_000_000, 1_500_000_000, 7, 40010, 10.0, KIND_SNAPSHOT, BID, 0),
        (1_000_000_000, 1_500_000_000, 7, 0, 0.0, KIND_CLEAR, ASK, 0),
        (1_000_000_000, 1_500_000_000, 7, 40020, 20.0, KIND_SNAPSHOT, ASK, 0),
        (1_000_000_000, 1_500_000_000, 7, 40021, 5.0, KIND_SNAPSHOT, ASK, F_LAST),
        (1_008_000_000, 2_000_000_000, 8, 40020, 0.0, KIND_BOOK, ASK, F_LAST),
    ]
    assert reader.stats["non_book"] == 1
    assert reader.stats["other_symbol"] == 1
    assert reader.report.ok
    tick_sizes = kraken_futures_tick_sizes([_capture(tmp_path, messages)])
    assert tick_sizes == {"PI_ETHUSD": 0.01, "PI_XBTUSD": 0.1}


def test_seq_gap_raises_sequence_gap_error_naming_the_line(tmp_path: Path) -> None:
    # Arrange
    messages = [("1.5", SNAPSHOT), ("2.0", _update(9, "buy", 2000.5, 1.0))]
    reader = KrakenFuturesBookReader([_capture(tmp_path, messages)], instrument=INST)

    # Act / Assert
    with pytest.raises(
        SequenceGapError, match=r"KRAKEN_FUTURES\.ws\.test:3 \(seq 9\): .*1 updates"
    ):
        collect(reader.chunks())


def test_repeated_seq_raises_duplicate_error(tmp_path: Path) -> None:
    # Arrange
    update = _update(8, "buy", 2000.5, 1.0)
    messages = [("1.5", SNAPSHOT), ("2.0", update), ("2.1", update)]
    reader = KrakenFuturesBookReader([_capture(tmp_path, messages)], instrument=INST)

    # Act / Assert
    with pytest.raises(DuplicateError, match=r":4 \(seq 8\)"):
        collect(reader.chunks())


def test_repair_drops_a_duplicate_and_resyncs_after_a_gap(tmp_path: Path) -> None:
    # Arrange
    update = _update(8, "buy", 2000.5, 1.0)
    messages = [
        ("1.5", SNAPSHOT),
        ("2.0", update),
        ("2.1", update),
        ("2.2", _update(10, "buy", 2000.5, 2.0)),
        ("2.3", _update(11, "buy", 2000.5, 3.0)),
        ("3.0", {**SNAPSHOT, "seq": 20}),
        ("3.1", _update(21, "sell", 2001.0, 1.0)),
    ]
    reader = KrakenFuturesBookReader(
        [_capture(tmp_path, messages)], instrument=INST, policy=Policy.REPAIR
    )

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events["kind"].tolist() == [4, 3, 4, 3, 3, 1, 4, 4, 3, 4, 3, 3, 1]
    assert int(events[6]["flags"]) == F_LAST | F_REPAIRED | F_GAP_BEFORE
    assert int(events[7]["flags"]) == F_GAP_BEFORE | F_REPAIRED
    assert reader.report.counts == {
        IssueCode.DUPLICATE_SEQ.value: 1,
        IssueCode.SEQUENCE_GAP.value: 1,
    }
    assert [q.line for q in reader.report.quarantined] == [4, 5, 6]
    assert int(events[-1]["seq"]) == 21
