"""Each invariant fires on a purpose-broken input and passes on the matching good one."""

from __future__ import annotations

import numpy as np

from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, STATE_DTYPE
from l2trader.stress import invariants as inv
from l2trader.testing import make_events


def _fills(rows: list[tuple[int, int, int, float, float]]) -> np.ndarray:
    """(ts_recv, side, price_ticks, qty, fee) rows; ts_exch = ts_recv - 1."""
    out = np.zeros(len(rows), FILL_DTYPE)
    for i, (ts, side, price, qty, fee) in enumerate(rows):
        out[i]["ts_recv"], out[i]["ts_exch"], out[i]["side"] = ts, ts - 1, side
        out[i]["price_ticks"], out[i]["qty"], out[i]["fee"] = price, qty, fee
    return out


def test_conservation_fires_when_a_row_is_lost_or_the_engine_skips_one() -> None:
    assert inv.check_conservation(100, 97, 3, 97).passed is True
    assert inv.check_conservation(100, 96, 3, 96).passed is False
    assert inv.check_conservation(100, 97, 3, 96).passed is False


def test_faults_detected_needs_exact_counts_and_a_seen_crossed_book() -> None:
    assert inv.check_faults({"duplicate_seq": 4}, {"duplicate_seq": 4}, 0).passed is True
    assert inv.check_faults({"duplicate_seq": 4}, {"duplicate_seq": 3}, 0).passed is False
    assert inv.check_faults({}, {"nan_qty": 1}, 0).passed is False
    assert inv.check_faults({"crossed_book": 5}, {}, 0).passed is False
    assert inv.check_faults({"crossed_book": 5}, {}, 2).passed is True
    assert inv.check_faults({}, {}, 0).passed is None


def test_strict_mode_must_raise_a_typed_error_exactly_when_faults_are_declared() -> None:
    assert inv.check_strict({"nan_qty": 1}, "InvalidValueError: event 3 ...").passed is True
    assert inv.check_strict({"nan_qty": 1}, None).passed is False
    assert inv.check_strict({"nan_qty": 1}, "IndexError: out of range").passed is False
    assert inv.check_strict({"crossed_book": 2}, None).passed is True


def test_position_limit_reports_the_worst_position_and_when() -> None:
    fills = _fills([(10, 1, 100, 0.5, 0.0), (20, 1, 100, 0.7, 0.0), (30, -1, 100, 1.2, 0.0)])

    result = inv.check_limit(
        "position_limit", inv.position_path(fills), 1.0, "base units", fills["ts_exch"]
    )

    assert result.passed is False
    assert result.evidence == "max 1.2 base units at ts 19 > limit 1"
    assert inv.check_limit("position_limit", inv.position_path(fills), np.inf, "x").passed is None


def _path(equity: list[float]) -> inv.StatePath:
    n = len(equity)
    return inv.StatePath(
        np.arange(1, n + 1, dtype=np.int64) * 100, np.zeros(n), np.array(equity), 0, -1
    )


def _orders(rows: list[tuple[int, int, int]]) -> np.ndarray:
    """(ts_recv, order_type, tif) NEW orders."""
    out = np.zeros(len(rows), ORDER_DTYPE)
    for i, (ts, kind, tif) in enumerate(rows):
        out[i]["ts_recv"], out[i]["action"], out[i]["order_type"], out[i]["tif"] = ts, 1, kind, tif
    return out


def test_kill_switch_fires_if_the_drawdown_passes_the_limit_without_a_halt() -> None:
    path = _path([0.0, 2.0, -4.0, -6.0])  # drawdown 6 at ts 300 (> 5), 8 at ts 400
    orders = _orders([(150, 1, 4), (350, 2, 2)])  # a POST_ONLY quote, then a MARKET IOC flatten

    assert (
        inv.check_kill_switch(path, orders, 5.0, halted=False, final_position=0.0).passed is False
    )
    assert inv.check_kill_switch(path, orders, 5.0, halted=True, final_position=0.0).passed is True
    assert inv.check_kill_switch(path, orders, 5.0, halted=True, final_position=0.1).passed is False
    late = _orders([(150, 1, 4), (350, 1, 4)])  # a new quote after the breach
    assert inv.check_kill_switch(path, late, 5.0, halted=True, final_position=0.0).passed is False
    assert (
        inv.check_kill_switch(path, orders, 10.0, halted=False, final_position=0.0).passed is None
    )


def test_equity_reconciles_with_the_fills_and_catches_a_tampered_row() -> None:
    fills = _fills([(150, 1, 100, 2.0, 0.5), (250, -1, 110, 1.0, 0.25)])
    eq = np.zeros(3, STATE_DTYPE)
    eq["ts_recv"], eq["mid"] = [100, 200, 300], [99.0, 101.0, 112.0]
    eq["position"] = [0.0, 2.0, 1.0]
    eq["cash"] = [0.0, -200.5, -200.5 + 110.0 - 0.25]
    eq["equity"] = eq["cash"] + eq["position"] * eq["mid"]

    assert inv.check_equity(eq, fills, 1.0, 0.0).passed is True
    eq["equity"][1] += 0.01
    bad = inv.check_equity(eq, fills, 1.0, 0.0)
    assert bad.passed is False
    assert bad.evidence == "equity 1.51 != replayed 1.5 at row 1 (ts 200); 1 rows differ"


def test_state_path_and_book_check_flag_an_undeclared_crossed_state() -> None:
    events = make_events([(100, 1.0, 1), (102, 1.0, -1), (103, 1.0, 1), (103, 0.0, 1)],
                         batch=False)  # fmt: skip
    events["ts_recv"] = [10, 20, 30, 40]
    fills = _fills([])

    path = inv.state_path(events, fills, 0.5, 0.0)

    assert path.crossed == 1  # the bid at 103 crosses the ask at 102 until deleted
    assert inv.check_book(path, engine_crossed=1, declared_fault=True).passed is True
    assert inv.check_book(path, engine_crossed=1, declared_fault=False).passed is False
    assert inv.check_book(path, engine_crossed=0, declared_fault=True).passed is False
