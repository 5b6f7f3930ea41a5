"""Markouts, adverse selection, spread capture, fill/queue stats, fees and the PnL identity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.microstructure import (
    HORIZONS_NS,
    first_ts_by_id,
    horizon_label,
    markout_table,
    microstructure_metrics,
    series_at,
)
from l2trader.analysis.trades import trade_metrics
from l2trader.schema import (
    FILL_DTYPE,
    ORDER_DTYPE,
    ORDER_EVENT_DTYPE,
    STATE_DTYPE,
    Liquidity,
    OrderAction,
    OrderStatus,
)

MS = 1_000_000
S = 1_000_000_000
MAKER, TAKER = int(Liquidity.MAKER), int(Liquidity.TAKER)


def fills_of(rows: list[tuple[int, int, int, int, float, float]]) -> np.ndarray:
    """Fills from ``(ts_exch, side, liquidity, price_ticks, qty, fee)``; order_id = row index."""
    f = np.zeros(len(rows), FILL_DTYPE)
    for i, (ts, side, liq, px, qty, fee) in enumerate(rows):
        f[i] = (ts, ts + MS, i, side, liq, 0 if liq == MAKER else 1, px, qty, fee)
    return f


def grid_market(mids: list[float], step: int = 100 * MS, spread: float = 1.0) -> MarketSeries:
    n = len(mids)
    return MarketSeries(
        ts=np.arange(n, dtype=np.int64) * step,
        mid=np.array(mids, float),
        spread=np.full(n, spread),
        bid_depth=np.ones(n),
        ask_depth=np.ones(n),
        step_ns=step,
        depth_levels=1,
    )


def inputs_of(
    fills: np.ndarray, mkt: MarketSeries | None, mark: float = math.nan, **kw: np.ndarray
) -> RunInputs:
    eq = np.zeros(1, STATE_DTYPE)
    eq["mid"] = mark
    return RunInputs(
        run_id="r",
        config_id="c",
        code_version="v",
        data_fingerprint="d",
        tick_size=0.5,
        capital=1000.0,
        calendar="24/7",
        session_s=86400.0,
        equity=eq,
        fills=fills,
        market=mkt,
        **kw,  # type: ignore[arg-type]
    )


def test_horizon_labels() -> None:
    assert [horizon_label(h) for h in (*HORIZONS_NS, 250 * MS, 7)] == [
        "100ms",
        "1s",
        "10s",
        "60s",
        "250ms",
        "7ns",
    ]


def test_series_at_is_nan_outside_the_sampled_range() -> None:
    mkt = grid_market([1.0, 2.0, 3.0])
    got = series_at(mkt, mkt.mid, np.array([-1, 0, 150 * MS, 200 * MS, 200 * MS + 1]))
    np.testing.assert_array_equal(got, [np.nan, 1.0, 2.0, 3.0, np.nan])


def test_markout_hand_worked() -> None:
    # Arrange: maker buy 2 @ 99.5 (199 ticks of 0.5) at t=0 with mid 100; mid 101 from 1 s on
    mids = [100.0] * 10 + [101.0] * 600
    fills = fills_of([(0, 1, MAKER, 199, 2.0, -0.01), (50 * MS, -1, TAKER, 200, 1.0, 0.02)])
    inputs = inputs_of(fills, grid_market(mids))

    # Act
    mk = markout_table(inputs)

    # Assert
    assert mk.mid_at_fill.tolist() == [100.0, 100.0]
    np.testing.assert_allclose(mk.bps[0], [1e4 * 0.5 / 99.5] + [1e4 * 1.5 / 99.5] * 3, rtol=1e-12)
    np.testing.assert_allclose(mk.quote[0], [1.0, 3.0, 3.0, 3.0], rtol=1e-12)
    # the taker sell at 100 at t=50 ms: mid 100 at +100 ms (t=150 ms), 101 at +1 s (t=1.05 s)
    np.testing.assert_allclose(mk.quote[1], [0.0, -1.0, -1.0, -1.0], atol=1e-12)
    assert math.isnan(markout_table(inputs, (61 * S,)).bps[1, 0])  # beyond the series' end


def test_markout_of_a_fill_at_the_mid_is_zero() -> None:
    rng = np.random.default_rng(7)
    mids = (200 + rng.integers(-3, 4, 700)).astype(float)  # ticks of 0.5 -> mid on the grid
    ts = np.arange(0, 600, 7) * 100 * MS
    k = ts // (100 * MS)
    fills = fills_of(
        [
            (int(t), 1 if i % 2 else -1, MAKER, int(2 * mids[j]), 1.0, 0.0)
            for i, (t, j) in enumerate(zip(ts, k, strict=True))
        ]
    )
    mk = markout_table(inputs_of(fills, grid_market(list(mids))), (0,))
    assert np.all(mk.bps[:, 0] == 0.0)


def test_markouts_nan_without_market() -> None:
    mk = markout_table(inputs_of(fills_of([(0, 1, MAKER, 199, 1.0, 0.0)]), None))
    assert np.isnan(mk.bps).all()
    assert np.isnan(mk.mid_at_fill).all()


def test_feed_ns_shifts_the_fill_onto_the_market_clock() -> None:
    fills = fills_of([(0, 1, TAKER, 200, 1.0, 0.0)])
    mkt = grid_market([100.0, 102.0] + [102.0] * 20)
    mk = markout_table(inputs_of(fills, mkt), (0,), feed_ns=100 * MS)
    assert mk.mid_at_fill.tolist() == [102.0]


def test_metrics_by_side_liquidity_adverse_selection_and_alpha() -> None:
    # Arrange: maker buy 1 @ 99.5 (+1.5 at 1 s), maker sell 1 @ 100.5 (-0.5), taker buy @ 100.5
    mids = [100.0] * 10 + [101.0] * 600
    fills = fills_of(
        [
            (0, 1, MAKER, 199, 1.0, -0.01),
            (0, -1, MAKER, 201, 1.0, -0.01),
            (0, 1, TAKER, 201, 2.0, 0.1),
        ]
    )
    m = microstructure_metrics(inputs_of(fills, grid_market(mids), mark=101.0))
    bps = [1e4 * 1.5 / 99.5, 1e4 * -0.5 / 100.5, 1e4 * 0.5 / 100.5]

    # Assert
    assert m["markout_bps_1s_maker_buy"] == pytest.approx(bps[0], rel=1e-12)
    assert m["markout_bps_1s_maker_sell"] == pytest.approx(bps[1], rel=1e-12)
    assert m["markout_bps_1s_maker"] == pytest.approx((bps[0] + bps[1]) / 2, rel=1e-12)
    assert m["markout_bps_1s_taker"] == pytest.approx(bps[2], rel=1e-12)
    assert m["markout_bps_1s_buy"] == pytest.approx((bps[0] + bps[2]) / 2, rel=1e-12)
    assert m["markout_quote_1s"] == pytest.approx(1.5 - 0.5 + 1.0, rel=1e-12)
    assert math.isnan(m["markout_bps_1s_taker_sell"])
    assert m["adverse_selection_bps_1s"] == -m["markout_bps_1s_maker"]
    fee_bps = [-1e4 * 0.01 / 99.5, -1e4 * 0.01 / 100.5, 1e4 * 0.1 / 201.0]
    alpha = np.mean(np.array(bps) - fee_bps)
    assert m["microstructure_alpha_bps_1s"] == pytest.approx(alpha, rel=1e-12)
    assert m["microstructure_alpha_quote_1s"] == pytest.approx(2.0 - 0.08, rel=1e-12)
    # maker spread capture: both at half a unit from mid 100 with a quoted spread of 1.0
    assert m["spread_capture_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert m["realized_spread_ratio_1s"] == pytest.approx((1.5 - 0.5) / 1.0, rel=1e-12)
    assert m["market_step_ms"] == 100.0


def test_mix_fees_and_rebates_hand_worked() -> None:
    fills = fills_of(
        [
            (0, 1, MAKER, 200, 1.0, -0.02),
            (0, -1, MAKER, 200, 3.0, 0.01),
            (0, 1, TAKER, 202, 2.0, 0.5),
        ]
    )
    m = microstructure_metrics(inputs_of(fills, None))
    assert (m["fills"], m["maker_fills"], m["taker_fills"]) == (3, 2, 1)
    assert m["maker_share_fills"] == pytest.approx(2 / 3)
    assert m["maker_share_qty"] == pytest.approx(4 / 6)
    assert m["maker_share_notional"] == pytest.approx(400.0 / 602.0)
    assert m["fees_maker"] == pytest.approx(-0.01)
    assert m["rebates_maker"] == pytest.approx(0.02)
    assert m["fee_bps_maker"] == pytest.approx(1e4 * -0.01 / 400.0)
    assert m["fee_bps_taker"] == pytest.approx(1e4 * 0.5 / 202.0)
    assert m["pnl_fees_paid"] == pytest.approx(0.51)
    assert m["pnl_rebates"] == pytest.approx(0.02)
    assert math.isnan(m["markout_bps_1s"])


def test_fill_ratio_and_queue_wait_hand_worked() -> None:
    # Arrange: order 0 rests (accepted t=1 ms), fills 1 of 2 at t=3 s; order 1 rests, never fills;
    # order 2 is a market order filled in full at t=0; a CANCEL row is not a NEW order
    orders = np.zeros(4, ORDER_DTYPE)
    orders["order_id"] = [0, 1, 2, 1]
    orders["action"] = [OrderAction.NEW] * 3 + [OrderAction.CANCEL]
    orders["qty"] = [2.0, 1.0, 1.0, 0.0]
    events = np.zeros(4, ORDER_EVENT_DTYPE)
    events["order_id"] = [0, 1, 2, 0]
    events["ts_exch"] = [MS, MS, 0, 2 * S]
    events["status"] = [
        OrderStatus.ACCEPTED,
        OrderStatus.ACCEPTED,
        OrderStatus.FILLED,
        OrderStatus.ACCEPTED,
    ]
    fills = fills_of([(0, 1, TAKER, 200, 1.0, 0.0), (3 * S, 1, MAKER, 199, 1.0, 0.0)])
    fills["order_id"] = [2, 0]

    # Act
    m = microstructure_metrics(inputs_of(fills, None, orders=orders, order_events=events))

    # Assert
    assert m["orders_new"] == 3
    assert m["fill_ratio"] == pytest.approx(2.0 / 4.0)
    assert m["orders_filled_share"] == pytest.approx(2 / 3)
    assert (m["resting_orders"], m["resting_filled_share"]) == (2, 0.5)
    assert m["queue_wait_s_mean"] == pytest.approx((3 * S - MS) / 1e9)


def test_first_ts_by_id() -> None:
    ids, ts = first_ts_by_id(np.array([5, 3, 5, 3]), np.array([9, 8, 2, 10]))
    assert (ids.tolist(), ts.tolist()) == ([3, 5], [8, 2])


def test_empty_run_gives_nan_not_zero() -> None:
    m = microstructure_metrics(inputs_of(np.zeros(0, FILL_DTYPE), grid_market([100.0])))
    for key in (
        "markout_bps_1s",
        "fill_ratio",
        "queue_wait_s_mean",
        "maker_share_fills",
        "spread_capture_ratio",
        "microstructure_alpha_bps_1s",
        "fee_bps_maker",
    ):
        assert math.isnan(m[key]), key
    assert (m["fills"], m["pnl_total"]) == (0, 0.0)


# ------------------------------------------------------------------------------------------
# PnL attribution identity
# ------------------------------------------------------------------------------------------

fill_rows = st.lists(
    st.tuples(
        st.integers(-5, 120).map(lambda k: k * 50 * MS),  # some fills before the market starts
        st.sampled_from([1, -1]),
        st.sampled_from([MAKER, TAKER]),
        st.integers(190, 210),
        st.integers(1, 8).map(lambda k: k * 0.25),
        st.integers(-4, 4).map(lambda k: k * 0.01),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(fill_rows, st.integers(0, 2**32 - 1))
def test_pnl_parts_add_up_to_total_and_to_round_trips(
    rows: list[tuple[int, int, int, int, float, float]], seed: int
) -> None:
    # Arrange
    rng = np.random.default_rng(seed)
    mids = list(100.0 + 0.5 * np.cumsum(rng.integers(-1, 2, 80)))
    fills = fills_of(rows)
    mark = mids[-1]
    inputs = inputs_of(fills, grid_market(mids), mark=mark)
    s, p, q = fills["side"], 0.5 * fills["price_ticks"], fills["qty"]
    direct = float((s * (mark - p) * q).sum() - fills["fee"].sum())

    # Act
    m = microstructure_metrics(inputs)
    t = trade_metrics(inputs)

    # Assert
    parts = (
        m["pnl_spread_capture"]
        + m["pnl_taker_spread_cost"]
        + m["pnl_price_moves"]
        - m["pnl_fees_paid"]
        + m["pnl_rebates"]
    )
    assert parts == pytest.approx(m["pnl_total"], abs=1e-9)
    assert m["pnl_total"] == pytest.approx(direct, abs=1e-9)
    assert t["round_trip_pnl"] + t["open_pnl"] == pytest.approx(m["pnl_total"], abs=1e-9)


def test_pnl_attribution_hand_worked() -> None:
    # maker buy 1 @ 99.5 with mid 100 (+0.5 spread), taker sell 1 @ 100 with mid 100.5 (-0.5),
    # mark 101: price moves = (101 - 100) - (101 - 100.5) = 0.5; fees 0.1 paid, 0.02 rebated
    fills = fills_of([(0, 1, MAKER, 199, 1.0, -0.02), (100 * MS, -1, TAKER, 200, 1.0, 0.1)])
    m = microstructure_metrics(inputs_of(fills, grid_market([100.0, 100.5, 101.0]), mark=101.0))
    assert m["pnl_spread_capture"] == pytest.approx(0.5)
    assert m["pnl_taker_spread_cost"] == pytest.approx(-0.5)
    assert m["pnl_price_moves"] == pytest.approx(0.5)
    assert m["pnl_gross"] == pytest.approx(0.5)
    assert m["pnl_total"] == pytest.approx(0.5 - 0.1 + 0.02)
    assert m["fills_without_mid"] == 0
