"""Both reference strategies on the real samples: Binance USD-M BTCUSDT and LOBSTER AMZN.

Run: ``.venv/bin/python research/backtest_real.py [--data DIR] [--no-plots]``. Prints one
markdown table (the one in ``docs/engine.md``) and saves equity/inventory plots to
``docs/img/research/backtest_<dataset>.png``. The taker trades a rule signal (level-1
imbalance x 20 bps, sampled each second), not a fitted model: the point is the engine's
mechanics on real books, not alpha.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _data import data_root, parse_args, save_png

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument, lookup
from l2trader.data.lobster import LobsterReader
from l2trader.engine.config import DecisionConfig, EngineConfig
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.engine.fees import FeeConfig
from l2trader.engine.latency import LatencyConfig
from l2trader.engine.risk import RiskConfig
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig
from l2trader.schema import Liquidity
from l2trader.testing.signals import imbalance_signal

S = 1_000_000_000
STEM = "AMZN_2012-06-21_34200000_57600000"


def load(root: Path, name: str) -> tuple[np.ndarray, Instrument, float]:
    """Events, instrument and quote size (base units) of one sample."""
    if name == "amzn":
        inst = lookup("nasdaq", "AMZN")
        folder = root / "lobster-amzn-2012-06-21"
        msg, book = folder / f"{STEM}_message_5.csv.gz", folder / f"{STEM}_orderbook_5.csv.gz"
        reader = LobsterReader(msg, book, levels=5, instrument=inst)
        return collect(reader.chunks()), inst, 100.0
    inst = lookup("binance-futures", "BTCUSDT")
    path = root / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"
    return collect(BinanceDepthReader([path], instrument=inst).chunks()), inst, 0.002


def run(events: np.ndarray, inst: Instrument, kind: str, qty: float) -> tuple[EngineOutput, float]:
    """One backtest; returns the outputs and the wall time (s, JIT warm)."""
    lot = inst.lot_size
    risk = RiskConfig(max_position=25 * qty, max_drawdown=1e9)
    mm = MarketMakerConfig(inventory_unit_qty=qty, max_inventory=10 * qty,
                           sizing=SizingConfig(qty=qty, lot_size=lot))  # fmt: skip
    size = SizingConfig(qty=qty, lot_size=lot)
    taker = SignalTakerConfig(entry_margin_bps=0.0, taker_fee_bps=inst.taker_fee_bps,
                              max_position=5 * qty, sizing=size)  # fmt: skip
    mode = "book" if kind == "market_maker" else "signal"
    latency = LatencyConfig(entry_ns=1_000_000, response_ns=1_000_000)
    cfg = EngineConfig(risk=risk, decision=DecisionConfig(mode=mode), latency=latency)
    sig = imbalance_signal(events, 20.0) if kind == "taker" else None
    best = np.inf
    for _ in range(2):  # the first run also loads the JIT cache
        t0 = time.perf_counter()
        eng = Engine(cfg, tick_size=inst.tick_size, strategy=kind, market_maker=mm, taker=taker,
                     signals=sig, fees=FeeConfig.from_instrument(inst))  # fmt: skip
        eng.run(events)
        out = eng.finish()
        best = min(best, time.perf_counter() - t0)
    return out, best


def row(name: str, kind: str, out: EngineOutput, events: int, secs: float) -> str:
    """One markdown table row."""
    f, eq = out.fills, out.equity
    maker = int((f["liquidity"] == Liquidity.MAKER).sum())
    pnl = float(eq["equity"][-1])
    fees = float(f["fee"].sum())
    return (f"| {name} | {kind} | {out.counters['decisions']:,} | {len(out.orders):,} | "
            f"{len(f):,} | {maker:,} | {pnl:,.2f} | {fees:,.2f} | {pnl + fees:,.2f} | "
            f"{np.abs(eq['position']).max():g} | {events / secs / 1e6:.2f} |")  # fmt: skip


def main() -> None:
    """Run both strategies on both samples; print the table, save the plots."""
    args = parse_args(__doc__ or "")
    root = data_root(args.data)
    print("| sample | strategy | decisions | orders | fills | maker fills | PnL after fees (quote) "
          "| fees (quote) | PnL before fees | max abs position | M events/s |")  # fmt: skip
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name in ("binance-usdm", "amzn"):
        events, inst, qty = load(root, name)
        outs = {}
        for kind in ("market_maker", "taker"):
            out, secs = run(events, inst, kind, qty)
            outs[kind] = out
            print(row(name, kind, out, len(events), secs))
        if not args.no_plots:
            plot(name, outs, args.img_dir)


def plot(name: str, outs: dict[str, EngineOutput], folder: Path) -> None:
    """Equity and inventory of both strategies on one sample."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    for kind, out in outs.items():
        eq = out.equity
        hours = (eq["ts_recv"] - eq["ts_recv"][0]) / 3600 / S
        axes[0].plot(hours, eq["equity"], label=kind)
        axes[1].plot(hours, eq["position"], label=kind)
    axes[0].set_ylabel("equity (quote)")
    axes[1].set_ylabel("position (base)")
    axes[1].set_xlabel("hours")
    axes[0].legend()
    axes[0].set_title(f"reference strategies on {name} (1 ms entry / response latency)")
    print(f"plot: {save_png(fig, folder, f'backtest_{name}.png')}")


if __name__ == "__main__":
    main()
