"""A plain-Python strategy gives exactly the outputs of its numba twin through the engine."""

from __future__ import annotations

import numpy as np
import pytest

from l2trader.engine.config import DecisionConfig, EngineConfig
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig
from l2trader.schema import SIGNAL_DTYPE
from l2trader.synth import SynthConfig
from l2trader.synth.generator import generate
from tests.unit.engine.twins import PyMarketMaker, PySignalTaker

TICK = 0.01
MM = MarketMakerConfig(inventory_unit_qty=1.0, max_inventory=5.0, sizing=SizingConfig(qty=1.0))
TAKER = SignalTakerConfig(entry_margin_bps=0.0, max_position=3.0, stop_bps=5.0,
                          max_hold_ns=20_000_000_000, sizing=SizingConfig(qty=1.0))  # fmt: skip


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    return np.concatenate(list(generate(SynthConfig(seed=11, duration_s=900))))


def _signals(events: np.ndarray) -> np.ndarray:
    """A noisy score every 0.5 s, big enough to trade through the spread and fees."""
    ts = np.arange(events["ts_recv"][0], events["ts_recv"][-1], 500_000_000)
    sig = np.zeros(ts.size, SIGNAL_DTYPE)
    sig["ts_recv"] = ts
    sig["score"] = np.random.default_rng(3).normal(0.0, 4.0, ts.size)
    sig["score"][::17] = np.nan
    return sig


def _run(events: np.ndarray, strategy: object, cfg: EngineConfig, **kw: object) -> EngineOutput:
    eng = Engine(cfg, tick_size=TICK, strategy=strategy, **kw)  # type: ignore[arg-type]
    for chunk in np.array_split(events, 7):
        eng.run(chunk)
    return eng.finish()


def _same(a: EngineOutput, b: EngineOutput) -> None:
    for name in ("orders", "order_events", "fills", "equity"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        for field in x.dtype.names:  # field by field: struct padding bytes are not data
            np.testing.assert_array_equal(x[field], y[field], err_msg=f"{name}.{field}")
    assert a.counters == b.counters


def test_python_market_maker_equals_numba_market_maker(events: np.ndarray) -> None:
    cfg = EngineConfig()

    numba_out = _run(events, "market_maker", cfg, market_maker=MM)
    python_out = _run(events, PyMarketMaker(MM), cfg)

    assert numba_out.fills.size > 20
    _same(numba_out, python_out)


def test_python_taker_equals_numba_taker(events: np.ndarray) -> None:
    cfg = EngineConfig(decision=DecisionConfig(mode="signal"))
    sig = _signals(events)

    numba_out = _run(events, "taker", cfg, taker=TAKER, signals=sig)
    python_out = _run(events, PySignalTaker(TAKER), cfg, signals=sig)

    assert numba_out.fills.size > 20
    _same(numba_out, python_out)
