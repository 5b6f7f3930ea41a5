"""Shared helpers for the peer benchmark scripts (stdlib only).

Every peer script prints exactly one JSON object on stdout. Peers (hftbacktest's Rust core,
numba, NautilusTrader) print progress text to fd 1 from native code, so the scripts move fd 1
to stderr for the whole run and write the JSON to a saved copy of the original stdout.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
USDM_GZ = SHARED_DATA / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"


def capture_stdout() -> int:
    """Point fd 1 at stderr; return a duplicate of the original stdout fd for the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved


def emit_json(fd: int, obj: dict[str, Any]) -> None:
    """Write ``obj`` as one JSON line to ``fd`` (the saved stdout)."""
    sys.stdout.flush()
    os.write(fd, (json.dumps(obj) + "\n").encode())


def log(msg: str) -> None:
    """Print a progress line to stderr."""
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def best_of(repeat: int, setup: Callable[[], Any], run: Callable[[Any], Any]) -> tuple[float, Any]:
    """Best wall time (s) of ``run(setup())`` over ``repeat`` runs; setup is not timed."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        state = setup()
        t0 = time.perf_counter()
        result = run(state)
        best = min(best, time.perf_counter() - t0)
    return best, result


def rate(n: int, seconds: float | None) -> float | None:
    """``n / seconds`` rounded to an integer-valued float, or None when not measured."""
    if seconds is None or seconds <= 0:
        return None
    return float(round(n / seconds))
