"""GeminiBookReader on small hand-written capture lines (issue 8)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from l2trader.data.events import collect
from l2trader.data.gemini import GeminiBookReader, gemini_tick_sizes
from l2trader.data.instruments import Instrument
from l2trader.errors import InvalidValueError
from l2trader.schema import ASK, BID, F_LAST, KIND_BOOK, KIND_CLEAR, KIND_SNAPSHOT

INST = Instrument(venue="gemini", symbol="BTCGBP", tick_size=0.01)
FIRST = {
    "type": "l2_updates",
    "symbol": "BTCGBP",
    "changes": [["buy", "24100.00", "0.5"], ["sell", "24110.50", "1"], ["buy", "24099.99", "2"]],
    "trades": [{"type": "trade", "price": "24105"}],
    "auction_events": [],
}
UPDATE = {"type": "l2_updates", "symbol": "BTCGBP", "changes": [["sell", "24110.50", "0"]]}
OTHER = {"type": "l2_updates", "symbol": "ETHEUR", "changes": [["buy", "1650.1", "1"]]}
HEARTBEAT = {"type": "heartbeat", "timestamp": 1624493666869}
URL = "wss://api.gemini.com/v2/marketdata/"


def _capture(tmp_path: Path, items: Sequence[tuple[str, object]]) -> Path:
    path = tmp_path / "GEMINI.ws.test"
    lines = [f"{URL} <-> {ts}" if m is None else f"{ts}: {json.dumps(m)}" for ts, m in items]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_first_message_per_symbol_is_the_full_book(tmp_path: Path) -> None:
    # Arrange
    items = [("1.0", None), ("1.5", FIRST), ("1.6", HEARTBEAT), ("1.7", OTHER), ("2.0", UPDATE)]
    reader = GeminiBookReader([_capture(tmp_path, items)], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events.tolist() == [
        (-1, 1_500_000_000, -1, 0, 0.0, KIND_CLEAR, BID, 0),
        (-1, 1_500_000_000, -1, 2410000, 0.5, KIND_SNAPSHOT, BID, 0),
        (-1, 1_500_000_000, -1, 2409999, 2.0, KIND_SNAPSHOT, BID, 0),
        (-1, 1_500_000_000, -1, 0, 0.0, KIND_CLEAR, ASK, 0),
        (-1, 1_500_000_000, -1, 2411050, 1.0, KIND_SNAPSHOT, ASK, F_LAST),
        (-1, 2_000_000_000, -1, 2411050, 0.0, KIND_BOOK, ASK, F_LAST),
    ]
    assert (reader.stats["non_book"], reader.stats["other_symbol"]) == (1, 1)
    assert reader.report.ok
    assert gemini_tick_sizes([tmp_path / "GEMINI.ws.test"]) == {"BTCGBP": 0.01, "ETHEUR": 0.1}


def test_a_new_connection_makes_the_next_message_a_full_book(tmp_path: Path) -> None:
    # Arrange
    plain = {k: v for k, v in FIRST.items() if k not in ("trades", "auction_events")}
    items = [("1.0", None), ("1.5", FIRST), ("2.0", UPDATE), ("3.0", None), ("3.5", plain)]
    reader = GeminiBookReader([_capture(tmp_path, items)], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    assert events["kind"].tolist() == [4, 3, 3, 4, 3, 1, 4, 3, 3, 4, 3]
    assert reader.stats["snapshots"] == 2


def test_off_tick_price_is_an_invalid_value(tmp_path: Path) -> None:
    # Arrange
    bad = {**UPDATE, "changes": [["sell", "24110.505", "1"]]}
    reader = GeminiBookReader([_capture(tmp_path, [("1.5", FIRST), ("2.0", bad)])], instrument=INST)

    # Act / Assert
    with pytest.raises(InvalidValueError, match=r"GEMINI\.ws\.test:2: .*off the tick grid"):
        collect(reader.chunks())
