"""hftbacktest 2.4.4 market maker: the peer of ``benchmarks/bench_backtest.py``.

Run inside ``benchmarks/peers/.venv``. Prints one JSON object on stdout.

The strategy is ours (``l2trader.engine.strategies.market_maker``, same defaults) written
with hftbacktest's idioms: an ``@njit`` loop ``while hbt.wait_next_feed(False, big) == 2``
(a stop at every distinct local timestamp, trades included); per stop it reads the best
bid/ask and the top-5 levels of each side from the ``bid_depth``/``ask_depth`` arrays of a
``ROIVectorMarketDepth``, updates a time-decayed mid volatility (60 s half-life), computes
the micro-price, the 5-level imbalance and the Avellaneda-Stoikov quotes, keeps a working
order within ``requote_ticks`` of its quote, cancels the others and submits a new GTX
(post-only) GTC LIMIT when none is kept; then ``clear_inactive_orders``. Exchange:
``no_partial_fill_exchange`` (``partial_fill_exchange`` stops the run with
``InvalidOrderStatus`` = code 14 after a few hundred fills on USD-M: hftbacktest issues
#301/#312), ``risk_adverse_queue_model``, constant order latency 1 ms / 1 ms, no fees.
Input rows: our C1 events (``--usdm-npy``, ``--synthetic-npy``) converted by
``bench_hftbacktest.c1_to_hbt`` with ``exch_ts = local_ts = ts_recv`` and both EXCH and LOCAL
flags, so hftbacktest keeps its two books (exchange + local) over the very rows we replay.
Building the backtest is untimed; JIT warmed on a prefix; best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import capture_stdout, emit_json, log, peak_rss_mb, rate

STDOUT_FD = capture_stdout()

import hftbacktest as hbt_mod  # noqa: E402
from bench_hftbacktest import c1_to_hbt, top_array_nb  # noqa: E402
from hftbacktest import (  # noqa: E402
    EXCH_EVENT,
    LOCAL_EVENT,
    BacktestAsset,
    ROIVectorMarketDepthBacktest,
)
from hftbacktest.order import GTX, LIMIT, NEW, NONE, PARTIALLY_FILLED  # noqa: E402
from numba import njit  # noqa: E402

BIG = 1 << 62
LATENCY_NS = 1_000_000
GAMMA, KAPPA, HORIZON_S, MIN_HALF, REQUOTE = 0.001, 1.0, 1.0, 1.0, 1
VOL_HALFLIFE_S = 60.0
LN2 = math.log(2.0)
STREAMS = {"usdm": (0.1, 0.001, 0.001, 0.01), "synthetic": (0.01, 1e-9, 1.0, 10.0)}
"""stream -> (tick size, lot size, quote size, inventory cap)."""


@njit
def quotes_nb(
    bb: int, ba: int, bq: float, aq: float, imb: float, vol: float, pos: float, unit: float
) -> tuple[int, int]:
    """Avellaneda-Stoikov quotes (ticks), kept passive; as ``mm_quotes_nb`` + ``mm_decide_nb``."""
    mid = 0.5 * (bb + ba)
    fair = (bb * aq + ba * bq) / (bq + aq) if bq + aq > 0.0 else mid
    fair += 0.0 * imb
    sigma = vol * mid / 1e4
    risk = GAMMA * sigma * sigma * HORIZON_S
    r = fair - pos / unit * risk
    delta = max(MIN_HALF, (risk + 2.0 / GAMMA * math.log(1.0 + GAMMA / KAPPA)) / 2.0)
    bid = min(math.floor(r - delta), ba - 1)
    ask = max(math.ceil(r + delta), bb + 1)
    return bid, ask


@njit
def manage_nb(hbt: Any, side: int, price: int, qty: float, tick: float, next_id: int) -> int:
    """Keep one order within ``REQUOTE`` ticks, cancel the rest, place one if none kept."""
    kept = False
    vals = hbt.orders(0).values()
    while vals.has_next():
        o = vals.get()
        if o.side != side or not (o.status == NEW or o.status == PARTIALLY_FILLED):
            continue
        if o.req != NONE:
            continue
        if qty > 0.0 and not kept and abs(o.price_tick - price) <= REQUOTE:
            kept = True
        else:
            hbt.cancel(0, o.order_id, False)
    if qty > 0.0 and not kept:
        if side > 0:
            hbt.submit_buy_order(0, next_id, price * tick, qty, GTX, LIMIT, False)
        else:
            hbt.submit_sell_order(0, next_id, price * tick, qty, GTX, LIMIT, False)
        next_id += 1
    return next_id


@njit
def mm_nb(hbt: Any, tick: float, qty: float, max_inv: float) -> tuple[int, int, int, int]:
    """The market maker over the whole stream; (stops, decisions, orders sent, last rc)."""
    stops, decisions, next_id = 0, 0, 1
    vs, vt, prev_mid, prev_ts = 0.0, 0.0, math.nan, -1
    rc = 2
    while True:
        rc = hbt.wait_next_feed(False, BIG)
        if rc != 2:
            break
        stops += 1
        depth = hbt.depth(0)
        bb, ba = depth.best_bid_tick, depth.best_ask_tick
        if bb >= ba or bb < depth.roi_lb_tick or ba > depth.roi_ub_tick:
            continue
        now = hbt.current_timestamp
        mid = 0.5 * (bb + ba)
        if mid != prev_mid:
            if prev_ts >= 0:
                dt = (now - prev_ts) * 1e-9
                ret = math.log(mid / prev_mid) * 1e4
                decay = math.exp(-dt * LN2 / VOL_HALFLIFE_S)
                vs, vt = vs * decay + ret * ret, vt * decay + dt
            prev_mid, prev_ts = mid, now
        if not vt > 0.0:
            continue
        lb = depth.roi_lb_tick
        b5 = top_array_nb(depth.bid_depth, bb - lb, -1, 5)
        a5 = top_array_nb(depth.ask_depth, ba - lb, 1, 5)
        imb = (b5 - a5) / (b5 + a5) if b5 + a5 > 0.0 else 0.0
        pos = hbt.position(0)
        bq, aq = depth.bid_qty_at_tick(bb), depth.ask_qty_at_tick(ba)
        bid, ask = quotes_nb(bb, ba, bq, aq, imb, math.sqrt(vs / vt), pos, qty)
        decisions += 1
        next_id = manage_nb(hbt, 1, bid, min(qty, max(max_inv - pos, 0.0)), tick, next_id)
        next_id = manage_nb(hbt, -1, ask, min(qty, max(max_inv + pos, 0.0)), tick, next_id)
        hbt.clear_inactive_orders(0)
    return stops, decisions, next_id - 1, rc


def hbt_rows(c1: np.ndarray, tick: float) -> np.ndarray:
    """Our C1 rows as hftbacktest events on one clock (EXCH and LOCAL on every row)."""
    out = c1_to_hbt(c1, tick)
    out["exch_ts"] = c1["ts_recv"]
    out["local_ts"] = c1["ts_recv"]
    out["ev"] |= np.uint64(EXCH_EVENT | LOCAL_EVENT)
    return out


def build(data: np.ndarray, tick: float, lot: float) -> Any:
    """ROI-vector backtest, no partial fills, risk-adverse queue, 1 ms latencies, no fees."""
    px = data["px"][np.isfinite(data["px"]) & (data["px"] > 0)]
    asset = (
        BacktestAsset()
        .data(data)
        .linear_asset(1.0)
        .constant_order_latency(LATENCY_NS, LATENCY_NS)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(tick)
        .lot_size(lot)
        .last_trades_capacity(0)
        .roi_lb(float(px.min()) - 10 * tick)
        .roi_ub(float(px.max()) + 10 * tick)
    )
    return ROIVectorMarketDepthBacktest([asset])


def bench_stream(npy: Path, stream: str, repeat: int) -> dict[str, Any]:
    """Best-of-``repeat`` market-maker run on one stream (JIT warmed on a prefix)."""
    tick, lot, qty, max_inv = STREAMS[stream]
    c1 = np.load(npy)
    data = hbt_rows(c1, tick)
    bt = build(data[:20_000].copy(), tick, lot)
    mm_nb(bt, tick, qty, max_inv)
    bt.close()
    best, res, fills = float("inf"), (0, 0, 0, 0), 0
    for _ in range(repeat):
        bt = build(data, tick, lot)
        t0 = time.perf_counter()
        res = mm_nb(bt, tick, qty, max_inv)
        best = min(best, time.perf_counter() - t0)
        fills = int(bt.state_values(0).num_trades)
        bt.close()
    log(
        f"{stream}: {len(c1)} events, {res[0]} stops, {res[1]} decisions, rc {res[3]}, "
        f"best {best:.3f} s"
    )
    pre = "" if stream == "usdm" else "synthetic_"
    return {
        f"{pre}events": len(c1),
        f"{pre}stops": res[0],
        f"{pre}decisions": res[1],
        f"{pre}orders": res[2],
        f"{pre}fills": fills,
        f"{pre}seconds": best,
        f"{pre}events_per_s": rate(len(c1), best),
        f"{pre}decisions_per_s": rate(res[1], best),
    }


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="hftbacktest market-maker peer benchmark")
    ap.add_argument("--usdm-npy", type=Path, required=True)
    ap.add_argument("--synthetic-npy", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    result: dict[str, Any] = {"peer": "hftbacktest", "version": hbt_mod.__version__}
    result.update(bench_stream(args.usdm_npy, "usdm", args.repeat))
    if args.synthetic_npy is not None:
        result.update(bench_stream(args.synthetic_npy, "synthetic", args.repeat))
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    emit_json(STDOUT_FD, result)


if __name__ == "__main__":
    main()
