"""Backtest throughput: our market maker over USD-M and a synthetic stream vs hftbacktest.

Run: .venv/bin/python benchmarks/bench_backtest.py [--synthetic-events N] [--repeat 3]
[--no-peers] [--json out.json]

Ours: ``Engine(EngineConfig(decision=book, queue=conservative, latency 1 ms/1 ms),
strategy="market_maker")`` fed 262,144-event chunks of an in-memory C1 array, then
``finish()``. Three loop variants show where the time goes: *no decisions* (decision mode
``signal`` with no signals: book + venue + per-state bookkeeping), *decide, no orders* (the
``taker`` strategy without signals: features computed and the numba strategy called at every
state, nothing sent), *market maker* (the full run). Each (stream, variant) runs in a fresh
spawned process (clean peak RSS), JIT warmed on a 20,000-event prefix, best of ``--repeat``.
The peer is ``peers/bench_backtest_hbt.py`` (the same market maker written for hftbacktest
on the same C1 rows); ratios are ours/hbt events per second.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _bench_common import (
    PEER_PY,
    best_of,
    fmt,
    in_child,
    log,
    peak_rss_mb,
    print_table,
    rate,
    ratio,
    run_peer,
    synthetic_inputs,
    write_json,
)
from bench_replay import load_events, usdm_events_npy

CHUNK = 262_144
LATENCY_NS = 1_000_000
STREAMS = {
    "usdm": {"tick": 0.1, "qty": 0.001, "max_inventory": 0.01},
    "synthetic": {"tick": 0.01, "qty": 1.0, "max_inventory": 10.0},
}
"""Per stream: tick size (quote currency), quote size and inventory cap (base units)."""
VARIANTS = ("no_decisions", "decide_no_orders", "market_maker")


def make_engine(stream: str, variant: str) -> Any:
    """A fresh engine for ``stream`` (keys of ``STREAMS``) and ``variant`` (``VARIANTS``)."""
    from l2trader.engine.config import DecisionConfig, EngineConfig
    from l2trader.engine.engine import Engine
    from l2trader.engine.fees import FeeConfig
    from l2trader.engine.latency import LatencyConfig
    from l2trader.engine.sizing import SizingConfig
    from l2trader.engine.strategies.market_maker import MarketMakerConfig

    s = STREAMS[stream]
    mode = "signal" if variant == "no_decisions" else "book"
    cfg = EngineConfig(
        latency=LatencyConfig(entry_ns=LATENCY_NS, response_ns=LATENCY_NS),
        queue="conservative",
        decision=DecisionConfig(mode=mode),
    )
    mm = MarketMakerConfig(
        inventory_unit_qty=s["qty"],
        max_inventory=s["max_inventory"],
        sizing=SizingConfig(qty=s["qty"]),
    )
    kind = "market_maker" if variant == "market_maker" else "taker"
    return Engine(cfg, tick_size=s["tick"], strategy=kind, market_maker=mm, fees=FeeConfig())


def run_once(chunks: list[Any], stream: str, variant: str) -> dict[str, Any]:
    """One full backtest; its counters plus fills and orders."""
    eng = make_engine(stream, variant)
    for c in chunks:
        eng.run(c)
    out = eng.finish()
    return {
        **out.counters,
        "fills": int(out.fills.size),
        "orders": int(out.orders.size),
        "fill_qty": float(out.fills["qty"].sum()),
    }


def phase(npy: str, stream: str, variant: str, rep: int) -> dict[str, Any]:
    """Child: best of ``rep`` runs of one (stream, variant) after an untimed warm-up."""
    events = load_events(npy)
    chunks = [events[i : i + CHUNK] for i in range(0, len(events), CHUNK)]
    run_once([events[:20_000]], stream, variant)
    secs, res = best_of(rep, lambda: run_once(chunks, stream, variant))
    return {
        **res,
        "seconds": secs,
        "events_per_s": rate(len(events), secs),
        "decisions_per_s": rate(res["decisions"], secs),
        "peak_rss_mb": peak_rss_mb(),
    }


def rows_for(ours: dict[str, dict[str, Any]], hbt: dict[str, Any] | None) -> list[list[str]]:
    """Table rows: one per stream."""
    rows = []
    for name, prefix in (("usdm", ""), ("synthetic", "synthetic_")):
        o = {v: ours[f"{name}/{v}"] for v in VARIANTS}
        mm = o["market_maker"]
        h = (hbt or {}).get(f"{prefix}events_per_s")
        rows.append(
            [f"{name} ({mm['events']:,} ev, {mm['decisions']:,} dec)"]
            + [fmt(o[v]["events_per_s"]) for v in VARIANTS]
            + [fmt(mm["decisions_per_s"]), f"{mm['orders']:,}", f"{mm['fills']:,}"]
            + [fmt(mm["peak_rss_mb"], "MiB"), fmt(h), ratio(mm["events_per_s"], h)]
            + [str((hbt or {}).get(f"{prefix}fills", "-"))]
        )
    return rows


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--synthetic-events", type=lambda s: int(s.replace("_", "")), default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    npys = {"usdm": usdm_events_npy(), "synthetic": synthetic_inputs(args.synthetic_events)["npy"]}
    ours: dict[str, dict[str, Any]] = {}
    for name, npy in npys.items():
        for v in VARIANTS:
            ours[f"{name}/{v}"] = in_child(phase, str(npy), name, v, args.repeat)
            log(f"{name}/{v}: {fmt(ours[f'{name}/{v}']['events_per_s'])} ev/s")
    hbt = None
    if not args.no_peers and PEER_PY.exists():
        hbt = run_peer(
            "bench_backtest_hbt.py",
            "--usdm-npy",
            str(npys["usdm"]),
            "--synthetic-npy",
            str(npys["synthetic"]),
            "--repeat",
            str(args.repeat),
        )
    header = ["stream", "no decisions ev/s", "decide, no orders ev/s", "market maker ev/s"]
    header += ["MM decisions/s", "MM orders", "MM fills", "peak MiB", "hbt MM ev/s"]
    header += ["ours/hbt (target >= 2)", "hbt fills"]
    print_table(f"Backtest, market maker (best of {args.repeat})", header, rows_for(ours, hbt))
    write_json(args.json, {"ours": ours, "hftbacktest": hbt})


if __name__ == "__main__":
    main()
