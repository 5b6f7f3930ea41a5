"""Execution section: slippage vs arrival/decision mid, shortfall, levels walked, latency."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from l2trader.analysis.execution import execution_metrics, order_executions
from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.microstructure import microstructure_metrics
from l2trader.errors import InvalidValueError
from l2trader.schema import (
    FILL_DTYPE,
    ORDER_DTYPE,
    ORDER_EVENT_DTYPE,
    Liquidity,
    OrderAction,
    OrderStatus,
    OrderType,
)

MS = 1_000_000
MAKER, TAKER = int(Liquidity.MAKER), int(Liquidity.TAKER)


def market(mids: list[float], step: int = MS) -> MarketSeries:
    n = len(mids)
    return MarketSeries(
        ts=np.arange(n, dtype=np.int64) * step,
        mid=np.array(mids),
        spread=np.ones(n),
        bid_depth=np.ones(n),
        ask_depth=np.ones(n),
        step_ns=step,
        depth_levels=1,
    )


def inputs_of(
    orders: np.ndarray, events: np.ndarray, fills: np.ndarray, mkt: MarketSeries | None
) -> RunInputs:
    return RunInputs(
        run_id="r",
        config_id="c",
        code_version="v",
        data_fingerprint="d",
        tick_size=1.0,
        capital=1000.0,
        calendar="24/7",
        session_s=86400.0,
        fills=fills,
        orders=orders,
        order_events=events,
        market=mkt,
    )


def taker_case() -> RunInputs:
    """Market buy of 3 decided at t=0 (mid 100), arriving at t=1 ms (mid 100.5): it walks two
    levels, 1 @ 101 and 1 @ 102 (fee 0.1 each), and the last 1 expires (mid at expiry 100.5).
    A maker sell of 1 @ 103 decided at t=2 ms (mid 101) rests and fills at t=5 ms (mid 102)."""
    orders = np.zeros(2, ORDER_DTYPE)
    orders[0] = (0, 7, OrderAction.NEW, 1, OrderType.MARKET, 2, 0, 3.0)
    orders[1] = (2 * MS, 9, OrderAction.NEW, -1, OrderType.LIMIT, 4, 103, 1.0)
    events = np.zeros(3, ORDER_EVENT_DTYPE)
    events[0] = (MS, 2 * MS, 7, OrderStatus.EXPIRED, 0, 1.0)
    events[1] = (3 * MS, 4 * MS, 9, OrderStatus.ACCEPTED, 0, 1.0)
    events[2] = (5 * MS, 6 * MS, 9, OrderStatus.FILLED, 0, 0.0)
    fills = np.zeros(3, FILL_DTYPE)
    fills[0] = (MS, 2 * MS, 7, 1, TAKER, 2, 101, 1.0, 0.1)
    fills[1] = (MS, 2 * MS, 7, 1, TAKER, 2, 102, 1.0, 0.1)
    fills[2] = (5 * MS, 6 * MS, 9, -1, MAKER, 0, 103, 1.0, -0.05)
    return inputs_of(
        orders, events, fills, market([100.0, 100.5, 101.0, 101.0, 101.0, 102.0, 102.0])
    )


def test_order_executions_hand_worked() -> None:
    ox = order_executions(taker_case())
    assert ox.order_id.tolist() == [7, 9]
    assert ox.filled_qty.tolist() == [2.0, 1.0]
    assert ox.exec_cost.tolist() == [pytest.approx(3.0), pytest.approx(-2.0)]
    assert ox.fees.tolist() == [pytest.approx(0.2), pytest.approx(-0.05)]
    assert ox.opportunity_cost.tolist() == [pytest.approx(0.5), 0.0]
    assert ox.mid_decision.tolist() == [100.0, 101.0]
    assert ox.first_fill_ts_exch.tolist() == [MS, 5 * MS]
    assert ox.first_fill_ts_recv.tolist() == [2 * MS, 6 * MS]
    assert ox.levels.tolist() == [2, 0]


def test_execution_metrics_hand_worked() -> None:
    # Act
    m = execution_metrics(taker_case())

    # Assert: taker vs arrival mid 100.5: (0.5 + 1.5) / 201; vs decision mid 100: 3 / 200
    assert m["slippage_arrival_bps_taker"] == pytest.approx(1e4 * 2.0 / 201.0, rel=1e-12)
    assert m["slippage_decision_bps_taker"] == pytest.approx(150.0, rel=1e-12)
    # maker sell @ 103: vs mid 102 at the fill, vs mid 101 at the decision (price improvement)
    assert m["slippage_arrival_bps_maker"] == pytest.approx(-1e4 / 102.0, rel=1e-12)
    assert m["slippage_decision_bps_maker"] == pytest.approx(-1e4 * 2.0 / 101.0, rel=1e-12)
    assert m["slippage_decision_bps"] == pytest.approx(1e4 * (3.0 - 2.0) / 301.0, rel=1e-12)
    assert m["is_execution_quote"] == pytest.approx(1.0)
    assert m["is_fees_quote"] == pytest.approx(0.15)
    assert m["is_opportunity_quote"] == pytest.approx(0.5)
    assert m["implementation_shortfall_quote"] == pytest.approx(1.65)
    assert m["implementation_shortfall_bps"] == pytest.approx(1e4 * 1.65 / 401.0, rel=1e-12)
    assert (m["levels_walked_mean"], m["levels_walked_max"], m["multi_level_share"]) == (
        2.0,
        2.0,
        1.0,
    )
    assert m["decision_to_fill_ms_mean"] == pytest.approx((1.0 + 3.0) / 2)
    assert m["decision_to_notice_ms_max"] == pytest.approx(4.0)


def test_execution_without_market_keeps_latency_and_levels() -> None:
    base = taker_case()
    m = execution_metrics(RunInputs(**{**base.__dict__, "market": None}))
    assert math.isnan(m["slippage_arrival_bps"])
    assert math.isnan(m["implementation_shortfall_bps"])
    assert m["levels_walked_max"] == 2.0
    assert m["decision_to_fill_ms_median"] == pytest.approx(2.0)


def test_fills_of_unknown_orders_are_left_out_of_order_stats() -> None:
    base = taker_case()
    fills = base.fills.copy()
    fills["order_id"][2] = 99
    ox = order_executions(RunInputs(**{**base.__dict__, "fills": fills}))
    assert ox.filled_qty.tolist() == [2.0, 0.0]
    assert ox.first_fill_ts_exch.tolist() == [MS, -1]


def test_feed_ns_moves_the_arrival_mid() -> None:
    m = execution_metrics(taker_case(), feed_ns=MS)  # arrival mid is the one at t=2 ms: 101
    assert m["slippage_arrival_bps_taker"] == pytest.approx(1e4 * 1.0 / 202.0, rel=1e-12)


def test_empty_run_is_nan_not_zero() -> None:
    m = execution_metrics(
        inputs_of(
            np.zeros(0, ORDER_DTYPE),
            np.zeros(0, ORDER_EVENT_DTYPE),
            np.zeros(0, FILL_DTYPE),
            market([100.0]),
        )
    )
    for key in (
        "slippage_arrival_bps",
        "slippage_decision_bps_taker",
        "implementation_shortfall_bps",
        "levels_walked_mean",
        "multi_level_share",
        "decision_to_fill_ms_mean",
    ):
        assert math.isnan(m[key]), key
    assert m["implementation_shortfall_quote"] == 0.0


@pytest.mark.parametrize("section", [execution_metrics, microstructure_metrics])
def test_bad_fill_raises_typed_error(
    section: Callable[[RunInputs], dict[str, float | int]],
) -> None:
    base = taker_case()
    fills = base.fills.copy()
    fills["qty"][1] = -1.0
    with pytest.raises(InvalidValueError, match="qty") as err:
        section(RunInputs(**{**base.__dict__, "fills": fills}))
    assert err.value.line == 1
