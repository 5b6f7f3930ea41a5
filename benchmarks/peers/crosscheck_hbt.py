"""hftbacktest 2.4.4 side of the fill cross-check (``benchmarks/crosscheck_hbt.py`` drives it).

Run inside ``benchmarks/peers/.venv``. Inputs: ``--events`` our C1 events of the capture
(``.npy``, the very rows our engine replays, so both sides walk the same book) and ``--plan``
(JSON written by the driver: the order schedules, latencies, clock shift). Prints one JSON
object on stdout: per variant, one row of numbers per scheduled order.

Clocks:

- ``aligned``: every row is ``EXCH_EVENT | LOCAL_EVENT`` with ``exch_ts = local_ts =
  ts_recv``: the exchange processor sees the same event order as the strategy (our engine
  with ``feed_ns = 0``).
- ``native``: ``exch_ts = ts_exch - shift`` (``shift`` = the largest ``ts_exch - ts_recv``,
  so every feed delay is >= 0; rows without a venue time use ``ts_recv - feed_ns``),
  ``local_ts = ts_recv``, EXCH/LOCAL order via hftbacktest's ``correct_event_order``. The
  driver runs our engine with ``feed_ns`` = the median of those delays.

Market orders (``market_nb``): at the first feed stop at/after each scheduled local time,
``submit_*_order(..., IOC, MARKET, wait=True)``. hftbacktest's exchange fills one report per
level swept, all at the same timestamp; its local side keeps only the LAST of them, both in
the order record (``exec_price_tick`` / ``exec_qty`` = the worst level) and in
``state_values`` (position and balance change by that last level only). So the row keeps the
order's ``qty - leaves_qty`` (whole filled size), the last level's tick and size, and the
position / balance change as the local side saw it.
Resting orders (``limit_nb``): one at a time, GTC LIMIT at the best bid (buy) or best ask
(sell) seen at the decision; canceled at the first stop ``cancel_after_ns`` later if still
working; the result is read when the order is no longer active.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from _common import capture_stdout, emit_json, log, peak_rss_mb

STDOUT_FD = capture_stdout()

import hftbacktest as hbt_mod  # noqa: E402
from bench_hftbacktest import c1_to_hbt, with_exch  # noqa: E402
from hftbacktest import (  # noqa: E402
    EXCH_EVENT,
    LOCAL_EVENT,
    BacktestAsset,
    ROIVectorMarketDepthBacktest,
)
from hftbacktest.order import GTC, IOC, LIMIT, MARKET  # noqa: E402
from numba import njit  # noqa: E402

BIG = 1 << 62
TICK = 0.1
LOT = 0.001
ACTIVE_NEW, ACTIVE_PARTIAL = 1, 5
M_COLS = 9
"""market_nb row: decide_ts, best_bid, best_ask, position change, |balance change| in ticks,
last fill tick, status, last fill qty, qty - leaves_qty."""
L_COLS = 9
"""limit_nb row: decide_ts, best_bid, best_ask, price_tick, filled, status, maker, end_ts,
last fill tick."""


@njit
def market_nb(
    hbt: Any, sched: np.ndarray, side: np.ndarray, qty: np.ndarray, out: np.ndarray
) -> int:
    """Submit each scheduled MARKET order at the first feed stop at/after its time."""
    k = 0
    n = sched.shape[0]
    while k < n and hbt.wait_next_feed(False, BIG) == 2:
        now = hbt.current_timestamp
        if now < sched[k]:
            continue
        depth = hbt.depth(0)
        bid, ask = depth.best_bid_tick, depth.best_ask_tick
        sv = hbt.state_values(0)
        pos0, bal0 = sv.position, sv.balance
        oid = k + 1
        if side[k] > 0:
            hbt.submit_buy_order(0, oid, ask * TICK, qty[k], IOC, MARKET, True)
        else:
            hbt.submit_sell_order(0, oid, bid * TICK, qty[k], IOC, MARKET, True)
        sv = hbt.state_values(0)
        out[k, 0], out[k, 1], out[k, 2] = now, bid, ask
        out[k, 3] = sv.position - pos0
        out[k, 4] = abs(sv.balance - bal0) / TICK
        vals = hbt.orders(0).values()
        while vals.has_next():
            o = vals.get()
            if o.order_id == oid:
                out[k, 5] = o.exec_price_tick
                out[k, 6] = o.status
                out[k, 7] = o.exec_qty
                out[k, 8] = o.qty - o.leaves_qty
        hbt.clear_inactive_orders(0)
        k += 1
    return k


@njit
def _order_nb(hbt: Any, oid: int, row: np.ndarray) -> bool:
    """Copy order ``oid``'s outcome into ``row``; True while it is still working."""
    vals = hbt.orders(0).values()
    while vals.has_next():
        o = vals.get()
        if o.order_id == oid:
            row[3] = o.price_tick
            row[4] = o.qty - o.leaves_qty
            row[5] = o.status
            row[6] = 1.0 if o.arr[0].maker else 0.0
            row[8] = o.exec_price_tick
            return o.status == ACTIVE_NEW or o.status == ACTIVE_PARTIAL or o.req != 0
    return False


@njit
def limit_nb(
    hbt: Any, sched: np.ndarray, side: np.ndarray, qty: float, cancel_after: int, out: np.ndarray
) -> tuple[int, int]:
    """One resting GTC order at a time: join the best price, cancel after ``cancel_after`` ns.

    Returns (orders placed, last ``wait_next_feed`` code: 1 = end of data, > 3 = an error).
    """
    k, active, placed, canceled = 0, -1, 0, False
    n = sched.shape[0]
    rc = 2
    while rc == 2:
        rc = hbt.wait_next_feed(False, BIG)
        if rc != 2:
            break
        now = hbt.current_timestamp
        if active >= 0:
            if not _order_nb(hbt, active + 1, out[active]):
                out[active, 7] = now
                hbt.clear_inactive_orders(0)
                active = -1
            elif not canceled and now >= placed + cancel_after:
                hbt.cancel(0, active + 1, False)
                canceled = True
        if active < 0 and k < n and now >= sched[k]:
            depth = hbt.depth(0)
            bid, ask = depth.best_bid_tick, depth.best_ask_tick
            out[k, 0], out[k, 1], out[k, 2] = now, bid, ask
            if side[k] > 0:
                hbt.submit_buy_order(0, k + 1, bid * TICK, qty, GTC, LIMIT, False)
            else:
                hbt.submit_sell_order(0, k + 1, ask * TICK, qty, GTC, LIMIT, False)
            active, placed, canceled = k, now, False
            k += 1
        elif active < 0 and k >= n:
            break
    if active >= 0:
        _order_nb(hbt, active + 1, out[active])
    return k, rc


def stream(events: np.ndarray, clock: str, feed_ns: int) -> np.ndarray:
    """hftbacktest rows of our C1 ``events`` for the ``aligned`` or ``native`` clock."""
    local = c1_to_hbt(events, TICK)
    local["local_ts"] = events["ts_recv"]
    if clock == "aligned":
        local["exch_ts"] = events["ts_recv"]
        local["ev"] |= np.uint64(EXCH_EVENT | LOCAL_EVENT)
        return local
    has = events["ts_exch"] >= 0
    shift = int((events["ts_exch"][has] - events["ts_recv"][has]).max())
    local["exch_ts"] = np.where(has, events["ts_exch"] - shift, events["ts_recv"] - feed_ns)
    return with_exch(local)


def backtest(data: np.ndarray, queue: str, lat: tuple[int, int], partial: bool = True) -> Any:
    """One-asset ROI-vector backtest: partial-fill (or no-partial-fill) exchange, ``queue``."""
    px = data["px"][np.isfinite(data["px"]) & (data["px"] > 0)]
    asset = (
        BacktestAsset()
        .data(data)
        .linear_asset(1.0)
        .constant_order_latency(lat[0], lat[1])
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(TICK)
        .lot_size(LOT)
        .last_trades_capacity(0)
        .roi_lb(float(px.min()) - 10 * TICK)
        .roi_ub(float(px.max()) + 10 * TICK)
    )
    asset = asset.partial_fill_exchange() if partial else asset.no_partial_fill_exchange()
    if queue == "risk_adverse":
        asset = asset.risk_adverse_queue_model()
    elif queue == "power_prob_1":
        asset = asset.power_prob_queue_model(1.0)
    elif queue == "log_prob":
        asset = asset.log_prob_queue_model()
    else:
        raise ValueError(queue)
    return ROIVectorMarketDepthBacktest([asset])


def run_market(data: np.ndarray, plan: dict[str, Any]) -> list[list[float]]:
    """Per-order rows of the MARKET schedule."""
    m = plan["market"]
    out = np.full((len(m["ts"]), M_COLS), np.nan)
    bt = backtest(data, "risk_adverse", (plan["entry_ns"], plan["response_ns"]))
    market_nb(
        bt,
        np.array(m["ts"], np.int64),
        np.array(m["side"], np.int64),
        np.array(m["qty"], np.float64),
        out,
    )
    bt.close()
    return out.tolist()


def run_limit(data: np.ndarray, plan: dict[str, Any], variant: str) -> dict[str, Any]:
    """Per-order rows of the resting-order schedule; ``variant`` = queue[+"_nopartial"]."""
    lim = plan["limit"]
    out = np.full((len(lim["ts"]), L_COLS), np.nan)
    queue = variant.removesuffix("_nopartial")
    bt = backtest(data, queue, (plan["entry_ns"], plan["response_ns"]), queue == variant)
    k, rc = limit_nb(
        bt,
        np.array(lim["ts"], np.int64),
        np.array(lim["side"], np.int64),
        float(lim["qty"]),
        int(lim["cancel_after_ns"]),
        out,
    )
    stop_ts = int(bt.current_timestamp)
    bt.close()
    if rc != 1:
        log(f"{variant}: wait_next_feed returned {rc} at local ts {stop_ts} after {k} orders")
    return {"rows": out.tolist(), "placed": k, "last_rc": int(rc), "stop_ts": stop_ts}


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="hftbacktest side of the fill cross-check")
    ap.add_argument("--events", type=Path, required=True)
    ap.add_argument("--plan", type=Path, required=True)
    args = ap.parse_args()
    plan = json.loads(args.plan.read_text())
    events = np.load(args.events)
    result: dict[str, Any] = {"peer": "hftbacktest", "version": hbt_mod.__version__}
    for clock in plan["clocks"]:
        data = stream(events, clock, int(plan["feed_ns"]))
        log(f"crosscheck {clock}: {len(data)} rows")
        result[f"market_{clock}"] = run_market(data, plan)
        for queue in plan["queues"]:
            result[f"limit_{clock}_{queue}"] = run_limit(data, plan, queue)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    emit_json(STDOUT_FD, result)


if __name__ == "__main__":
    main()
