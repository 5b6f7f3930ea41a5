"""Time a full analysis (``l2trader.analysis.analyze``) of a large synthetic run.

Issue 5 target: 1M fills and 10M equity points analysed in under 10 s on this 2-core machine,
peak memory under 4 GB. The run is synthetic but shaped like a market maker's (seeded):

- market: a 100 ms grid (``--step-ms``) of a BTC-like book (tick 0.1, mid ~60,000, spread
  1-3 ticks, 5-level depth) -- the same grid as the equity record, 10M points -- and a
  2,500-row x 41-tick depth heatmap;
- orders (C5): POST_ONLY maker quotes (1 in 3 filled, once or twice; the rest CANCELed) and
  MARKET taker orders walking 1-3 levels (one fill per level), NEW rows plus CANCEL rows;
  order events: ACCEPTED, PARTIALLY_FILLED/FILLED, CANCELED, and a few risk REJECTED;
- fills (C6): 70% maker (rest at the quote, rebate -0.5 bps), 30% taker (4 bps); the side
  keeps the inventory within +-0.5 BTC; 1 ms entry/response latency;
- equity (C7): position, cash, fees and ``equity = cash + position * mid`` on the grid;
- signals (C4): every 500 ms, score = noisy forward 1 s mid return (bps), 5% NaN.

Inputs are generated once (in their own process) into ``/tmp/l2trader-bench-cache``; every
timed run loads them in a fresh ``spawn``ed process, warms the numba JIT on a small run, then
times each step, so the peak RSS (``ru_maxrss``) is that analysis' own.

``--sections`` (default on) times every section function on its own in a second process;
``--profile N`` prints the N most expensive functions of one ``analyze`` (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import CACHE, console, in_child, log, peak_rss_mb, rss_mb
from numba import njit
from rich.table import Table

from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.schema import (
    FILL_DTYPE,
    ORDER_DTYPE,
    ORDER_EVENT_DTYPE,
    SIGNAL_DTYPE,
    STATE_DTYPE,
    Liquidity,
    OrderAction,
    OrderStatus,
    OrderType,
    Reject,
    TimeInForce,
)

TICK = 0.1
P0_TICKS = 600_000
CAPITAL = 100_000.0
LAT_NS = 1_000_000
T0_NS = 1_700_006_400 * 10**9  # 2023-11-15 00:00 UTC
HEAT_ROWS = 2_500
HEAT_HALF = 20
MAKER_BPS, TAKER_BPS = -0.5, 4.0
POS_CAP = 0.5
SECTIONS = (
    "performance",
    "risk",
    "drawdowns",
    "benchmark",
    "trades",
    "microstructure",
    "execution",
    "signals",
    "regimes",
)


# ---------------------------------------------------------------------------------------------
# synthetic run
# ---------------------------------------------------------------------------------------------


def make_market(rng: np.random.Generator, n: int, step_ns: int) -> dict[str, np.ndarray]:
    """Book on the grid: bid random walk (ticks), spread 1-3 ticks, depth, heatmap."""
    ts = T0_NS + step_ns * np.arange(n, dtype=np.int64)
    moves = np.rint(rng.standard_normal(n) * 1.5).astype(np.int64)
    bid = P0_TICKS + np.cumsum(moves)
    spread = 1 + (rng.random(n) < 0.2).astype(np.int64) + (rng.random(n) < 0.05)
    mid = (bid + 0.5 * spread) * TICK
    mid[:3] = np.nan  # before the first book state
    depth = rng.lognormal(np.log(25.0), 0.6, size=(2, n))
    heat_n = HEAT_ROWS if n % HEAT_ROWS == 0 else 1
    heat = rng.lognormal(np.log(5.0), 1.0, size=(heat_n, 2 * HEAT_HALF + 1))
    heat[:, HEAT_HALF - 1 : HEAT_HALF + 2] *= rng.random((heat_n, 3)) < 0.5
    return {
        "ts": ts,
        "bid": bid,
        "spread_ticks": spread,
        "mid": mid,
        "spread": spread * TICK,
        "bid_depth": depth[0],
        "ask_depth": depth[1],
        "heat": heat,
    }


@njit(cache=True)
def _assign_sides(
    order_qty: np.ndarray, u: np.ndarray, cap: float
) -> np.ndarray:  # pragma: no cover
    """Side per filled order (in fill order): random, leaning against the inventory."""
    side = np.empty(order_qty.size, np.int8)
    pos = 0.0
    for i in range(order_qty.size):
        lean = 0.5 + 0.45 * max(-1.0, min(1.0, pos / cap))  # P(sell)
        s = -1 if u[i] < lean else 1
        if abs(pos + s * order_qty[i]) > cap:
            s = -s
        side[i] = s
        pos += s * order_qty[i]
    return side


def _plan_orders(rng: np.random.Generator, n_fills: int, span_ns: int) -> dict[str, np.ndarray]:
    """Order kinds, fill counts and times (ns) for about ``n_fills`` fills."""
    n_taker = int(0.3 * n_fills / 1.4)
    n_maker_f = int((n_fills - 1.4 * n_taker) / 1.2)
    n_maker_c = 2 * n_maker_f
    kind = np.concatenate([np.full(n_taker, 2), np.full(n_maker_f, 1), np.full(n_maker_c, 0)])
    levels = np.where(kind == 2, rng.choice([1, 2, 3], kind.size, p=[0.7, 0.2, 0.1]), 1)
    nfill = np.where(kind == 2, levels, np.where(kind == 1, 1 + (rng.random(kind.size) < 0.2), 0))
    t_dec = T0_NS + 2 * 10**9 + np.sort(rng.integers(0, span_ns - 200 * 10**9, kind.size))
    perm = rng.permutation(kind.size)
    kind, levels, nfill = kind[perm], levels[perm], nfill[perm]
    wait = (rng.exponential(5.0, kind.size) * 1e9).astype(np.int64)
    first_fill = t_dec + LAT_NS + np.where(kind == 2, 0, wait)
    return {
        "kind": kind,
        "levels": levels,
        "nfill": nfill,
        "t_dec": t_dec,
        "first_fill": first_fill,
        "oid": np.arange(1, kind.size + 1, dtype=np.int64),
    }


def _grid_index(ts: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.maximum(np.searchsorted(ts, t, side="right") - 1, 0)


def make_fills(
    rng: np.random.Generator, plan: dict[str, np.ndarray], mkt: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """C6 fills of the filled orders and each order's side (0 for never filled orders)."""
    filled = np.flatnonzero(plan["nfill"] > 0)
    filled = filled[np.argsort(plan["first_fill"][filled], kind="stable")]
    qty = 0.002 * rng.integers(1, 6, plan["kind"].size)
    order_side = np.where(rng.random(qty.size) < 0.5, 1, -1).astype(np.int8)
    order_side[filled] = _assign_sides(qty[filled], rng.random(filled.size), POS_CAP)
    o = np.repeat(filled, plan["nfill"][filled])
    j = np.arange(o.size) - np.repeat(
        np.cumsum(plan["nfill"][filled]) - plan["nfill"][filled], plan["nfill"][filled]
    )
    taker = plan["kind"][o] == 2
    t = plan["first_fill"][o] + np.where(taker, 0, j * 700_000_000)
    k_dec, k_fill = _grid_index(mkt["ts"], plan["t_dec"][o]), _grid_index(mkt["ts"], t)
    side = order_side[o]
    quote = np.where(side > 0, mkt["bid"][k_dec], mkt["bid"][k_dec] + mkt["spread_ticks"][k_dec])
    cross = np.where(
        side > 0, mkt["bid"][k_fill] + mkt["spread_ticks"][k_fill] + j, mkt["bid"][k_fill] - j
    )
    f = np.zeros(o.size, FILL_DTYPE)
    f["ts_exch"], f["ts_recv"], f["order_id"], f["side"] = t, t + LAT_NS, plan["oid"][o], side
    f["liquidity"] = np.where(taker, Liquidity.TAKER, Liquidity.MAKER)
    f["levels"] = np.where(taker, plan["levels"][o], 1)
    f["price_ticks"] = np.where(taker, cross, quote)
    f["qty"] = np.where(taker, qty[o] / plan["levels"][o], qty[o] / plan["nfill"][o])
    bps = np.where(taker, TAKER_BPS, MAKER_BPS)
    f["fee"] = bps * 1e-4 * f["price_ticks"] * TICK * f["qty"]
    return f[np.argsort(f["ts_exch"], kind="stable")], order_side


def make_orders(
    rng: np.random.Generator,
    plan: dict[str, np.ndarray],
    side: np.ndarray,
    fills: np.ndarray,
    mkt: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """C5 order rows (NEW + CANCEL) and order events, each sorted by time."""
    kind, n = plan["kind"], plan["kind"].size
    new = np.zeros(n, ORDER_DTYPE)
    new["ts_recv"], new["order_id"], new["action"], new["side"] = (
        plan["t_dec"],
        plan["oid"],
        OrderAction.NEW,
        side,
    )
    new["order_type"] = np.where(kind == 2, OrderType.MARKET, OrderType.LIMIT)
    new["tif"] = np.where(kind == 2, TimeInForce.IOC, TimeInForce.POST_ONLY)
    k = _grid_index(mkt["ts"], plan["t_dec"])
    new["price_ticks"] = np.where(
        kind == 2, 0, np.where(side > 0, mkt["bid"][k], mkt["bid"][k] + mkt["spread_ticks"][k])
    )
    filled_qty = np.bincount(fills["order_id"], weights=fills["qty"], minlength=n + 1)[1:]
    new["qty"] = np.where(kind == 0, 0.002 * rng.integers(1, 6, n), filled_qty)
    canceled = np.flatnonzero(kind == 0)
    t_cancel = plan["t_dec"][canceled] + (rng.exponential(3.0, canceled.size) * 1e9).astype(
        np.int64
    )
    cancel = new[canceled].copy()
    cancel["ts_recv"], cancel["action"] = t_cancel, OrderAction.CANCEL
    orders = np.concatenate([new, cancel])
    orders = orders[np.argsort(orders["ts_recv"], kind="stable")]
    return orders, _order_events(rng, plan, fills, canceled, t_cancel)


def _order_events(
    rng: np.random.Generator,
    plan: dict[str, np.ndarray],
    fills: np.ndarray,
    canceled: np.ndarray,
    t_cancel: np.ndarray,
) -> np.ndarray:
    """ACCEPTED for resting orders, FILLED per filled order, CANCELED, 1% risk REJECTED."""
    kind, oid = plan["kind"], plan["oid"]
    rest = np.flatnonzero(kind != 2)
    last = np.zeros(oid.size + 1, np.int64)
    np.maximum.at(last, fills["order_id"], fills["ts_exch"])
    done = np.flatnonzero(kind != 0)
    parts = [
        (plan["t_dec"][rest] + LAT_NS, oid[rest], OrderStatus.ACCEPTED),
        (last[oid[done]], oid[done], OrderStatus.FILLED),
        (t_cancel + LAT_NS, oid[canceled], OrderStatus.CANCELED),
    ]
    ev = np.zeros(sum(p[0].size for p in parts), ORDER_EVENT_DTYPE)
    at = 0
    for t, ids, status in parts:
        sl = slice(at, at + t.size)
        ev["ts_exch"][sl], ev["ts_recv"][sl], ev["order_id"][sl], ev["status"][sl] = (
            t,
            t + LAT_NS,
            ids,
            status,
        )
        at += t.size
    rej = rng.random(ev.size) < 0.01
    ev["status"][rej & (ev["status"] == OrderStatus.CANCELED)] = OrderStatus.REJECTED
    ev["reason"][ev["status"] == OrderStatus.REJECTED] = Reject.UNKNOWN_ORDER
    return ev[np.argsort(ev["ts_exch"], kind="stable")]


def make_equity(fills: np.ndarray, mkt: dict[str, np.ndarray]) -> np.ndarray:
    """C7 rows on the market grid: state after the fills known at each sample."""
    ts = mkt["ts"]
    s, q = fills["side"].astype(np.float64), fills["qty"]
    p = fills["price_ticks"] * TICK
    pos_c = np.concatenate([[0.0], np.cumsum(s * q)])
    cash_c = np.concatenate([[0.0], np.cumsum(-s * p * q - fills["fee"])])
    fee_c = np.concatenate([[0.0], np.cumsum(fills["fee"])])
    j = np.searchsorted(fills["ts_recv"], ts, side="right")
    mid = mkt["mid"].copy()
    first = int(np.flatnonzero(np.isfinite(mid))[0])
    mid[:first] = mid[first]
    eq = np.zeros(ts.size, STATE_DTYPE)
    eq["ts_recv"], eq["mid"] = ts, mid
    eq["position"], eq["cash"], eq["fees"] = pos_c[j], CAPITAL + cash_c[j], fee_c[j]
    eq["equity"] = eq["cash"] + eq["position"] * mid
    return eq


def make_signals(rng: np.random.Generator, mkt: dict[str, np.ndarray], every: int) -> np.ndarray:
    """C4 rows every ``every`` grid steps: noisy forward 1 s return (bps), 5% NaN."""
    ts, mid = mkt["ts"], mkt["mid"]
    k = np.arange(0, ts.size, every)
    step = int(ts[1] - ts[0])
    ahead = np.minimum(k + max(1, 10**9 // step), ts.size - 1)
    fwd = 1e4 * (mid[ahead] - mid[k]) / mid[k]
    sig = np.zeros(k.size, SIGNAL_DTYPE)
    sig["ts_recv"] = ts[k] + rng.integers(0, step, k.size)
    sig["score"] = 0.3 * np.nan_to_num(fwd) + rng.standard_normal(k.size) * 2.0
    sig["score"][rng.random(k.size) < 0.05] = np.nan
    return sig


def make_run(n_equity: int, n_fills: int, step_ns: int, seed: int) -> dict[str, np.ndarray]:
    """Every array of the synthetic run (see the module docstring)."""
    rng = np.random.default_rng(seed)
    mkt = make_market(rng, n_equity, step_ns)
    plan = _plan_orders(rng, n_fills, n_equity * step_ns)
    fills, side = make_fills(rng, plan, mkt)
    orders, events = make_orders(rng, plan, side, fills, mkt)
    every = max(1, 500_000_000 // step_ns)
    return {"market_" + k: v for k, v in mkt.items()} | {
        "fills": fills,
        "orders": orders,
        "order_events": events,
        "equity": make_equity(fills, mkt),
        "signals": make_signals(rng, mkt, every),
    }


def to_inputs(arrays: dict[str, np.ndarray], step_ns: int) -> RunInputs:
    """The :class:`RunInputs` of a synthetic run's arrays."""
    heat = arrays["market_heat"]
    market = MarketSeries(
        ts=arrays["market_ts"],
        mid=arrays["market_mid"],
        spread=arrays["market_spread"],
        bid_depth=arrays["market_bid_depth"],
        ask_depth=arrays["market_ask_depth"],
        step_ns=step_ns,
        depth_levels=5,
        heat_ticks=np.arange(-HEAT_HALF, HEAT_HALF + 1, dtype=np.int64),
        heat_qty=heat,
    )
    return RunInputs(
        run_id="bench-analysis",
        config_id="synthetic",
        code_version="bench",
        data_fingerprint="seeded",
        tick_size=TICK,
        capital=CAPITAL,
        calendar="24/7",
        session_s=86_400.0,
        equity=arrays["equity"],
        fills=arrays["fills"],
        orders=arrays["orders"],
        order_events=arrays["order_events"],
        signals=arrays["signals"],
        market=market,
        signal_horizon_ns=10**9,
    )


_KEEP = (
    "market_ts",
    "market_mid",
    "market_spread",
    "market_bid_depth",
    "market_ask_depth",
    "market_heat",
    "fills",
    "orders",
    "order_events",
    "equity",
    "signals",
)


def cache_dir(args: argparse.Namespace) -> Path:
    return CACHE / f"analysis-e{args.equity}-f{args.fills}-s{args.step_ms}ms-seed{args.seed}"


def generate_cached(n_equity: int, n_fills: int, step_ns: int, seed: int, d: str) -> dict[str, Any]:
    """Write the run's arrays as ``.npy`` files into ``d`` (once); return their sizes."""
    out = Path(d)
    if not (out / "done").exists():
        out.mkdir(parents=True, exist_ok=True)
        arrays = make_run(n_equity, n_fills, step_ns, seed)
        for name in _KEEP:
            np.save(out / f"{name}.npy", arrays[name])
        (out / "done").write_text("ok")
    return {k: int(np.load(out / f"{k}.npy", mmap_mode="r").shape[0]) for k in _KEEP}


def load_inputs(d: str, step_ns: int) -> RunInputs:
    return to_inputs({k: np.load(Path(d) / f"{k}.npy") for k in _KEEP}, step_ns)


# ---------------------------------------------------------------------------------------------
# timed children
# ---------------------------------------------------------------------------------------------


def _warm(step_ns: int) -> None:
    """Compile/load every numba kernel and import matplotlib on a small run (untimed)."""
    from l2trader.analysis.analyze import analyze
    from l2trader.analysis.html import render_html
    from l2trader.analysis.plots import FIGURE_TITLES, render_figures

    small = to_inputs(make_run(20_000, 2_000, step_ns, 1), step_ns)
    report = analyze(small)
    assert report.plot_data is not None
    render_html(report, render_figures(report.plot_data), titles=FIGURE_TITLES)


def run_total(d: str, step_ns: int, profile: int, workers: int = 2) -> dict[str, Any]:
    """Child: load, warm, then time analyze -> figures -> JSON + HTML written to a temp dir.

    ``workers``: threads ``analyze`` runs its steps on (1 = in this thread; cProfile only
    sees the calling thread, so ``--profile`` implies 1).
    """
    from l2trader.analysis import analyze as analyze_module
    from l2trader.analysis.analyze import analyze
    from l2trader.analysis.html import render_html
    from l2trader.analysis.plots import FIGURE_TITLES, render_figures

    inputs = load_inputs(d, step_ns)
    _warm(step_ns)
    analyze_module._WORKERS = 1 if profile else workers
    rss_loaded = rss_mb()
    prof = cProfile.Profile() if profile else None
    c0 = time.process_time()
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    report = analyze(inputs)
    t1 = time.perf_counter()
    assert report.plot_data is not None
    figures = render_figures(report.plot_data)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "report.json").write_text(report.to_json())
        html = render_html(report, figures, titles=FIGURE_TITLES)
        Path(tmp, "report.html").write_text(html)
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    out: dict[str, Any] = {
        "analyze": t1 - t0,
        "figures": t2 - t1,
        "json+html": t3 - t2,
        "total": t3 - t0,
        "cpu": cpu,
        "peak_rss_mib": peak_rss_mb(),
        "rss_inputs_mib": rss_loaded,
        "html_kib": len(html) / 1024,
        "n_figures": len(figures),
        "workers": analyze_module._WORKERS,
    }
    if prof:
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(profile)
        out["profile"] = s.getvalue()
    out["metrics"] = {k: v for sec in report.metrics.values() for k, v in sec.items()}
    return out


def _section_calls(inputs: RunInputs) -> dict[str, Any]:
    """Each section's public function on its own, as a user would call it.

    ``analyze`` shares the grid returns, markouts, signal decay and regime labels between
    sections, tables and figures, so these standalone times add up to more than it takes.
    """
    from l2trader.analysis import (
        benchmark,
        drawdowns,
        execution,
        microstructure,
        performance,
        regimes,
        risk,
        signal_quality,
        trades,
    )

    ts = np.asarray(inputs.equity["ts_recv"], np.int64)
    eq = np.asarray(inputs.equity["equity"], np.float64)
    return {
        "performance": lambda: performance.performance_metrics(inputs),
        "risk": lambda: risk.risk_metrics(inputs),
        "drawdowns": lambda: drawdowns.drawdown_metrics(ts, eq, inputs.capital),
        "benchmark": lambda: benchmark.benchmark_metrics(inputs),
        "trades": lambda: trades.trade_metrics(inputs),
        "microstructure": lambda: microstructure.microstructure_metrics(inputs),
        "execution": lambda: execution.execution_metrics(inputs),
        "signals": lambda: signal_quality.signal_metrics(inputs),
        "regimes": lambda: regimes.regime_metrics(inputs),
        "tables (drawdown periods, regime table)": lambda: (
            drawdowns.drawdown_periods(ts, eq, inputs.capital, top=5),
            regimes.regime_table(inputs),
        ),
    }


def run_sections(d: str, step_ns: int) -> dict[str, Any]:
    """Child: time every step of ``analyze`` on its own (best of 2)."""
    inputs = load_inputs(d, step_ns)
    _warm(step_ns)
    out: dict[str, Any] = {}
    for name, call in _section_calls(inputs).items():
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - t0)
        out[name] = best
    return out


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def _table(sizes: dict[str, Any], total: dict[str, Any], sections: dict[str, Any]) -> Table:
    t = Table(title=f"analysis of {sizes['equity']:,} equity rows, {sizes['fills']:,} fills")
    t.add_column("step")
    t.add_column("seconds", justify="right")
    for name, secs in sections.items():
        t.add_row(f"  {name}", f"{secs:.3f}")
    if sections:
        t.add_row(
            "  (sum of the above: standalone calls, no sharing)", f"{sum(sections.values()):.3f}"
        )
    for name in ("analyze", "figures", "json+html"):
        t.add_row(name, f"{total[name]:.3f}")
    t.add_row(
        "[b]total[/b] analyze + figures + json/html (target < 10 s)", f"[b]{total['total']:.3f}[/b]"
    )
    t.add_row("total process CPU s (steadier under load)", f"{total['cpu']:.3f}")
    t.add_row("peak RSS MiB (target < 4096)", f"{total['peak_rss_mib']:,.0f}")
    t.add_row("RSS with inputs loaded, MiB", f"{total['rss_inputs_mib']:,.0f}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--equity", type=int, default=10_000_000, help="equity (and market) rows")
    ap.add_argument("--fills", type=int, default=1_000_000, help="about this many fills")
    ap.add_argument("--step-ms", type=int, default=100, help="grid step, ms")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-sections", action="store_true", help="skip the per-section timing")
    ap.add_argument("--profile", type=int, default=0, help="print the top N cProfile rows")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--workers", type=int, default=2, help="analyze's threads (1 = serial)")
    args = ap.parse_args()
    step_ns = args.step_ms * 1_000_000
    d = str(cache_dir(args))
    log(f"inputs in {d}")
    sizes = in_child(generate_cached, args.equity, args.fills, step_ns, args.seed, d)
    log("sizes: " + ", ".join(f"{k}={v:,}" for k, v in sizes.items()))
    total = in_child(run_total, d, step_ns, args.profile, args.workers)
    sections = {} if args.no_sections else in_child(run_sections, d, step_ns)
    console.print(_table(sizes, total, sections))
    if args.profile:
        console.print(total["profile"], markup=False, highlight=False)
    if args.json:
        keep = {k: v for k, v in total.items() if k != "profile"}
        args.json.write_text(
            json.dumps({"sizes": sizes, "total": keep, "sections": sections}, indent=1, default=str)
        )


if __name__ == "__main__":
    main()
