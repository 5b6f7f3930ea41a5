"""Trades, microstructure and execution sections on real engine runs (Binance USD-M sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.analysis.execution import execution_metrics
from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.microstructure import markout_table, microstructure_metrics
from l2trader.analysis.trades import round_trips, trade_metrics
from l2trader.book.replay import replay
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.engine.config import DecisionConfig, EngineConfig
from l2trader.engine.engine import Engine
from l2trader.engine.fees import FeeConfig
from l2trader.engine.latency import LatencyConfig
from l2trader.engine.risk import RiskConfig
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig
from l2trader.schema import SIGNAL_DTYPE, Liquidity

S = 1_000_000_000
QTY = 0.002


def _signal(frame_ts: np.ndarray, bq: np.ndarray, aq: np.ndarray) -> np.ndarray:
    """20 bps x level-1 imbalance once per second (the rule signal of research/backtest_real.py)."""
    keep = np.r_[True, np.diff(frame_ts // S) > 0]
    sig = np.zeros(int(keep.sum()), SIGNAL_DTYPE)
    sig["ts_recv"] = frame_ts[keep]
    sig["score"] = 20.0 * (bq[keep] - aq[keep]) / (bq[keep] + aq[keep])
    return sig


@pytest.fixture(scope="module")
def runs(shared_data: Path) -> dict[str, RunInputs]:
    inst = lookup("binance-futures", "BTCUSDT")
    path = shared_data / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"
    events = collect(BinanceDepthReader([path], instrument=inst).chunks())
    fr = replay(events, levels=1)
    ok = (fr.bid_qty[:, 0] > 0) & (fr.ask_qty[:, 0] > 0)
    bt, at = fr.bid_ticks[ok, 0].astype(float), fr.ask_ticks[ok, 0].astype(float)
    # the exact book after every consistent state (irregular times: mid_at needs only ascending ts)
    market = MarketSeries(
        ts=fr.ts_recv[ok],
        mid=(bt + at) / 2 * inst.tick_size,
        spread=(at - bt) * inst.tick_size,
        bid_depth=fr.bid_qty[ok, 0],
        ask_depth=fr.ask_qty[ok, 0],
        step_ns=1,
        depth_levels=1,
    )
    size = SizingConfig(qty=QTY, lot_size=inst.lot_size)
    out: dict[str, RunInputs] = {}
    for kind in ("market_maker", "taker"):
        cfg = EngineConfig(
            risk=RiskConfig(max_position=25 * QTY, max_drawdown=1e9),
            decision=DecisionConfig(mode="book" if kind == "market_maker" else "signal"),
            latency=LatencyConfig(entry_ns=1_000_000, response_ns=1_000_000),
        )
        eng = Engine(
            cfg,
            tick_size=inst.tick_size,
            strategy=kind,
            market_maker=MarketMakerConfig(
                inventory_unit_qty=QTY, max_inventory=10 * QTY, sizing=size
            ),
            taker=SignalTakerConfig(
                entry_margin_bps=0.0,
                taker_fee_bps=inst.taker_fee_bps,
                max_position=5 * QTY,
                sizing=size,
            ),
            signals=_signal(fr.ts_recv[ok], fr.bid_qty[ok, 0], fr.ask_qty[ok, 0]),
            fees=FeeConfig.from_instrument(inst),
        )
        eng.run(events)
        run = eng.finish()
        out[kind] = RunInputs(
            run_id=kind,
            config_id="",
            code_version="",
            data_fingerprint="",
            tick_size=inst.tick_size,
            capital=1000.0,
            calendar="24/7",
            session_s=86400.0,
            equity=run.equity,
            fills=run.fills,
            orders=run.orders,
            order_events=run.order_events,
            market=market,
        )
    return out


@pytest.mark.shared_data
@pytest.mark.parametrize("kind", ["market_maker", "taker"])
def test_pnl_identities_on_real_runs(runs: dict[str, RunInputs], kind: str) -> None:
    # Arrange
    inputs = runs[kind]
    eq = inputs.equity

    # Act
    m = microstructure_metrics(inputs)
    t = trade_metrics(inputs)

    # Assert: fills re-priced by FIFO, by attribution and by the engine's equity all agree
    # (initial cash 0; equity[0] may already hold a fill made before the first grid point)
    assert m["fills"] > 100
    assert m["pnl_total"] == pytest.approx(float(eq["equity"][-1]), abs=1e-6)
    assert t["round_trip_pnl"] + t["open_pnl"] == pytest.approx(m["pnl_total"], abs=1e-6)
    parts = (
        m["pnl_spread_capture"]
        + m["pnl_taker_spread_cost"]
        + m["pnl_price_moves"]
        - m["pnl_fees_paid"]
        + m["pnl_rebates"]
    )
    assert parts == pytest.approx(m["pnl_total"], abs=1e-6)
    assert m["fills_without_mid"] == 0


@pytest.mark.shared_data
def test_taker_fills_pay_at_least_half_the_spread_at_arrival(runs: dict[str, RunInputs]) -> None:
    # Arrange: with the exact book, a taker fill is at or beyond the touch the venue met
    mk = markout_table(runs["taker"], (0,))

    # Act
    cost = mk.side * (mk.price - mk.mid_at_fill)

    # Assert
    taker = mk.liquidity == Liquidity.TAKER
    assert taker.all()
    assert np.all(cost >= mk.spread_at_fill / 2 - 1e-9)
    assert execution_metrics(runs["taker"])["levels_walked_mean"] >= 1.0


@pytest.mark.shared_data
def test_market_maker_sections_are_defined(runs: dict[str, RunInputs]) -> None:
    # Act
    m = microstructure_metrics(runs["market_maker"])
    t = trade_metrics(runs["market_maker"])

    # Assert
    assert m["maker_share_fills"] == 1.0
    for h in ("100ms", "1s", "10s", "60s"):
        assert np.isfinite(m[f"markout_bps_{h}_maker_buy"])
        assert m[f"adverse_selection_bps_{h}"] == -m[f"markout_bps_{h}_maker"]
    assert 0 < m["fill_ratio"] <= 1
    assert np.isfinite(m["queue_wait_s_median"])
    assert t["round_trips"] > 0
    assert np.isfinite(t["mae_bps_mean"])
    assert round_trips(runs["market_maker"].fills, 0.1).shape[0] == t["round_trips"]
