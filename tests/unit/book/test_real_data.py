"""Numba replay == ReferenceBook after every message of a real Binance USD-M capture."""

from __future__ import annotations

import bisect
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.book import OrderBook
from l2trader.book.replay import Replayer
from l2trader.schema import (
    EVENT_DTYPE,
    F_LAST,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)
from l2trader.testing import ReferenceBook
from tests.unit.book._oracle import frame_levels

FILE = "hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
TICK = 0.1
LEVELS = 20


def _ticks(price: str) -> int:
    return round(float(price) / TICK)


def _message_rows(ts: int, msg: dict) -> list[tuple]:
    """C1 rows of one line: the REST snapshot, a depth diff or a trade (else none)."""
    if "lastUpdateId" in msg:
        rows = [(ts, ts, msg["lastUpdateId"], 0, 0.0, KIND_CLEAR, 0)]
        for key, side in (("bids", 1), ("asks", -1)):
            rows += [(ts, ts, -1, _ticks(p), float(q), KIND_SNAPSHOT, side) for p, q in msg[key]]
        return rows
    data = msg.get("data", {})
    exch = int(data.get("T", data.get("E", -1))) * 1_000_000
    if data.get("e") == "depthUpdate":
        return [
            (exch, ts, data["u"], _ticks(p), float(q), KIND_BOOK, side)
            for key, side in (("b", 1), ("a", -1))
            for p, q in data[key]
        ]
    if data.get("e") == "trade":
        side = -1 if data["m"] else 1  # buyer is maker: the seller was the aggressor
        return [(exch, ts, data["t"], _ticks(data["p"]), float(data["q"]), KIND_TRADE, side)]
    return []


def load_usdm_events(path: Path) -> np.ndarray:
    """Snapshot line, then every depth diff and trade after it (no sync checks), as C1."""
    rows: list[tuple] = []
    started = False
    with gzip.open(path, "rt") as f:
        for line in f:
            ts_text, payload = line.split(" ", 1)
            msg = json.loads(payload)
            started = started or "lastUpdateId" in msg
            batch = _message_rows(int(ts_text), msg) if started else []
            rows += [(*r, F_LAST if k == len(batch) - 1 else 0) for k, r in enumerate(batch)]
    return np.array(rows, dtype=EVENT_DTYPE)


def _sync_sorted(
    prices: dict[int, list[int]], ref: ReferenceBook, kind: int, side: int, price: int
) -> None:
    """Keep sorted price lists in step with the reference dicts (fast top-N for the oracle)."""
    if kind == KIND_CLEAR:
        for s in (1, -1):
            if side in (s, 0):
                prices[s] = []
        return
    if kind == KIND_TRADE:
        return
    keys, levels = prices[side], ref.bids if side == 1 else ref.asks
    k = bisect.bisect_left(keys, price)
    present = k < len(keys) and keys[k] == price
    if price in levels and not present:
        keys.insert(k, price)
    elif price not in levels and present:
        del keys[k]


@pytest.mark.shared_data
def test_replay_equals_reference_after_every_message_on_binance_usdm(shared_data):
    events = load_usdm_events(shared_data / FILE)
    rp = Replayer(LEVELS)
    ref = ReferenceBook()

    half = len(events) // 2  # two chunks: state carried across the split
    frame_a, frame_b = rp.feed(events[:half]), rp.feed(events[half:])

    prices: dict[int, list[int]] = {1: [], -1: []}  # sorted keys of ref.bids / ref.asks
    rows = 0
    last = np.flatnonzero(events["flags"] & F_LAST)
    for i, e in enumerate(events):
        kind, side, price = int(e["kind"]), int(e["side"]), int(e["price_ticks"])
        ref.apply(kind, side, price, float(e["qty"]))
        _sync_sorted(prices, ref, kind, side, price)
        if e["flags"] & F_LAST:
            frame, r = (frame_a, rows) if rows < len(frame_a) else (frame_b, rows - len(frame_a))
            bids = [(p, ref.bids[p]) for p in prices[1][: -LEVELS - 1 : -1]]
            asks = [(p, ref.asks[p]) for p in prices[-1][:LEVELS]]
            assert frame_levels(frame, r) == (bids, asks), f"message ending at event {i}"
            rows += 1
    book = OrderBook()
    book.apply(events)
    assert rows == len(last) == len(frame_a) + len(frame_b)
    assert book.top(10_000) == ref.top(10_000)
    assert len(events) > 100_000
    assert rp.crossed_event_idx.size == 0
