"""Shared helpers for ``bench_ingest.py`` and ``bench_replay.py`` (not a library module).

Timing is best-of-N wall time; peak RSS is ``ru_maxrss`` of a fresh ``spawn`` child process
per measured phase, so one phase's memory never leaks into another's figure.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing as mp
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
USDM_GZ = (
    REPO.parent / "shared/data/hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
)
PEERS = HERE / "peers"
PEER_PY = PEERS / ".venv/bin/python"
CACHE = Path("/tmp/l2trader-bench-cache")
SYN_EVENTS_PER_S = 120.0
console = Console(width=200)
LAST_CPU = [0.0]


def log(msg: str) -> None:
    """Progress line on stderr."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak RSS of this process, MiB (Linux ``ru_maxrss`` is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """Current RSS of this process, MiB."""
    return float(psutil.Process().memory_info().rss) / 2**20


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall seconds of ``fn()`` over ``repeat`` runs, and the last result.

    The best process CPU seconds (all threads) is kept in ``LAST_CPU[0]``: on a loaded
    shared machine it is the steadier figure.
    """
    best, out = float("inf"), None
    cpu = float("inf")
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    LAST_CPU[0] = cpu
    return best, out


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh spawned interpreter (clean peak RSS); return its dict."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def rate(n: float, secs: float) -> float:
    """``n / secs`` (0 when not measured)."""
    return n / secs if secs > 0 else 0.0


def gz_lines(path: Path) -> int:
    """Number of lines of a gzip text file (not timed)."""
    with gzip.open(path, "rb") as f:
        return sum(1 for _ in f)


def synthetic_config(n_events: int, seed: int = 7) -> Any:
    """A ``SynthConfig`` of about ``n_events`` C1 events (120 events/s, <= 1 day)."""
    from l2trader.synth import SynthConfig

    duration = min(86_400.0, n_events / SYN_EVENTS_PER_S)
    return SynthConfig(seed=seed, events_per_s=SYN_EVENTS_PER_S, duration_s=duration)


def synthetic_inputs(n_events: int) -> dict[str, Path]:
    """Cached synthetic inputs in ``CACHE``: C1 ``.npy``, Tardis book ``.csv.gz`` and ``.csv``."""
    from l2trader.synth import generate, write_tardis_csv

    d = CACHE / f"syn-n{n_events}-seed7"
    out = {
        "npy": d / "events.npy",
        "book_gz": d / "synthetic_incremental_book_L2.csv.gz",
        "book_csv": d / "synthetic_incremental_book_L2.csv",
        "trades_gz": d / "synthetic_trades.csv.gz",
    }
    d.mkdir(parents=True, exist_ok=True)
    cfg = synthetic_config(n_events)
    if not out["npy"].exists():
        from l2trader.data.events import collect

        log(f"generating synthetic stream ({cfg.duration_s:.0f} s at {cfg.events_per_s}/s)")
        np.save(out["npy"], collect(generate(cfg)))
    if not out["book_gz"].exists() or not out["trades_gz"].exists():
        write_tardis_csv(cfg, out["book_gz"], out["trades_gz"])
    if not out["book_csv"].exists():
        to_plain_csv(out["book_gz"], out["book_csv"])
    return out


def to_plain_csv(src_gz: Path, dst: Path) -> None:
    """Decompress a Tardis CSV, naming the exchange ``binance-futures`` (Nautilus knows it)."""
    with gzip.open(src_gz, "rb") as src, dst.open("wb") as out:
        out.write(src.readline())
        for line in src:
            out.write(b"binance-futures," + line.split(b",", 1)[1])


def usdm_tardis_csv() -> Path:
    """The USD-M capture as a Tardis CSV (peers' ``make_inputs.py``), cached."""
    out = CACHE / "usdm_l2.csv"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(PEERS / "make_inputs.py"), "tardis-from-binance"]
        subprocess.run([*cmd, str(USDM_GZ), str(out)], check=True, stdout=sys.stderr)
    return out


def run_peer(script: str, *args: str) -> dict[str, Any] | None:
    """Run a peer script in the peer venv; its one JSON line, or None when unavailable."""
    if not PEER_PY.exists():
        return None
    cmd = [str(PEER_PY), str(PEERS / script), *args]
    log("peer: " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PEERS)
    if proc.returncode != 0:
        log(f"peer {script} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def fmt(x: float | None, unit: str = "") -> str:
    """Human number: M/k suffix for rates, '-' for missing."""
    if x is None:
        return "-"
    if unit == "MiB":
        return f"{x:,.0f}"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f} M"
    return f"{x / 1e3:.0f} k" if abs(x) >= 1e3 else f"{x:.2f}"


def ratio(ours: float | None, peer: float | None) -> str:
    """``ours / peer`` as text, '-' when either is missing."""
    if not ours or not peer:
        return "-"
    return f"{ours / peer:.2f}x"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a rich table."""
    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="left" if h == header[0] else "right")
    for r in rows:
        table.add_row(*r)
    console.print(table)


def write_json(path: Path | None, obj: dict[str, Any]) -> None:
    """Write results as JSON when ``path`` is given."""
    if path is not None:
        path.write_text(json.dumps(obj, indent=2, default=str) + "\n")
        log(f"results -> {path}")
