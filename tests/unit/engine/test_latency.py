"""Latency models: constant, seeded empirical draws, feed latency from real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.engine.latency import LatencyConfig, LatencyModel, feed_latency_samples
from l2trader.errors import ConfigError
from l2trader.testing import make_events


def test_constant_model_gives_the_constants() -> None:
    model = LatencyModel(LatencyConfig(entry_ns=250, response_ns=400))
    assert model.entry(3).tolist() == [250, 250, 250]
    assert model.response(2).tolist() == [400, 400]


def test_empirical_draws_are_floor_plus_jitter_reproducible_and_independent() -> None:
    samples = np.array([11, 12, 13, 110], dtype=np.int64)  # jitter 0, 1, 2, 99
    cfg = LatencyConfig(kind="empirical", seed=3, entry_ns=1000, response_ns=0)
    a = LatencyModel(cfg, samples_ns=samples)
    b = LatencyModel(cfg, samples_ns=samples)
    np.testing.assert_array_equal(a.entry(1000), b.entry(1000))
    assert not np.array_equal(a.entry(1000) - 1000, a.response(1000))
    assert set(a.entry(1000).tolist()) == {1000, 1001, 1002, 1099}
    assert set(a.response(1000).tolist()) == {0, 1, 2, 99}
    share = (a.entry(100_000) == 1099).mean()
    assert abs(share - 0.25) < 0.01  # uniform over the samples


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ConfigError, match="latency must be >= 0"):
        LatencyConfig(entry_ns=-1)
    with pytest.raises(ConfigError, match="needs a non-empty samples_ns"):
        LatencyModel(LatencyConfig(kind="empirical"))


def test_feed_latency_uses_batch_ends_with_a_venue_time() -> None:
    events = make_events([(100, 1.0, 1), (101, 1.0, -1)], batch=False)
    events["ts_recv"] = [1_000, 1_500]
    events["ts_exch"] = [400, -1]
    assert feed_latency_samples(events).tolist() == [600]


@pytest.mark.shared_data
def test_feed_latency_of_the_binance_usdm_capture(shared_data: Path) -> None:
    path = shared_data / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"
    events = collect(
        BinanceDepthReader([path], instrument=lookup("binance-futures", "BTCUSDT")).chunks()
    )
    lat = feed_latency_samples(events)
    assert len(lat) == 27_861  # one per book state
    # the recorder's clock runs ~1.27 s behind Binance's: only the jitter is observable
    assert -1.28e9 < np.median(lat) < -1.26e9
    jitter_ms = (np.percentile(lat, [50, 99]) - lat.min()) / 1e6
    assert 0.5 < jitter_ms[0] < 10
    assert jitter_ms[1] < 40
    model = LatencyModel(LatencyConfig(kind="empirical", entry_ns=0), samples_ns=lat)
    assert np.isin(model.entry(10), lat - lat.min()).all()
