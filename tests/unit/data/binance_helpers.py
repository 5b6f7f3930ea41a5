"""Test helpers for the Binance reader: small recorder-line writers and an independent oracle.

The oracle rebuilds the book from the raw JSON with ``decimal.Decimal`` following the rules
of ../shared/data/README.md §1 only; it shares no code with ``l2trader.data.binance*``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from l2trader.book.reference import ReferenceBook
from l2trader.schema import F_LAST, KIND_CLEAR, KIND_TRADE

Book = tuple[dict[int, float], dict[int, float]]

# ---------------------------------------------------------------------------- line writers


def depth_line(
    ts_ns: int,
    first: int,
    last: int,
    bids: Iterable[tuple[str, str]] = (),
    asks: Iterable[tuple[str, str]] = (),
    *,
    prev: int | None = None,
    event_ms: int = 1_000,
    symbol: str = "btcusdt",
) -> str:
    data: dict[str, Any] = {"e": "depthUpdate", "E": event_ms, "s": symbol.upper()}
    data.update({"U": first, "u": last})
    if prev is not None:
        data["pu"] = prev
    data["b"] = [list(b) for b in bids]
    data["a"] = [list(a) for a in asks]
    stream = f"{symbol}@depth@100ms"
    return f"{ts_ns} " + json.dumps({"stream": stream, "data": data}, separators=(",", ":"))


def snapshot_line(
    ts_ns: int,
    last_id: int,
    bids: Iterable[tuple[str, str]],
    asks: Iterable[tuple[str, str]],
) -> str:
    body = {"lastUpdateId": last_id, "bids": [list(b) for b in bids]}
    body["asks"] = [list(a) for a in asks]
    return f"{ts_ns} " + json.dumps(body, separators=(",", ":"))


def trade_line(
    ts_ns: int, trade_id: int, price: str, qty: str, maker: bool, *, trade_ms: int = 999
) -> str:
    data = {"e": "trade", "E": 1_000, "s": "BTCUSDT", "t": trade_id, "p": price, "q": qty}
    data.update({"T": trade_ms, "m": maker, "M": True})
    envelope = {"stream": "btcusdt@trade", "data": data}
    return f"{ts_ns} " + json.dumps(envelope, separators=(",", ":"))


def ticker_line(ts_ns: int) -> str:
    data = {"u": 1, "s": "BTCUSDT", "b": "1.00", "B": "1", "a": "1.01", "A": "1"}
    return f"{ts_ns} " + json.dumps({"stream": "btcusdt@bookTicker", "data": data})


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def read_raw_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:  # type: ignore[operator]
        return handle.read().splitlines()


# ---------------------------------------------------------------------------- the oracle


class DecimalOracle:
    """Book rebuilt with Decimal from snapshot + diffs (README §1 rules); views in ticks."""

    def __init__(self, tick: str, *, futures: bool) -> None:
        self.tick = Decimal(tick)
        self.futures = futures
        self.sides: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
        self.views: dict[str, dict[int, float]] = {"b": {}, "a": {}}
        self.pending: list[dict[str, Any]] = []
        self.snap_id: int | None = None
        self.prev: int | None = None
        self.touched: dict[str, set[int]] = {"b": set(), "a": set()}

    def feed(self, obj: dict[str, Any]) -> Iterator[tuple[int, int]]:
        """Apply one decoded message; yield ``(seq, n_levels)`` after each book state."""
        if "lastUpdateId" in obj:
            if self.snap_id is None:
                yield from self._snapshot(obj)
            return
        if self.snap_id is None:
            self.pending.append(obj)
            return
        yield from self._update(obj)

    def _snapshot(self, obj: dict[str, Any]) -> Iterator[tuple[int, int]]:
        for key, side in (("bids", "b"), ("asks", "a")):
            for price, qty in obj[key]:
                self._set(side, price, qty)
        self.snap_id = obj["lastUpdateId"]
        yield self.snap_id, len(obj["bids"]) + len(obj["asks"])
        held, self.pending = self.pending, []
        for update in held:
            yield from self._update(update)

    def _update(self, d: dict[str, Any]) -> Iterator[tuple[int, int]]:
        assert self.snap_id is not None
        if self.prev is None:
            limit = self.snap_id if self.futures else self.snap_id + 1
            if d["u"] < limit:  # spot: u <= lastUpdateId; futures: u < lastUpdateId
                return
            assert d["U"] <= limit <= d["u"], "oracle: first update does not straddle"
        elif self.futures:
            assert d["pu"] == self.prev, "oracle: futures gap"
        else:
            assert d["U"] == self.prev + 1, "oracle: spot gap"
        for side in ("b", "a"):
            for price, qty in d[side]:
                self._set(side, price, qty)
        self.prev = d["u"]
        yield d["u"], len(d["b"]) + len(d["a"])

    def _set(self, side: str, price: str, qty: str) -> None:
        p, q = Decimal(price), Decimal(qty)
        ticks = p / self.tick
        assert ticks == ticks.to_integral_value(), f"oracle: {price} off the {self.tick} grid"
        self.touched[side].add(int(ticks))
        if q == 0:
            self.sides[side].pop(p, None)
            self.views[side].pop(int(ticks), None)
        else:
            self.sides[side][p] = q
            self.views[side][int(ticks)] = float(q)

    def book(self) -> Book:
        return dict(self.views["b"]), dict(self.views["a"])


def recorder_messages(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Depth/snapshot JSON objects of recorder lines, in order (other streams dropped)."""
    for line in lines:
        obj = json.loads(line.split(" ", 1)[1])
        if "lastUpdateId" in obj:
            yield obj
        elif "@depth" in obj["stream"]:
            yield obj["data"]


def oracle_states(oracle: DecimalOracle, messages: Iterable[dict[str, Any]]) -> dict[int, Book]:
    """Every book state of the oracle by seq (small inputs only: copies each state)."""
    states: dict[int, Book] = {}
    for obj in messages:
        for seq, _ in oracle.feed(obj):
            states[seq] = oracle.book()
    return states


# ---------------------------------------------------------------------------- comparison


def book_message_ends(events: np.ndarray) -> Iterator[tuple[int, int]]:
    """``(row index, seq)`` of every F_LAST row that closes a book (non-trade) message."""
    ends = np.flatnonzero((events["flags"] & F_LAST) != 0)
    for i in ends.tolist():
        if events["kind"][i] != KIND_TRADE:
            yield i, int(events["seq"][i])


def _best(levels: dict[int, float], prev: int | None, touched: set[int], high: bool) -> int | None:
    """Best price after a message, from the previous best and the touched levels."""
    pick = max if high else min
    if prev is None or prev not in levels:
        return pick(levels) if levels else None
    return pick([prev, *(t for t in touched if t in levels)])


class _Checker:
    """Compares the ReferenceBook with the oracle after each message.

    Full dict equality after snapshots; after a diff only the levels touched since the last
    check (by either side) are compared, plus the level counts: by induction this is the
    same as full equality at every message, at a fraction of the cost.
    """

    def __init__(self, oracle: DecimalOracle) -> None:
        self.book = ReferenceBook()
        self.oracle = oracle
        self.touched: dict[int, set[int]] = {1: set(), -1: set()}
        self.best: dict[int, int | None] = {1: None, -1: None}

    def check(self, seq: int, full: bool) -> None:
        for side, key, mine in ((1, "b", self.book.bids), (-1, "a", self.book.asks)):
            theirs = self.oracle.views[key]
            touched = self.touched[side] | self.oracle.touched[key]
            if full:
                assert mine == theirs, f"side {key} differs at seq {seq}"
            else:
                assert len(mine) == len(theirs), f"side {key} level count differs at seq {seq}"
                for t in touched:
                    assert mine.get(t) == theirs.get(t), f"side {key} level {t} at seq {seq}"
            self.best[side] = _best(mine, None if full else self.best[side], touched, side == 1)
            touched.clear()
            self.touched[side].clear()
            self.oracle.touched[key].clear()
        bid, ask = self.best[1], self.best[-1]
        assert bid is None or ask is None or bid < ask, f"crossed/locked book at seq {seq}"


def replay_compare(
    events: np.ndarray, oracle: DecimalOracle, messages: Iterator[dict[str, Any]]
) -> tuple[int, int]:
    """Apply ``events`` to a ReferenceBook; after every book F_LAST the book must equal the
    oracle at the same seq and not be crossed/locked. Returns (messages compared, empty
    oracle states skipped)."""
    checker = _Checker(oracle)
    cols = [events[f].tolist() for f in ("kind", "side", "price_ticks", "qty")]
    oracle_steps = (step for obj in messages for step in oracle.feed(obj))
    start, compared, skipped_empty = 0, 0, 0
    for end, seq in book_message_ends(events):
        for i in range(start, end + 1):
            checker.book.apply(cols[0][i], cols[1][i], cols[2][i], cols[3][i])
            if cols[0][i] != KIND_TRADE:
                checker.touched[cols[1][i]].add(cols[2][i])
        full = cols[0][start] == KIND_CLEAR
        start = end + 1
        oracle_seq, n_levels = next(oracle_steps)
        while oracle_seq != seq:
            assert n_levels == 0, f"reader skipped oracle state {oracle_seq} (at reader {seq})"
            skipped_empty += 1
            oracle_seq, n_levels = next(oracle_steps)
        checker.check(seq, full)
        compared += 1
    assert all(n == 0 for _, n in oracle_steps), "oracle has book states the reader never emitted"
    checker.check(-1, True)
    return compared, skipped_empty
