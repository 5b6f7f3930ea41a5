"""Hand-worked scenarios of the engine loop: latency, what the strategy knows, money, chunks.

Same conventions as ``test_venue.py`` (tick, latencies, base book, fees).

Every scenario: tick 0.5 quote, constant entry latency 100 ns and response latency 50 ns
unless stated, so an action decided at ``t`` reaches the venue at ``t + 100`` (reported as
``ts_exch``) and its reports reach the strategy at ``t + 150``. An action only acts when the
first event after its arrival is fed, so each scenario has a later "filler" batch.

Base book ``BASE`` (ticks, base units): bids 99 x 1.0, 98 x 2.0, 97 x 3.0;
asks 100 x 1.0, 101 x 2.0, 102 x 3.0. Taker fee 10 bps: a fill of q at p ticks pays
``p * 0.5 * q * 10 / 1e4``; e.g. 1.0 at 100 -> 50.0 * 10 / 1e4 = 0.05.
Every run also passes ``scripted.assert_conserved`` and ``assert_order_accounting``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from l2trader.engine.strategy import FEAT_ASK_QTY1, FEAT_BID_QTY1
from l2trader.schema import Liquidity, OrderStatus, TimeInForce
from l2trader.testing import realistic_events
from tests.unit.engine.scripted import (
    BUY,
    SELL,
    RandomStrategy,
    Row,
    ScriptedStrategy,
    Tape,
    assert_fill_prices,
    batch_chunks,
    book_at,
    cancel,
    fill_tuples,
    make_engine,
    market,
    modify,
    new,
    run_engine,
)

TAKER, MAKER = int(Liquidity.TAKER), int(Liquidity.MAKER)
FILLED, PARTIAL = OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED
ACCEPTED, REJECTED = OrderStatus.ACCEPTED, OrderStatus.REJECTED
EXPIRED, CANCELED = OrderStatus.EXPIRED, OrderStatus.CANCELED
BID, ASK = 1, -1
BASE = [(99, 1.0, BID), (98, 2.0, BID), (97, 3.0, BID),
        (100, 1.0, ASK), (101, 2.0, ASK), (102, 3.0, ASK)]  # fmt: skip
QBOOK = [(99, 5.0, BID), (98, 4.0, BID), (100, 1.0, ASK), (101, 2.0, ASK)]
"""Queue scenarios: our bid joins behind 5.0 at 99."""


def _tape(levels=BASE) -> Tape:
    return Tape().book(1_000, *levels)


def _filler(tape: Tape, ts: int) -> Tape:
    return tape.book(ts, (90, 1.0, BID))  # a far level: changes nothing we look at


# -- latency and what the strategy knows ------------------------------------------------------

E, R = 1_000, 2_000
"""Entry and response latency of the latency scenarios, ns."""


def _latency_tape() -> np.ndarray:
    # decision at t = 10_000 (best ask 100); ask 100 goes at 10_500 (= t + E/2), ask 101 goes
    # at 12_000 (= t + 2E); batches at 13_000 and 14_000 follow.
    tape = Tape().book(10_000, *BASE).book(10_500, (100, 0.0, ASK))
    tape.book(12_000, (101, 0.0, ASK))
    return _filler(_filler(tape, 13_000), 14_000).events()


@pytest.mark.parametrize(
    ("feed_ns", "price"),
    [
        (0, 101),  # reaches the venue at 11_000: book of ts_recv <= 11_000 -> best ask 101
        (999, 101),  # the venue sees 999 ns ahead: ts_recv <= 11_999 -> still 101
        (1_000, 102),  # ts_recv <= 12_000 (inclusive): ask 101 gone -> 102
    ],
)
def test_market_meets_the_book_at_decision_plus_entry_latency(feed_ns, price):
    strat = ScriptedStrategy({10_000: [market(BUY, 1.0)]})

    out = run_engine(_latency_tape(), strat, entry_ns=E, response_ns=R, feed_ns=feed_ns)

    assert strat.ctx_at(10_000).best_ask_ticks == 100
    assert fill_tuples(out) == [(11_000, 13_000, 0, BUY, TAKER, 1, price, 1.0, 0.0)]


def test_fills_reach_the_strategy_after_the_response_latency():
    # fill at ts_exch 11_000, known at 11_000 + R = 13_000
    strat = ScriptedStrategy({10_000: [market(BUY, 1.0)]})

    run_engine(_latency_tape(), strat, entry_ns=E, response_ns=R)

    seen = {c.ts_recv: (c.position, c.open_orders["order_id"].tolist()) for c in strat.seen}
    assert seen == {
        10_000: (0.0, []),
        10_500: (0.0, [0]),  # in flight
        12_000: (0.0, [0]),  # filled at the venue (11_000), not known yet
        13_000: (1.0, []),  # fill and FILLED event delivered at 13_000
        14_000: (1.0, []),
    }


def test_strategy_sees_exactly_the_book_of_events_up_to_its_clock():
    events = _latency_tape()
    strat = ScriptedStrategy({10_000: [market(BUY, 1.0)]})

    run_engine(events, strat, entry_ns=E, response_ns=R)

    batch_ts = sorted(set(events["ts_recv"].tolist()))
    assert [c.ts_recv for c in strat.seen] == batch_ts
    for ctx in strat.seen:
        ref = book_at(events, ctx.ts_recv)
        best_bid, best_ask = ref.best_bid(), ref.best_ask()
        assert best_bid is not None
        assert best_ask is not None
        (bb, bq), (ba, aq) = best_bid, best_ask
        got = (ctx.best_bid_ticks, ctx.best_ask_ticks)
        assert got == (bb, ba)
        assert (ctx.features[FEAT_BID_QTY1], ctx.features[FEAT_ASK_QTY1]) == (bq, aq)


# -- fees and conservation --------------------------------------------------------------------


def test_maker_rebate_is_a_negative_fee_and_cash_reconciles():
    # 3.0 filled at 99 (49.5 quote) in 1.0 + 1.5 + 0.5, maker -1 bps:
    # fees -0.00495, -0.007425, -0.002475 (sum -0.01485);
    # cash = -148.5 + 0.01485 = -148.48515; mid 99 ticks = 49.5 -> equity = +0.01485
    tape = Tape().book(1_000, (98, 4.0, BID), (100, 1.0, ASK)).trade(2_000, 99, 1.0, SELL)
    events = tape.trade(3_000, 99, 1.5, SELL).trade(4_000, 99, 2.0, SELL).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 3.0, 99)]})

    out = run_engine(events, strat, maker_bps=-1.0, initial_cash=0.0)

    assert [f[8] for f in fill_tuples(out)] == [-0.00495, -0.007425, -0.002475]
    last = out.equity[-1]
    assert last["position"] == 3.0
    assert last["cash"] == pytest.approx(-148.48515, abs=1e-12)
    assert last["fees"] == pytest.approx(-0.01485, abs=1e-15)
    assert last["mid"] == 49.5
    assert last["equity"] == pytest.approx(0.01485, abs=1e-12)


def _busy_scenario() -> tuple[np.ndarray, dict[int, list[Row]]]:
    """Many kinds of fills on both sides, several grid rows (grid 1_000 ns)."""
    tape = Tape().book(1_000, *BASE).book(2_000, (99, 4.0, BID))
    tape.trade(3_000, 99, 2.0, SELL).book(4_000, (100, 0.0, ASK), (101, 1.0, ASK))
    tape.trade(5_000, 101, 0.7, BUY).trade(5_500, 98, 1.0, SELL).book(6_000, (99, 1.0, BID))
    tape.book(7_000, (99, 0.0, BID), (98, 0.0, BID), (97, 0.0, BID), (96, 2.0, BID))
    tape.trade(8_000, 102, 3.0, BUY)
    _filler(_filler(_filler(tape, 9_000), 9_500), 12_500)
    schedule = {
        1_000: [market(BUY, 1.5), new(SELL, 1.0, 101), new(BUY, 2.0, 99)],
        3_000: [new(SELL, 1.0, 102, tif=TimeInForce.POST_ONLY), new(BUY, 0.5, 100)],
        5_000: [cancel(4), modify(1, 102, 0.5)],
        6_000: [new(SELL, 2.5, 96, tif=TimeInForce.IOC)],
        9_000: [market(SELL, 0.25), new(BUY, 1.0, 97, tif=TimeInForce.FOK)],
    }
    return tape.events(), schedule


def test_conservation_on_a_busy_run():
    events, schedule = _busy_scenario()
    strat = ScriptedStrategy(schedule)

    out = run_engine(events, strat, maker_bps=-0.5, taker_bps=4.0, initial_cash=1_000.0)

    assert out.fills.size >= 8
    assert set(out.fills["liquidity"].tolist()) == {MAKER, TAKER}
    assert set(out.fills["side"].tolist()) == {BUY, SELL}
    assert out.equity.size >= 10


# -- equity curve ---------------------------------------------------------------------------


def test_equity_rows_include_fills_known_before_them():
    # MARKET buy 1.0 at 1_000 fills at the venue at 1_100 (known at 1_150); the next event is
    # at 5_000. Grid rows at 2_000, 3_000, 4_000 must show position 1.0, cash -50.0.
    events = _filler(_tape(), 5_000).events()
    strat = ScriptedStrategy({1_000: [market(BUY, 1.0)]})
    eng = make_engine(strat)

    eng.run(events)
    out = eng.finish()

    rows = out.equity[["ts_recv", "position", "cash"]].tolist()
    assert rows[:3] == [(2_000, 1.0, -50.0), (3_000, 1.0, -50.0), (4_000, 1.0, -50.0)]


def test_last_equity_row_is_not_stamped_before_the_reports_it_includes():
    # the sell at 3_900 fills our bid at the venue at 3_900; the trader learns it at 4_050.
    # The run ends at 3_900: the last row (all reports delivered) must be at a grid time
    # >= 4_050, i.e. 5_000 (grid 1_000 ns), not at 4_000.
    tape = Tape().book(1_000, (98, 4.0, BID), (100, 1.0, ASK)).trade(3_900, 99, 5.0, SELL)
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 99)]})
    eng = make_engine(strat, response_ns=150)

    eng.run(tape.events())
    out = eng.finish()

    assert out.fills["ts_recv"].tolist() == [4_050]
    assert out.equity[-1]["position"] == 1.0
    assert out.equity[-1]["ts_recv"] >= 4_050


# -- chunking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["per_batch", "uneven", "per_row"])
def test_chunked_runs_equal_one_chunk(split):
    events, schedule = _busy_scenario()
    whole, parts = ScriptedStrategy(schedule), ScriptedStrategy(schedule)
    batches = batch_chunks(events)
    if split == "uneven":
        batches = [np.concatenate(batches[a : a + 3]) for a in range(0, len(batches), 3)]
    elif split == "per_row":  # not even whole batches
        batches = [events[k : k + 1] for k in range(events.size)]

    one = run_engine(events, whole, maker_bps=-0.5, taker_bps=4.0, initial_cash=1_000.0)
    many = run_engine(events, parts, chunks=batches, maker_bps=-0.5, taker_bps=4.0,
                      initial_cash=1_000.0)  # fmt: skip

    for name in ("orders", "order_events", "fills", "equity"):
        assert getattr(one, name).tolist() == getattr(many, name).tolist(), name
    assert one.counters == many.counters
    assert [(c.ts_recv, c.position, c.open_orders.tolist()) for c in whole.seen] == [
        (c.ts_recv, c.position, c.open_orders.tolist()) for c in parts.seen
    ]
    assert len(whole.seen) == len(batch_chunks(events))


# -- random scripted runs ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_runs_conserve_and_are_chunking_invariant(seed):
    events = realistic_events(np.random.default_rng(seed), 3_000, start_ticks=20_000)
    rng = np.random.default_rng(seed + 100)
    cuts = np.sort(rng.choice(np.arange(1, events.size), size=40, replace=False))
    chunks = np.split(events, cuts)
    settings: dict[str, Any] = {
        "entry_ns": 2_500,
        "response_ns": 1_500,
        "maker_bps": -0.5,
        "taker_bps": 4.0,
        "initial_cash": 1_000.0,
        "queue": "proportional" if seed % 2 else "conservative",
    }

    one = run_engine(events, RandomStrategy(seed), **settings)
    many = run_engine(events, RandomStrategy(seed), chunks=chunks, **settings)

    assert one.fills.size > 20
    assert {MAKER, TAKER} <= set(one.fills["liquidity"].tolist())
    assert_fill_prices(one)
    for name in ("orders", "order_events", "fills", "equity"):
        assert getattr(one, name).tolist() == getattr(many, name).tolist(), name
