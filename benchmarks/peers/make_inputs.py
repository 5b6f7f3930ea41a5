"""Make test inputs for the peer benchmarks (numpy + stdlib only; runs in either venv).

Subcommands
-----------
tardis-from-binance GZ OUT.csv
    Binance USD-M raw capture (``<local_ns> <json>`` lines) -> Tardis ``incremental_book_L2``
    CSV. Starts at the REST snapshot line (``is_snapshot=true`` rows), then every depth diff
    after it (``is_snapshot=false``). No sequence checks; earlier diffs, trades and
    bookTicker lines are skipped.
synthetic OUT.npy [--n N] [--seed S]
    Random C1 event stream (48-byte aligned dtype) for quick tests.
tardis-from-npy NPY OUT.csv --tick-size T
    C1 events -> Tardis ``incremental_book_L2`` CSV (SNAPSHOT rows -> ``is_snapshot=true``,
    BOOK rows -> ``false``; TRADE and CLEAR rows dropped, since the format has no such rows:
    a snapshot run after incremental rows implies a reset in Tardis semantics).

Outputs are meant for a temp dir (e.g. /tmp), never beside ../shared/data.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

C1_DTYPE = np.dtype(
    [
        ("ts_exch", "i8"),
        ("ts_recv", "i8"),
        ("seq", "i8"),
        ("price_ticks", "i8"),
        ("qty", "f8"),
        ("kind", "u1"),
        ("side", "i1"),
        ("flags", "u1"),
    ],
    align=True,
)
BOOK, TRADE, SNAPSHOT, CLEAR = 1, 2, 3, 4
F_LAST = 1
TARDIS_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"


def _binance_rows(gz_path: Path) -> Iterator[str]:
    """Yield Tardis CSV rows (µs timestamps) from a Binance USD-M capture."""
    seen_snapshot = False
    with gzip.open(gz_path, "rt") as f:
        for line in f:
            local_ns, _, payload = line.partition(" ")
            local_us = int(local_ns) // 1000
            msg = json.loads(payload)
            if "lastUpdateId" in msg:
                seen_snapshot = True
                ts_us = int(msg["T"]) * 1000
                pre = f"binance-futures,BTCUSDT,{ts_us},{local_us},true,"
                yield from (f"{pre}bid,{p},{q}\n" for p, q in msg["bids"])
                yield from (f"{pre}ask,{p},{q}\n" for p, q in msg["asks"])
                continue
            data = msg.get("data", {})
            if not seen_snapshot or data.get("e") != "depthUpdate":
                continue
            pre = f"binance-futures,BTCUSDT,{int(data['T']) * 1000},{local_us},false,"
            yield from (f"{pre}bid,{p},{q}\n" for p, q in data["b"])
            yield from (f"{pre}ask,{p},{q}\n" for p, q in data["a"])


def tardis_from_binance(gz_path: Path, out: Path) -> int:
    """Write a Tardis incremental_book_L2 CSV; return the number of data rows."""
    n = 0
    with out.open("w") as f:
        f.write(TARDIS_HEADER)
        for row in _binance_rows(gz_path):
            f.write(row)
            n += 1
    return n


def _snapshot_block(mid: int, levels: int, ts: int, rng: np.random.Generator) -> np.ndarray:
    """CLEAR + SNAPSHOT rows for both sides around ``mid`` (ticks), one batch."""
    out = np.zeros(2 * levels + 2, C1_DTYPE)
    out["ts_exch"] = ts
    out["ts_recv"] = ts
    out["seq"] = -1
    out["kind"][[0, levels + 1]] = CLEAR
    out["side"][: levels + 1] = 1
    out["side"][levels + 1 :] = -1
    out["kind"][1 : levels + 1] = SNAPSHOT
    out["kind"][levels + 2 :] = SNAPSHOT
    out["price_ticks"][1 : levels + 1] = mid - 1 - np.arange(levels)
    out["price_ticks"][levels + 2 :] = mid + 1 + np.arange(levels)
    out["qty"][1 : levels + 1] = rng.uniform(0.001, 5.0, levels).round(3)
    out["qty"][levels + 2 :] = rng.uniform(0.001, 5.0, levels).round(3)
    out["flags"][-1] = F_LAST
    return out


def _message(mid: int, move: int, ts: int, rng: np.random.Generator) -> list[tuple[object, ...]]:
    """One batch of C1 rows; a mid move deletes the level the other side may now reach."""
    rows: list[tuple[object, ...]] = []
    if move > 0:
        rows.append((ts, ts + 1_000_000, -1, mid - 1, 0.0, BOOK, -1, 0))
    elif move < 0:
        rows.append((ts, ts + 1_000_000, -1, mid + 1, 0.0, BOOK, 1, 0))
    for _ in range(int(rng.integers(1, 8))):
        side = 1 if rng.random() < 0.5 else -1
        off = int(rng.geometric(0.15)) - 1
        qty = 0.0 if rng.random() < 0.25 else float(round(rng.uniform(0.001, 5.0), 3))
        rows.append((ts, ts + 1_000_000, -1, mid - side * (1 + off), qty, BOOK, side, 0))
    if rng.random() < 0.2:
        side = 1 if rng.random() < 0.5 else -1
        rows.append((ts, ts + 1_000_000, -1, mid + side, 0.01, TRADE, side, 0))
    return rows


def synthetic(n: int, seed: int = 7, mid: int = 600_000) -> np.ndarray:
    """Random uncrossed C1 stream with about ``n`` rows (ticks around ``mid``)."""
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000_000_000_000
    parts = [_snapshot_block(mid, 500, ts, rng)]
    rows: list[tuple[object, ...]] = []
    total = len(parts[0])
    while total + len(rows) < n:
        ts += int(rng.integers(1_000, 5_000_000))
        move = int(rng.choice([-1, 0, 0, 0, 0, 0, 0, 0, 1]))
        mid += move
        batch = _message(mid, move, ts, rng)
        batch[-1] = (*batch[-1][:-1], F_LAST)
        rows.extend(batch)
    parts.append(np.array(rows, dtype=C1_DTYPE))
    out = np.concatenate(parts)[: max(n, len(parts[0]))]
    out["flags"][-1] |= F_LAST
    return out


def _fmt(x: float) -> str:
    """Short decimal string (repr round-trips float64)."""
    return repr(float(x))


def tardis_from_npy(npy: Path, out: Path, tick_size: float) -> int:
    """Write C1 BOOK/SNAPSHOT rows as a Tardis CSV; return the number of data rows."""
    ev = np.load(npy)
    keep = ev[(ev["kind"] == BOOK) | (ev["kind"] == SNAPSHOT)]
    decimals = max(0, -int(np.floor(np.log10(tick_size))) + 1)
    price = np.round(keep["price_ticks"] * tick_size, decimals)
    ts_exch = np.where(keep["ts_exch"] >= 0, keep["ts_exch"], keep["ts_recv"]) // 1000
    with out.open("w") as f:
        f.write(TARDIS_HEADER)
        for i in range(len(keep)):
            snap = "true" if keep["kind"][i] == SNAPSHOT else "false"
            side = "bid" if keep["side"][i] > 0 else "ask"
            f.write(
                f"binance-futures,BTCUSDT,{ts_exch[i]},{keep['ts_recv'][i] // 1000},{snap},"
                f"{side},{_fmt(price[i])},{_fmt(keep['qty'][i])}\n"
            )
    return len(keep)


def main() -> None:
    """Command-line entry point (see module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("tardis-from-binance")
    a.add_argument("gz", type=Path)
    a.add_argument("out", type=Path)
    b = sub.add_parser("synthetic")
    b.add_argument("out", type=Path)
    b.add_argument("--n", type=int, default=1_000_000)
    b.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("tardis-from-npy")
    c.add_argument("npy", type=Path)
    c.add_argument("out", type=Path)
    c.add_argument("--tick-size", type=float, required=True)
    args = ap.parse_args()
    if args.cmd == "tardis-from-binance":
        print(f"{tardis_from_binance(args.gz, args.out)} rows -> {args.out}")
    elif args.cmd == "synthetic":
        ev = synthetic(args.n, args.seed)
        np.save(args.out, ev)
        print(f"{len(ev)} C1 events -> {args.out}")
    else:
        print(f"{tardis_from_npy(args.npy, args.out, args.tick_size)} rows -> {args.out}")


if __name__ == "__main__":
    main()
