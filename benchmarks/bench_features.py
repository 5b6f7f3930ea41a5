"""Book + all features throughput vs book-only replay and hftbacktest (top-5 imbalance).

Run: .venv/bin/python benchmarks/bench_features.py [--synthetic-events N] [--repeat 3]
[--no-peers] [--json out.json]

Streams: the real Binance USD-M capture (our reader's C1 events, the cached ``.npy`` that
``bench_replay.py`` uses) and a synthetic stream of ``--synthetic-events`` (cached in
/tmp/l2trader-bench-cache). Timed over 262,144-event chunks of the in-memory array:

- ``book``: ``Replayer(levels=10).feed(chunk, reuse=True)`` alone;
- ``event``: the same plus ``FeatureBuilder(FeatureConfig(), ClockSpec(kind="event"),
  tick).feed(frame)`` (all 36 default feature columns, one row per book state);
- ``time_100ms``: the same on a 100 ms time clock (fewer output rows), ``finish()`` included.

Each (stream, mode) runs in a fresh spawned process (its own peak RSS), JIT warmed up on a
prefix untimed, best of ``--repeat``. The peer is ``peers/bench_hftbacktest.py
--imbalance-top5``: book-only replay (best bid/ask per feed stop) and a top-5 imbalance read
at every feed stop, in one run, on the same two streams.
"""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import (
    LAST_CPU,
    PEER_PY,
    USDM_GZ,
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
from bench_replay import CHUNK, LEVELS, SYN, USDM, load_events, usdm_events_npy

MODES = ("book", "event", "time_100ms")
WARM_EVENTS = 20_000
MIN_TIMED_EVENTS = 5_000_000
"""Small streams get ``ceil(MIN_TIMED_EVENTS / n)`` runs at least (USD-M: 11 of ~20 ms)."""


def repeats(rep: int, n_events: int) -> int:
    """``rep``, raised so that a small stream is timed over >= ``MIN_TIMED_EVENTS`` events."""
    return max(rep, -(-MIN_TIMED_EVENTS // max(n_events, 1)))


def clock_for(mode: str) -> Any:
    """The ``ClockSpec`` of ``mode`` (None for book only)."""
    from l2trader.features.clocks import ClockSpec

    if mode == "event":
        return ClockSpec(kind="event")
    if mode == "time_100ms":
        return ClockSpec(kind="time", interval_ns=100_000_000)
    return None


def run_stream(chunks: list[np.ndarray], tick: float, mode: str) -> dict[str, Any]:
    """Replay ``chunks`` (and build features unless ``mode == "book"``); counts + checksum.

    The checksum is the NaN-skipping sum of ``imbalance_l5`` over the emitted rows (it keeps
    every row live and compares with hftbacktest's top-5 imbalance sum).
    """
    from l2trader.book.replay import Replayer
    from l2trader.features.build import FeatureBuilder
    from l2trader.features.config import FeatureConfig

    clock = clock_for(mode)
    rp = Replayer(levels=LEVELS)
    fb = None if clock is None else FeatureBuilder(FeatureConfig(), clock, tick)
    frames = rows = 0
    checksum = 0.0
    for c in chunks:
        frame = rp.feed(c, reuse=True)
        frames += len(frame)
        if fb is not None:
            out = fb.feed(frame)
            rows += len(out["ts_recv"])
            checksum += float(np.nansum(out["imbalance_l5"]))
    if fb is not None:
        out = fb.finish()
        rows += len(out["ts_recv"])
        checksum += float(np.nansum(out["imbalance_l5"]))
    n_cols = 0 if fb is None else len(fb.columns)
    return {"frames": frames, "rows": rows, "columns": n_cols, "imbalance_l5_sum": checksum}


def phase_features(npy: str, sym: list[str], mode: str, rep: int) -> dict[str, Any]:
    """Child: one stream, one mode; best of ``rep`` after an untimed JIT warm-up."""
    from l2trader.data.instruments import lookup

    events = load_events(npy)
    tick = float(lookup(sym[0], sym[1]).tick_size)
    chunks = [events[i : i + CHUNK] for i in range(0, len(events), CHUNK)]
    run_stream([events[:WARM_EVENTS]], tick, mode)
    n = len(events)
    secs, out = best_of(repeats(rep, n), lambda: run_stream(chunks, tick, mode))
    return {
        "work_mb": traced_peak_mb(chunks, tick, mode),
        **out,
        "mode": mode,
        "events": n,
        "repeat": repeats(rep, n),
        "tick_size": tick,
        "seconds": secs,
        "cpu_seconds": LAST_CPU[0],
        "events_per_s": rate(n, secs),
        "events_per_cpu_s": rate(n, LAST_CPU[0]),
        "rows_per_s": rate(out["rows"], secs),
        "peak_rss_mb": peak_rss_mb(),
    }


def traced_peak_mb(chunks: list[np.ndarray], tick: float, mode: str) -> float:
    """Peak MiB that Python and numpy allocate during one more (untimed) pass.

    The events array is allocated before tracing starts, so this is the pipeline's own
    working memory (frame buffers, feature rows, carried window rows); the kernels do not
    allocate. Peak RSS, by contrast, is dominated by loading the ``.npy`` (two copies).
    """
    tracemalloc.start()
    try:
        run_stream(chunks, tick, mode)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run_peer_imbalance(npy: Path, rep: int) -> dict[str, Any] | None:
    """hftbacktest ``--imbalance-top5`` on the USD-M .gz and the synthetic .npy."""
    from l2trader.data.instruments import lookup

    tick = str(lookup(*SYN).tick_size)
    args = ["--imbalance-top5", "--binance-gz", str(USDM_GZ), "--synthetic-npy", str(npy)]
    return run_peer("bench_hftbacktest.py", *args, "--tick-size", tick, "--repeat", str(rep))


def table_rows(ours: dict[str, dict[str, Any]], peer: dict[str, Any] | None) -> list[list[str]]:
    """One row per stream: ours (3 modes), hbt book-only and top-5 imbalance, ratios."""
    rows = []
    for name, key in (("usdm", ""), ("synthetic", "synthetic_")):
        book, ev, tm = (ours[f"{name}/{m}"] for m in MODES)
        hb = (peer or {}).get(f"{key}replay_events_per_s")
        hi = (peer or {}).get(f"{key}imbalance_top5_events_per_s")
        rows.append(
            [
                f"{name} {book['events'] / 1e6:.2f} M ev",
                fmt(book["events_per_s"]),
                fmt(ev["events_per_s"]),
                fmt(ev["rows_per_s"]),
                fmt(tm["events_per_s"]),
                f"{fmt(tm['rows_per_s'])} ({tm['rows']:,})",
                fmt(hb),
                fmt(hi),
                ratio(ev["events_per_s"], hb),
                ratio(ev["events_per_s"], hi),
                ratio(ev["events_per_s"], book["events_per_s"]),
                "/".join(fmt(o["work_mb"], "MiB") for o in (book, ev, tm)),
                fmt(ev["peak_rss_mb"], "MiB"),
            ]
        )
    return rows


HEADER = [
    "stream",
    "(a) book ev/s",
    "(b) +feat event ev/s",
    "(b) rows/s",
    "(c) +feat 100ms ev/s",
    "(c) rows/s (rows)",
    "hbt book",
    "hbt top5 imb",
    "(b)/hbt book >=2",
    "(b)/hbt imb",
    "(b)/(a)",
    "work MiB a/b/c",
    "peak RSS (b)",
]


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--synthetic-events", type=lambda s: int(s.replace("_", "")), default=10_000_000
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    syn = synthetic_inputs(args.synthetic_events)
    streams = {"usdm": (usdm_events_npy(), USDM), "synthetic": (syn["npy"], SYN)}
    ours: dict[str, dict[str, Any]] = {}
    for name, (npy, sym) in streams.items():
        for mode in MODES:
            r = in_child(phase_features, str(npy), list(sym), mode, args.repeat)
            log(f"{name}/{mode}: {fmt(r['events_per_s'])} ev/s, {r['rows']:,} rows")
            ours[f"{name}/{mode}"] = r
    peer = None
    if not args.no_peers and PEER_PY.exists():
        peer = run_peer_imbalance(syn["npy"], args.repeat)
    title = f"Book + all features (FeatureConfig(), top-{LEVELS} book; best of {args.repeat})"
    print_table(title, HEADER, table_rows(ours, peer))
    print(
        "(a) ours book only, (b) + all features on the event clock, (c) on a 100 ms clock. "
        "hftbacktest counts its LOCAL rows (trades included); ours counts C1 events."
    )
    out = {"ours": ours, "peer": peer, "synthetic_events": args.synthetic_events}
    write_json(args.json, out)


if __name__ == "__main__":
    main()
