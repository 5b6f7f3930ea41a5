"""Cross-check our engine's fills against hftbacktest 2.4.4 on the Binance USD-M capture.

Run: .venv/bin/python benchmarks/crosscheck_hbt.py [--json out.json] [--markets 200]
[--limits 100] [--cancel-after-s 3]

Both sides replay the same C1 rows (our reader's events; the peer converts them with
``bench_hftbacktest.c1_to_hbt``), with constant entry/response latencies of ``--latency-ns``.
(a) MARKET orders at fixed local times (alternating buy/sell, 0.01..0.5 BTC), (b) resting
GTC LIMIT orders joining the best bid/ask, one at a time, canceled ``--cancel-after-s``
later if still working: ours ``conservative`` vs hftbacktest ``RiskAdverseQueueModel``, ours
``proportional`` vs ``PowerProbQueueModel(1)`` (and ``LogProbQueueModel`` for reference).
Two clocks: ``aligned`` (hftbacktest's exchange clock = local clock, our ``feed_ns = 0``)
and ``native`` (its exchange side on ``ts_exch``, ours ``feed_ns`` = the median feed
delay). Our side decides in mode ``book`` with a plain-Python scripted strategy that acts at
the first decision at/after each scheduled time; hftbacktest's at the first feed stop.

Prints markdown tables, writes a JSON report; exits 1 if a MARKET order of the comparable
subset (decided at the same time, swept < 100 ticks, fully filled) disagrees.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _bench_common import PEER_PY, PEERS, log, write_json
from bench_replay import load_events, usdm_events_npy
from numpy.typing import NDArray

from l2trader.engine.config import DecisionConfig, EngineConfig
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.engine.fees import FeeConfig
from l2trader.engine.latency import LatencyConfig
from l2trader.engine.strategy import StrategyContext
from l2trader.schema import KIND_SNAPSHOT, ORDER_DTYPE, Liquidity, OrderAction, OrderType
from l2trader.schema import TimeInForce as Tif

TICK = 0.1
HBT_MARKET_TICKS = 100
"""hftbacktest's MARKET order sweeps ``best .. best + 99`` ticks only (its ``todo`` bound)."""
QUEUES = {
    "risk_adverse": "conservative",
    "risk_adverse_nopartial": "conservative",
    "power_prob_1": "proportional",
    "power_prob_1_nopartial": "proportional",
    "log_prob_nopartial": "proportional",
}
"""hftbacktest queue model (``_nopartial``: NoPartialFillExchange) -> our queue model.
``PowerProbQueueModel(1)`` is our ``proportional`` rule; ``LogProb`` is for reference."""
QTY_TOL = 1e-9


class Scripted:
    """Plain-Python strategy: MARKET orders, or one resting LIMIT at a time, at given times.

    ``decide`` is called at every consistent book state (decision mode ``book``). Ids are
    ``0, 1, ...`` in sending order (the engine numbers NEW orders; CANCELs take none).
    """

    def __init__(
        self,
        ts: NDArray[np.int64],
        side: NDArray[np.int64],
        qty: NDArray[np.float64],
        limit: bool,
        cancel_after_ns: int = 0,
    ) -> None:
        self.ts, self.side, self.qty, self.limit = ts, side, qty, limit
        self.cancel_after = cancel_after_ns
        self.k = 0
        self.book = np.zeros((len(ts), 3), np.int64)
        self.active, self.placed, self.canceled = -1, 0, False

    def decide(self, ctx: StrategyContext, out: NDArray[np.void]) -> int:
        """Write this decision's rows into ``out``; return their count."""
        n = 0
        if self.active >= 0:
            working = self.active in set(ctx.open_orders["order_id"].tolist())
            if not working:
                self.active = -1
            elif not self.canceled and ctx.ts_recv >= self.placed + self.cancel_after:
                out[0] = (0, self.active, int(OrderAction.CANCEL), 0, 0, 0, 0, 0.0)
                self.canceled, n = True, 1
        if self.active < 0 and self.k < len(self.ts) and ctx.ts_recv >= self.ts[self.k]:
            out[n] = self._new(ctx)
            n += 1
        return n

    def _new(self, ctx: StrategyContext) -> NDArray[np.void]:
        k, side = self.k, int(self.side[self.k])
        self.book[k] = (ctx.ts_recv, ctx.best_bid_ticks, ctx.best_ask_ticks)
        self.k += 1
        if not self.limit:
            kind, tif, px = OrderType.MARKET, Tif.IOC, 0
        else:
            kind, tif = OrderType.LIMIT, Tif.GTC
            px = ctx.best_bid_ticks if side > 0 else ctx.best_ask_ticks
            self.active, self.placed, self.canceled = k, ctx.ts_recv, False
        row = (0, -1, int(OrderAction.NEW), side, int(kind), int(tif), px, float(self.qty[k]))
        return np.array(row, dtype=ORDER_DTYPE)


def make_plan(events: NDArray[np.void], args: argparse.Namespace) -> dict[str, Any]:
    """Order schedules (local ns), latencies and the native clock's median feed delay."""
    t0 = int(events["ts_recv"][events["kind"] == KIND_SNAPSHOT][0]) + 1_000_000_000
    t1 = int(events["ts_recv"][-1]) - int(args.cancel_after_s * 1e9) - 1_000_000_000
    rng = np.random.default_rng(7)
    m_ts = np.linspace(t0, t1, args.markets).astype(np.int64)
    m_qty = np.round(rng.uniform(0.01, 0.5, args.markets), 3)
    l_ts = np.linspace(t0, t1, args.limits).astype(np.int64)
    has = events["ts_exch"] >= 0
    delay = events["ts_recv"][has] - events["ts_exch"][has]
    feed_ns = int(np.median(delay - delay.min()))
    return {
        "clocks": ["aligned", "native"],
        "queues": list(QUEUES),
        "entry_ns": args.latency_ns,
        "response_ns": args.latency_ns,
        "feed_ns": feed_ns,
        "market": {
            "ts": m_ts.tolist(),
            "side": [1 - 2 * (i % 2) for i in range(args.markets)],
            "qty": m_qty.tolist(),
        },
        "limit": {
            "ts": l_ts.tolist(),
            "side": [1 - 2 * (i % 2) for i in range(args.limits)],
            "qty": args.limit_qty,
            "cancel_after_ns": int(args.cancel_after_s * 1e9),
        },
    }


def run_ours(
    events: NDArray[np.void],
    plan: dict[str, Any],
    kind: str,
    feed_ns: int,
    queue: str = "conservative",
) -> tuple[EngineOutput, Scripted]:
    """Run the scripted MARKET (``kind="market"``) or LIMIT schedule through our engine."""
    sch = plan[kind]
    n = len(sch["ts"])
    qty = np.array(sch["qty"], np.float64) if kind == "market" else np.full(n, sch["qty"])
    strat = Scripted(
        np.array(sch["ts"], np.int64),
        np.array(sch["side"], np.int64),
        qty,
        kind == "limit",
        int(sch.get("cancel_after_ns", 0)),
    )
    lat = LatencyConfig(entry_ns=plan["entry_ns"], response_ns=plan["response_ns"])
    cfg = EngineConfig(
        latency=lat, feed_ns=feed_ns, queue=queue, decision=DecisionConfig(mode="book")
    )
    eng = Engine(cfg, tick_size=TICK, strategy=strat, fees=FeeConfig())
    eng.run(events)
    return eng.finish(), strat


def ours_market_rows(out: EngineOutput, strat: Scripted) -> NDArray[np.float64]:
    """Per order: decide_ts, bid, ask, filled, notional ticks, first tick, last tick, last qty."""
    rows = np.full((len(strat.ts), 8), np.nan)
    rows[:, :3] = strat.book
    for k in range(strat.k):
        f = out.fills[out.fills["order_id"] == k]
        if f.size:
            rows[k, 3] = f["qty"].sum()
            rows[k, 4] = float(np.sum(f["price_ticks"] * f["qty"]))
            rows[k, 5], rows[k, 6], rows[k, 7] = (
                f["price_ticks"][0],
                f["price_ticks"][-1],
                f["qty"][-1],
            )
        else:
            rows[k, 3:5] = 0.0
    return rows


def compare_market(
    ours: NDArray[np.float64], hbt: NDArray[np.float64], qty: NDArray[np.float64]
) -> dict[str, Any]:
    """Classify each MARKET order and check the comparable subset exactly."""
    same_t = ours[:, 0] == hbt[:, 0]
    full = np.abs(ours[:, 3] - qty) <= QTY_TOL
    swept = np.abs(ours[:, 6] - ours[:, 5])
    comparable = same_t & full & (swept < HBT_MARKET_TICKS)
    agree = (
        (np.abs(hbt[:, 8] - ours[:, 3]) <= QTY_TOL)
        & (hbt[:, 5] == ours[:, 6])
        & (np.abs(hbt[:, 7] - ours[:, 7]) <= QTY_TOL)
    )
    one_level = comparable & (swept == 0)
    pos_ok = np.abs(np.abs(hbt[:, 3]) - ours[:, 3]) <= QTY_TOL
    bad = np.flatnonzero(comparable & ~agree)
    return {
        "orders": len(qty),
        "same_decision_time": int(same_t.sum()),
        "fully_filled_ours": int(full.sum()),
        "swept_ge_100_ticks": int((swept >= HBT_MARKET_TICKS).sum()),
        "comparable": int(comparable.sum()),
        "agree": int((comparable & agree).sum()),
        "one_level": int(one_level.sum()),
        "one_level_agree_incl_position": int((one_level & agree & pos_ok).sum()),
        "multi_level": int((comparable & (swept > 0)).sum()),
        "multi_level_hbt_position_short": int((comparable & (swept > 0) & ~pos_ok).sum()),
        "total_qty_ours": float(ours[:, 3].sum()),
        "total_qty_hbt": float(hbt[:, 8].sum()),
        "mean_levels_ticks_swept": float(np.nanmean(swept)),
        "disagree": [{"k": int(k), "ours": ours[k].tolist(), "hbt": hbt[k].tolist()} for k in bad],
    }


def ours_limit_rows(
    out: EngineOutput, strat: Scripted, events: NDArray[np.void], feed_ns: int
) -> NDArray[np.float64]:
    """Per order: decide_ts, bid, ask, price, filled, maker, via-trade fills, end ts (recv)."""
    rows = np.full((len(strat.ts), 8), np.nan)
    rows[:, :3] = strat.book
    new = out.orders[out.orders["action"] == OrderAction.NEW]
    trade_ts = np.unique(events["ts_recv"][events["kind"] == 2])
    for k in range(strat.k):
        f = out.fills[out.fills["order_id"] == k]
        rows[k, 3] = new["price_ticks"][new["order_id"] == k][0]
        rows[k, 4] = f["qty"].sum()
        rows[k, 5] = float(np.all(f["liquidity"] == Liquidity.MAKER)) if f.size else np.nan
        at = f["ts_exch"] + feed_ns
        idx = np.searchsorted(trade_ts, at)
        rows[k, 6] = float(
            np.sum((idx < trade_ts.size) & (trade_ts[np.minimum(idx, trade_ts.size - 1)] == at))
        )
        ev = out.order_events[out.order_events["order_id"] == k]
        rows[k, 7] = ev["ts_recv"][-1] if ev.size else np.nan
    return rows


def compare_limit(ours: NDArray[np.float64], hbt: NDArray[np.float64]) -> dict[str, Any]:
    """Counts, sizes and per-order agreement (filled size within ``QTY_TOL``, same price)."""
    same = (ours[:, 0] == hbt[:, 0]) & (ours[:, 3] == hbt[:, 3])
    o_f, h_f = ours[:, 4] > QTY_TOL, hbt[:, 4] > QTY_TOL
    eq = np.abs(ours[:, 4] - hbt[:, 4]) <= QTY_TOL
    cats = {
        "agree_filled": same & eq & o_f,
        "agree_unfilled": same & eq & ~o_f,
        "only_ours_filled": same & o_f & ~h_f,
        "only_hbt_filled": same & h_f & ~o_f,
        "both_filled_size_differs": same & o_f & h_f & ~eq,
        "different_decision_or_price": ~same,
    }
    both = same & o_f & h_f
    return {
        "orders": len(ours),
        "filled_ours": int(o_f.sum()),
        "filled_hbt": int(h_f.sum()),
        "qty_ours": round(float(ours[:, 4].sum()), 6),
        "qty_hbt": round(float(hbt[:, 4].sum()), 6),
        "taker_ours": int((ours[:, 5] == 0).sum()),
        "taker_hbt": int((h_f & (hbt[:, 6] == 0)).sum()),
        "fill_price_equal": int((both & (hbt[:, 8] == ours[:, 3])).sum()),
        "both_filled": int(both.sum()),
        "agree": int((same & eq).sum()),
        **{k: int(v.sum()) for k, v in cats.items()},
        "ours_only_via_trade": int((cats["only_ours_filled"] & (ours[:, 6] > 0)).sum()),
        "mismatches": [
            {"k": int(k), "ours": ours[k].tolist(), "hbt": hbt[k].tolist()}
            for k in np.flatnonzero(~(same & eq))
        ],
    }


def run_peer_check(events_npy: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """Run ``peers/crosscheck_hbt.py`` in the peer venv; its JSON result."""
    with tempfile.TemporaryDirectory(prefix="l2t-xc-") as tmp:
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(json.dumps(plan))
        cmd = [
            str(PEER_PY),
            str(PEERS / "crosscheck_hbt.py"),
            "--events",
            str(events_npy),
            "--plan",
            str(plan_path),
        ]
        log("peer: " + " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PEERS, check=False)
    if proc.returncode != 0:
        sys.exit(f"peer crosscheck failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def table(title: str, rows: dict[str, dict[str, Any]], keys: list[str]) -> str:
    """A markdown table: one row per variant, one column per key."""
    head = "| variant | " + " | ".join(keys) + " |"
    sep = "|---|" + "--:|" * len(keys)
    body = [f"| {name} | " + " | ".join(str(r[k]) for k in keys) + " |" for name, r in rows.items()]
    return "\n".join([f"### {title}", "", head, sep, *body, ""])


M_KEYS = [
    "orders",
    "same_decision_time",
    "swept_ge_100_ticks",
    "comparable",
    "agree",
    "one_level",
    "one_level_agree_incl_position",
    "multi_level",
    "multi_level_hbt_position_short",
    "total_qty_ours",
    "total_qty_hbt",
]
L_KEYS = [
    "hbt_last_rc",
    "orders",
    "filled_ours",
    "filled_hbt",
    "qty_ours",
    "qty_hbt",
    "taker_ours",
    "taker_hbt",
    "agree",
    "agree_filled",
    "only_ours_filled",
    "only_hbt_filled",
    "both_filled_size_differs",
    "different_decision_or_price",
    "fill_price_equal",
]


def check_all(
    events: NDArray[np.void], plan: dict[str, Any], peer: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Run our side of every variant and compare it with the peer's rows."""
    report: dict[str, dict[str, Any]] = {}
    qty = np.array(plan["market"]["qty"])
    for clock in plan["clocks"]:
        feed = 0 if clock == "aligned" else int(plan["feed_ns"])
        out, strat = run_ours(events, plan, "market", feed)
        hbt = np.array(peer[f"market_{clock}"], dtype=np.float64)
        report[f"market {clock}"] = compare_market(ours_market_rows(out, strat), hbt, qty)
        for oq in ("conservative", "proportional"):
            out, strat = run_ours(events, plan, "limit", feed, oq)
            ours = ours_limit_rows(out, strat, events, feed)
            for hq in (h for h, o in QUEUES.items() if o == oq):
                res = peer[f"limit_{clock}_{hq}"]
                hbt = np.array(res["rows"], dtype=np.float64)
                cmp = compare_limit(ours[: res["placed"]], hbt[: res["placed"]])
                cmp |= {"hbt_last_rc": res["last_rc"], "hbt_stop_ts": res["stop_ts"]}
                report[f"limit {clock}: {oq} vs {hq}"] = cmp
    return report


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--markets", type=int, default=200)
    ap.add_argument("--limits", type=int, default=100)
    ap.add_argument("--limit-qty", type=float, default=0.05)
    ap.add_argument("--cancel-after-s", type=float, default=3.0)
    ap.add_argument("--latency-ns", type=int, default=1_000_000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    npy = usdm_events_npy()
    events = load_events(npy)
    plan = make_plan(events, args)
    peer = run_peer_check(npy, plan)
    report = check_all(events, plan, peer)
    markets = {k: v for k, v in report.items() if k.startswith("market")}
    limits = {k: v for k, v in report.items() if k.startswith("limit")}
    print(
        table("MARKET orders (per order: filled size, worst level tick and size)", markets, M_KEYS)
    )
    print(table("Resting GTC LIMIT orders at the best bid/ask", limits, L_KEYS))
    write_json(
        args.json,
        {
            "plan": {k: v for k, v in plan.items() if k not in ("market", "limit")},
            "peer_version": peer.get("version"),
            "report": report,
        },
    )
    bad = sum(r["comparable"] - r["agree"] for r in markets.values())
    if bad:
        log(f"{bad} comparable MARKET orders disagree")
        sys.exit(1)


if __name__ == "__main__":
    main()
