"""HyperliquidBookReader on small hand-written recording lines (issue 8)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from l2trader.data.events import collect
from l2trader.data.hyperliquid import HyperliquidBookReader, hyperliquid_tick_sizes
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import OutOfOrderError
from l2trader.schema import ASK, BID, F_LAST, KIND_CLEAR, KIND_SNAPSHOT

INST = Instrument(venue="hyperliquid", symbol="BTC", tick_size=1.0)


def _book(
    time: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]], coin: str = "BTC"
) -> dict[str, object]:
    levels = [[{"px": p, "sz": s, "n": 1} for p, s in side] for side in (bids, asks)]
    return {"channel": "l2Book", "data": {"coin": coin, "time": time, "levels": levels}}


BOOK1 = _book(
    1737918843542, [("105055.0", "3.03622"), ("105054.0", "0.1428")], [("105056.0", "0.5")]
)
BOOK2 = _book(1737918843600, [("105055.0", "2")], [("105057.0", "1")])
TRADES = {
    "channel": "trades",
    "data": [{"coin": "BTC", "px": "105056.0", "side": "B", "sz": "0.1"}],
}


def _recording(tmp_path: Path, items: list[tuple[int, object]]) -> Path:
    path = tmp_path / "hyperliquid_test.gz"
    with gzip.open(path, "wt") as handle:
        handle.writelines(f"{ts} {json.dumps(m)}\n" for ts, m in items)
    return path


def test_every_message_is_a_clear_and_snapshot_batch(tmp_path: Path) -> None:
    # Arrange
    other = _book(1737918843550, [("3300.5", "1")], [], coin="ETH")
    items = [(100, BOOK1), (150, TRADES), (160, other), (200, BOOK2)]
    reader = HyperliquidBookReader([_recording(tmp_path, items)], instrument=INST)

    # Act
    events = collect(reader.chunks())

    # Assert
    t1, t2 = 1737918843542_000_000, 1737918843600_000_000
    assert events.tolist() == [
        (t1, 100, -1, 0, 0.0, KIND_CLEAR, BID, 0),
        (t1, 100, -1, 105055, 3.03622, KIND_SNAPSHOT, BID, 0),
        (t1, 100, -1, 105054, 0.1428, KIND_SNAPSHOT, BID, 0),
        (t1, 100, -1, 0, 0.0, KIND_CLEAR, ASK, 0),
        (t1, 100, -1, 105056, 0.5, KIND_SNAPSHOT, ASK, F_LAST),
        (t2, 200, -1, 0, 0.0, KIND_CLEAR, BID, 0),
        (t2, 200, -1, 105055, 2.0, KIND_SNAPSHOT, BID, 0),
        (t2, 200, -1, 0, 0.0, KIND_CLEAR, ASK, 0),
        (t2, 200, -1, 105057, 1.0, KIND_SNAPSHOT, ASK, F_LAST),
    ]
    assert (reader.stats["non_book"], reader.stats["other_symbol"]) == (1, 1)
    assert reader.report.ok
    assert hyperliquid_tick_sizes([tmp_path / "hyperliquid_test.gz"]) == {"BTC": 0.1, "ETH": 0.1}


def test_older_snapshot_is_stale_and_repair_keeps_the_newer_book(tmp_path: Path) -> None:
    # Arrange
    path = _recording(tmp_path, [(100, BOOK2), (200, BOOK1)])
    strict = HyperliquidBookReader([path], instrument=INST)
    repair = HyperliquidBookReader([path], instrument=INST, policy=Policy.REPAIR)

    # Act
    with pytest.raises(OutOfOrderError, match=r"hyperliquid_test\.gz:2: .*before the previous"):
        collect(strict.chunks())
    events = collect(repair.chunks())

    # Assert
    assert len(events) == 4
    assert repair.report.counts == {IssueCode.STALE_UPDATE.value: 1}
    assert [q.line for q in repair.report.quarantined] == [2]
