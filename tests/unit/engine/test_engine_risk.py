"""The risk manager inside the engine: pre-trade rejections, stop-loss, take-profit, kill switch.

Tick 0.5 quote, entry latency 100 ns, response latency 50 ns (see ``test_venue``). Book
``BOOK``: bids 99 x 5.0, 98 x 5.0; asks 100 x 5.0, 101 x 5.0; mid 99.5 ticks = 49.75 quote.
A pre-trade rejection happens at the decision: its REJECTED event has
``ts_exch = ts_recv = decision time`` and ``leaves_qty`` = the order size, and the order row
is recorded with its id all the same. Every run passes ``scripted.assert_conserved``.
"""

from __future__ import annotations

import pytest

from l2trader.engine.risk import RiskConfig
from l2trader.schema import OrderStatus, OrderType, Reject, TimeInForce
from tests.unit.engine.scripted import (
    BUY,
    SELL,
    TICK,
    ScriptedStrategy,
    Tape,
    assert_conserved,
    fill_tuples,
    make_engine,
    market,
    modify,
    new,
    oev_tuples,
    run_engine,
)

BID, ASK = 1, -1
BOOK = [(99, 5.0, BID), (98, 5.0, BID), (100, 5.0, ASK), (101, 5.0, ASK)]
FILLED, REJECTED, CANCELED = OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELED
ACCEPTED = OrderStatus.ACCEPTED


def _tape(*later: tuple[int, list[tuple[int, float, int]]]) -> Tape:
    tape = Tape().book(1_000, *BOOK)
    for ts, levels in later:
        tape.book(ts, *levels).book(ts + 500, (91, 1.0, BID))  # lets actions act promptly
    return tape.book(9_000, (90, 1.0, BID))


# -- pre-trade rejections ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "ok", "bad", "reason"),
    [
        # size: 1.0 is at the limit (accepted), 1.5 is over
        ({"max_order_qty": 1.0}, new(BUY, 1.0, 97), new(BUY, 1.5, 97), Reject.RISK_MAX_ORDER_QTY),
        # notional: 2.0 * 96 * 0.5 = 96.0 <= 100; 2.1 * 96 * 0.5 = 100.8 > 100
        ({"max_order_notional": 100.0}, new(BUY, 2.0, 96), new(BUY, 2.1, 96),
         Reject.RISK_MAX_NOTIONAL),
        # a MARKET order is priced at the mid: 2.0 * 49.75 = 99.5 ok, 2.1 * 49.75 = 104.475 not
        ({"max_order_notional": 100.0}, market(BUY, 2.0), market(BUY, 2.1),
         Reject.RISK_MAX_NOTIONAL),
        # collar 100 bps of mid 99.5 = 0.995 ticks: 99 is 0.5 away (ok), 98 is 1.5 away
        ({"collar_bps": 100.0}, new(BUY, 1.0, 99), new(BUY, 1.0, 98), Reject.RISK_PRICE_COLLAR),
        # max position 2.0: a buy of 2.0 reaches it, a buy of 2.5 passes it
        ({"max_position": 2.0}, new(BUY, 2.0, 97), new(SELL, 2.5, 103), Reject.RISK_MAX_POSITION),
        # malformed: qty 0
        ({}, new(BUY, 1.0, 97), new(BUY, 0.0, 97), Reject.INVALID_ORDER),
        # malformed: a LIMIT order without a price
        ({}, new(BUY, 1.0, 97), new(BUY, 1.0, 0), Reject.INVALID_ORDER),
    ],
)  # fmt: skip
def test_pre_trade_rejection_is_recorded_with_its_reason(risk, ok, bad, reason):
    strat = ScriptedStrategy({1_000: [ok], 2_000: [bad]})

    out = run_engine(_tape((2_000, [(95, 1.0, BID)])).events(), strat, risk=RiskConfig(**risk))

    assert out.orders[["ts_recv", "order_id"]].tolist() == [(1_000, 0), (2_000, 1)]
    assert out.orders[1]["qty"] == bad[7]
    assert oev_tuples(out, 1) == [(2_000, 2_000, 1, REJECTED, reason, bad[7])]
    assert oev_tuples(out, 0)[0][3] in (ACCEPTED, FILLED)


def test_max_position_counts_working_orders_on_the_same_side():
    # max 2.0: a working buy of 1.5 (resting at 97) + a new buy of 1.0 = 2.5 worst case: no;
    # a sell of 1.0 (worst case -1.0) is fine
    strat = ScriptedStrategy({1_000: [new(BUY, 1.5, 97), new(BUY, 1.0, 96), new(SELL, 1.0, 103)]})

    out = run_engine(_tape().events(), strat, risk=RiskConfig(max_position=2.0))

    assert [(e[2], e[3], e[4]) for e in oev_tuples(out)] == [
        (1, REJECTED, Reject.RISK_MAX_POSITION),
        (0, ACCEPTED, 0),
        (2, ACCEPTED, 0),
    ]


def test_max_open_orders():
    # at most 2 working orders (in flight included): the third NEW is rejected
    rows = [new(BUY, 1.0, 97), new(BUY, 1.0, 96), new(SELL, 1.0, 103)]
    strat = ScriptedStrategy({1_000: rows})

    out = run_engine(_tape().events(), strat, risk=RiskConfig(max_open_orders=2))

    assert oev_tuples(out, 2) == [(1_000, 1_000, 2, REJECTED, Reject.RISK_MAX_OPEN_ORDERS, 1.0)]
    assert strat.ctx_at(9_000).open_orders["order_id"].tolist() == [0, 1]


def test_risk_rejected_modify_leaves_the_order_working():
    # collar 100 bps (0.995 ticks of mid 99.5): the resting buy at 99 may not move to 98.
    # The rejection leaves order 0 working unchanged: a sell of 6.0 @99 (5.0 ahead) fills 1.0
    tape = Tape().book(1_000, *BOOK).book(2_000, (95, 1.0, BID)).trade(3_000, 99, 6.0, SELL)
    strat = ScriptedStrategy({1_000: [new(BUY, 1.0, 99)], 2_000: [modify(0, 98, 1.0)]})

    out = run_engine(tape.events(), strat, risk=RiskConfig(collar_bps=100.0))

    assert oev_tuples(out) == [
        (1_100, 1_150, 0, ACCEPTED, 0, 1.0),
        (2_000, 2_000, 0, REJECTED, Reject.RISK_PRICE_COLLAR, 1.0),
        (3_000, 3_050, 0, FILLED, 0, 0.0),
    ]
    working = strat.ctx_at(3_000).open_orders[["order_id", "price_ticks", "qty"]].tolist()
    assert working == [(0, 99, 1.0)]


# -- stop-loss and take-profit ----------------------------------------------------------------


def _exit_scenario(later_book: list[tuple[int, float, int]], risk: RiskConfig):
    # 1_000: MARKET buy 1.0 (fills 1.0 @100 at 1_100, known at 1_150) and a resting sell
    # 1.0 @105. At 2_000 the book moves; the monitor fires, cancels order 1 and sends a
    # reduce-only MARKET sell 1.0 (order 2), which acts at 2_100 (before the 9_000 batch).
    strat = ScriptedStrategy({1_000: [market(BUY, 1.0), new(SELL, 1.0, 105)]})
    out = run_engine(_tape((2_000, later_book)).events(), strat, risk=risk)
    return out, strat


def _assert_flattened(out, strat, exit_price: int) -> None:
    assert out.orders[["ts_recv", "order_id", "action"]].tolist()[2:] == [
        (2_000, 1, 2),  # CANCEL of the resting sell
        (2_000, 2, 1),  # the flatten order
    ]
    flat = out.orders[3]
    assert (flat["side"], flat["order_type"], flat["tif"], flat["qty"]) == (
        SELL, OrderType.MARKET, TimeInForce.IOC, 1.0,
    )  # fmt: skip
    assert oev_tuples(out)[-2:] == [
        (2_100, 2_150, 1, CANCELED, 0, 1.0),
        (2_100, 2_150, 2, FILLED, 0, 0.0),
    ]
    assert fill_tuples(out)[-1] == (2_100, 2_150, 2, SELL, 2, 1, exit_price, 1.0, 0.0)
    assert strat.ctx_at(9_000).position == 0.0
    assert strat.ctx_at(9_000).open_orders.size == 0
    assert out.equity[-1]["position"] == 0.0


def test_stop_loss_cancels_all_and_flattens():
    # bids 97/asks 98 -> mid 97.5; move vs avg 100 = -2.5 / 100 * 1e4 = -250 bps <= -50
    # flatten sells 1.0 at 97: realized (97 - 100) * 0.5 = -1.5 quote
    book = [(99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (97, 5.0, BID), (98, 5.0, ASK)]

    out, strat = _exit_scenario(book, RiskConfig(stop_loss_bps=50.0))

    _assert_flattened(out, strat, 97)
    assert out.counters["risk_stop_loss"] == 1
    assert out.counters["risk_take_profit"] == 0
    assert out.equity[-1]["cash"] == -1.5


def test_take_profit_cancels_all_and_flattens():
    # bids 102/asks 103 -> mid 102.5: +250 bps >= 50; flatten sells at 102: +1.0 quote
    book = [(99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (101, 0.0, ASK),
            (102, 5.0, BID), (103, 5.0, ASK)]  # fmt: skip

    out, strat = _exit_scenario(book, RiskConfig(take_profit_bps=50.0))

    _assert_flattened(out, strat, 102)
    assert out.counters["risk_take_profit"] == 1
    assert out.counters["risk_stop_loss"] == 0
    assert out.equity[-1]["cash"] == 1.0


def test_flatten_is_reduce_only_and_skips_the_size_limits():
    # max order qty 0.5: two buys of 0.5 make a position of 1.0; the stop's flatten of 1.0
    # is over the size limit but is reduce-only, so it goes out and fills
    book = [(99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (97, 5.0, BID), (98, 5.0, ASK)]
    strat = ScriptedStrategy({1_000: [market(BUY, 0.5), market(BUY, 0.5)]})
    risk = RiskConfig(stop_loss_bps=50.0, max_order_qty=0.5)

    out = run_engine(_tape((2_000, book)).events(), strat, risk=risk)

    assert oev_tuples(out, 2) == [(2_100, 2_150, 2, FILLED, 0, 0.0)]
    assert out.orders[2]["qty"] == 1.0
    assert strat.ctx_at(9_000).position == 0.0


def test_stop_loss_flatten_that_expires_partly_is_retried():
    # 2_000: bids 97 x 0.4 / asks 98 (mid 97.5, -250 bps): flatten 1.0 (order 1) sells 0.4 @97
    # and EXPIRES with 0.6 left (known at 2_150). 2_500: bid 97 grows to 5.0; the stop still
    # holds (same episode, counted once): flatten 0.6 (order 2) fills @97 -> flat.
    tape = Tape().book(1_000, *BOOK)
    tape.book(2_000, (99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (97, 0.4, BID),
              (98, 5.0, ASK))  # fmt: skip
    tape.book(2_500, (97, 5.0, BID)).book(2_700, (91, 1.0, BID))
    events = tape.book(9_000, (90, 1.0, BID)).events()
    strat = ScriptedStrategy({0: [market(BUY, 1.0)]}, by="index")

    out = run_engine(events, strat, risk=RiskConfig(stop_loss_bps=50.0))

    assert out.orders[["ts_recv", "order_id", "side", "qty"]].tolist()[1:] == [
        (2_000, 1, SELL, 1.0),
        (2_500, 2, SELL, 0.6),
    ]
    assert [(e[2], e[3], e[5]) for e in oev_tuples(out)[1:]] == [
        (1, OrderStatus.EXPIRED, 0.6),
        (2, FILLED, 0.0),
    ]
    assert [f[6:8] for f in fill_tuples(out)[1:]] == [(97, 0.4), (97, 0.6)]
    assert out.counters["risk_stop_loss"] == 1
    assert strat.ctx_at(9_000).position == 0.0


# -- kill switch ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["max_drawdown", "max_daily_loss"])
def test_kill_switch_cancels_flattens_and_halts(limit):
    # cash 1_000. 1_000: MARKET buy 2.0 fills @100 (50.0 quote): cash 900, and a resting sell
    # 1.0 @105. At 2_000 (mid 99.5 = 49.75): equity 900 + 99.5 = 999.5, 0.5 below the peak /
    # day start of 1_000. At 3_000 the book drops to 97/98 (mid 97.5 = 48.75): equity 997.5,
    # 2.5 below -> limit 2.0 passed: cancel order 1, flatten sell 2.0 at 97 (48.5):
    # cash 900 + 97 = 997. The strategy is not called from 3_000 on.
    tape = Tape().book(1_000, *BOOK).book(2_000, (95, 1.0, BID))
    tape.book(3_000, (99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (97, 5.0, BID),
              (98, 5.0, ASK))  # fmt: skip
    tape.book(4_000, (95, 2.0, BID)).book(5_000, (95, 3.0, BID))
    schedule = {1_000: [market(BUY, 2.0), new(SELL, 1.0, 105)], 4_000: [market(BUY, 1.0)]}
    strat = ScriptedStrategy(schedule)
    risk = RiskConfig(**{limit: 2.0})

    out = run_engine(tape.events(), strat, risk=risk, initial_cash=1_000.0)

    assert [c.ts_recv for c in strat.seen] == [1_000, 2_000]
    assert out.counters["halted"] == 1
    assert out.counters["risk_kill_switch"] == 1
    assert out.orders[["ts_recv", "order_id", "action", "qty"]].tolist()[2:] == [
        (3_000, 1, 2, 1.0),  # the risk CANCEL row carries the order's own fields
        (3_000, 2, 1, 2.0),
    ]
    assert out.orders[3]["side"] == SELL
    assert oev_tuples(out)[-2:] == [
        (3_100, 3_150, 1, CANCELED, 0, 1.0),
        (3_100, 3_150, 2, FILLED, 0, 0.0),
    ]
    assert fill_tuples(out)[-1][6:8] == (97, 2.0)
    last = out.equity[-1]
    assert (last["position"], last["cash"], last["equity"]) == (0.0, 997.0, 997.0)


def test_kill_switch_without_flatten_only_cancels():
    tape = Tape().book(1_000, *BOOK).book(2_000, (95, 1.0, BID))
    tape.book(3_000, (99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (97, 5.0, BID),
              (98, 5.0, ASK))  # fmt: skip
    tape.book(4_000, (95, 2.0, BID))
    strat = ScriptedStrategy({1_000: [market(BUY, 2.0), new(SELL, 1.0, 105)]})
    risk = RiskConfig(max_drawdown=2.0, flatten_on_kill=False)

    out = run_engine(tape.events(), strat, risk=risk, initial_cash=1_000.0)

    assert out.counters["halted"] == 1
    assert out.orders["order_id"].tolist() == [0, 1, 1]
    assert oev_tuples(out)[-1] == (3_100, 3_150, 1, CANCELED, 0, 1.0)
    assert out.equity[-1]["position"] == 2.0


def test_risk_cancel_rows_carry_no_stale_fields():
    # the last decision's first row was a MARKET IOC buy (1, 2, 2, 0); the canceled order is
    # a LIMIT GTC sell at 105 (-1, 1, 1, 105). The CANCEL row must carry either nothing
    # (zeros, like a strategy's CANCEL) or the canceled order's fields, never the stale ones.
    book = [(99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (97, 5.0, BID), (98, 5.0, ASK)]

    out, _ = _exit_scenario(book, RiskConfig(stop_loss_bps=50.0))

    row = out.orders[2]
    assert int(row["action"]) == 2
    fields = tuple(int(row[k]) for k in ("side", "order_type", "tif", "price_ticks"))
    assert fields in ((0, 0, 0, 0), (-1, 1, 1, 105))


def test_kill_switch_while_a_stop_loss_flatten_is_in_flight_still_cancels_all():
    # cash 1_000; 1_000: MARKET buy 1.0 @100 (50.0): cash 950, peak 1_000.
    # 2_000: book 97/98, mid 48.75: equity 998.75 (1.25 below, no kill); the stop-loss
    # (-250 bps) sends flatten order 1 (acts at 2_100); the strategy then places order 2, a
    # passive buy at 90. 2_050: book 94/95, mid 47.25: equity 997.25, 2.75 below the peak
    # -> kill while order 1 is in flight. Order 2 must be canceled; the strategy is halted.
    tape = Tape().book(1_000, *BOOK)
    tape.book(2_000, (99, 0.0, BID), (98, 0.0, BID), (100, 0.0, ASK), (97, 5.0, BID),
              (98, 5.0, ASK))  # fmt: skip
    tape.book(2_050, (97, 0.0, BID), (98, 0.0, ASK), (101, 0.0, ASK), (94, 5.0, BID),
              (95, 5.0, ASK))  # fmt: skip
    tape.book(3_000, (80, 1.0, BID)).book(4_000, (81, 1.0, BID))
    strat = ScriptedStrategy({1_000: [market(BUY, 1.0)], 2_000: [new(BUY, 1.0, 90)]})
    risk = RiskConfig(stop_loss_bps=50.0, max_drawdown=2.0)

    out = run_engine(tape.events(), strat, risk=risk, initial_cash=1_000.0)

    assert out.counters["halted"] == 1
    assert out.equity[-1]["position"] == 0.0
    assert [e[3] for e in oev_tuples(out, 2)] == [ACCEPTED, CANCELED]


# -- operator halt (an alert's automatic response) -------------------------------------------


def _operator_run(flatten: bool) -> tuple[object, ScriptedStrategy]:
    # cash 1_000. 1_000: MARKET buy 2.0 fills @100; a resting sell 1.0 @105. The operator
    # halts between the events of 2_000 and 3_000; the state at 3_000 cancels order 1 and,
    # with flatten, sells 2.0 at the best bid 99. The strategy is not called from 3_000 on.
    tape = Tape().book(1_000, *BOOK).book(2_000, (95, 1.0, BID))
    tape.book(3_000, (95, 2.0, BID)).book(4_000, (95, 3.0, BID))
    events = tape.events()
    strat = ScriptedStrategy({1_000: [market(BUY, 2.0), new(SELL, 1.0, 105)],
                              3_000: [market(BUY, 1.0)]})  # fmt: skip
    eng = make_engine(strat, initial_cash=1_000.0)
    cut = int((events["ts_recv"] < 3_000).sum())
    eng.run(events[:cut])
    assert eng.operator_halt(flatten=flatten) is True
    assert eng.operator_halt(flatten=False) is False  # idempotent, never downgrades
    assert eng.halted
    eng.run(events[cut:])
    out = eng.finish()
    assert_conserved(out, TICK, 1_000.0)
    return out, strat


def test_operator_halt_cancels_working_orders_and_keeps_the_position():
    out, strat = _operator_run(flatten=False)

    assert [c.ts_recv for c in strat.seen] == [1_000, 2_000]
    assert out.counters["operator_halt"] == 1
    assert out.counters["risk_kill_switch"] == 0
    assert out.orders[["ts_recv", "order_id", "action"]].tolist()[2:] == [(3_000, 1, 2)]
    assert oev_tuples(out)[-1] == (3_100, 3_150, 1, CANCELED, 0, 1.0)
    assert out.equity[-1]["position"] == 2.0


def test_operator_halt_with_flatten_sells_the_position():
    out, _ = _operator_run(flatten=True)

    assert out.counters["operator_halt"] == 2
    assert out.orders[["ts_recv", "order_id", "action", "qty"]].tolist()[2:] == [
        (3_000, 1, 2, 1.0),
        (3_000, 2, 1, 2.0),
    ]
    assert fill_tuples(out)[-1][6:8] == (99, 2.0)
    last = out.equity[-1]
    assert (last["position"], last["cash"]) == (0.0, 999.0)
