"""Stress-suite scaling: the same suite with 1 and 2 local worker processes.

Run: .venv/bin/python benchmarks/bench_stress.py [--suite quick|full] [--data synthetic|usdm]
[--repeat 2] [--dask]

Parity first: the results with 2 workers (and on a Dask LocalCluster with ``--dask``) must
equal the 1-worker results. The JIT and the data load are warmed by a serial run of the
baseline case before timing (workers are forked, so they inherit both). Prints wall time
per worker count (best of ``--repeat``), cases per second and the speed-up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from l2trader.cli.stress_cmd import SyntheticLoader
from l2trader.stress.runner import EventsLoader, run_many
from l2trader.stress.suites import (
    CaptureLoader,
    StressLimits,
    broken_market_maker,
    build_suite,
    reference_market_maker,
)

USDM = (
    Path(__file__).resolve().parents[2]
    / "shared/data/hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="full")
    ap.add_argument("--data", choices=["synthetic", "usdm"], default="usdm")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dask", action="store_true")
    args = ap.parse_args()
    loader: EventsLoader = (
        CaptureLoader((str(USDM),)) if args.data == "usdm" else SyntheticLoader(seed=7)
    )
    qty = 0.002 if args.data == "usdm" else 0.01
    strategies = [reference_market_maker(qty, max_drawdown=20.0), broken_market_maker(qty)]
    cases = build_suite(args.suite, strategies, limits=StressLimits(max_position=10 * qty))
    run_many(cases[:1], loader, executor="serial")  # JIT + data load, inherited by forks
    reference = None
    rows = []
    for workers in (1, 2):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            results = run_many(cases, loader, executor="process", workers=workers)
            best = min(best, time.perf_counter() - t0)
        reference = reference or results
        assert results == reference, "results differ between worker counts"
        rows.append((f"process x{workers}", best))
    if args.dask:
        t0 = time.perf_counter()
        results = run_many(cases, loader, executor="dask", workers=2)
        assert results == reference, "Dask results differ from the process pool"
        rows.append(("dask LocalCluster x2 (incl. startup)", time.perf_counter() - t0))
    table = Table(title=f"stress suite {args.suite} on {args.data}: {len(cases)} cases")
    for col in ("executor", "wall s", "cases/s", "speed-up vs 1"):
        table.add_column(col, justify="right")
    for name, wall in rows:
        table.add_row(name, f"{wall:.2f}", f"{len(cases) / wall:.2f}", f"{rows[0][1] / wall:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
