"""Reference strategies: hand-worked decisions and kernel == plain-Python twin on random contexts.

Book of every hand-worked case unless stated: best bid 999, best ask 1001 (ticks), mid 1000,
spread 2 ticks, so crossing costs ``2 / 2 / 1000 * 1e4 = 10`` bps before fees.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies import (
    MarketMakerConfig,
    SignalTakerConfig,
    mm_decide_nb,
    mm_params,
    taker_decide_nb,
    taker_params,
)
from l2trader.engine.strategy import (
    MAX_ACTIONS,
    StrategyContext,
)
from l2trader.errors import ConfigError
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS, ORDER_DTYPE
from tests.unit.engine.twins import (
    TS,
    PyMarketMaker,
    PySignalTaker,
    contexts,
    make_ctx,
    orders,
    sizings,
)

NAN = math.nan
NEW, CANCEL = 1, 2
LIMIT, MARKET = 1, 2
IOC, POST_ONLY = 2, 4


def _taker(ctx: StrategyContext, **cfg: Any) -> list[tuple[Any, ...]]:
    config = SignalTakerConfig(**{"taker_fee_bps": 1.0, "entry_margin_bps": 0.5, **cfg})
    out = np.zeros(MAX_ACTIONS, ORDER_DTYPE)
    n = taker_decide_nb(ctx, taker_params(config), out)
    return [tuple(r) for r in out[:n].tolist()]


def _mm(ctx: StrategyContext, **cfg: Any) -> list[tuple[Any, ...]]:
    base = {"gamma": 0.5, "kappa": 0.5, "horizon_s": 2.0, "min_half_spread_ticks": 0.0}
    config = MarketMakerConfig(**{**base, **cfg})
    out = np.zeros(MAX_ACTIONS, ORDER_DTYPE)
    n = mm_decide_nb(ctx, mm_params(config), out)
    return [tuple(r) for r in out[:n].tolist()]


def _market(side: int, qty: float) -> tuple[Any, ...]:
    return (TS, -1, NEW, side, MARKET, IOC, 0, qty)


# --- taker: entries (cost = 10 bps half spread + 1 bps fee = 11 bps; margin 0.5 bps) ------


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (11.51, [_market(1, 1.0)]),
        (11.5, []),  # 11.5 - 11 = 0.5, not > 0.5
        (11.49, []),
        (-11.51, [_market(-1, 1.0)]),
        (-11.5, []),
        (0.0, []),
    ],
)
def test_taker_enters_only_beyond_cost_plus_margin(
    score: float, expected: list[tuple[Any, ...]]
) -> None:
    assert _taker(make_ctx(score=score)) == expected


def test_taker_sizes_from_opposite_depth_and_caps_at_max_position() -> None:
    sizing = SizingConfig(method="depth_fraction", depth_fraction=0.1, lot_size=0.01)

    buy = _taker(make_ctx(score=20.0), sizing=sizing)  # ask qty 2.0 -> 0.2
    sell = _taker(make_ctx(score=-20.0), sizing=sizing)  # bid qty 1.0 -> 0.1
    capped = _taker(make_ctx(score=20.0), sizing=sizing, max_position=0.155)

    assert (buy, sell, capped) == ([_market(1, 0.2)], [_market(-1, 0.1)], [_market(1, 0.15)])


def test_taker_zero_size_sends_nothing() -> None:
    assert _taker(make_ctx(score=20.0), sizing=SizingConfig(qty=0.0005, lot_size=0.001)) == []


def test_taker_ioc_limit_prices_at_opposite_best_plus_slippage() -> None:
    kw = {"use_ioc_limit": True, "ioc_slippage_ticks": 2}

    buy = _taker(make_ctx(score=20.0), **kw)
    sell = _taker(make_ctx(score=-20.0), **kw)

    assert buy == [(TS, -1, NEW, 1, LIMIT, IOC, 1003, 1.0)]
    assert sell == [(TS, -1, NEW, -1, LIMIT, IOC, 997, 1.0)]


@pytest.mark.parametrize(
    "ctx",
    [
        make_ctx(score=NAN),
        make_ctx(score=20.0, score_age=1_000_000_001.0),  # older than max_signal_age_ns = 1 s
        make_ctx(score=20.0, bid=NO_BID_TICKS),
        make_ctx(score=20.0, ask=NO_ASK_TICKS),
        make_ctx(score=20.0, mid=NAN),
        make_ctx(score=20.0, orders=orders((7, NEW, -1, 1005, 1.0))),
        make_ctx(score=-20.0, position=1.0, orders=orders((7, NEW, -1, 1005, 1.0))),
        make_ctx(score=20.0, position=NAN),
    ],
)
def test_taker_writes_nothing_without_opinion_book_or_when_in_flight(ctx: StrategyContext) -> None:
    assert _taker(ctx) == []


def test_taker_signal_exactly_at_max_age_is_still_an_opinion() -> None:
    assert _taker(make_ctx(score=20.0, score_age=1e9)) == [_market(1, 1.0)]


# --- taker: exits (exit_score 0, max_hold 60 s, stop 20 bps; entry at the mid) -----------


def _held(position: float, score: float = 5.0, **feat: float) -> StrategyContext:
    kw: dict[str, float] = {"pos_age": 1e9, "entry": 1000.0, **feat}
    return make_ctx(score=score if position > 0 else -score, position=position, **kw)  # type: ignore[arg-type]


def test_taker_holds_while_the_signal_agrees() -> None:
    assert _taker(_held(0.5)) == []
    assert _taker(_held(-0.5)) == []


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        (_held(0.5, score=-0.1), [_market(-1, 0.5)]),  # long, score < 0
        (_held(-0.5, score=-0.1), [_market(1, 0.5)]),  # short, score > 0
        (_held(0.5, score_age=2e9), [_market(-1, 0.5)]),  # stale = no opinion
        (make_ctx(score=NAN, position=0.5, pos_age=1e9, entry=1000.0), [_market(-1, 0.5)]),
        (_held(0.5, pos_age=60e9 + 1), [_market(-1, 0.5)]),  # held > max_hold_ns
        (_held(0.5, entry=1003.0), [_market(-1, 0.5)]),  # (1003-1000)/1003 = 29.9 bps
        (_held(-0.5, entry=998.0), [_market(1, 0.5)]),  # (1000-998)/998 = 20.04 bps
    ],
)
def test_taker_exits_whole_position_on_each_reason(
    ctx: StrategyContext, expected: list[tuple[Any, ...]]
) -> None:
    assert _taker(ctx) == expected


@pytest.mark.parametrize(
    "ctx",
    [
        _held(0.5, pos_age=60e9),  # exactly max_hold_ns: not older
        _held(0.5, entry=1002.0),  # 19.96 bps < 20
        _held(-0.5, entry=998.1),  # 19.04 bps < 20
        _held(0.5, entry=NAN),
    ],
)
def test_taker_no_exit_just_inside_the_limits(ctx: StrategyContext) -> None:
    assert _taker(ctx) == []


def test_taker_exit_with_ioc_limit_uses_same_order_kind() -> None:
    got = _taker(_held(0.25, score=-1.0), use_ioc_limit=True, ioc_slippage_ticks=1)

    assert got == [(TS, -1, NEW, -1, LIMIT, IOC, 998, 0.25)]


# --- market maker: quotes worked by hand ---------------------------------------------------
# vol 10 bps/sqrt(s) at mid 1000 ticks -> sigma = 1 tick/sqrt(s); gamma 0.5, horizon 2 s
# -> risk = 0.5 * 1 * 2 = 1 tick per inventory unit; (2 / 0.5) * ln(1 + 0.5 / 0.5) = 2.7726
# -> delta = (1 + 2.7726) / 2 = 1.8863 ticks. Quote size 0.001, inventory unit 0.001.


def _new(side: int, price: int, qty: float = 0.001) -> tuple[Any, ...]:
    return (TS, -1, NEW, side, LIMIT, POST_ONLY, price, qty)


def test_mm_quotes_around_skewed_reservation_price() -> None:
    # fair = 1000.3 + 0.4 * 0.5 = 1000.5; q = 2 -> r = 998.5
    ctx = make_ctx(position=0.002, micro=1000.3, imb5=0.5)

    got = _mm(ctx, imbalance_skew_ticks=0.4)

    assert got == [_new(1, 996), _new(-1, 1001)]  # floor(996.61), ceil(1000.39)


def test_mm_flat_quotes_and_min_half_spread() -> None:
    ctx = make_ctx(micro=1000.5)

    assert _mm(ctx) == [_new(1, 998), _new(-1, 1003)]  # floor(998.61), ceil(1002.39)
    assert _mm(ctx, min_half_spread_ticks=3.0) == [_new(1, 997), _new(-1, 1004)]


def test_mm_nan_imbalance_adds_no_skew() -> None:
    ctx = make_ctx(micro=1000.5, imb5=NAN)

    assert _mm(ctx, imbalance_skew_ticks=5.0) == [_new(1, 998), _new(-1, 1003)]


def test_mm_quotes_are_clamped_passive() -> None:
    short = make_ctx(position=-0.01, micro=1000.5)  # r = 1010.5: bid 1008 -> best ask - 1
    long = make_ctx(position=0.01, micro=1000.5)  # r = 990.5: ask 993 -> best bid + 1

    assert _mm(short, max_inventory=1.0) == [_new(1, 1000), _new(-1, 1013)]
    assert _mm(long, max_inventory=1.0) == [_new(1, 988), _new(-1, 1000)]


def test_mm_gamma_units_are_sane_for_btc_sizes() -> None:
    # BTC-like: mid 600_000 ticks (60k USD at 0.1), vol 1 bps/sqrt(s) -> sigma 60 ticks;
    # gamma 0.001, 1 s -> risk 3.6 ticks per 0.001 BTC; long 0.002 BTC shifts r by -7.2.
    ctx = make_ctx(
        bid=599_999, ask=600_001, mid=600_000.0, micro=600_000.0, vol=1.0, position=0.002
    )

    got = _mm(ctx, gamma=0.001, kappa=1.0, horizon_s=1.0, min_half_spread_ticks=1.0)

    # delta = (3.6 + 2000 * ln(1.001)) / 2 = 2.7995; r = 599_992.8: bid floor(599_990.0005),
    # ask ceil(599_995.6) = 599_996 is below the best bid and is clamped to best bid + 1.
    assert got == [_new(1, 599_990), _new(-1, 600_000)]


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (0.002, [_new(-1, 1000)]),  # at max long: no bid
        (-0.002, [_new(1, 1000)]),  # at max short: no ask
        (0.0015, [_new(-1, 1000)]),  # bid capped to 0.0005 -> below one lot of 0.001
    ],
)
def test_mm_inventory_limits(position: float, expected: list[tuple[Any, ...]]) -> None:
    ctx = make_ctx(position=position, micro=1000.0)
    sizing = SizingConfig(qty=0.001, lot_size=0.001)

    got = _mm(ctx, max_inventory=0.002, gamma=100.0, kappa=100.0, sizing=sizing)

    assert [r[:4] for r in got] == [r[:4] for r in expected]


def test_mm_keeps_a_working_order_within_requote_ticks() -> None:
    ctx = make_ctx(micro=1000.5, orders=orders((4, NEW, 1, 997, 0.0007)))  # quote 998

    assert _mm(ctx, requote_ticks=1) == [_new(-1, 1003)]


def test_mm_replaces_an_order_outside_requote_ticks() -> None:
    ctx = make_ctx(micro=1000.5, orders=orders((4, NEW, 1, 996, 0.0007)))

    got = _mm(ctx, requote_ticks=1)

    assert got == [(TS, 4, CANCEL, 1, LIMIT, POST_ONLY, 996, 0.0007), _new(1, 998), _new(-1, 1003)]


def test_mm_ignores_orders_with_a_cancel_in_flight() -> None:
    ctx = make_ctx(micro=1000.5, orders=orders((4, CANCEL, 1, 990, 0.001)))

    assert _mm(ctx) == [_new(1, 998), _new(-1, 1003)]


def test_mm_keeps_one_order_per_side_and_cancels_extras() -> None:
    oo = orders((4, NEW, 1, 998, 0.001), (5, NEW, 1, 998, 0.001), (6, NEW, -1, 1003, 0.001))

    got = _mm(make_ctx(micro=1000.5, orders=oo))

    assert got == [(TS, 5, CANCEL, 1, LIMIT, POST_ONLY, 998, 0.001)]


def test_mm_cancels_a_side_that_should_not_quote() -> None:
    oo = orders((4, NEW, 1, 998, 0.001), (6, NEW, -1, 1003, 0.001))
    ctx = make_ctx(position=0.01, micro=1000.5, orders=oo)

    got = _mm(ctx, max_inventory=0.01, gamma=100.0, kappa=100.0)

    assert got[0] == (TS, 4, CANCEL, 1, LIMIT, POST_ONLY, 998, 0.001)
    assert len(got) == 3  # and the ask is re-quoted far away: cancel + new


@pytest.mark.parametrize(
    "feat",
    [{"vol": NAN}, {"vol": -1.0}, {"vol": math.inf}, {"mid": NAN}, {"micro": NAN}],
)
def test_mm_warm_up_cancels_nothing_and_places_nothing(feat: dict[str, float]) -> None:
    ctx = make_ctx(orders=orders((4, NEW, 1, 900, 0.001)), **feat)  # type: ignore[arg-type]

    assert _mm(ctx) == []


def test_mm_never_writes_more_than_out_capacity() -> None:
    far = [(k, NEW, 1, 900 - k, 0.001) for k in range(MAX_ACTIONS + 4)]
    out = np.zeros(MAX_ACTIONS, ORDER_DTYPE)

    n = mm_decide_nb(make_ctx(orders=orders(*far)), mm_params(MarketMakerConfig()), out)

    assert n == MAX_ACTIONS
    assert set(out["action"].tolist()) == {CANCEL}


def test_mm_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError):
        MarketMakerConfig(gamma=0.0)
    with pytest.raises(ConfigError):
        SignalTakerConfig(max_hold_ns=0)


# --- kernel == plain-Python twin on random contexts ---------------------------------------


def _same_rows(nb_out: NDArray[np.void], py_out: NDArray[np.void], n_nb: int, n_py: int) -> None:
    assert n_nb == n_py
    assert nb_out.tolist() == py_out.tolist()  # every field of every row, unwritten rows too


@settings(max_examples=250, deadline=None)
@given(
    ctx=contexts(),
    sizing=sizings(),
    margin=st.sampled_from([0.0, 0.5, 3.0]),
    fee=st.sampled_from([0.0, 1.0, -0.5]),
    ioc=st.booleans(),
    max_position=st.sampled_from([math.inf, 0.004]),
    exit_score=st.sampled_from([0.0, 1.0, -1.0]),
)
def test_taker_kernel_equals_python_twin(
    ctx: StrategyContext,
    sizing: SizingConfig,
    margin: float,
    fee: float,
    ioc: bool,
    max_position: float,
    exit_score: float,
) -> None:
    cfg = SignalTakerConfig(
        entry_margin_bps=margin,
        taker_fee_bps=fee,
        use_ioc_limit=ioc,
        ioc_slippage_ticks=1,
        max_position=max_position,
        exit_score_bps=exit_score,
        sizing=sizing,
    )
    nb_out = np.zeros(MAX_ACTIONS, ORDER_DTYPE)
    py_out = np.zeros(MAX_ACTIONS, ORDER_DTYPE)

    n_nb = taker_decide_nb(ctx, taker_params(cfg), nb_out)
    n_py = PySignalTaker(cfg).decide(ctx, py_out)

    _same_rows(nb_out, py_out, n_nb, n_py)


@settings(max_examples=250, deadline=None)
@given(
    ctx=contexts(),
    sizing=sizings(),
    gamma=st.sampled_from([0.001, 0.1, 0.5, 3.0]),
    kappa=st.sampled_from([0.1, 1.0, 10.0]),
    min_half=st.sampled_from([0.0, 1.0, 2.5]),
    skew=st.sampled_from([0.0, 0.7]),
    max_inventory=st.sampled_from([0.002, 0.01]),
    requote=st.sampled_from([0, 1, 3]),
)
def test_mm_kernel_equals_python_twin(
    ctx: StrategyContext,
    sizing: SizingConfig,
    gamma: float,
    kappa: float,
    min_half: float,
    skew: float,
    max_inventory: float,
    requote: int,
) -> None:
    cfg = MarketMakerConfig(
        gamma=gamma,
        kappa=kappa,
        min_half_spread_ticks=min_half,
        imbalance_skew_ticks=skew,
        max_inventory=max_inventory,
        requote_ticks=requote,
        sizing=sizing,
    )
    nb_out = np.zeros(MAX_ACTIONS, ORDER_DTYPE)
    py_out = np.zeros(MAX_ACTIONS, ORDER_DTYPE)

    n_nb = mm_decide_nb(ctx, mm_params(cfg), nb_out)
    n_py = PyMarketMaker(cfg).decide(ctx, py_out)

    _same_rows(nb_out, py_out, n_nb, n_py)
