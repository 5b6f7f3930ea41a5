"""Shared helpers of the stress tests: real and synthetic streams, C1 checks."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from l2trader.book.replay import Replayer, replay
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.report import Policy, ValidationReport
from l2trader.data.validate import validate_events
from l2trader.schema import F_LAST
from l2trader.testing import realistic_events

USDM = "hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
N_REAL = 150_000


@cache
def _usdm(path: str) -> np.ndarray:
    reader = BinanceDepthReader([path], instrument=lookup("binance-futures", "BTCUSDT"))
    events = collect(reader.chunks())[:N_REAL]
    last = int(np.flatnonzero(events["flags"] & F_LAST)[-1])
    return events[: last + 1].copy()


def usdm_events(shared_data: Path) -> np.ndarray:
    """The first ~150k C1 events (~118 s) of the real Binance USD-M BTCUSDT capture."""
    return _usdm(str(shared_data / USDM))


def synthetic_events(seed: int = 7, n: int = 60_000) -> np.ndarray:
    """A valid synthetic stream: one message every 10 ms (``realistic_events`` re-timed)."""
    events = realistic_events(np.random.default_rng(seed), n, message_ns=10_000_000)
    start = int(np.searchsorted(events["seq"], 500))  # both sides are populated by then
    return events[start:].copy()


def validation_counts(events: np.ndarray) -> dict[str, int]:
    """IssueCode value -> count from the stream checks (repair mode, whole stream)."""
    report = ValidationReport("stress", policy=Policy.REPAIR)
    validate_events(events, report, final=True)
    return dict(report.counts)


def assert_c1(events: np.ndarray) -> None:
    """The stream checks find nothing and the book is never crossed/locked after F_LAST."""
    assert validation_counts(events) == {}
    ts = events["ts_recv"]
    assert bool((np.diff(ts) >= 0).all())
    last = (events["flags"] & F_LAST) != 0
    assert bool(last[-1])
    same = ts[1:] == ts[:-1]
    assert bool(same[~last[:-1]].all()), "rows of a batch must share ts_recv"
    replayer = Replayer(levels=1)
    replayer.feed(events)
    assert len(replayer.crossed_event_idx) == 0


def mids(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ts_recv, mid ticks)`` after every F_LAST (NaN where a side is empty)."""
    frame = replay(events, levels=1)
    ok = (frame.bid_qty[:, 0] > 0) & (frame.ask_qty[:, 0] > 0)
    mid = np.where(ok, (frame.bid_ticks[:, 0] / 2.0 + frame.ask_ticks[:, 0] / 2.0), np.nan)
    return frame.ts_recv, mid
