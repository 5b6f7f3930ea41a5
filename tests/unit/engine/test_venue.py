"""Hand-worked scenarios of the simulated venue and the engine loop (issue 4).

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

import numpy as np
import pytest

from l2trader.schema import Liquidity, OrderStatus, Reject, TimeInForce
from tests.unit.engine.scripted import (
    BUY,
    SELL,
    ScriptedStrategy,
    Tape,
    cancel,
    fill_tuples,
    market,
    modify,
    new,
    oev_tuples,
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


# -- taker orders -----------------------------------------------------------------------------


def test_market_buy_walks_three_levels():
    # buy 5.0: 1.0 @100 + 2.0 @101 + 2.0 @102, levels 3, fees 0.05, 0.101, 0.102
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [market(BUY, 5.0)]})

    out = run_engine(events, strat, taker_bps=10.0)

    assert fill_tuples(out) == [
        (1_100, 1_150, 0, BUY, TAKER, 3, 100, 1.0, 0.05),
        (1_100, 1_150, 0, BUY, TAKER, 3, 101, 2.0, 0.101),
        (1_100, 1_150, 0, BUY, TAKER, 3, 102, 2.0, 0.102),
    ]
    assert oev_tuples(out) == [(1_100, 1_150, 0, FILLED, 0, 0.0)]


def test_market_sell_walks_bids():
    # sell 2.5: 1.0 @99 + 1.5 @98, levels 2; fees 99*.5*1*10/1e4 = 0.0495, 98*.5*1.5 -> 0.0735
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [market(SELL, 2.5)]})

    out = run_engine(events, strat, taker_bps=10.0)

    assert fill_tuples(out) == [
        (1_100, 1_150, 0, SELL, TAKER, 2, 99, 1.0, 0.0495),
        (1_100, 1_150, 0, SELL, TAKER, 2, 98, 1.5, 0.0735),
    ]
    assert oev_tuples(out) == [(1_100, 1_150, 0, FILLED, 0, 0.0)]


def test_market_larger_than_the_book_expires_with_leaves():
    # buy 7.0 against 1 + 2 + 3 = 6.0 visible: all three levels, 1.0 left; 3.0 @102 -> 0.153
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [market(BUY, 7.0)]})

    out = run_engine(events, strat, taker_bps=10.0)

    assert [f[6:9] for f in fill_tuples(out)] == [(100, 1.0, 0.05), (101, 2.0, 0.101),
                                                  (102, 3.0, 0.153)]  # fmt: skip
    assert oev_tuples(out) == [(1_100, 1_150, 0, EXPIRED, 0, 1.0)]


def test_market_on_an_empty_side_is_rejected_no_liquidity():
    events = _filler(Tape().book(1_000, (99, 1.0, BID)), 2_000).events()
    strat = ScriptedStrategy({1_000: [market(BUY, 5.0)]})

    out = run_engine(events, strat)

    assert out.fills.size == 0
    assert oev_tuples(out) == [(1_100, 1_150, 0, REJECTED, Reject.NO_LIQUIDITY, 5.0)]


def test_ioc_fills_within_its_limit_and_expires_the_rest():
    # IOC buy 5.0 @101: 1.0 @100 + 2.0 @101 (levels 2); 102 is beyond the limit -> 2.0 left
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 5.0, 101, tif=TimeInForce.IOC)]})

    out = run_engine(events, strat, taker_bps=10.0)

    assert fill_tuples(out) == [
        (1_100, 1_150, 0, BUY, TAKER, 2, 100, 1.0, 0.05),
        (1_100, 1_150, 0, BUY, TAKER, 2, 101, 2.0, 0.101),
    ]
    assert oev_tuples(out) == [(1_100, 1_150, 0, EXPIRED, 0, 2.0)]


def test_ioc_that_does_not_cross_expires_whole():
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 99, tif=TimeInForce.IOC)]})

    out = run_engine(events, strat)

    assert out.fills.size == 0
    assert oev_tuples(out) == [(1_100, 1_150, 0, EXPIRED, 0, 1.0)]


def test_fok_fillable_fills():
    # FOK buy 3.0 @101: 1.0 + 2.0 visible within the limit = 3.0 -> FILLED
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 3.0, 101, tif=TimeInForce.FOK)]})

    out = run_engine(events, strat)

    assert [f[5:8] for f in fill_tuples(out)] == [(2, 100, 1.0), (2, 101, 2.0)]
    assert oev_tuples(out) == [(1_100, 1_150, 0, FILLED, 0, 0.0)]


def test_fok_not_fillable_is_rejected_without_fills():
    # FOK buy 3.5 @101: only 3.0 within the limit -> rejected, nothing filled
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 3.5, 101, tif=TimeInForce.FOK)]})

    out = run_engine(events, strat)

    assert out.fills.size == 0
    assert oev_tuples(out) == [(1_100, 1_150, 0, REJECTED, Reject.FOK_NOT_FILLABLE, 3.5)]


def test_post_only_that_would_cross_is_rejected():
    events = _filler(_tape(), 2_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 100, tif=TimeInForce.POST_ONLY)]})

    out = run_engine(events, strat)

    assert out.fills.size == 0
    assert oev_tuples(out) == [(1_100, 1_150, 0, REJECTED, Reject.POST_ONLY_WOULD_CROSS, 1.0)]


def test_passive_post_only_is_accepted_and_rests():
    events = _filler(_filler(_tape(), 2_000), 3_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 99, tif=TimeInForce.POST_ONLY)]})

    out = run_engine(events, strat)

    assert out.fills.size == 0
    assert oev_tuples(out) == [(1_100, 1_150, 0, ACCEPTED, 0, 1.0)]
    working = strat.ctx_at(3_000).open_orders
    assert working[["order_id", "price_ticks", "qty"]].tolist() == [(0, 99, 1.0)]


def test_gtc_marketable_takes_rests_then_fills_as_maker():
    # GTC buy 4.0 @101: takes 1.0 @100 + 2.0 @101 (taker, levels 2), rests 1.0 at 101.
    # At 2_000 the asks 100 and 101 go (best ask 102 > 101: no cross). Sell prints at 101
    # (nobody else at our bid: ahead 0) fill 0.5 then 0.5 as maker, rebate -1 bps:
    # 101 * 0.5 * 0.5 * -1 / 1e4 = -0.002525.
    tape = _tape().book(2_000, (100, 0.0, ASK), (101, 0.0, ASK))
    events = tape.trade(3_000, 101, 0.5, SELL).trade(4_000, 101, 2.0, SELL).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 4.0, 101)]})

    out = run_engine(events, strat, taker_bps=10.0, maker_bps=-1.0)

    assert fill_tuples(out) == [
        (1_100, 1_150, 0, BUY, TAKER, 2, 100, 1.0, 0.05),
        (1_100, 1_150, 0, BUY, TAKER, 2, 101, 2.0, 0.101),
        (3_000, 3_050, 0, BUY, MAKER, 0, 101, 0.5, -0.002525),
        (4_000, 4_050, 0, BUY, MAKER, 0, 101, 0.5, -0.002525),
    ]
    assert oev_tuples(out) == [
        (1_100, 1_150, 0, PARTIAL, 0, 1.0),
        (3_000, 3_050, 0, PARTIAL, 0, 0.5),
        (4_000, 4_050, 0, FILLED, 0, 0.0),
    ]


# -- queue position ---------------------------------------------------------------------------


def test_queue_trades_at_our_price_consume_the_size_ahead_first():
    # join behind 5.0 with 3.0. Sell 3.0 @99: ahead 5 -> 2, no fill.
    # Sell 4.0 @99: ahead 2 -> 0, we fill 2.0, leaves 1.0. Sell 0.25 @99: fill 0.25.
    tape = Tape().book(1_000, *QBOOK).trade(2_000, 99, 3.0, SELL)
    events = tape.trade(3_000, 99, 4.0, SELL).trade(4_000, 99, 0.25, SELL).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 3.0, 99)]})

    out = run_engine(events, strat)

    assert fill_tuples(out) == [
        (3_000, 3_050, 0, BUY, MAKER, 0, 99, 2.0, 0.0),
        (4_000, 4_050, 0, BUY, MAKER, 0, 99, 0.25, 0.0),
    ]
    assert oev_tuples(out) == [
        (1_100, 1_150, 0, ACCEPTED, 0, 3.0),
        (3_000, 3_050, 0, PARTIAL, 0, 1.0),
        (4_000, 4_050, 0, PARTIAL, 0, 0.75),
    ]


def test_queue_buy_prints_do_not_fill_a_resting_bid():
    events = Tape().book(1_000, *QBOOK).trade(2_000, 99, 50.0, BUY).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 99)]})

    out = run_engine(events, strat)

    assert out.fills.size == 0


@pytest.mark.parametrize(
    ("model", "expected_fills", "last_event"),
    [
        # ahead stays 6 (<= level 8); sell 5.0: ahead 1, no fill; sell 1.5: ahead 0, fill 0.5
        ("conservative", [(5_000, 99, 0.5)], (PARTIAL, 1.5)),
        # 4 cancelled of 12: ahead 6 - 4 * 6 / 12 = 4; sell 5.0: fill 1.0; sell 1.5: fill 1.0
        ("proportional", [(4_000, 99, 1.0), (5_000, 99, 1.0)], (FILLED, 0.0)),
    ],
)
def test_queue_models_on_a_level_decrease_without_trades(model, expected_fills, last_event):
    # join behind 6.0 with 2.0; level grows to 12.0 (behind us), then shrinks to 8.0
    tape = Tape().book(1_000, (99, 6.0, BID), (100, 1.0, ASK))
    tape.book(2_000, (99, 12.0, BID)).book(3_000, (99, 8.0, BID))
    events = tape.trade(4_000, 99, 5.0, SELL).trade(5_000, 99, 1.5, SELL).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 2.0, 99)]})

    out = run_engine(events, strat, queue=model)

    assert [(f[0], f[6], f[7]) for f in fill_tuples(out)] == expected_fills
    assert oev_tuples(out)[-1][3:6:2] == last_event


def test_trade_through_our_price_fills_us_whole():
    # 5.0 ahead of us at 99, but a sell prints at 98: everything at 99 is gone -> fill 2.0 @99
    events = Tape().book(1_000, *QBOOK).trade(2_000, 98, 0.1, SELL).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 2.0, 99)]})

    out = run_engine(events, strat, maker_bps=-1.0)

    # fee 99 * 0.5 * 2.0 * -1 / 1e4 = -0.0099
    assert fill_tuples(out) == [(2_000, 2_050, 0, BUY, MAKER, 0, 99, 2.0, -0.0099)]
    assert oev_tuples(out)[-1] == (2_000, 2_050, 0, FILLED, 0, 0.0)


@pytest.mark.parametrize("feed_ns", [0, 30])
def test_book_moving_through_our_order_fills_it_at_our_price(feed_ns):
    # at 2_000 the bid 99 empties and the best ask drops to 99 (= our bid): filled whole at
    # 99, not at the new ask. The venue's clock is feed_ns behind: ts_exch = 2_000 - feed_ns.
    tape = Tape().book(1_000, *QBOOK)
    events = tape.book(2_000, (99, 0.0, BID), (100, 0.0, ASK), (99, 1.0, ASK)).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 2.0, 99)]})

    out = run_engine(events, strat, feed_ns=feed_ns)

    t = 2_000 - feed_ns
    assert fill_tuples(out) == [(t, t + 50, 0, BUY, MAKER, 0, 99, 2.0, 0.0)]
    assert oev_tuples(out)[-1] == (t, t + 50, 0, FILLED, 0, 0.0)


def test_partial_maker_fills_then_filled():
    # our bid 99 on an empty level (ahead 0), 3.0; sells at 99 of 1.0, 1.5, 2.0:
    # fills 1.0 (leaves 2.0), 1.5 (leaves 0.5), 0.5 (FILLED)
    tape = Tape().book(1_000, (98, 4.0, BID), (100, 1.0, ASK)).trade(2_000, 99, 1.0, SELL)
    events = tape.trade(3_000, 99, 1.5, SELL).trade(4_000, 99, 2.0, SELL).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 3.0, 99)]})

    out = run_engine(events, strat)

    assert [f[7] for f in fill_tuples(out)] == [1.0, 1.5, 0.5]
    assert oev_tuples(out) == [
        (1_100, 1_150, 0, ACCEPTED, 0, 3.0),
        (2_000, 2_050, 0, PARTIAL, 0, 2.0),
        (3_000, 3_050, 0, PARTIAL, 0, 0.5),
        (4_000, 4_050, 0, FILLED, 0, 0.0),
    ]


# -- cancel and modify ------------------------------------------------------------------------


def test_cancel_reports_canceled_with_leaves():
    # 2.0 resting at 99 (empty level); a sell of 0.5 fills 0.5; the cancel at 3_000 arrives
    # at 3_100 (acts before the 4_000 batch): CANCELED with 1.5 left
    tape = Tape().book(1_000, (98, 4.0, BID), (100, 1.0, ASK)).trade(2_000, 99, 0.5, SELL)
    events = _filler(_filler(tape, 3_000), 4_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 2.0, 99)], 3_000: [cancel(0)]})

    out = run_engine(events, strat)

    assert oev_tuples(out)[-1] == (3_100, 3_150, 0, CANCELED, 0, 1.5)
    assert strat.ctx_at(4_000).open_orders.size == 0
    assert out.orders[["order_id", "action"]].tolist() == [(0, 1), (0, 2)]


def test_cancel_racing_a_fill_is_rejected_unknown_order_by_the_venue():
    # the sell at 2_000 fills us whole at the venue; the strategy decides at 2_000 before
    # the fill report (2_050) and still sees the order working -> its cancel reaches the
    # venue at 2_100 and is rejected UNKNOWN_ORDER.
    tape = Tape().book(1_000, (98, 4.0, BID), (100, 1.0, ASK)).trade(2_000, 99, 5.0, SELL)
    events = _filler(tape, 3_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 99)], 2_000: [cancel(0)]})

    out = run_engine(events, strat)

    ctx = strat.ctx_at(2_000)
    assert (ctx.position, ctx.open_orders["order_id"].tolist()) == (0.0, [0])
    assert oev_tuples(out) == [
        (1_100, 1_150, 0, ACCEPTED, 0, 1.0),
        (2_000, 2_050, 0, FILLED, 0, 0.0),
        (2_100, 2_150, 0, REJECTED, Reject.UNKNOWN_ORDER, 0.0),
    ]
    assert strat.ctx_at(3_000).position == 1.0


def test_cancel_after_a_known_fill_is_rejected_locally():
    # by 3_000 the strategy knows the order is filled: the cancel never leaves (ts 3_000)
    tape = Tape().book(1_000, (98, 4.0, BID), (100, 1.0, ASK)).trade(2_000, 99, 5.0, SELL)
    events = _filler(_filler(tape, 3_000), 4_000).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 99)], 3_000: [cancel(0)]})

    out = run_engine(events, strat)

    assert oev_tuples(out)[-1] == (3_000, 3_000, 0, REJECTED, Reject.UNKNOWN_ORDER, 0.0)


def _modify_tape(*trades: tuple[int, int, float]) -> np.ndarray:
    # our bid joins behind 5.0 at 99 (1_000); the level grows to 8.0 at 2_000 (behind us);
    # 98 holds 4.0. The modify decided at 2_000 acts at 2_100.
    tape = Tape().book(1_000, *QBOOK).book(2_000, (99, 8.0, BID))
    for ts, price, qty in trades:
        tape.trade(ts, price, qty, SELL)
    return tape.events()


def test_modify_size_down_keeps_the_queue_position():
    # ahead stays 5.0: a sell of 5.5 @99 fills 0.5 of the new 1.0 (re-queued: ahead 8, none)
    events = _modify_tape((3_000, 99, 5.5))
    strat = ScriptedStrategy({1_000: [new(BUY, 3.0, 99)], 2_000: [modify(0, 99, 1.0)]})

    out = run_engine(events, strat)

    assert oev_tuples(out) == [
        (1_100, 1_150, 0, ACCEPTED, 0, 3.0),
        (2_100, 2_150, 0, ACCEPTED, 0, 1.0),
        (3_000, 3_050, 0, PARTIAL, 0, 0.5),
    ]
    assert [f[7] for f in fill_tuples(out)] == [0.5]


def test_modify_size_up_goes_to_the_back():
    # 3.0 -> 4.0 re-queues behind 8.0: sell 5.5 fills none (ahead 2.5), sell 3.0 fills 0.5
    events = _modify_tape((3_000, 99, 5.5), (4_000, 99, 3.0))
    strat = ScriptedStrategy({1_000: [new(BUY, 3.0, 99)], 2_000: [modify(0, 99, 4.0)]})

    out = run_engine(events, strat)

    assert oev_tuples(out)[1:] == [
        (2_100, 2_150, 0, ACCEPTED, 0, 4.0),
        (4_000, 4_050, 0, PARTIAL, 0, 3.5),
    ]


def test_modify_price_requeues_at_the_back_of_the_new_level():
    # 99 -> 98 (4.0 there): a sell of 5.5 @99 is above us now (no fill); a sell of 4.5 @98
    # eats the 4.0 ahead and fills 0.5
    events = _modify_tape((3_000, 99, 5.5), (4_000, 98, 4.5))
    strat = ScriptedStrategy({1_000: [new(BUY, 3.0, 99)], 2_000: [modify(0, 98, 3.0)]})

    out = run_engine(events, strat)

    assert fill_tuples(out) == [(4_000, 4_050, 0, BUY, MAKER, 0, 98, 0.5, 0.0)]
    assert oev_tuples(out)[1:] == [
        (2_100, 2_150, 0, ACCEPTED, 0, 3.0),
        (4_000, 4_050, 0, PARTIAL, 0, 2.5),
    ]
    assert strat.ctx_at(3_000).open_orders[["price_ticks", "qty"]].tolist() == [(98, 3.0)]


def test_modify_post_only_into_the_spread_that_would_cross_is_rejected_and_gone():
    # a POST_ONLY bid at 99 moved to 100 (= best ask) would take: REJECTED, the order is gone
    # (at the venue and in the strategy's view)
    events = _filler(_filler(_tape(), 2_000), 3_000).events()
    strat = ScriptedStrategy(
        {1_000: [new(BUY, 1.0, 99, tif=TimeInForce.POST_ONLY)], 2_000: [modify(0, 100, 1.0)]}
    )

    out = run_engine(events, strat)

    assert oev_tuples(out)[-1] == (2_100, 2_150, 0, REJECTED, Reject.POST_ONLY_WOULD_CROSS, 1.0)
    assert strat.ctx_at(3_000).open_orders.size == 0
    assert out.fills.size == 0


def test_a_cancel_in_flight_shows_in_the_strategy_view():
    # cancel decided at 2_000 reaches the venue at 2_100, CANCELED known at 2_150: at 2_120
    # the order is still listed, marked CANCEL (action 2); at 2_150 it is gone
    tape = _filler(_filler(Tape().book(1_000, *QBOOK), 2_000), 2_120)
    events = _filler(tape, 2_150).events()
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 98)], 2_000: [cancel(0)]})

    run_engine(events, strat)

    assert strat.ctx_at(2_000).open_orders[["order_id", "action"]].tolist() == [(0, 1)]
    assert strat.ctx_at(2_120).open_orders[["order_id", "action"]].tolist() == [(0, 2)]
    assert strat.ctx_at(2_150).open_orders.size == 0
