"""Paper-trading live loop: sustained events/s with the journal on, feed-to-decision latency.

Run: ``.venv/bin/python benchmarks/bench_paper.py [--events N] [--checkpoint-every K]``.

A paper session (``paper.session.Session``: replay feed at full speed -> bounded queue ->
engine with the reference market maker deciding at every book state -> one SQLite WAL
transaction per arrival (``synchronous=FULL``) -> checkpoint every K arrivals) over the real
Binance USD-M capture, against the same events run as a backtest (``Engine`` alone) in the
same process. Prints events/s, arrivals/s, commits/s, the latency histogram's p50/p99 (the
time from an arrival leaving the feed to the end of its engine step, queue wait included) and
peak RSS. At full speed with a deep queue the latency is mostly queue wait; ``--queue-size 1``
measures one arrival's engine step plus its journal commit. The journal goes to a temporary
directory.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.paper.config import PaperConfig
from l2trader.paper.session import Session
from l2trader.paper.validate import backtest_output
from l2trader.schema import F_LAST

CAPTURE = Path(__file__).resolve().parents[2] / "shared/data/hftbacktest-binance-hyperliquid"
MM = {"inventory_unit_qty": 0.002, "max_inventory": 0.02, "min_half_spread_ticks": 1.0,
      "sizing": {"qty": 0.002, "lot_size": 0.001}}  # fmt: skip


def whole(ev: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` events cut to the last whole batch."""
    ev = ev[:n]
    return ev[: int(np.flatnonzero(ev["flags"] & F_LAST)[-1]) + 1]


def load(n: int) -> np.ndarray:
    """The first ``n`` USD-M events, cut to the last whole batch."""
    inst = lookup("binance-futures", "BTCUSDT")
    path = CAPTURE / "binance_usdm_btcusdt_20240808.gz"
    return whole(collect(BinanceDepthReader([path], instrument=inst).chunks()), n)


def config(tmp: Path, checkpoint_every: int, queue_size: int = 1024) -> PaperConfig:
    """A market-maker session journaling into ``tmp``."""
    return PaperConfig(
        queue_size=queue_size,
        journal=str(tmp / "journal.sqlite"),
        data={"catalog": str(tmp / "catalog"), "venue": "binance-futures", "symbol": "BTCUSDT"},
        strategy={"kind": "market_maker", "market_maker": MM},
        engine={"risk": {"max_position": 0.05}},
        checkpoint_every=checkpoint_every,
    )


def main() -> None:
    """Time the session and the plain backtest on the same events; print one table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--events", type=int, default=466_577)
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("--queue-size", type=int, default=1024,
                    help="1 = no queueing: engine step + journal commit")  # fmt: skip
    args = ap.parse_args()
    events = load(args.events)
    with tempfile.TemporaryDirectory() as warm:  # JIT warm-up, untimed
        warm_cfg = config(Path(warm), args.checkpoint_every)
        asyncio.run(Session(warm_cfg, source=whole(events, 5000)).run())
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(Path(tmp), args.checkpoint_every, args.queue_size)
        t0 = time.perf_counter()
        backtest_output(cfg, [events])
        bt_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = asyncio.run(Session(cfg, source=events).run())
        paper_s = time.perf_counter() - t0
    st, lat = result.stats, result.latency
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"events {len(events):,}  arrivals {st.arrivals:,}  commits {st.commits:,}  "
          f"checkpoints {st.checkpoints:,}")  # fmt: skip
    print("| loop | wall s | events/s | arrivals/s | p50 latency | p99 latency | peak RSS MiB |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    print(f"| backtest (engine only) | {bt_s:.2f} | {len(events) / bt_s / 1e6:.2f} M | - | - | - "
          f"| {rss:.0f} |")  # fmt: skip
    p50, p99 = lat["p50_ns"] / 1e3, lat["p99_ns"] / 1e3
    print(f"| paper, journal on | {paper_s:.2f} | {len(events) / paper_s / 1e3:.0f} k | "
          f"{st.arrivals / paper_s:,.0f} | {p50:.0f} us | {p99:.0f} us | {rss:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
