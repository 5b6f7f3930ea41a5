"""Taker orders walking the book: hand-worked cases per branch, exact-arithmetic oracle."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.book.replay import replay
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.sources import SourceFormat, open_source
from l2trader.engine.kernels import (
    QTY_RTOL,
    WALK_LEVELS,
    WALK_VWAP,
    WALK_WORST,
    available_nb,
    fok_fill_nb,
    market_limit_ticks,
    mid_ticks_nb,
    slippage_bps_nb,
    sweep_nb,
    walk_book_nb,
    would_cross_nb,
)
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS

NA, NB = int(NO_ASK_TICKS), int(NO_BID_TICKS)
MKT_BUY, MKT_SELL = market_limit_ticks(1), market_limit_ticks(-1)


def _asks() -> tuple[np.ndarray, np.ndarray]:
    """Asks 100 x 1.0, 101 x 2.0, 102 x 3.0, then two empty levels."""
    return np.array([100, 101, 102, NA, NA]), np.array([1.0, 2.0, 3.0, 0.0, 0.0])


def _bids() -> tuple[np.ndarray, np.ndarray]:
    """Bids 99 x 1.5, 98 x 0.5, 97 x 10.0, then one empty level."""
    return np.array([99, 98, 97, NB]), np.array([1.5, 0.5, 10.0, 0.0])


def _walk(ticks, qty, want, limit, side):
    out = np.full(3, -7.0)  # garbage: every slot must be overwritten
    filled = walk_book_nb(ticks, qty, want, limit, side, out)
    return filled, out.tolist()


# -- walk_book_nb: hand-worked ---------------------------------------------------------------


def test_market_buy_sweeps_three_levels():
    ticks, qty = _asks()

    filled, out = _walk(ticks, qty, 4.0, MKT_BUY, 1)

    # (100*1 + 101*2 + 102*1) / 4 = 404 / 4
    assert (filled, out) == (4.0, [101.0, 3.0, 102.0])


def test_limit_buy_stops_at_limit_and_fills_partially():
    ticks, qty = _asks()

    filled, out = _walk(ticks, qty, 4.0, 101, 1)

    assert filled == 3.0
    assert out[WALK_VWAP] == pytest.approx(302.0 / 3.0, rel=1e-15)
    assert out[WALK_LEVELS:] == [2.0, 101.0]


def test_order_ending_on_a_level_boundary_does_not_touch_the_next_level():
    ticks, qty = _asks()

    filled, out = _walk(ticks, qty, 3.0, MKT_BUY, 1)

    assert filled == 3.0
    assert out[WALK_LEVELS:] == [2.0, 101.0]


def test_market_sell_walks_bids_down():
    ticks, qty = _bids()

    filled, out = _walk(ticks, qty, 2.5, MKT_SELL, -1)

    # (99*1.5 + 98*0.5 + 97*0.5) / 2.5 = 246 / 2.5
    assert filled == 2.5
    assert out == [pytest.approx(98.4, rel=1e-15), 3.0, 97.0]


def test_limit_sell_takes_only_bids_at_or_above_limit():
    ticks, qty = _bids()

    filled, out = _walk(ticks, qty, 2.5, 99, -1)

    assert (filled, out) == (1.5, [99.0, 1.0, 99.0])


@pytest.mark.parametrize(("limit", "side"), [(99, 1), (100, -1)])
def test_limit_not_reaching_the_best_level_fills_nothing(limit, side):
    ticks, qty = _asks() if side > 0 else _bids()

    filled, out = _walk(ticks, qty, 1.0, limit, side)

    assert filled == 0.0
    assert math.isnan(out[WALK_VWAP])
    assert out[WALK_LEVELS] == 0.0
    assert math.isnan(out[WALK_WORST])


@pytest.mark.parametrize(("sentinel", "side"), [(NA, 1), (NB, -1)])
def test_market_order_stops_at_the_empty_level_sentinel(sentinel, side):
    ticks, qty = np.array([100, sentinel, sentinel]), np.array([1.0, 0.0, 0.0])

    filled, out = _walk(ticks, qty, 5.0, market_limit_ticks(side), side)

    assert (filled, out) == (1.0, [100.0, 1.0, 100.0])


@pytest.mark.parametrize(("sentinel", "side"), [(NA, 1), (NB, -1)])
def test_empty_side_fills_nothing(sentinel, side):
    ticks, qty = np.full(3, sentinel), np.zeros(3)

    filled, out = _walk(ticks, qty, 5.0, market_limit_ticks(side), side)

    assert filled == 0.0
    assert out[WALK_LEVELS] == 0.0
    assert math.isnan(out[WALK_VWAP])


def test_zero_size_level_with_a_price_is_skipped_and_not_counted():
    ticks, qty = np.array([100, 101, 102]), np.array([0.0, 2.0, 1.0])

    filled, out = _walk(ticks, qty, 1.0, MKT_BUY, 1)

    assert (filled, out) == (1.0, [101.0, 1.0, 101.0])


@pytest.mark.parametrize("want", [0.0, -1.0, float("nan")])
def test_non_positive_or_nan_size_fills_nothing(want):
    ticks, qty = _asks()

    filled, out = _walk(ticks, qty, want, MKT_BUY, 1)

    assert filled == 0.0
    assert out[WALK_LEVELS] == 0.0


def test_float_residual_completes_the_order_exactly():
    # 0.7 + 0.2 + 0.1 == 0.9999999999999999 in float64; the order of 1.0 must still complete.
    # Without the tolerance the 3e-17 residual would also take from level 103.
    ticks, qty = np.array([100, 101, 102, 103]), np.array([0.7, 0.2, 0.1, 5.0])
    take = np.full(4, -1.0)
    out = np.zeros(3)

    filled = sweep_nb(ticks, qty, 1.0, MKT_BUY, 1, out, take)

    assert filled == 1.0
    assert out[WALK_LEVELS:].tolist() == [3.0, 102.0]
    assert out[WALK_VWAP] == pytest.approx(100.4, rel=1e-15)
    assert take.sum() == pytest.approx(1.0, abs=1e-15)
    assert take.tolist()[:2] == [0.7, 0.2]
    assert take[3] == 0.0


def test_sweep_writes_size_taken_per_level_and_zero_elsewhere():
    ticks, qty = _asks()
    take = np.full(5, -1.0)
    out = np.zeros(3)

    filled = sweep_nb(ticks, qty, 2.5, MKT_BUY, 1, out, take)

    assert filled == 2.5
    assert take.tolist() == [1.0, 1.5, 0.0, 0.0, 0.0]


def test_walk_does_not_mutate_its_inputs():
    ticks, qty = _asks()
    ticks0, qty0 = ticks.copy(), qty.copy()

    _walk(ticks, qty, 4.0, MKT_BUY, 1)

    np.testing.assert_array_equal(ticks, ticks0)
    np.testing.assert_array_equal(qty, qty0)


# -- IOC / FOK / POST_ONLY helpers -----------------------------------------------------------


@pytest.mark.parametrize(("limit", "expected"), [(MKT_BUY, 6.0), (101, 3.0), (100, 1.0), (99, 0.0)])
def test_available_within_limit(limit, expected):
    ticks, qty = _asks()

    assert available_nb(ticks, qty, limit, 1) == expected


def test_fok_fillable_walks_like_ioc():
    ticks, qty = _asks()
    out = np.zeros(3)

    filled = fok_fill_nb(ticks, qty, 3.0, 101, 1, out)

    assert (filled, out.tolist()) == (3.0, [pytest.approx(302.0 / 3.0, rel=1e-15), 2.0, 101.0])


def test_fok_not_fillable_fills_nothing_where_ioc_would_fill_partially():
    ticks, qty = _asks()
    out = np.full(3, -7.0)

    filled = fok_fill_nb(ticks, qty, 3.5, 101, 1, out)

    assert filled == 0.0
    assert out[WALK_LEVELS] == 0.0
    assert math.isnan(out[WALK_VWAP])
    assert math.isnan(out[WALK_WORST])


def test_fok_accepts_a_float_sum_one_ulp_short():
    ticks, qty = np.array([100, 101, 102]), np.array([0.7, 0.2, 0.1])
    out = np.zeros(3)

    assert fok_fill_nb(ticks, qty, 1.0, 102, 1, out) == 1.0


@pytest.mark.parametrize(
    ("limit", "side", "best", "expected"),
    [
        (100, 1, 100, True),  # buy at the best ask takes
        (99, 1, 100, False),
        (100, 1, NA, False),  # no asks: nothing to cross
        (100, -1, 100, True),  # sell at the best bid takes
        (101, -1, 100, False),
        (100, -1, NB, False),
    ],
)
def test_post_only_would_cross(limit, side, best, expected):
    assert would_cross_nb(limit, side, best) is expected


# -- arrival mid and slippage ----------------------------------------------------------------


def test_mid_ticks():
    assert mid_ticks_nb(99, 102) == 100.5
    assert math.isnan(mid_ticks_nb(NB, 102))
    assert math.isnan(mid_ticks_nb(99, NA))


def test_slippage_bps_hand_worked():
    # buy: VWAP 101.0 vs mid 100.0 -> 1/100 = 100 bps paid
    assert slippage_bps_nb(101.0, 100.0, 1) == pytest.approx(100.0, rel=1e-15)
    # sell: VWAP 98.4 vs mid 99.5 -> 1.1/99.5 * 1e4 = 110.5527638190955 bps paid
    assert slippage_bps_nb(98.4, 99.5, -1) == pytest.approx(110.5527638190955, rel=1e-12)
    # a buy below mid (price improvement) is negative
    assert slippage_bps_nb(99.0, 100.0, 1) == pytest.approx(-100.0, rel=1e-15)


@pytest.mark.parametrize(
    ("vwap", "mid"), [(100.0, float("nan")), (float("nan"), 100.0), (1.0, 0.0)]
)
def test_slippage_undefined_is_nan(vwap, mid):
    assert math.isnan(slippage_bps_nb(vwap, mid, 1))


# -- property: walk_book_nb equals a slow exact loop -----------------------------------------


def _slow_walk(ticks, lots, want_lots, limit, side):
    """Obviously correct: exact sizes (int lots or Fractions), one level at a time.

    Done once the exact remaining size is at most ``want * QTY_RTOL`` (the kernel's rule for
    float residuals; below one lot for the integer-lot cases).
    """
    empty = NA if side > 0 else NB
    fills = []
    remaining = want_lots
    done = want_lots * Fraction(QTY_RTOL)
    for price, size in zip(ticks, lots, strict=True):
        beyond = price > limit if side > 0 else price < limit
        if remaining <= done or price == empty or beyond:
            break
        if size > 0:
            take = min(size, remaining)
            fills.append((price, take))
            remaining -= take
    filled = sum(t for _, t in fills)
    if not fills:
        return 0, None, 0, None, False
    vwap = Fraction(sum(p * t for p, t in fills), filled)
    return filled, vwap, len(fills), fills[-1][0], remaining <= done


@st.composite
def _book_and_order(draw):
    side = draw(st.sampled_from([1, -1]))
    n_real = draw(st.integers(0, 6))
    n_empty = draw(st.integers(0, 2))
    best = draw(st.integers(-50, 50))
    gaps = draw(st.lists(st.integers(1, 3), min_size=n_real, max_size=n_real))
    prices = list(best + side * np.cumsum(gaps)) if n_real else []
    lots = draw(st.lists(st.integers(0, 40), min_size=n_real, max_size=n_real))
    sentinel = NA if side > 0 else NB
    ticks = [int(p) for p in prices] + [sentinel] * n_empty
    lots = lots + [0] * n_empty
    market = draw(st.booleans())
    limit = market_limit_ticks(side) if market else draw(st.integers(best - 10, best + 30))
    want_lots = draw(st.integers(0, 150))
    return side, ticks, lots, limit, want_lots


LOT = 0.001


def _assert_matches(filled, out, expected, rel):
    filled_x, vwap_x, levels_x, worst_x = expected
    assert filled == pytest.approx(float(filled_x), rel=rel, abs=0.0)
    assert out[WALK_LEVELS] == levels_x
    if levels_x:
        assert out[WALK_VWAP] == pytest.approx(float(vwap_x), rel=1e-12, abs=1e-12)
        assert out[WALK_WORST] == worst_x
    else:
        assert math.isnan(out[WALK_VWAP])
        assert math.isnan(out[WALK_WORST])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_book_and_order())
def test_walk_equals_slow_exact_loop(case):
    side, ticks, lots, limit, want_lots = case
    ticks_a = np.array(ticks, dtype=np.int64).reshape(-1)
    qty_a = np.array(lots, dtype=np.float64).reshape(-1) * LOT
    out = np.zeros(3)
    filled_x, vwap_x, levels_x, worst_x, complete_x = _slow_walk(
        ticks, lots, want_lots, limit, side
    )

    filled = walk_book_nb(ticks_a, qty_a, want_lots * LOT, limit, side, out)
    fok = fok_fill_nb(ticks_a, qty_a, want_lots * LOT, limit, side, np.zeros(3))

    if complete_x:
        assert filled == want_lots * LOT  # exactly, not approximately
    _assert_matches(filled, out, (filled_x * LOT, vwap_x, levels_x, worst_x), rel=1e-12)
    assert fok == (want_lots * LOT if complete_x else 0.0)


# -- real data: every book state of a Binance USD-M capture ----------------------------------


@pytest.mark.shared_data
def test_walk_equals_slow_exact_loop_on_real_binance_books(shared_data: Path):
    path = shared_data / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"
    source = open_source(
        SourceFormat.BINANCE, [path], instrument=lookup("binance-futures", "BTCUSDT")
    )
    frame = replay(collect(source.chunks()), levels=20)
    out = np.zeros(3)
    checked = 0

    for i in range(0, len(frame), 7):
        for side, ticks, qty in (
            (1, frame.ask_ticks[i], frame.ask_qty[i]),
            (-1, frame.bid_ticks[i], frame.bid_qty[i]),
        ):
            sizes = [Fraction(float(q)) for q in qty]
            for want in (0.5, 5.0, 20.0):
                limit = market_limit_ticks(side)
                filled_x, vwap_x, levels_x, worst_x, _ = _slow_walk(
                    ticks.tolist(), sizes, Fraction(want), limit, side
                )

                filled = walk_book_nb(ticks, qty, want, limit, side, out)

                _assert_matches(filled, out, (filled_x, vwap_x, levels_x, worst_x), rel=1e-9)
                checked += 1

    assert checked == 6 * len(range(0, len(frame), 7))
