"""Test helpers for hand-worked engine scenarios: a tape builder, a scripted strategy, checks.

- :class:`Tape` builds a C1 stream batch by batch (one ``F_LAST`` per batch, ``ts_exch`` =
  ``ts_recv`` unless given).
- :class:`ScriptedStrategy` writes pre-arranged ORDER_DTYPE rows at given decision times
  (or decision indices) and records a copy of every context it saw.
- :func:`run_engine` runs one scenario (optionally in chunks) and checks conservation.
- :func:`assert_conserved` replays the fills through :class:`Portfolio` and checks the
  equity curve and the cash flows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pytest
from numpy.typing import NDArray

from l2trader.book.reference import ReferenceBook
from l2trader.engine.config import EngineConfig
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.engine.fees import FeeConfig
from l2trader.engine.latency import LatencyConfig
from l2trader.engine.portfolio import Portfolio
from l2trader.engine.risk import RiskConfig
from l2trader.engine.strategy import StrategyContext
from l2trader.schema import (
    EVENT_DTYPE,
    F_LAST,
    KIND_BOOK,
    KIND_TRADE,
    NO_ASK_TICKS,
    NO_BID_TICKS,
    ORDER_DTYPE,
    Liquidity,
    OrderAction,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from l2trader.testing import make_events

BUY, SELL = 1, -1
TICK = 0.5
"""Quote currency per tick used by the scenarios."""

Row = tuple[int, int, int, int, int, int, int, float]
"""An ORDER_DTYPE row as a tuple (field order of the dtype)."""


# -- events -----------------------------------------------------------------------------------


class Tape:
    """C1 stream builder: each call appends one batch (rows share ``ts_recv``, F_LAST last)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def book(self, ts: int, *levels: tuple[int, float, int], ts_exch: int | None = None) -> Tape:
        """Append a BOOK batch of ``(price_ticks, qty, side)`` rows at ``ts`` (ns)."""
        batch = make_events(list(levels), ts_recv=ts, kind=KIND_BOOK)
        if ts_exch is not None:
            batch["ts_exch"] = ts_exch
        self.parts.append(batch)
        return self

    def trade(self, ts: int, price_ticks: int, qty: float, aggressor: int) -> Tape:
        """Append a one-row TRADE batch (``aggressor`` +1 buy, -1 sell) at ``ts`` (ns)."""
        self.parts.append(make_events([(price_ticks, qty, aggressor)], ts_recv=ts, kind=KIND_TRADE))
        return self

    def events(self) -> np.ndarray:
        """The whole stream, C-contiguous ``EVENT_DTYPE``."""
        if not self.parts:
            return np.zeros(0, EVENT_DTYPE)
        return np.ascontiguousarray(np.concatenate(self.parts))


def batch_chunks(events: np.ndarray) -> list[np.ndarray]:
    """Split a C1 stream after every ``F_LAST`` row (one chunk per batch)."""
    ends = np.flatnonzero(events["flags"] & F_LAST) + 1
    return [events[a:b] for a, b in zip(np.r_[0, ends[:-1]], ends, strict=True)]


def book_at(events: np.ndarray, ts: int) -> ReferenceBook:
    """Reference book after every event with ``ts_recv <= ts`` (ns)."""
    ref = ReferenceBook()
    ref.apply_all(events[events["ts_recv"] <= ts])
    return ref


# -- order rows -------------------------------------------------------------------------------


def new(
    side: int,
    qty: float,
    price_ticks: int = 0,
    *,
    order_type: int = OrderType.LIMIT,
    tif: int = TimeInForce.GTC,
) -> Row:
    """A NEW row (``order_id`` is assigned by the engine)."""
    return (0, -1, int(OrderAction.NEW), side, int(order_type), int(tif), price_ticks, qty)


def market(side: int, qty: float) -> Row:
    """A MARKET (IOC) NEW row."""
    return new(side, qty, order_type=OrderType.MARKET, tif=TimeInForce.IOC)


def cancel(order_id: int) -> Row:
    """A CANCEL row."""
    return (0, order_id, int(OrderAction.CANCEL), 0, 0, 0, 0, 0.0)


def modify(order_id: int, price_ticks: int, qty: float) -> Row:
    """A MODIFY row: new price and new remaining size."""
    return (0, order_id, int(OrderAction.MODIFY), 0, 0, 0, price_ticks, qty)


# -- strategy ---------------------------------------------------------------------------------


class ScriptedStrategy:
    """Writes ``schedule[key]`` rows at each decision; records every context (copied).

    ``by="ts"``: key = decision time ``ctx.ts_recv`` (ns); ``by="index"``: key = the
    decision's index 0, 1, 2, ... in this run.
    """

    def __init__(
        self, schedule: Mapping[int, Sequence[Row]], *, by: Literal["ts", "index"] = "ts"
    ) -> None:
        self.schedule = {k: list(v) for k, v in schedule.items()}
        self.by = by
        self.seen: list[StrategyContext] = []

    def decide(self, ctx: StrategyContext, out: NDArray[np.void]) -> int:
        """Record ``ctx``, write the scheduled rows, return their count."""
        key = ctx.ts_recv if self.by == "ts" else len(self.seen)
        self.seen.append(
            ctx._replace(open_orders=ctx.open_orders.copy(), features=ctx.features.copy())
        )
        rows = self.schedule.get(key, [])
        for k, row in enumerate(rows):
            out[k] = np.array(row, dtype=ORDER_DTYPE)
        return len(rows)

    def ctx_at(self, ts: int) -> StrategyContext:
        """The context of the decision at ``ts`` (ns); fails if there was none."""
        hits = [c for c in self.seen if c.ts_recv == ts]
        assert len(hits) == 1, f"{len(hits)} decisions at ts={ts}"
        return hits[0]


class RandomStrategy:
    """Seeded random orders near the touch: NEW of every type/tif, CANCEL and MODIFY.

    At each decision, with probability ``p_act``, writes 1-3 rows; records every context.
    """

    def __init__(self, seed: int, *, p_act: float = 0.3) -> None:
        self.rng = np.random.default_rng(seed)
        self.p_act = p_act
        self.seen: list[StrategyContext] = []

    def decide(self, ctx: StrategyContext, out: NDArray[np.void]) -> int:
        """Record ``ctx``; maybe write random rows; return their count."""
        self.seen.append(
            ctx._replace(open_orders=ctx.open_orders.copy(), features=ctx.features.copy())
        )
        one_sided = ctx.best_bid_ticks == NO_BID_TICKS or ctx.best_ask_ticks == NO_ASK_TICKS
        if self.rng.random() >= self.p_act or one_sided:
            return 0
        n = int(self.rng.integers(1, 4))
        for k in range(n):
            out[k] = np.array(self._row(ctx), dtype=ORDER_DTYPE)
        return n

    def _row(self, ctx: StrategyContext) -> Row:
        rng, working = self.rng, ctx.open_orders
        qty = float(rng.integers(1, 20)) / 10.0
        if working.size and rng.random() < 0.3:
            oid = int(working["order_id"][rng.integers(working.size)])
            if rng.random() < 0.5:
                return cancel(oid)
            return modify(oid, int(working["price_ticks"][0]) + int(rng.integers(-2, 2)), qty)
        side = BUY if rng.random() < 0.5 else SELL
        if rng.random() < 0.2:
            return market(side, qty)
        touch = ctx.best_bid_ticks if side == BUY else ctx.best_ask_ticks
        price = int(touch) + side * int(rng.integers(-3, 3))
        tif = int(rng.choice([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK,
                              TimeInForce.POST_ONLY]))  # fmt: skip
        return new(side, qty, price, tif=tif)


# -- running and checking ---------------------------------------------------------------------


def make_engine(
    strategy: ScriptedStrategy | RandomStrategy,
    *,
    entry_ns: int = 100,
    response_ns: int = 50,
    feed_ns: int = 0,
    queue: Literal["conservative", "proportional"] = "conservative",
    maker_bps: float = 0.0,
    taker_bps: float = 0.0,
    risk: RiskConfig | None = None,
    initial_cash: float = 0.0,
    grid_ns: int = 1_000,
    max_orders: int = 64,
) -> Engine:
    """An engine with constant latencies (ns), tick ``TICK`` and the given venue settings."""
    cfg = EngineConfig(
        latency=LatencyConfig(entry_ns=entry_ns, response_ns=response_ns),
        feed_ns=feed_ns,
        queue=queue,
        risk=risk or RiskConfig(),
        initial_cash=initial_cash,
        grid_ns=grid_ns,
        max_orders=max_orders,
    )
    fees = FeeConfig(maker_bps=maker_bps, taker_bps=taker_bps)
    return Engine(cfg, tick_size=TICK, strategy=strategy, fees=fees)


def run_engine(
    events: np.ndarray,
    strategy: ScriptedStrategy | RandomStrategy,
    *,
    chunks: Sequence[np.ndarray] | None = None,
    **settings: object,
) -> EngineOutput:
    """Run ``events`` (or ``chunks`` of them) and check conservation of the outputs."""
    eng = make_engine(strategy, **settings)  # type: ignore[arg-type]
    for chunk in chunks if chunks is not None else [events]:
        eng.run(chunk)
    out = eng.finish()
    cash0 = float(settings.get("initial_cash", 0.0))  # type: ignore[arg-type]
    assert_conserved(out, TICK, cash0)
    assert_order_accounting(out)
    return out


def assert_conserved(out: EngineOutput, tick_size: float, initial_cash: float) -> None:
    """Replay fills through :class:`Portfolio`; check every equity row and the cash flows.

    An equity row at grid time ``g`` reflects the fills with ``ts_recv <= g``, and the last
    row comes after every fill: its position, cash and fees equal the replayed portfolio's
    exactly, and ``equity = cash + position * mid``. At the end
    ``cash + fees = initial_cash + sum(-side * price * qty)`` and ``position = sum(side * qty)``.
    """
    pf = Portfolio(initial_cash)
    fills = out.fills
    assert np.all(np.diff(fills["ts_recv"]) >= 0)
    j = 0
    if fills.size and out.equity.size:
        assert out.equity[-1]["ts_recv"] >= fills[-1]["ts_recv"]
    for row in out.equity:
        while j < fills.size and fills[j]["ts_recv"] <= row["ts_recv"]:
            pf.apply_fills(fills[j : j + 1], tick_size)
            j += 1
        assert (row["position"], row["cash"], row["fees"]) == (pf.position, pf.cash, pf.fees)
        mark = row["position"] * row["mid"] if row["position"] != 0.0 else 0.0
        assert row["equity"] == row["cash"] + mark
    pf.apply_fills(fills[j:], tick_size)
    price = fills["price_ticks"] * tick_size
    flows = float(np.sum(-fills["side"] * price * fills["qty"]))
    assert pf.cash + pf.fees == pytest.approx(initial_cash + flows, rel=1e-12, abs=1e-9)
    assert pf.fees == pytest.approx(float(np.sum(fills["fee"])), rel=1e-12, abs=1e-12)
    position = float(np.sum(fills["side"] * fills["qty"]))
    assert pf.position == pytest.approx(position, rel=1e-12, abs=1e-12)
    if out.equity.size:
        last = out.equity[-1]
        assert (last["position"], last["cash"]) == (pf.position, pf.cash)


def assert_order_accounting(out: EngineOutput) -> None:
    """Each NEW order that ended (never modified): filled size + final leaves = its size."""
    terminal = {
        int(OrderStatus.FILLED),
        int(OrderStatus.EXPIRED),
        int(OrderStatus.CANCELED),
        int(OrderStatus.REJECTED),
    }
    modified = set(out.orders["order_id"][out.orders["action"] == OrderAction.MODIFY].tolist())
    for order in out.orders[out.orders["action"] == OrderAction.NEW]:
        oid = int(order["order_id"])
        evs = out.order_events[out.order_events["order_id"] == oid]
        ends = [e for e in evs if int(e["status"]) in terminal]
        if oid in modified or not ends:
            continue
        filled = float(np.sum(out.fills["qty"][out.fills["order_id"] == oid]))
        assert math.isclose(filled + float(ends[0]["leaves_qty"]), float(order["qty"])), oid


def assert_fill_prices(out: EngineOutput) -> None:
    """Taker fills within the limit, maker fills at the order's price, never overfilled."""
    orders = {int(o["order_id"]): o for o in out.orders[out.orders["action"] == 1]}
    for oid, order in orders.items():
        fills = out.fills[out.fills["order_id"] == oid]
        if oid in out.orders["order_id"][out.orders["action"] == 3]:
            continue  # a modified order's price and size changed
        assert float(np.sum(fills["qty"])) <= float(order["qty"]) * (1 + 1e-9)
        if order["order_type"] == OrderType.LIMIT:
            side, limit = int(order["side"]), int(order["price_ticks"])
            assert np.all(side * (fills["price_ticks"] - limit) <= 0)
            maker = fills[fills["liquidity"] == Liquidity.MAKER]
            assert np.all(maker["price_ticks"] == limit)


def oev_tuples(out: EngineOutput, order_id: int | None = None) -> list[tuple[object, ...]]:
    """Order events as ``(ts_exch, ts_recv, order_id, status, reason, leaves)`` tuples."""
    evs = out.order_events
    if order_id is not None:
        evs = evs[evs["order_id"] == order_id]
    return [
        (
            int(e["ts_exch"]),
            int(e["ts_recv"]),
            int(e["order_id"]),
            OrderStatus(int(e["status"])),
            int(e["reason"]),
            float(e["leaves_qty"]),
        )
        for e in evs
    ]


def fill_tuples(out: EngineOutput) -> list[tuple[object, ...]]:
    """Fills as ``(ts_exch, ts_recv, order_id, side, liquidity, levels, price, qty, fee)``."""
    return [
        (
            int(f["ts_exch"]),
            int(f["ts_recv"]),
            int(f["order_id"]),
            int(f["side"]),
            int(f["liquidity"]),
            int(f["levels"]),
            int(f["price_ticks"]),
            float(f["qty"]),
            float(f["fee"]),
        )
        for f in out.fills
    ]
