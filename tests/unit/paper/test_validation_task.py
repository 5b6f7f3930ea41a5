"""Live validation task: market sampling on the grid and the published analyzer verdict."""

from __future__ import annotations

import asyncio

import numpy as np

from l2trader.analysis.checks import DEFAULT_CHECKS
from l2trader.engine.config import EngineConfig
from l2trader.engine.engine import Engine
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.paper.live_metrics import LiveMetrics
from l2trader.paper.recovery import engine_rows
from l2trader.paper.validation_task import MarketSampler, live_validator, validate_live
from l2trader.paper.warmup import warm_up_events
from l2trader.testing import realistic_events

TICK = 0.01
MM = MarketMakerConfig.model_validate({"inventory_unit_qty": 1.0, "max_inventory": 5.0,
                                       "sizing": {"qty": 1.0, "lot_size": 1.0}})  # fmt: skip


def _engine() -> Engine:
    cfg = EngineConfig(initial_cash=10_000.0)
    return Engine(cfg, tick_size=TICK, strategy="market_maker", market_maker=MM)


def test_sampler_records_mid_and_spread_once_per_grid_step() -> None:
    engine = _engine()
    sampler = MarketSampler(lambda: engine, TICK, step_ns=2_000_000_000)
    events = warm_up_events(4)  # batches at 1, 2, 3, 4 s

    for k in range(4):
        engine.run(events[2 * k : 2 * k + 2])
        sampler.sample()
    ts, mid, spread = sampler.arrays()

    assert ts.tolist() == [1_000_000_000, 2_000_000_000, 4_000_000_000]
    assert mid.tolist() == [100.0, 100.0, 100.0]  # 10,000 ticks of 0.01
    assert spread.tolist() == [0.02, 0.02, 0.02]  # best 9999/10001 throughout


def test_no_capital_means_no_live_validator() -> None:
    assert live_validator("market_maker", 0.0, TICK, 0) is None


def test_validate_live_publishes_the_validators_verdict_on_the_rows_so_far() -> None:
    engine = _engine()
    sampler = MarketSampler(lambda: engine, TICK, step_ns=1_000_000_000)
    events = realistic_events(np.random.default_rng(5), 20_000, start_ticks=10_000,
                              message_ns=10_000_000)  # fmt: skip
    for chunk in np.array_split(events, 20):
        engine.run(chunk)
        sampler.sample()
    validator = live_validator("market_maker", 10_000.0, TICK, 0)
    assert validator is not None
    metrics = LiveMetrics(TICK)

    async def one_round() -> None:
        task = asyncio.get_running_loop().create_task(
            validate_live(lambda: engine, metrics, validator, sampler, every_s=0.01)
        )
        while metrics.validation is None:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(one_round())
    rows = engine_rows(engine)
    ts, mid, spread = sampler.arrays()
    expected = validator.update(
        rows["state"],
        rows["fills"],
        ts,
        mid,
        spread=spread,
        orders=rows["intents"],
        order_events=rows["order_events"],
    )
    got = dict(metrics.validation or {})
    want = expected.to_dict()
    for key in ("computed_ns", "elapsed_ns"):
        got.pop(key), want.pop(key)
    assert got == want
    assert got["n_state"] == rows["state"].size > 0
    assert {c["name"] for c in got["checks"]} == {
        c.name for c in DEFAULT_CHECKS["market_maker"].checks
    }
