"""NautilusTrader 1.221.0 peer benchmark: Tardis CSV ingest and L2 order book replay.

Run inside ``benchmarks/peers/.venv`` (see README.md). Prints one JSON object on stdout.

Timed regions (best of ``--repeat`` each, after one untimed warm-up run):

- ingest (Rust CSV parser behind ``TardisCSVDataLoader``), two documented paths:
  ``load_deltas(path, as_legacy_cython=False)`` (list of pyo3 ``OrderBookDelta``) and
  ``stream_batched_deltas(path)`` fully consumed (Cython ``OrderBookDeltas``, one per
  message). The faster one is reported. ``price_precision``/``size_precision`` are passed
  explicitly (max decimals found in the file, found outside the timer), which skips
  Nautilus' inference pass.
- replay: apply every delta to an ``OrderBook(instrument_id, BookType.L2_MBP)`` and read
  ``best_bid_price()``/``best_ask_price()`` at the end of every message (``F_LAST``). Paths:
  Cython book ``apply_deltas`` per batch, Cython book ``apply_delta`` per delta, pyo3 book
  ``apply_delta`` per delta. The fastest is reported.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import best_of, capture_stdout, emit_json, log, peak_rss_mb, rate

STDOUT_FD = capture_stdout()

import nautilus_trader  # noqa: E402
from nautilus_trader.adapters.tardis.loaders import TardisCSVDataLoader  # noqa: E402
from nautilus_trader.core import nautilus_pyo3  # noqa: E402
from nautilus_trader.model.book import OrderBook  # noqa: E402
from nautilus_trader.model.enums import BookType, RecordFlag  # noqa: E402
from nautilus_trader.model.identifiers import InstrumentId  # noqa: E402

F_LAST = int(RecordFlag.F_LAST)
INSTRUMENT = "BTCUSDT-PERP.BINANCE"


def csv_stats(path: Path) -> tuple[int, int, int]:
    """(data rows, max price decimals, max amount decimals) of a Tardis CSV (not timed)."""
    rows, p_dec, a_dec = 0, 0, 0
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            rows += 1
            p_dec = max(p_dec, len(row["price"].partition(".")[2]))
            a_dec = max(a_dec, len(row["amount"].partition(".")[2]))
    return rows, p_dec, a_dec


def replay_batched(batches: list[Any]) -> tuple[int, list[float]]:
    """Cython book: apply_deltas per message, read BBO after each; return reads, final BBO."""
    book = OrderBook(InstrumentId.from_str(INSTRUMENT), BookType.L2_MBP)
    reads = 0
    for deltas in batches:
        book.apply_deltas(deltas)
        book.best_bid_price()
        book.best_ask_price()
        reads += 1
    return reads, [round(float(book.best_bid_price()), 10), round(float(book.best_ask_price()), 10)]


def replay_cython(deltas: list[Any]) -> int:
    """Cython book: apply_delta per delta, read BBO on F_LAST; return reads."""
    book = OrderBook(InstrumentId.from_str(INSTRUMENT), BookType.L2_MBP)
    reads = 0
    for delta in deltas:
        book.apply_delta(delta)
        if delta.flags & F_LAST:
            book.best_bid_price()
            book.best_ask_price()
            reads += 1
    return reads


def replay_pyo3(deltas: list[Any]) -> int:
    """Pyo3 (Rust) book: apply_delta per delta, read BBO on F_LAST; return reads."""
    book = nautilus_pyo3.OrderBook(
        nautilus_pyo3.InstrumentId.from_str(INSTRUMENT), nautilus_pyo3.BookType.L2_MBP
    )
    reads = 0
    for delta in deltas:
        book.apply_delta(delta)
        if delta.flags & F_LAST:
            book.best_bid_price()
            book.best_ask_price()
            reads += 1
    return reads


def time_paths(paths: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict[str, float], Any]:
    """Warm up and time each zero-argument callable; return best seconds and last results."""
    secs: dict[str, float] = {}
    results: dict[str, Any] = {}
    for name, fn in paths.items():
        fn()
        secs[name], results[name] = best_of(repeat, lambda: None, lambda _s, fn=fn: fn())
        log(f"{name}: best {secs[name]:.4f} s")
    return secs, results


def bench_file(path: Path, repeat: int, lean: bool = False) -> dict[str, Any]:
    """Ingest + replay rates for one Tardis incremental_book_L2 CSV.

    ``lean`` keeps only the batched path (Cython ``OrderBookDeltas``): the fastest replay on
    every input we tried; its ingest is within noise of ``load_deltas``. Cuts memory.
    """
    rows, p_dec, a_dec = csv_stats(path)
    loader = TardisCSVDataLoader(
        price_precision=p_dec,
        size_precision=a_dec,
        instrument_id=InstrumentId.from_str(INSTRUMENT),
    )
    ingest: dict[str, Callable[[], Any]] = {
        "stream_batched_deltas": lambda: [
            b for chunk in loader.stream_batched_deltas(str(path)) for b in chunk
        ],
    }
    if not lean:
        ingest["load_deltas_pyo3"] = lambda: loader.load_deltas(str(path), as_legacy_cython=False)
    ingest_s, loaded = time_paths(ingest, repeat)
    batches = loaded["stream_batched_deltas"]
    n = sum(len(b.deltas) for b in batches)
    log(f"{path.name}: {rows} rows, {n} deltas, {len(batches)} batches, precision {p_dec}/{a_dec}")
    replay: dict[str, Callable[[], Any]] = {
        "cython_apply_deltas_batched": lambda: replay_batched(batches)
    }
    if not lean:
        cython_deltas = loader.load_deltas(str(path))
        replay["cython_apply_delta"] = lambda: replay_cython(cython_deltas)
        replay["pyo3_apply_delta"] = lambda: replay_pyo3(loaded["load_deltas_pyo3"])
    replay_s, replayed = time_paths(replay, repeat)
    best_ingest = min(ingest_s, key=lambda k: ingest_s[k])
    best_replay = min(replay_s, key=lambda k: replay_s[k])
    return {
        "rows": rows,
        "events": n,
        "ingest_rows_per_s": rate(rows, ingest_s[best_ingest]),
        "ingest_events_per_s": rate(n, ingest_s[best_ingest]),
        "ingest_path": best_ingest,
        "ingest_detail_events_per_s": {k: rate(n, s) for k, s in ingest_s.items()},
        "replay_events_per_s": rate(n, replay_s[best_replay]),
        "replay_path": best_replay,
        "replay_final_bbo": replayed["cython_apply_deltas_batched"][1],
        "replay_detail_events_per_s": {k: rate(n, s) for k, s in replay_s.items()},
    }


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="NautilusTrader peer benchmark")
    ap.add_argument("--tardis-csv", type=Path, required=True, help="real-data L2 CSV")
    ap.add_argument("--synthetic-tardis-csv", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lean", action="store_true", help="batched path only (large inputs)")
    args = ap.parse_args()
    real = bench_file(args.tardis_csv, args.repeat, args.lean)
    result: dict[str, Any] = {"peer": "nautilus", "version": nautilus_trader.__version__}
    result.update({k: v for k, v in real.items() if k not in ("rows", "events")})
    result["replay_events"] = real["events"]
    result["ingest_input_rows"] = real["rows"]
    result["ingest_events"] = real["events"]
    result["synthetic_replay_events_per_s"] = None
    if args.synthetic_tardis_csv is not None:
        syn = bench_file(args.synthetic_tardis_csv, args.repeat, args.lean)
        result["synthetic_replay_events_per_s"] = syn["replay_events_per_s"]
        result["synthetic"] = syn
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    emit_json(STDOUT_FD, result)


if __name__ == "__main__":
    main()
