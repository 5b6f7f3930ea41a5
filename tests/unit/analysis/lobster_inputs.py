"""RunInputs built from the real LOBSTER AMZN 2012-06-21 level-1 sample (shared data).

The market series is the level-1 book sampled every second (09:30:01-16:00:00 New York, the
last book state at or before each second). The "run" holds 100 shares from the first
second (equity = 100 * mid, capital = 100 * first mid) and its signal is the level-1 size
imbalance ``(bid_size - ask_size) / (bid_size + ask_size)`` (unitless, used as a score).
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import numpy as np

from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.schema import SIGNAL_DTYPE, STATE_DTYPE

LOBSTER = "lobster-amzn-2012-06-21/AMZN_2012-06-21_34200000_57600000_{}_1.csv.gz"
_MIDNIGHT_NY_NS = int(dt.datetime(2012, 6, 21, 4, tzinfo=dt.UTC).timestamp()) * 10**9
_SECOND = 10**9


def lobster_inputs(shared_data: Path) -> RunInputs:
    with gzip.open(shared_data / LOBSTER.format("message")) as f:
        msg = np.loadtxt(f, delimiter=",")
    with gzip.open(shared_data / LOBSTER.format("orderbook")) as f:
        book = np.loadtxt(f, delimiter=",")
    t_msg = _MIDNIGHT_NY_NS + np.round(msg[:, 0] * 1e6).astype(np.int64) * 1_000
    grid = _MIDNIGHT_NY_NS + np.arange(34_201, 57_601, dtype=np.int64) * _SECOND
    k = np.searchsorted(t_msg, grid, side="right") - 1
    ask, ask_qty, bid, bid_qty = (book[k, i] for i in range(4))
    mid = (ask + bid) / 2e4
    market = MarketSeries(
        ts=grid,
        mid=mid,
        spread=(ask - bid) / 1e4,
        bid_depth=bid_qty,
        ask_depth=ask_qty,
        step_ns=_SECOND,
        depth_levels=1,
    )
    equity = np.zeros(grid.size, STATE_DTYPE)
    equity["ts_recv"], equity["mid"], equity["position"] = grid, mid, 100.0
    equity["cash"] = -100.0 * mid[0]
    equity["equity"] = 100.0 * (mid - mid[0])
    signals = np.zeros(grid.size, SIGNAL_DTYPE)
    signals["ts_recv"] = grid
    signals["score"] = (bid_qty - ask_qty) / (bid_qty + ask_qty)
    return RunInputs(
        run_id="lobster-amzn",
        config_id="-",
        code_version="-",
        data_fingerprint="-",
        tick_size=0.01,
        capital=100.0 * mid[0],
        calendar="exchange",
        session_s=23_400.0,
        equity=equity,
        signals=signals,
        market=market,
        signal_horizon_ns=10 * _SECOND,
    )
