"""hftbacktest 2.4.4 peer benchmark: ingest (Binance futures converter) and depth replay.

Run inside ``benchmarks/peers/.venv`` (see README.md). Prints one JSON object on stdout.

Timed regions (best of ``--repeat``, JIT warmed up first, setup outside the timer):

- ingest: ``hftbacktest.data.utils.binancefutures.convert(gz)`` end to end (gzip + JSON
  parse + latency correction + ``correct_event_order`` + validation).
- replay: a ``@njit`` loop ``while hbt.wait_next_feed(False, big) == 2`` that reads
  ``depth.best_bid_tick`` / ``best_ask_tick`` at every feed stop (one stop per distinct
  local timestamp), over a ``ROIVectorMarketDepthBacktest`` or ``HashMapMarketDepthBacktest``
  (both measured; the faster is reported). Mode ``local``: events flagged LOCAL_EVENT only,
  i.e. one book (the strategy's view), like our replay. Mode ``full``: hftbacktest's normal
  EXCH+LOCAL stream, i.e. two books (exchange side + local side); reported as extra keys.
- bare numba baseline: a trivial ``@njit`` loop writing qty into dense price-indexed arrays.

Mode ``--imbalance-top5`` (a separate run: no ingest timing, local rows only, ROI vector
depth): the same feed loop, once reading only the best bid/ask (book-only, as above) and once
reading the top 5 non-empty levels of each side at every feed stop and accumulating the
5-level size imbalance. The two are timed alternately in the same process. Two level
readers: ``bid_qty_at_tick``/``ask_qty_at_tick`` per tick (the depth's accessor) and the
``bid_depth``/``ask_depth`` arrays indexed directly; the faster is reported. Walks are
bounded by the ROI and ``MAX_WALK`` ticks from the best price.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    USDM_GZ,
    best_of,
    capture_stdout,
    emit_json,
    log,
    peak_rss_mb,
    rate,
)

STDOUT_FD = capture_stdout()

import hftbacktest as hbt_mod  # noqa: E402
from hftbacktest import (  # noqa: E402
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
    ROIVectorMarketDepthBacktest,
)
from hftbacktest.data.utils import binancefutures  # noqa: E402
from hftbacktest.data.validation import correct_event_order  # noqa: E402
from hftbacktest.types import event_dtype  # noqa: E402
from numba import njit  # noqa: E402

BIG_TIMEOUT = 1 << 62
DEPTH_KINDS = (DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT)
BUILDERS = {"roivec": ROIVectorMarketDepthBacktest, "hashmap": HashMapMarketDepthBacktest}


@njit
def replay_nb(hbt: Any) -> tuple[int, int, int, int]:
    """Step every feed stop, read best bid/ask ticks; return (stops, checksum, bid, ask)."""
    stops = 0
    acc = 0
    while hbt.wait_next_feed(False, BIG_TIMEOUT) == 2:
        depth = hbt.depth(0)
        acc += depth.best_ask_tick - depth.best_bid_tick
        stops += 1
    depth = hbt.depth(0)
    return stops, acc, depth.best_bid_tick, depth.best_ask_tick


@njit
def bare_dense_nb(
    idx: np.ndarray, side: np.ndarray, qty: np.ndarray, bids: np.ndarray, asks: np.ndarray
) -> float:
    """Write qty into preallocated dense bid/ask arrays by tick offset (no BBO upkeep)."""
    for i in range(idx.shape[0]):
        if side[i] > 0:
            bids[idx[i]] = qty[i]
        elif side[i] < 0:
            asks[idx[i]] = qty[i]
    return bids[idx[-1]] + asks[idx[-1]]


def local_only(data: np.ndarray) -> np.ndarray:
    """Rows that the local processor sees, with the EXCH flag cleared (one book)."""
    out = data[(data["ev"] & LOCAL_EVENT) != 0].copy()
    out["ev"] &= ~np.uint64(EXCH_EVENT)
    return out


def make_backtest(kind: str, data: np.ndarray, tick: float, lot: float) -> Any:
    """Build a one-asset backtest over ``data`` with a ROI covering every price."""
    px = data["px"][np.isfinite(data["px"])]
    asset = (
        BacktestAsset()
        .data(data)
        .linear_asset(1.0)
        .constant_order_latency(0, 0)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(tick)
        .lot_size(lot)
        .last_trades_capacity(0)
    )
    if kind == "roivec":
        asset = asset.roi_lb(float(px.min()) - 10 * tick).roi_ub(float(px.max()) + 10 * tick)
    return BUILDERS[kind]([asset])


def time_replay(
    data: np.ndarray, tick: float, lot: float, repeat: int
) -> tuple[dict[str, float], list[float]]:
    """Best replay seconds per depth implementation (JIT warm) and the final BBO prices."""
    out: dict[str, float] = {}
    bbo: list[float] = []
    for kind in BUILDERS:
        best = float("inf")
        for _ in range(repeat):
            bt = make_backtest(kind, data, tick, lot)
            t0 = time.perf_counter()
            stops, _, bid, ask = replay_nb(bt)
            best = min(best, time.perf_counter() - t0)
            bt.close()
        log(f"replay {kind}: {len(data)} rows, {stops} stops, best {best:.4f} s")
        out[kind] = best
        bbo = [round(bid * tick, 10), round(ask * tick, 10)]
    return out, bbo


def warm_up(data: np.ndarray, tick: float, lot: float) -> None:
    """Compile the njit loops for both depth types on a small prefix (not timed)."""
    small = data[:2000].copy()
    for kind in BUILDERS:
        bt = make_backtest(kind, small, tick, lot)
        replay_nb(bt)
        bt.close()
    idx = np.zeros(4, np.int64)
    bare_dense_nb(idx, np.ones(4, np.int8), np.ones(4), np.zeros(1), np.zeros(1))


def bare_inputs(data: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Dense-array inputs from depth rows: (tick offset, side, qty, width), not timed."""
    kind = (data["ev"] & 0xFF).astype(np.int64)
    side = np.where(data["ev"] & BUY_EVENT, 1, np.where(data["ev"] & SELL_EVENT, -1, 0))
    side = np.where(np.isin(kind, DEPTH_KINDS), side, 0).astype(np.int8)
    ticks = np.round(data["px"] / tick).astype(np.int64)
    lo = int(ticks[side != 0].min()) if (side != 0).any() else 0
    idx = np.where(side != 0, ticks - lo, 0)
    width = int(idx.max()) + 1
    return idx, side, data["qty"].copy(), width


def time_bare(data: np.ndarray, tick: float, repeat: int) -> float:
    """Best seconds of the bare dense-array loop over ``data``'s rows (arrays preallocated)."""
    idx, side, qty, width = bare_inputs(data, tick)
    bids, asks = np.zeros(width), np.zeros(width)
    secs, _ = best_of(repeat, lambda: None, lambda _s: bare_dense_nb(idx, side, qty, bids, asks))
    return secs


def c1_to_hbt(c1: np.ndarray, tick: float) -> np.ndarray:
    """Our C1 events -> hftbacktest events (LOCAL flag only); CLEAR clears the whole side."""
    out = np.zeros(len(c1), event_dtype)
    kind_map = np.zeros(256, np.uint64)
    kind_map[[1, 2, 3, 4]] = [DEPTH_EVENT, TRADE_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_CLEAR_EVENT]
    side_flag = np.where(c1["side"] > 0, BUY_EVENT, np.where(c1["side"] < 0, SELL_EVENT, 0))
    out["ev"] = kind_map[c1["kind"]] | side_flag.astype(np.uint64) | np.uint64(LOCAL_EVENT)
    out["exch_ts"] = np.where(c1["ts_exch"] >= 0, c1["ts_exch"], c1["ts_recv"])
    out["local_ts"] = c1["ts_recv"]
    out["px"] = c1["price_ticks"] * tick
    out["qty"] = c1["qty"]
    clear = c1["kind"] == 4
    priced = np.isin(c1["kind"], (1, 3))
    bids = c1["price_ticks"][priced & (c1["side"] > 0)]
    asks = c1["price_ticks"][priced & (c1["side"] < 0)]
    bid_lo = int(bids.min()) if len(bids) else 0
    ask_hi = int(asks.max()) if len(asks) else 0
    out["px"][clear & (c1["side"] > 0)] = bid_lo * tick
    out["px"][clear & (c1["side"] < 0)] = ask_hi * tick
    return out


def with_exch(local: np.ndarray) -> np.ndarray:
    """hftbacktest's EXCH+LOCAL stream from a local-only one (its correct_event_order)."""
    raw = local.copy()
    raw["ev"] &= ~np.uint64(LOCAL_EVENT)
    order_exch = np.argsort(raw["exch_ts"], kind="mergesort")
    order_local = np.argsort(raw["local_ts"], kind="mergesort")
    return correct_event_order(raw, order_exch, order_local)


def bench_ingest(gz: Path, repeat: int) -> tuple[dict[str, Any], np.ndarray]:
    """Time binancefutures.convert; return JSON fields and the converted events."""
    import gzip

    with gzip.open(gz, "rb") as f:
        lines = sum(1 for _ in f)
    data = binancefutures.convert(str(gz))  # JIT warm-up of the validation kernels
    secs, data = best_of(repeat, lambda: None, lambda _s: binancefutures.convert(str(gz)))
    n_events = int(((data["ev"] & LOCAL_EVENT) != 0).sum())
    log(f"ingest: {lines} lines -> {n_events} events ({len(data)} rows), best {secs:.4f} s")
    fields = {
        "ingest_input_lines": lines,
        "ingest_events": n_events,
        "ingest_output_rows": len(data),
        "ingest_rows_per_s": rate(lines, secs),
        "ingest_events_per_s": rate(n_events, secs),
    }
    return fields, data


def replay_fields(
    prefix: str, local: np.ndarray, full: np.ndarray, tick: float, lot: float, rep: int
) -> dict[str, Any]:
    """Replay + bare-baseline rates for one stream (local mode primary, full mode extra)."""
    n = len(local)
    warm_up(local, tick, lot)
    loc, bbo = time_replay(local, tick, lot, rep)
    both, _ = time_replay(full, tick, lot, rep)
    best_kind = min(loc, key=lambda k: loc[k])
    return {
        f"{prefix}replay_events": n,
        f"{prefix}replay_events_per_s": rate(n, loc[best_kind]),
        f"{prefix}replay_depth_impl": best_kind,
        f"{prefix}replay_final_bbo": bbo,
        f"{prefix}replay_detail_events_per_s": {
            **{f"local_{k}": rate(n, s) for k, s in loc.items()},
            **{f"full_{k}": rate(n, s) for k, s in both.items()},
        },
        f"{prefix}bare_numba_dense_events_per_s": rate(n, time_bare(local, tick, rep)),
    }


MAX_WALK = 4096
"""Most ticks walked from the best price per side when collecting the top 5 levels."""
TOP_N = 5


@njit
def top_bid_nb(depth: Any, n: int) -> tuple[float, int]:
    """Sum of the best ``n`` non-empty bid sizes via ``bid_qty_at_tick``; (sum, ticks walked)."""
    tick = depth.best_bid_tick
    lo = max(depth.roi_lb_tick, tick - MAX_WALK)
    if tick < lo or tick > depth.roi_ub_tick:
        return 0.0, 0
    total, found, start = 0.0, 0, tick
    while found < n and tick >= lo:
        q = depth.bid_qty_at_tick(tick)
        if q > 0.0:
            total += q
            found += 1
        tick -= 1
    return total, start - tick


@njit
def top_ask_nb(depth: Any, n: int) -> tuple[float, int]:
    """Sum of the best ``n`` non-empty ask sizes via ``ask_qty_at_tick``; (sum, ticks walked)."""
    tick = depth.best_ask_tick
    hi = min(depth.roi_ub_tick, tick + MAX_WALK)
    if tick > hi or tick < depth.roi_lb_tick:
        return 0.0, 0
    total, found, start = 0.0, 0, tick
    while found < n and tick <= hi:
        q = depth.ask_qty_at_tick(tick)
        if q > 0.0:
            total += q
            found += 1
        tick += 1
    return total, tick - start


@njit
def top_array_nb(arr: np.ndarray, idx: int, step: int, n: int) -> float:
    """Sum of the first ``n`` non-zero ``arr`` values from ``idx`` in direction ``step``."""
    total, found, walked = 0.0, 0, 0
    while found < n and 0 <= idx < arr.shape[0] and walked < MAX_WALK:
        q = arr[idx]
        if q > 0.0:
            total += q
            found += 1
        idx += step
        walked += 1
    return total


@njit
def imbalance_top5_nb(hbt: Any) -> tuple[int, float, int]:
    """Every feed stop: top-5 sizes per side via ``*_qty_at_tick``, 5-level imbalance.

    Returns (stops, sum of imbalances as a checksum, ticks walked).
    """
    stops, acc, walked = 0, 0.0, 0
    while hbt.wait_next_feed(False, BIG_TIMEOUT) == 2:
        depth = hbt.depth(0)
        b, wb = top_bid_nb(depth, TOP_N)
        a, wa = top_ask_nb(depth, TOP_N)
        if a + b > 0.0:
            acc += (b - a) / (b + a)
        walked += wb + wa
        stops += 1
    return stops, acc, walked


@njit
def imbalance_top5_array_nb(hbt: Any) -> tuple[int, float, int]:
    """As ``imbalance_top5_nb``, reading the ``bid_depth``/``ask_depth`` arrays directly."""
    stops, acc = 0, 0.0
    while hbt.wait_next_feed(False, BIG_TIMEOUT) == 2:
        depth = hbt.depth(0)
        lb = depth.roi_lb_tick
        b = top_array_nb(depth.bid_depth, depth.best_bid_tick - lb, -1, TOP_N)
        a = top_array_nb(depth.ask_depth, depth.best_ask_tick - lb, 1, TOP_N)
        if a + b > 0.0:
            acc += (b - a) / (b + a)
        stops += 1
    return stops, acc, 0


IMBALANCE_LOOPS = {
    "book_only": replay_nb,
    "imbalance_qty_at_tick": imbalance_top5_nb,
    "imbalance_depth_array": imbalance_top5_array_nb,
}


def time_imbalance(data: np.ndarray, tick: float, lot: float, repeat: int) -> dict[str, Any]:
    """Best seconds of each loop in ``IMBALANCE_LOOPS`` (ROI vector), runs interleaved.

    A small stream gets ``ceil(5M / rows)`` runs at least, as in ``bench_features.py``.
    """
    repeat = max(repeat, -(-5_000_000 // max(len(data), 1)))
    small = data[:2000].copy()
    for loop in IMBALANCE_LOOPS.values():  # JIT warm-up, not timed
        bt = make_backtest("roivec", small, tick, lot)
        loop(bt)
        bt.close()
    best = dict.fromkeys(IMBALANCE_LOOPS, float("inf"))
    info: dict[str, Any] = {}
    for _ in range(repeat):
        for name, loop in IMBALANCE_LOOPS.items():
            bt = make_backtest("roivec", data, tick, lot)
            t0 = time.perf_counter()
            res = loop(bt)
            best[name] = min(best[name], time.perf_counter() - t0)
            bt.close()
            info[name] = res
    log("imbalance-top5: " + ", ".join(f"{k} {v:.4f} s" for k, v in best.items()))
    return {"secs": best, "results": info}


def imbalance_fields(
    prefix: str, local: np.ndarray, tick: float, lot: float, rep: int
) -> dict[str, Any]:
    """Book-only vs top-5 imbalance rates for one local-only stream, same process."""
    n = len(local)
    timed = time_imbalance(local, tick, lot, rep)
    secs, res = timed["secs"], timed["results"]
    via = min(("imbalance_qty_at_tick", "imbalance_depth_array"), key=lambda k: secs[k])
    stops, checksum, walked = res["imbalance_qty_at_tick"]
    return {
        f"{prefix}replay_events": n,
        f"{prefix}replay_stops": int(res["book_only"][0]),
        f"{prefix}replay_events_per_s": rate(n, secs["book_only"]),
        f"{prefix}replay_depth_impl": "roivec",
        f"{prefix}imbalance_top5_events_per_s": rate(n, secs[via]),
        f"{prefix}imbalance_top5_via": via,
        f"{prefix}imbalance_top5_detail_events_per_s": {
            k: rate(n, secs[k]) for k in IMBALANCE_LOOPS if k != "book_only"
        },
        f"{prefix}imbalance_top5_checksum": float(checksum),
        f"{prefix}imbalance_top5_array_checksum": float(res["imbalance_depth_array"][1]),
        f"{prefix}imbalance_top5_mean_ticks_walked": walked / max(int(stops), 1),
    }


def run_imbalance_mode(args: argparse.Namespace) -> dict[str, Any]:
    """``--imbalance-top5``: book-only vs top-5 imbalance on USD-M (+ synthetic)."""
    result: dict[str, Any] = {
        "peer": "hftbacktest",
        "version": hbt_mod.__version__,
        "mode": "imbalance_top5",
    }
    data = binancefutures.convert(str(args.binance_gz))  # input only, not timed
    result.update(imbalance_fields("", local_only(data), 0.1, 0.001, args.repeat))
    del data
    if args.synthetic_npy is not None:
        local = c1_to_hbt(np.load(args.synthetic_npy), args.tick_size)
        fields = imbalance_fields("synthetic_", local, args.tick_size, args.lot_size, args.repeat)
        result.update(fields)
    return result


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="hftbacktest peer benchmark")
    ap.add_argument("--binance-gz", type=Path, default=USDM_GZ)
    ap.add_argument("--synthetic-npy", type=Path, default=None)
    ap.add_argument("--tick-size", type=float, default=0.1, help="synthetic stream tick size")
    ap.add_argument("--lot-size", type=float, default=1e-9, help="synthetic stream lot size")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--imbalance-top5",
        action="store_true",
        help="only time book-only vs top-5 imbalance replay (ROI vector, local rows)",
    )
    args = ap.parse_args()
    if args.imbalance_top5:
        result = run_imbalance_mode(args)
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        emit_json(STDOUT_FD, result)
        return
    result: dict[str, Any] = {"peer": "hftbacktest", "version": hbt_mod.__version__}
    ingest, data = bench_ingest(args.binance_gz, args.repeat)
    result.update(ingest)
    result.update(replay_fields("", local_only(data), data, 0.1, 0.001, args.repeat))
    result["synthetic_replay_events_per_s"] = None
    if args.synthetic_npy is not None:
        local = c1_to_hbt(np.load(args.synthetic_npy), args.tick_size)
        full = with_exch(local)
        fields = replay_fields(
            "synthetic_", local, full, args.tick_size, args.lot_size, args.repeat
        )
        result.update(fields)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    emit_json(STDOUT_FD, result)


if __name__ == "__main__":
    main()
