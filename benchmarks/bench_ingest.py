"""Ingest throughput and peak RSS: our readers and ingest pipeline vs hftbacktest / Nautilus.

Run: .venv/bin/python benchmarks/bench_ingest.py [--synthetic-events N] [--repeat 3]
[--no-peers] [--json out.json]

Inputs: (a) the real Binance USD-M capture (93,954 lines), (b) a synthetic Tardis
``incremental_book_L2`` CSV (``write_tardis_csv``, cached in /tmp/l2trader-bench-cache),
(c) the USD-M capture converted to Tardis CSV (peers' ``make_inputs.py``). Each measured
phase runs in a fresh spawned process (clean peak RSS), warms up untimed, then takes the
best of ``--repeat``. "reader" = parse to C1 chunks only; "ingest" = reader + stream
validation + crossed-book check + atomic Parquet catalog write (fresh temp catalog per run).
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
from pathlib import Path
from typing import Any

from _bench_common import (
    CACHE,
    LAST_CPU,
    PEER_PY,
    USDM_GZ,
    best_of,
    fmt,
    gz_lines,
    in_child,
    log,
    peak_rss_mb,
    print_table,
    rate,
    ratio,
    run_peer,
    synthetic_inputs,
    usdm_tardis_csv,
    write_json,
)


def _source(fmt_name: str, path: Path, venue: str, symbol: str) -> Any:
    from l2trader.data.instruments import lookup
    from l2trader.data.sources import SourceFormat, open_source

    return open_source(SourceFormat(fmt_name), [path], instrument=lookup(venue, symbol))


def _read_all(fmt_name: str, path: Path, venue: str, symbol: str) -> int:
    return sum(len(c) for c in _source(fmt_name, path, venue, symbol).chunks())


def _ingest_all(fmt_name: str, path: Path, venue: str, symbol: str) -> int:
    from l2trader.data.catalog import Catalog
    from l2trader.data.instruments import lookup
    from l2trader.ingest import ingest_source

    with tempfile.TemporaryDirectory(prefix="l2t-bench-cat-") as tmp:
        source = _source(fmt_name, path, venue, symbol)
        summary = ingest_source(
            source, Catalog(Path(tmp) / "cat"), lookup(venue, symbol), sources=[path]
        )
        return int(summary.result.events)


def phase(
    mode: str, fmt_name: str, path: str, warm: str, sym: list[str], rep: int
) -> dict[str, Any]:
    """Child process: warm up on ``warm``, then best-of-``rep`` of reader or full ingest."""
    fn = _read_all if mode == "reader" else _ingest_all
    fn(fmt_name, Path(warm), *sym)
    secs, events = best_of(rep, lambda: fn(fmt_name, Path(path), *sym))
    cpu = LAST_CPU[0]
    return {"secs": secs, "cpu_secs": cpu, "events": events, "peak_rss_mb": peak_rss_mb()}


def tardis_prefix(src_gz: Path, lines: int = 50_000) -> Path:
    """A small Tardis CSV prefix for warm-up (cached)."""
    out = CACHE / f"warm-{src_gz.name}"
    if not out.exists():
        with gzip.open(src_gz, "rt") as f, gzip.open(out, "wt") as g:
            for i, line in enumerate(f):
                if i > lines:
                    break
                g.write(line)
    return out


def measure(
    name: str, fmt_name: str, path: Path, warm: Path, sym: tuple[str, str], rows: int, rep: int
) -> list[dict[str, Any]]:
    """Reader-only and full-ingest results for one input."""
    out = []
    for mode in ("reader", "ingest"):
        r = in_child(phase, mode, fmt_name, str(path), str(warm), list(sym), rep)
        r.update(
            input=name,
            mode=mode,
            rows=rows,
            rows_per_s=rate(rows, r["secs"]),
            events_per_s=rate(r["events"], r["secs"]),
            cpu_events_per_s=rate(r["events"], r["cpu_secs"]),
        )
        log(f"{name} {mode}: {r['events']:,} events in {r['secs']:.3f} s")
        out.append(r)
    return out


def csv_rows(path: Path) -> int:
    """Data rows of a (gzip) CSV, header excluded."""
    if path.suffix == ".gz":
        return gz_lines(path) - 1
    with path.open("rb") as f:
        return sum(1 for _ in f) - 1


def run_ours(n_events: int, rep: int) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Our numbers on the three inputs."""
    syn = synthetic_inputs(n_events)
    usdm_csv = usdm_tardis_csv()
    sym_usdm = ("binance-futures", "BTCUSDT")
    res = measure("binance usdm .gz", "binance", USDM_GZ, USDM_GZ, sym_usdm, gz_lines(USDM_GZ), rep)
    res += measure(
        "tardis usdm .csv", "tardis", usdm_csv, usdm_csv, sym_usdm, csv_rows(usdm_csv), rep
    )
    warm = tardis_prefix(syn["book_gz"])
    rows = csv_rows(syn["book_gz"])
    res += measure(
        "tardis synthetic .csv.gz", "tardis", syn["book_gz"], warm, ("synthetic", "SYN"), rows, rep
    )
    return res, {"usdm_csv": usdm_csv, **syn}


def run_peers(paths: dict[str, Path], rep: int) -> dict[str, Any]:
    """hftbacktest on the .gz; Nautilus on both Tardis CSVs (lean on the big one)."""
    r = str(rep)
    return {
        "hftbacktest": run_peer(
            "bench_hftbacktest.py", "--binance-gz", str(USDM_GZ), "--repeat", r
        ),
        "nautilus_usdm": run_peer(
            "bench_nautilus.py", "--tardis-csv", str(paths["usdm_csv"]), "--repeat", r
        ),
        "nautilus_synthetic": run_peer(
            "bench_nautilus.py", "--tardis-csv", str(paths["book_csv"]), "--repeat", r, "--lean"
        ),
    }


PEER_FOR = {
    "binance usdm .gz": "hftbacktest",
    "tardis usdm .csv": "nautilus_usdm",
    "tardis synthetic .csv.gz": "nautilus_synthetic",
}


def report(ours: list[dict[str, Any]], peers: dict[str, Any]) -> list[list[str]]:
    """Table rows: ours, the peer on the same input, ratios ours/peer."""
    rows = []
    for r in ours:
        key = PEER_FOR[r["input"]]
        p = peers.get(key) or {}
        rows.append(
            [
                f"{r['input']} ({r['mode']})",
                f"{r['rows']:,}",
                fmt(r["rows_per_s"]),
                fmt(r["events_per_s"]),
                fmt(r["cpu_events_per_s"]),
                fmt(r["peak_rss_mb"], "MiB"),
                key if p else "-",
                fmt(p.get("ingest_rows_per_s")),
                fmt(p.get("ingest_events_per_s")),
                fmt(p.get("peak_rss_mb"), "MiB"),
                ratio(r["rows_per_s"], p.get("ingest_rows_per_s")),
                ratio(r["events_per_s"], p.get("ingest_events_per_s")),
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
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    ours, paths = run_ours(args.synthetic_events, args.repeat)
    peers: dict[str, Any] = {}
    if not args.no_peers and PEER_PY.exists():
        peers = run_peers(paths, args.repeat)
    header = ["input (ours)", "rows", "rows/s", "ev/s", "ev/cpu-s", "peak MiB", "peer"]
    header += ["peer rows/s", "peer ev/s", "peer MiB", "rows/s ratio", "ev/s ratio"]
    print_table(f"Ingest throughput (best of {args.repeat})", header, report(ours, peers))
    print(
        "target: ingest >= the faster peer. Peers count their own units: hftbacktest events = "
        "LOCAL rows incl. trades; Nautilus events = deltas (= CSV rows)."
    )
    write_json(args.json, {"ours": ours, "peers": peers, "synthetic_events": args.synthetic_events})


if __name__ == "__main__":
    main()
