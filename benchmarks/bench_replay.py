"""Book replay throughput (top-10 frame) vs a bare numba dense replay and the peers.

Run: .venv/bin/python benchmarks/bench_replay.py [--synthetic-events N] [--repeat 3]
[--days 1,2,4] [--no-peers] [--json out.json]

Streams: the real Binance USD-M capture (C1 events from our reader) and a synthetic stream
of ``--synthetic-events`` from ``generate`` (cached in /tmp/l2trader-bench-cache). Timed:
``Replayer(levels=10).feed(chunk, reuse=True)`` over 262,144-event chunks of the in-memory
array (frames go into a reused buffer and are dropped), the same from ``Catalog.read``
(Parquet decode included), and
``bare_apply_nb`` (writes qty into a preallocated dense price array; no best tracking, no
frame: a ceiling, not a book), and ``frame_ceiling_nb`` (writes the C2 rows alone, no book:
the memory-write floor of any top-10 frame). Each phase runs in a fresh spawned process (clean peak
RSS), JIT warmed up untimed, best of ``--repeat``. Then 1, 2, 4 synthetic days are replayed
through ``Catalog.read`` to show that peak RSS does not grow with the number of days.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
from _bench_common import (
    CACHE,
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
    rss_mb,
    run_peer,
    synthetic_inputs,
    usdm_tardis_csv,
    write_json,
)

from l2trader.schema import EVENT_DTYPE, KIND_BOOK, KIND_SNAPSHOT

CHUNK = 262_144
LEVELS = 10
SYN = ("synthetic", "SYN")
USDM = ("binance-futures", "BTCUSDT")


@numba.njit(cache=True, nogil=True)
def bare_apply_nb(events: np.ndarray, q: np.ndarray, base: int) -> float:
    """Set ``q[side, price - base] = qty`` for BOOK/SNAPSHOT rows (bench_book_kernel.py)."""
    for i in range(events.shape[0]):
        e = events[i]
        if e["kind"] == KIND_BOOK or e["kind"] == KIND_SNAPSHOT:
            q[0 if e["side"] == 1 else 1, e["price_ticks"] - base] = e["qty"]
    return q.sum()


@numba.njit(cache=True, nogil=True)
def frame_ceiling_nb(events: np.ndarray, levels: int, chunk: int) -> int:
    """Write one C2-shaped row per ``F_LAST`` (no book: each level from the event itself).

    Same columns and buffer size as ``Replayer(levels).feed(chunk, reuse=True)``: the cost of
    materialising the frame alone, a second ceiling next to ``bare_apply_nb``.
    """
    ts = np.empty((3, chunk), dtype=np.int64)
    ticks = np.empty((2, chunk, levels), dtype=np.int64)
    qty = np.empty((2, chunk, levels), dtype=np.float64)
    trade = np.empty((2, chunk), dtype=np.float64)
    rows = 0
    for i in range(events.shape[0]):
        e = events[i]
        if e["flags"] & 1:
            r = rows % chunk
            ts[0, r] = e["ts_recv"]
            ts[1, r] = e["ts_exch"]
            ts[2, r] = i
            for s in range(2):
                for k in range(levels):
                    ticks[s, r, k] = e["price_ticks"] + k
                    qty[s, r, k] = e["qty"]
                trade[s, r] = e["qty"]
            rows += 1
    return rows


def load_events(npy: str | Path) -> np.ndarray:
    """A saved C1 ``.npy`` as an ``EVENT_DTYPE`` array (``np.save`` drops the alignment)."""
    raw = np.load(npy)
    out = np.zeros(len(raw), dtype=EVENT_DTYPE)
    for name in raw.dtype.names or ():
        out[name] = raw[name]
    return out


def replay_chunks(chunks: Any) -> int:
    """Feed every chunk to a fresh ``Replayer(LEVELS)``; return the number of frame rows."""
    from l2trader.book.replay import Replayer

    rp = Replayer(levels=LEVELS)
    return sum(len(rp.feed(c, reuse=True)) for c in chunks)


def write_catalog(root: Path, events: np.ndarray, sym: tuple[str, str], marker: Path) -> Any:
    """Write ``events`` to a catalog at ``root``; return the Catalog."""
    from l2trader.data.catalog import Catalog
    from l2trader.data.instruments import lookup
    from l2trader.data.report import Policy, ValidationReport

    cat = Catalog(root)
    chunks = (events[i : i + CHUNK] for i in range(0, len(events), CHUNK))
    cat.write(
        lookup(*sym), chunks, sources=[marker], report=ValidationReport("bench", Policy.STRICT)
    )
    return cat


def phase_replay(npy: str, sym: list[str], rep: int) -> dict[str, Any]:
    """Child: ours (array + catalog) and bare numba on one stream; best of ``rep``."""
    events = load_events(npy)
    chunks = [events[i : i + CHUNK] for i in range(0, len(events), CHUNK)]
    sel = (events["kind"] == KIND_BOOK) | (events["kind"] == KIND_SNAPSHOT)
    lo, hi = int(events["price_ticks"][sel].min()), int(events["price_ticks"][sel].max())
    q = np.zeros((2, hi - lo + 1))
    replay_chunks([events[:10_000]])
    bare_apply_nb(events[:10_000], q, lo)
    frame_ceiling_nb(events[:10_000], LEVELS, CHUNK)
    t_bare, _ = best_of(rep, lambda: bare_apply_nb(events, q, lo))
    t_frame, _ = best_of(rep, lambda: frame_ceiling_nb(events, LEVELS, CHUNK))
    t_ours, frames = best_of(rep, lambda: replay_chunks(chunks))
    with tempfile.TemporaryDirectory(prefix="l2t-bench-cat-") as tmp:
        cat = write_catalog(Path(tmp) / "cat", events, (sym[0], sym[1]), Path(npy))
        t_cat, _ = best_of(rep, lambda: replay_chunks(cat.read(sym[0], sym[1])))
    return {
        "events": len(events),
        "frames": frames,
        "span_ticks": hi - lo,
        "bare_events_per_s": rate(len(events), t_bare),
        "frame_ceiling_events_per_s": rate(len(events), t_frame),
        "ours_events_per_s": rate(len(events), t_ours),
        "ours_catalog_events_per_s": rate(len(events), t_cat),
        "peak_rss_mb": peak_rss_mb(),
    }


def usdm_events_npy() -> Path:
    """Our reader's C1 events of the USD-M capture, cached as .npy."""
    from l2trader.data.events import collect
    from l2trader.data.instruments import lookup
    from l2trader.data.sources import SourceFormat, open_source

    out = CACHE / "usdm_events.npy"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        src = open_source(SourceFormat.BINANCE, [USDM_GZ], instrument=lookup(*USDM))
        np.save(out, collect(src.chunks()))
    return out


def multiday_catalog(days: int) -> Path:
    """A cached catalog of ``days`` synthetic days (default config, ~2.6M events/day)."""
    from l2trader.data.catalog import Catalog
    from l2trader.data.instruments import lookup
    from l2trader.data.report import Policy, ValidationReport
    from l2trader.synth import SynthConfig, generate

    root = CACHE / f"multiday-{days}d-seed7"
    if not (root / "manifest.json").exists():
        log(f"writing {days} synthetic days to {root}")
        marker = CACHE / f"multiday-{days}d.txt"
        cfg = SynthConfig(seed=7, duration_s=days * 86_400.0)
        marker.write_text(cfg.model_dump_json() if hasattr(cfg, "model_dump_json") else str(cfg))
        report = ValidationReport("synthetic", Policy.STRICT)
        Catalog(root).write(lookup(*SYN), generate(cfg), sources=[marker], report=report)
    return root


def phase_days(root: str, start: str, end: str) -> dict[str, Any]:
    """Child: stream ``start..end`` from the catalog through the Replayer; RSS after it."""
    from l2trader.data.catalog import Catalog

    replay_chunks([load_events(CACHE / "usdm_events.npy")[:10_000]])
    cat = Catalog(root)
    base = rss_mb()
    t0 = time.perf_counter()
    n = frames = 0
    from l2trader.book.replay import Replayer

    rp = Replayer(levels=LEVELS)
    for c in cat.read(SYN[0], SYN[1], start, end):
        n += len(c)
        frames += len(rp.feed(c, reuse=True))
    secs = time.perf_counter() - t0
    return {
        "events": n,
        "frames": frames,
        "events_per_s": rate(n, secs),
        "rss_before_mb": base,
        "rss_after_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_days(days: list[int]) -> list[dict[str, Any]]:
    """Replay 1..max(days) days from one catalog, one child process per count."""
    from l2trader.data.catalog import Catalog

    root = multiday_catalog(max(days))
    dates = [p.date for p in Catalog(root).partitions(*SYN)]
    out = []
    for d in days:
        r = in_child(phase_days, str(root), dates[0], dates[min(d, len(dates)) - 1])
        r["days"] = d
        log(f"{d} day(s): {r['events']:,} events, peak RSS {r['peak_rss_mb']:.0f} MiB")
        out.append(r)
    return out


def run_peers(syn: dict[str, Path], rep: int) -> dict[str, Any]:
    """hftbacktest on the .gz + our synthetic .npy; Nautilus on both Tardis CSVs."""
    r = str(rep)
    hbt = ["--binance-gz", str(USDM_GZ), "--synthetic-npy", str(syn["npy"])]
    usdm_csv = str(usdm_tardis_csv())
    return {
        "hftbacktest": run_peer("bench_hftbacktest.py", *hbt, "--tick-size", "0.01", "--repeat", r),
        "nautilus_usdm": run_peer("bench_nautilus.py", "--tardis-csv", usdm_csv, "--repeat", r),
        "nautilus_synthetic": run_peer(
            "bench_nautilus.py", "--tardis-csv", str(syn["book_csv"]), "--repeat", r, "--lean"
        ),
    }


def replay_rows(ours: dict[str, dict[str, Any]], peers: dict[str, Any]) -> list[list[str]]:
    """Table rows per stream: ours, bare, peers, ratios."""
    hbt = peers.get("hftbacktest") or {}
    rows = []
    for name, key, naut in (
        ("usdm", "", "nautilus_usdm"),
        ("synthetic", "synthetic_", "nautilus_synthetic"),
    ):
        o = ours[name]
        h = hbt.get(f"{key}replay_events_per_s")
        n = (peers.get(naut) or {}).get("replay_events_per_s")
        rows.append(
            [
                f"{name} ({o['events']:,} ev)",
                fmt(o["ours_events_per_s"]),
                fmt(o["ours_catalog_events_per_s"]),
                fmt(o["bare_events_per_s"]),
                f"{o['ours_events_per_s'] / o['bare_events_per_s']:.2f}",
                fmt(o["frame_ceiling_events_per_s"]),
                f"{o['ours_events_per_s'] / o['frame_ceiling_events_per_s']:.2f}",
                fmt(h),
                ratio(o["ours_events_per_s"], h),
                fmt(n),
                ratio(o["ours_events_per_s"], n),
                fmt(o["peak_rss_mb"], "MiB"),
            ]
        )
    return rows


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--synthetic-events", type=lambda s: int(s.replace("_", "")), default=10_000_000
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--days", default="1,2,4")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    syn = synthetic_inputs(args.synthetic_events)
    streams = {"usdm": (usdm_events_npy(), USDM), "synthetic": (syn["npy"], SYN)}
    ours = {
        k: in_child(phase_replay, str(p), list(s), args.repeat) for k, (p, s) in streams.items()
    }
    days = run_days([int(d) for d in args.days.split(",")])
    peers = run_peers(syn, args.repeat) if not args.no_peers and PEER_PY.exists() else {}
    header = ["stream", "ours ev/s", "ours via catalog", "bare numba", "ours/bare (>=0.5)"]
    header += ["frame-write ceiling", "ours/ceiling"]
    header += ["hftbacktest", "ours/hbt (>=4)", "nautilus", "ours/naut", "peak MiB"]
    print_table(
        f"Replay, top-{LEVELS} frame (best of {args.repeat})", header, replay_rows(ours, peers)
    )
    rows = [
        [str(d["days"]), f"{d['events']:,}", fmt(d["events_per_s"])]
        + [fmt(d[k], "MiB") for k in ("rss_before_mb", "rss_after_mb", "peak_rss_mb")]
        for d in days
    ]
    header = ["days", "events", "ev/s", "RSS before MiB", "RSS after MiB", "peak RSS MiB"]
    print_table("Catalog.read -> Replayer: RSS vs days replayed", header, rows)
    print("Peers count their own units (hftbacktest: LOCAL rows incl. trades; Nautilus: deltas).")
    out = {"ours": ours, "days": days, "peers": peers, "synthetic_events": args.synthetic_events}
    write_json(args.json, out)


if __name__ == "__main__":
    main()
