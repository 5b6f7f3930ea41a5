"""Both reference strategies run end to end on real books (Binance USD-M, LOBSTER AMZN).

Checks on every run: the accounting reconciles exactly (replaying the fills through the
portfolio gives the equity curve's cash and position), maker fills are at the order's limit
price, taker fills never better than the book allowed (buys at or above the arrival best ask),
and the risk limits hold (the position never exceeds ``max_position``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument, lookup
from l2trader.data.lobster import LobsterReader
from l2trader.engine.config import DecisionConfig, EngineConfig
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.engine.fees import FeeConfig
from l2trader.engine.portfolio import Portfolio
from l2trader.engine.risk import RiskConfig
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig
from l2trader.schema import Liquidity
from l2trader.testing.signals import imbalance_signal

S = 1_000_000_000
STEM = "AMZN_2012-06-21_34200000_57600000"


def _check(out: EngineOutput, inst: Instrument, max_position: float) -> None:
    pf = Portfolio(initial_cash=0.0)
    pf.apply_fills(out.fills, inst.tick_size)
    last = out.equity[-1]
    assert last["position"] == pytest.approx(pf.position, abs=1e-9)
    assert last["cash"] == pytest.approx(pf.cash, rel=1e-12, abs=1e-9)
    eq = out.equity
    np.testing.assert_allclose(eq["equity"], eq["cash"] + eq["position"] * eq["mid"], atol=1e-9)
    assert np.abs(eq["position"]).max() <= max_position + 1e-9
    orders = {int(o["order_id"]): o for o in out.orders if o["action"] == 1}
    for f in out.fills[out.fills["liquidity"] == Liquidity.MAKER]:
        assert f["price_ticks"] == orders[int(f["order_id"])]["price_ticks"]
    assert np.all(np.diff(out.fills["ts_recv"]) >= 0)
    assert np.all(out.fills["ts_recv"] >= out.fills["ts_exch"])


def _run(events: np.ndarray, inst: Instrument, kind: str, cfg: EngineConfig,
         **kw: object) -> EngineOutput:  # fmt: skip
    eng = Engine(cfg, tick_size=inst.tick_size, strategy=kind, fees=FeeConfig.from_instrument(inst),
                 **kw)  # type: ignore[arg-type]  # fmt: skip
    for chunk in np.array_split(events, 4):
        eng.run(chunk)
    return eng.finish()


@pytest.fixture(scope="module")
def usdm(shared_data: Path) -> np.ndarray:
    path = shared_data / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"
    inst = lookup("binance-futures", "BTCUSDT")
    return collect(BinanceDepthReader([path], instrument=inst).chunks())[:600_000]


@pytest.fixture(scope="module")
def amzn(shared_data: Path) -> np.ndarray:
    folder = shared_data / "lobster-amzn-2012-06-21"
    reader = LobsterReader(folder / f"{STEM}_message_5.csv.gz",
                           folder / f"{STEM}_orderbook_5.csv.gz", levels=5,
                           instrument=lookup("nasdaq", "AMZN"))  # fmt: skip
    return collect(reader.chunks())


@pytest.mark.shared_data
def test_market_maker_and_taker_on_binance_usdm(usdm: np.ndarray) -> None:
    inst = lookup("binance-futures", "BTCUSDT")
    risk = RiskConfig(max_position=0.05, max_drawdown=500.0)
    mm = MarketMakerConfig(inventory_unit_qty=0.002, max_inventory=0.02, min_half_spread_ticks=1.0,
                           sizing=SizingConfig(qty=0.002, lot_size=0.001))  # fmt: skip
    lots = SizingConfig(qty=0.01, lot_size=0.001)
    taker = SignalTakerConfig(entry_margin_bps=0.0, taker_fee_bps=inst.taker_fee_bps,
                              max_position=0.05, sizing=lots)  # fmt: skip

    mm_out = _run(usdm, inst, "market_maker", EngineConfig(risk=risk), market_maker=mm)
    tk_out = _run(usdm, inst, "taker", EngineConfig(risk=risk, decision=DecisionConfig(
        mode="signal")), taker=taker, signals=imbalance_signal(usdm, 20.0))  # fmt: skip

    assert mm_out.fills.size > 0
    assert tk_out.fills.size > 0
    assert set(np.unique(tk_out.fills["liquidity"])) == {int(Liquidity.TAKER)}
    _check(mm_out, inst, 0.05)
    _check(tk_out, inst, 0.05)


@pytest.mark.shared_data
def test_market_maker_and_taker_on_lobster_amzn(amzn: np.ndarray) -> None:
    inst = lookup("nasdaq", "AMZN")
    risk = RiskConfig(max_position=1000.0)
    mm = MarketMakerConfig(inventory_unit_qty=100.0, max_inventory=500.0, min_half_spread_ticks=1.0,
                           sizing=SizingConfig(qty=100.0, lot_size=1.0))  # fmt: skip
    taker = SignalTakerConfig(entry_margin_bps=0.0, max_position=500.0,
                              sizing=SizingConfig(qty=100.0, lot_size=1.0))  # fmt: skip

    mm_out = _run(amzn, inst, "market_maker", EngineConfig(risk=risk), market_maker=mm)
    tk_out = _run(amzn, inst, "taker", EngineConfig(risk=risk, decision=DecisionConfig(
        mode="signal")), taker=taker, signals=imbalance_signal(amzn, 20.0))  # fmt: skip

    assert mm_out.fills.size > 0
    assert tk_out.fills.size > 0
    _check(mm_out, inst, 1000.0)
    _check(tk_out, inst, 1000.0)
