"""Round trips by FIFO (C8) and the trade section: hand-worked fills, slow oracles, properties."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.trades import (
    ROUND_TRIP_DTYPE,
    excursions_nb,
    mark_price,
    open_lots,
    round_trips,
    trade_metrics,
)
from l2trader.errors import InvalidValueError
from l2trader.schema import FILL_DTYPE, STATE_DTYPE


def make_fills(rows: list[tuple[int, int, int, float, float]]) -> np.ndarray:
    """Fills from ``(ts_exch, side, price_ticks, qty, fee)`` rows (ts_recv = ts_exch + 1)."""
    f = np.zeros(len(rows), FILL_DTYPE)
    for i, (ts, side, px, qty, fee) in enumerate(rows):
        f[i]["ts_exch"], f[i]["ts_recv"], f[i]["order_id"] = ts, ts + 1, i
        f[i]["side"], f[i]["price_ticks"], f[i]["qty"], f[i]["fee"] = side, px, qty, fee
        f[i]["liquidity"] = 1
    return f


def make_inputs(fills: np.ndarray, mark: float, market: MarketSeries | None = None) -> RunInputs:
    eq = np.zeros(1, STATE_DTYPE)
    eq["mid"] = mark
    return RunInputs(
        run_id="r",
        config_id="c",
        code_version="v",
        data_fingerprint="d",
        tick_size=1.0,
        capital=1000.0,
        calendar="24/7",
        session_s=86400.0,
        equity=eq,
        fills=fills,
        market=market,
    )


def market(ts: list[int], mid: list[float]) -> MarketSeries:
    n = len(ts)
    return MarketSeries(
        ts=np.array(ts, np.int64),
        mid=np.array(mid),
        spread=np.ones(n),
        bid_depth=np.ones(n),
        ask_depth=np.ones(n),
        step_ns=1,
        depth_levels=1,
    )


# buy 1 @100, buy 2 @101, sell 2.5 @103 (closes lot 1 and 1.5 of lot 2), sell 1 @99 (closes the
# last 0.5 of lot 2 and opens a 0.5 short); fees are 0.1 quote per unit throughout.
HAND = [
    (10, 1, 100, 1.0, 0.1),
    (20, 1, 101, 2.0, 0.2),
    (30, -1, 103, 2.5, 0.25),
    (40, -1, 99, 1.0, 0.1),
]


def test_round_trips_hand_worked_fifo_splits_lots() -> None:
    # Arrange
    fills = make_fills(HAND)

    # Act
    rt = round_trips(fills, tick_size=1.0)

    # Assert
    assert rt.dtype == ROUND_TRIP_DTYPE
    assert rt["entry_ts"].tolist() == [10, 20, 20]
    assert rt["exit_ts"].tolist() == [30, 30, 40]
    assert rt["side"].tolist() == [1, 1, 1]
    assert rt["qty"].tolist() == [1.0, 1.5, 0.5]
    assert rt["entry_price"].tolist() == [100.0, 101.0, 101.0]
    assert rt["exit_price"].tolist() == [103.0, 103.0, 99.0]
    assert rt["fees"] == pytest.approx([0.2, 0.3, 0.1], rel=1e-12)
    assert rt["pnl"] == pytest.approx([2.8, 2.7, -1.1], rel=1e-12)
    assert rt["return_bps"] == pytest.approx(
        [280.0, 1e4 * 2.7 / 151.5, -1e4 * 1.1 / 50.5], rel=1e-12
    )
    assert rt["duration_ns"].tolist() == [20, 10, 20]
    assert np.isnan(rt["mae_bps"]).all()


def test_open_lots_hand_worked() -> None:
    lots = open_lots(make_fills(HAND), tick_size=1.0)
    assert lots.tolist() == [[-1.0, 0.5, 99.0, pytest.approx(0.05, rel=1e-12)]]


def test_round_trips_tick_size_scales_prices() -> None:
    rt = round_trips(make_fills([(1, -1, 200, 2.0, 0.0), (2, 1, 190, 2.0, 0.0)]), tick_size=0.5)
    assert (rt["side"][0], rt["entry_price"][0], rt["exit_price"][0], rt["pnl"][0]) == (
        -1,
        100.0,
        95.0,
        10.0,
    )


def test_round_trips_sorts_by_ts_exch() -> None:
    fills = make_fills([(5, -1, 110, 1.0, 0.0), (1, 1, 100, 1.0, 0.0)])
    rt = round_trips(fills, tick_size=1.0)
    assert (rt["side"][0], rt["pnl"][0], rt["entry_ts"][0]) == (1, 10.0, 1)


def test_round_trips_empty() -> None:
    rt = round_trips(np.zeros(0, FILL_DTYPE), tick_size=1.0)
    assert rt.shape == (0,)
    assert rt.dtype == ROUND_TRIP_DTYPE


@pytest.mark.parametrize(
    ("row", "what"),
    [
        ((1, 0, 100, 1.0, 0.0), "side"),
        ((1, 1, 100, -1.0, 0.0), "qty"),
        ((1, 1, 0, 1.0, 0.0), "price_ticks"),
        ((1, 1, 100, math.nan, 0.0), "qty"),
        ((1, 1, 100, 1.0, math.inf), "fee"),
    ],
)
def test_round_trips_bad_fill_raises_typed_error(
    row: tuple[int, int, int, float, float], what: str
) -> None:
    with pytest.raises(InvalidValueError, match=what) as err:
        round_trips(make_fills([(0, 1, 100, 1.0, 0.0), row]), tick_size=1.0)
    assert err.value.line == 1


def test_round_trips_bad_dtype_and_tick() -> None:
    with pytest.raises(InvalidValueError, match="dtype"):
        round_trips(np.zeros(1, STATE_DTYPE), tick_size=1.0)
    with pytest.raises(InvalidValueError, match="tick_size"):
        round_trips(make_fills(HAND), tick_size=0.0)


def test_excursions_hand_worked() -> None:
    # Arrange: long from 100 at t=10 to 101 at t=30; mids 100.5 (t=0), 99, 102, then 90 after exit
    fills = make_fills([(10, 1, 100, 1.0, 0.0), (30, -1, 101, 1.0, 0.0)])
    mkt = market([0, 15, 20, 35], [100.5, 99.0, 102.0, 90.0])

    # Act
    rt = round_trips(fills, tick_size=1.0, market=mkt)

    # Assert: path 100.5, 99, 102 and the exit 101
    assert rt["mae_bps"][0] == pytest.approx(-100.0, rel=1e-12)
    assert rt["mfe_bps"][0] == pytest.approx(200.0, rel=1e-12)


# ------------------------------------------------------------------------------------------
# Oracles
# ------------------------------------------------------------------------------------------


def slow_fifo(fills: np.ndarray) -> tuple[list[tuple[float, ...]], list[list[float]]]:
    """Pure-Python FIFO: round trips ``(entry_ts, exit_ts, side, qty, entry, exit, pnl, fees)``."""
    lots: deque[list[float]] = deque()  # [ts, side, qty, price, fee per unit]
    trips: list[tuple[float, ...]] = []
    for f in sorted(fills.tolist(), key=lambda r: r[0]):
        ts, side, px, qty, fee = f[0], f[3], float(f[6]), f[7], f[8]
        rate, rem = fee / qty, qty
        while rem > 1e-12 and lots and lots[0][1] == -side:
            lot = lots[0]
            q = min(rem, lot[2])
            fees = (lot[4] + rate) * q
            trips.append(
                (lot[0], ts, lot[1], q, lot[3], px, lot[1] * (px - lot[3]) * q - fees, fees)
            )
            lot[2] -= q
            rem -= q
            if lot[2] <= 1e-12:
                lots.popleft()
        if rem > 1e-12:
            lots.append([ts, side, rem, px, rate])
    return trips, [list(lot) for lot in lots]


def slow_excursions(rt: np.ndarray, ts: np.ndarray, mid: np.ndarray) -> list[tuple[float, float]]:
    out = []
    for r in rt:
        side, e = int(r["side"]), float(r["entry_price"])
        path = [float(r["exit_price"])]
        before = [m for t, m in zip(ts, mid, strict=True) if t <= r["entry_ts"]]
        path += before[-1:]
        path += [m for t, m in zip(ts, mid, strict=True) if r["entry_ts"] < t <= r["exit_ts"]]
        x = [side * (p - e) / e for p in path if not math.isnan(p)]
        out.append((1e4 * min([0.0, *x]), 1e4 * max([0.0, *x])))
    return out


fill_rows = st.lists(
    st.tuples(
        st.integers(0, 50),  # ts
        st.sampled_from([1, -1]),
        st.integers(90, 110),  # price ticks
        st.integers(1, 8).map(lambda k: k * 0.25),  # qty, exact in binary
        st.integers(-4, 4).map(lambda k: k * 0.01),  # fee
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(fill_rows)
def test_fifo_kernel_equals_slow_fifo(rows: list[tuple[int, int, int, float, float]]) -> None:
    # Arrange
    fills = make_fills(rows)

    # Act
    rt = round_trips(fills, tick_size=1.0)
    lots = open_lots(fills, tick_size=1.0)

    # Assert
    trips, slow_lots = slow_fifo(fills)
    cols = ("entry_ts", "exit_ts", "side", "qty", "entry_price", "exit_price", "pnl", "fees")
    got = np.array([[float(r[c]) for c in cols] for r in rt]).reshape(-1, len(cols))
    want = np.array(trips, dtype=float).reshape(-1, len(cols))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    want_lots = np.array([[s, q, p, q * r] for _, s, q, p, r in slow_lots]).reshape(-1, 4)
    np.testing.assert_allclose(lots, want_lots, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(fill_rows, st.floats(80.0, 120.0))
def test_round_trip_pnl_plus_open_mtm_equals_fill_pnl(
    rows: list[tuple[int, int, int, float, float]], mark: float
) -> None:
    # Arrange
    fills = make_fills(rows)
    s, p, q = fills["side"], fills["price_ticks"].astype(float), fills["qty"]
    total = float((s * (mark - p) * q).sum() - fills["fee"].sum())

    # Act
    m = trade_metrics(make_inputs(fills, mark))

    # Assert
    assert m["round_trip_pnl"] + m["open_pnl"] == pytest.approx(total, abs=1e-9)
    assert m["open_position"] == pytest.approx(float((s * q).sum()), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(fill_rows, st.lists(st.floats(90.0, 110.0) | st.just(math.nan), min_size=1, max_size=20))
def test_excursions_kernel_equals_slow_loop(
    rows: list[tuple[int, int, int, float, float]], mids: list[float]
) -> None:
    # Arrange
    ts = np.arange(len(mids), dtype=np.int64) * 3
    rt = round_trips(make_fills(rows), tick_size=1.0)
    out = np.zeros((rt.shape[0], 2))

    # Act
    excursions_nb(
        rt["entry_ts"].copy(),
        rt["exit_ts"].copy(),
        rt["side"].copy(),
        rt["entry_price"].copy(),
        rt["exit_price"].copy(),
        ts,
        np.array(mids),
        out,
    )

    # Assert
    want = np.array(slow_excursions(rt, ts, np.array(mids))).reshape(-1, 2)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------
# trade_metrics
# ------------------------------------------------------------------------------------------


def test_trade_metrics_hand_worked() -> None:
    # Arrange
    inputs = make_inputs(make_fills(HAND), mark=98.0)

    # Act
    m = trade_metrics(inputs)

    # Assert: trips pnl 2.8, 2.7, -1.1; open short 0.5 @ 99 marked at 98 less its 0.05 fee
    assert m["round_trips"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(5.0, rel=1e-12)
    assert m["expectancy"] == pytest.approx(4.4 / 3, rel=1e-12)
    assert m["avg_win"] == pytest.approx(2.75, rel=1e-12)
    assert m["avg_loss"] == pytest.approx(-1.1, rel=1e-12)
    assert m["payoff_ratio"] == pytest.approx(2.5, rel=1e-12)
    assert (m["max_consecutive_wins"], m["max_consecutive_losses"]) == (2, 1)
    assert m["holding_time_s_max"] == pytest.approx(20e-9)
    assert m["holding_time_s_median"] == pytest.approx(20e-9)
    assert m["round_trip_fees"] == pytest.approx(0.6, rel=1e-12)
    assert m["open_position"] == -0.5
    assert m["open_pnl"] == pytest.approx(0.5 - 0.05, rel=1e-12)
    assert math.isnan(m["mae_bps_mean"])


def test_trade_metrics_no_fills_is_nan_not_zero() -> None:
    m = trade_metrics(make_inputs(np.zeros(0, FILL_DTYPE), mark=100.0))
    assert m["round_trips"] == 0
    for key in (
        "win_rate",
        "profit_factor",
        "expectancy",
        "avg_win",
        "payoff_ratio",
        "holding_time_s_mean",
        "mae_bps_mean",
    ):
        assert math.isnan(m[key]), key
    assert m["open_pnl"] == 0.0


def test_trade_metrics_only_wins_profit_factor_inf() -> None:
    m = trade_metrics(
        make_inputs(make_fills([(1, 1, 100, 1.0, 0.0), (2, -1, 101, 1.0, 0.0)]), 100.0)
    )
    assert m["profit_factor"] == math.inf
    assert math.isnan(m["payoff_ratio"])


def test_mark_price_falls_back_to_market_then_nan() -> None:
    eq = np.zeros(2, STATE_DTYPE)
    eq["mid"] = [101.0, np.nan]
    base = make_inputs(np.zeros(0, FILL_DTYPE), 0.0)
    with_eq = RunInputs(**{**base.__dict__, "equity": eq})
    with_mkt = RunInputs(
        **{
            **base.__dict__,
            "equity": np.zeros(0, STATE_DTYPE),
            "market": market([0, 1], [99.0, 98.0]),
        }
    )
    bare = RunInputs(**{**base.__dict__, "equity": np.zeros(0, STATE_DTYPE)})
    assert (mark_price(with_eq), mark_price(with_mkt)) == (101.0, 98.0)
    assert math.isnan(mark_price(bare))
