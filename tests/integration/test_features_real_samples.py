"""Every feature on real books (LOBSTER AMZN, Binance USD-M) equals the slow oracle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.replay import BookFrame, replay
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.lobster import LobsterReader
from l2trader.features.build import build_features
from l2trader.features.clocks import ClockSpec
from l2trader.features.config import FeatureConfig
from tests.unit.features.oracle import event_clock_features

S = 1_000_000_000
CFG = FeatureConfig(
    levels=5,
    imbalance_levels=(1, 5),
    ofi_levels=(1, 5),
    depth_ticks=(5, 20),
    depth_bps=(5.0,),
    slope_levels=5,
    windows_ns=(S, 10 * S),
)
STEM = "AMZN_2012-06-21_34200000_57600000"
ROWS = 4000


def head(frame: BookFrame, n: int) -> BookFrame:
    return BookFrame(**{f.name: getattr(frame, f.name)[:n] for f in dataclasses.fields(frame)})


def check(frame: BookFrame, tick: float) -> None:
    ours, _ = build_features([frame], CFG, ClockSpec(kind="event"), tick)
    want = event_clock_features(frame, CFG, tick)
    for name in ours.feature_names:
        np.testing.assert_allclose(
            ours.columns[name], want[name].to_numpy(), rtol=1e-9, atol=1e-7, err_msg=name
        )
    assert np.isfinite(ours.columns["ofi_l1_1s"][-100:]).all()


@pytest.mark.shared_data
def test_features_on_lobster_amzn_equal_the_oracle(shared_data: Path) -> None:
    folder = shared_data / "lobster-amzn-2012-06-21"
    reader = LobsterReader(
        folder / f"{STEM}_message_5.csv.gz",
        folder / f"{STEM}_orderbook_5.csv.gz",
        levels=5,
        instrument=lookup("nasdaq", "AMZN"),
    )
    frame = head(replay(collect(reader.chunks()), levels=5), ROWS)
    check(frame, lookup("nasdaq", "AMZN").tick_size)


@pytest.mark.shared_data
def test_features_on_binance_usdm_equal_the_oracle(shared_data: Path) -> None:
    path = shared_data / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"
    instrument = lookup("binance-futures", "BTCUSDT")
    events = collect(BinanceDepthReader([path], instrument=instrument).chunks())
    frame = head(replay(events[:200_000], levels=5), ROWS)
    check(frame, instrument.tick_size)
