"""Risk manager: every pre-trade rule and monitor action on hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from l2trader.engine.risk import (
    MON_KILL,
    MON_NONE,
    MON_STOP_LOSS,
    MON_TAKE_PROFIT,
    NS_PER_DAY,
    RISK_RTOL,
    RISK_STATE_LEN,
    RS_DAY,
    RS_DAY_START,
    RS_HALTED,
    RS_LAST,
    RS_N_KILL,
    RS_N_STOP,
    RS_N_TAKE,
    RS_PEAK,
    RiskConfig,
    RiskDecision,
    RiskManager,
    RiskParams,
    check_order_nb,
    monitor_nb,
    new_risk_state,
    risk_params,
)
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import ORDER_DTYPE, OrderAction, OrderType, Reject

LIMIT, MARKET = int(OrderType.LIMIT), int(OrderType.MARKET)
TICK = 0.5  # quote per tick
MID = 10_000.0  # ticks (5_000 quote)
DAY0 = 19_000 * NS_PER_DAY  # 2022-01-08T00:00Z


def _check(
    cfg: RiskConfig,
    *,
    side: int = 1,
    order_type: int = LIMIT,
    price: int = 10_000,
    qty: float = 1.0,
    mid: float = MID,
    position: float = 0.0,
    open_buy: float = 0.0,
    open_sell: float = 0.0,
    n_open: int = 0,
    reduce_only: bool = False,
    halted: bool = False,
) -> Reject:
    rst = new_risk_state()
    rst[RS_HALTED] = float(halted)
    code = check_order_nb(
        risk_params(cfg), rst, side, order_type, price, qty, TICK, mid, position,
        open_buy, open_sell, n_open, reduce_only,
    )  # fmt: skip
    return Reject(code)


def _order(
    side: int = 1, order_type: int = LIMIT, price: int = 10_000, qty: float = 1.0
) -> np.void:
    rows = np.zeros(1, dtype=ORDER_DTYPE)
    rows[0] = (0, 7, int(OrderAction.NEW), side, order_type, 1, price, qty)
    return rows[0]


# -- config ------------------------------------------------------------------------------------


def test_default_config_has_every_limit_off():
    params = risk_params(RiskConfig())

    assert params == RiskParams(
        math.inf, math.inf, math.inf, math.inf, 64, math.inf, math.inf, math.inf, math.inf, True
    )


def test_risk_params_are_plain_floats_ints_and_bools():
    params = risk_params(RiskConfig(max_position=5, max_open_orders=3, flatten_on_kill=False))

    assert [type(v) for v in params] == [float] * 4 + [int] + [float] * 4 + [bool]
    assert params.max_position == 5.0


@pytest.mark.parametrize(
    "field",
    [
        "max_position",
        "max_order_qty",
        "max_order_notional",
        "collar_bps",
        "stop_loss_bps",
        "take_profit_bps",
        "max_daily_loss",
        "max_drawdown",
    ],
)
@pytest.mark.parametrize("value", [math.nan, -1.0, -math.inf])
def test_nan_and_negative_limits_raise_config_error(field, value):
    with pytest.raises(ConfigError, match=field):
        RiskConfig(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_order_qty", 0.0),
        ("max_order_notional", 0.0),
        ("stop_loss_bps", 0.0),
        ("take_profit_bps", 0.0),
        ("max_open_orders", 0),
        ("no_such_limit", 1.0),
    ],
)
def test_zero_where_meaningless_and_unknown_keys_raise(field, value):
    with pytest.raises(ConfigError, match=field):
        RiskConfig(**{field: value})


def test_zero_is_allowed_for_position_collar_and_loss_limits():
    cfg = RiskConfig(max_position=0.0, collar_bps=0.0, max_daily_loss=0.0, max_drawdown=0.0)

    assert (cfg.max_position, cfg.collar_bps, cfg.max_daily_loss) == (0.0, 0.0, 0.0)


def test_config_round_trips_through_toml_and_json_with_infinite_limits():
    cfg = RiskConfig(max_position=2.5, collar_bps=15.0)

    assert RiskConfig.from_toml(cfg.to_toml()) == cfg
    assert RiskConfig.from_json(cfg.to_json()) == cfg


def test_new_risk_state_is_unset():
    rst = new_risk_state()

    assert rst.shape == (RISK_STATE_LEN,)
    assert rst[RS_PEAK] == -math.inf
    assert math.isnan(rst[RS_DAY])
    assert math.isnan(rst[RS_DAY_START])
    assert rst[[RS_HALTED, RS_N_STOP, RS_N_TAKE, RS_N_KILL, RS_LAST]].tolist() == [0.0] * 5


# -- rule 1: invalid orders --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"side": 0},
        {"side": 2},
        {"qty": 0.0},
        {"qty": -1.0},
        {"qty": math.nan},
        {"qty": math.inf},
        {"order_type": 0},
        {"order_type": 3},
        {"price": 0},
        {"price": -5},
    ],
)
def test_malformed_order_is_invalid(kwargs):
    assert _check(RiskConfig(), **kwargs) == Reject.INVALID_ORDER


def test_market_order_ignores_its_price_field():
    assert _check(RiskConfig(), order_type=MARKET, price=0) == Reject.NONE


# -- rule 4: order size ------------------------------------------------------------------------


def test_max_order_qty_accepts_at_the_limit_and_rejects_just_over():
    cfg = RiskConfig(max_order_qty=2.0)

    assert _check(cfg, qty=2.0) == Reject.NONE
    assert _check(cfg, qty=2.001) == Reject.RISK_MAX_ORDER_QTY
    assert _check(cfg, qty=2.0 * (1 + 10 * RISK_RTOL)) == Reject.RISK_MAX_ORDER_QTY


def test_float_dust_does_not_reject_an_order_sized_to_the_limit():
    cfg = RiskConfig(max_order_qty=0.3)

    assert 0.1 + 0.2 > 0.3
    assert _check(cfg, qty=0.1 + 0.2) == Reject.NONE


# -- rule 5: notional --------------------------------------------------------------------------


def test_limit_notional_is_qty_times_limit_price():
    cfg = RiskConfig(max_order_notional=5_000.0)  # 1.0 * 10_000 ticks * 0.5 = 5_000 quote

    assert _check(cfg, qty=1.0, price=10_000) == Reject.NONE
    assert _check(cfg, qty=1.001, price=10_000) == Reject.RISK_MAX_NOTIONAL  # 5_005
    assert _check(cfg, qty=1.0, price=10_002, mid=10_001.0) == Reject.RISK_MAX_NOTIONAL  # 5_001


def test_market_notional_uses_the_mid():
    cfg = RiskConfig(max_order_notional=5_000.0)

    assert _check(cfg, order_type=MARKET, price=1, mid=10_000.0) == Reject.NONE
    assert _check(cfg, order_type=MARKET, price=1, mid=10_000.5) == Reject.RISK_MAX_NOTIONAL


def test_market_order_with_unknown_mid_rejected_only_when_notional_limited():
    limited = RiskConfig(max_order_notional=1e12)

    assert _check(limited, order_type=MARKET, mid=math.nan) == Reject.RISK_MAX_NOTIONAL
    assert _check(RiskConfig(), order_type=MARKET, mid=math.nan) == Reject.NONE


# -- rule 6: price collar ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (10_010, Reject.NONE),  # +10 ticks on 10_000 = 10 bps: at the collar
        (10_011, Reject.RISK_PRICE_COLLAR),  # 11 bps
        (9_990, Reject.NONE),
        (9_989, Reject.RISK_PRICE_COLLAR),
    ],
)
def test_collar_accepts_at_the_limit_and_rejects_just_over(price, expected):
    assert _check(RiskConfig(collar_bps=10.0), price=price) == expected


def test_collar_with_nan_or_non_positive_mid_rejects_limit_orders():
    cfg = RiskConfig(collar_bps=10.0)

    assert _check(cfg, mid=math.nan) == Reject.RISK_PRICE_COLLAR
    assert _check(cfg, mid=0.0) == Reject.RISK_PRICE_COLLAR
    assert _check(RiskConfig(), mid=math.nan) == Reject.NONE  # collar off


def test_collar_does_not_apply_to_market_orders():
    assert _check(RiskConfig(collar_bps=1.0), order_type=MARKET, price=1) == Reject.NONE


# -- rule 7: open orders -----------------------------------------------------------------------


def test_max_open_orders_counts_working_orders_before_this_one():
    cfg = RiskConfig(max_open_orders=3)

    assert _check(cfg, n_open=2) == Reject.NONE
    assert _check(cfg, n_open=3) == Reject.RISK_MAX_OPEN_ORDERS


# -- rule 8: worst-case position ---------------------------------------------------------------


def test_buy_worst_case_adds_open_buys():
    cfg = RiskConfig(max_position=5.0)

    assert _check(cfg, position=2.0, open_buy=1.0, qty=2.0) == Reject.NONE  # 5.0
    assert _check(cfg, position=2.0, open_buy=1.0, qty=2.5) == Reject.RISK_MAX_POSITION  # 5.5
    assert _check(cfg, position=2.0, open_sell=100.0, qty=3.0) == Reject.NONE  # sells ignored


def test_sell_worst_case_subtracts_open_sells():
    cfg = RiskConfig(max_position=5.0)

    assert _check(cfg, side=-1, position=-2.0, open_sell=1.0, qty=2.0) == Reject.NONE  # -5.0
    assert _check(cfg, side=-1, position=-2.0, open_sell=1.0, qty=2.5) == Reject.RISK_MAX_POSITION
    assert _check(cfg, side=-1, position=-2.0, open_buy=100.0, qty=3.0) == Reject.NONE


def test_reducing_an_over_limit_position_is_allowed_unless_it_overshoots():
    cfg = RiskConfig(max_position=5.0)

    assert _check(cfg, side=-1, position=10.0, qty=3.0) == Reject.NONE  # 7: reduces
    assert _check(cfg, side=-1, position=10.0, qty=15.0) == Reject.NONE  # -5: at the limit
    assert _check(cfg, side=-1, position=10.0, qty=16.0) == Reject.RISK_MAX_POSITION  # -6
    assert _check(cfg, side=1, position=10.0, qty=1.0) == Reject.RISK_MAX_POSITION  # grows


def test_zero_max_position_rejects_every_opening_order():
    cfg = RiskConfig(max_position=0.0)

    assert _check(cfg, side=1, qty=0.001) == Reject.RISK_MAX_POSITION
    assert _check(cfg, side=-1, position=1.0, qty=1.0) == Reject.NONE  # closes to 0


def test_nan_position_fails_safe_only_when_position_is_limited():
    assert _check(RiskConfig(max_position=5.0), position=math.nan) == Reject.RISK_MAX_POSITION
    assert _check(RiskConfig(), position=math.nan) == Reject.NONE


# -- order of checks ---------------------------------------------------------------------------

ALL = RiskConfig(
    max_position=1.0, max_order_qty=1.0, max_order_notional=1_000.0, collar_bps=10.0,
    max_open_orders=1,
)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"side": 0, "qty": 9.0, "halted": True}, Reject.INVALID_ORDER),
        ({"qty": 9.0, "price": 20_000, "n_open": 5, "halted": True}, Reject.RISK_KILL_SWITCH),
        ({"qty": 9.0, "price": 20_000, "n_open": 5}, Reject.RISK_MAX_ORDER_QTY),
        ({"qty": 1.0, "price": 20_000, "n_open": 5}, Reject.RISK_MAX_NOTIONAL),
        ({"qty": 0.1, "price": 20_000, "n_open": 5}, Reject.RISK_PRICE_COLLAR),
        ({"qty": 0.1, "n_open": 5, "position": 2.0}, Reject.RISK_MAX_OPEN_ORDERS),
        ({"qty": 0.1, "position": 2.0}, Reject.RISK_MAX_POSITION),
        ({"qty": 0.1, "position": 0.9}, Reject.NONE),
    ],
)
def test_an_order_breaking_several_rules_gets_the_first_code(kwargs, expected):
    assert _check(ALL, **kwargs) == expected


# -- kill switch and reduce-only ---------------------------------------------------------------


def test_halted_rejects_new_orders_but_accepts_reduce_only():
    assert _check(RiskConfig(), halted=True) == Reject.RISK_KILL_SWITCH
    assert _check(RiskConfig(), halted=True, side=-1, position=3.0, qty=3.0, reduce_only=True) == (
        Reject.NONE
    )


def test_reduce_only_skips_every_limit():
    result = _check(
        ALL, side=1, order_type=MARKET, position=-50.0, qty=50.0, mid=math.nan, n_open=9,
        reduce_only=True,
    )  # fmt: skip

    assert result == Reject.NONE


@pytest.mark.parametrize(
    ("side", "position", "qty"),
    [
        (-1, 3.0, 3.5),  # larger than the position
        (1, 3.0, 1.0),  # same side as the position
        (1, 0.0, 1.0),  # nothing to reduce
        (-1, math.nan, 1.0),
    ],
)
def test_reduce_only_must_be_opposite_and_not_larger(side, position, qty):
    assert _check(RiskConfig(), side=side, position=position, qty=qty, reduce_only=True) == (
        Reject.INVALID_ORDER
    )


def test_check_does_not_modify_the_risk_state():
    rst = new_risk_state()
    before = rst.copy()

    check_order_nb(risk_params(ALL), rst, 1, LIMIT, 9, 9.0, TICK, MID, 0.0, 0.0, 0.0, 0, False)

    np.testing.assert_array_equal(rst, before)


# -- monitor: kill switch ----------------------------------------------------------------------


def _monitor(
    rst: np.ndarray,
    cfg: RiskConfig,
    ts: int,
    equity: float,
    position: float = 0.0,
    avg: float = math.nan,
    mid: float = MID,
) -> int:
    return int(monitor_nb(risk_params(cfg), rst, ts, equity, position, avg, mid))


def test_first_monitor_call_sets_peak_and_day_start():
    rst = new_risk_state()

    action = _monitor(rst, RiskConfig(), DAY0 + 5, 1_000.0)

    assert action == MON_NONE
    assert rst[[RS_PEAK, RS_DAY, RS_DAY_START]].tolist() == [1_000.0, 19_000.0, 1_000.0]


def test_drawdown_from_the_peak_kills_when_exceeded():
    cfg, rst = RiskConfig(max_drawdown=100.0), new_risk_state()
    day_ts = [DAY0 + i for i in range(4)]

    actions = [
        _monitor(rst, cfg, t, e)
        for t, e in zip(day_ts, [1_000.0, 1_200.0, 1_100.0, 1_150.0], strict=True)
    ]
    kill = _monitor(rst, cfg, DAY0 + 9, 1_099.5)  # 100.5 below the 1_200 peak

    assert actions == [MON_NONE] * 4  # 1_100 is exactly 100 below the peak
    assert rst[RS_PEAK] == 1_200.0
    assert kill == MON_KILL
    assert rst[RS_HALTED] == 1.0
    assert rst[RS_N_KILL] == 1.0


def test_daily_loss_kills_when_exceeded():
    cfg, rst = RiskConfig(max_daily_loss=50.0), new_risk_state()

    first = [_monitor(rst, cfg, DAY0 + 1, e) for e in (1_000.0, 950.0)]  # exactly 50
    kill = _monitor(rst, cfg, DAY0 + 2, 949.0)

    assert first == [MON_NONE, MON_NONE]
    assert kill == MON_KILL


def test_day_rollover_resets_the_daily_loss():
    cfg, rst = RiskConfig(max_daily_loss=50.0), new_risk_state()
    _monitor(rst, cfg, DAY0 + 1, 1_000.0)
    _monitor(rst, cfg, DAY0 + 2, 960.0)

    rolled = _monitor(rst, cfg, DAY0 + NS_PER_DAY, 940.0)  # 60 below yesterday's start
    same_day = _monitor(rst, cfg, DAY0 + NS_PER_DAY + 1, 900.0)  # 40 below today's start
    kill = _monitor(rst, cfg, DAY0 + NS_PER_DAY + 2, 889.0)  # 51

    assert (rolled, same_day, kill) == (MON_NONE, MON_NONE, MON_KILL)
    assert rst[RS_DAY] == 19_001.0
    assert rst[RS_DAY_START] == 940.0


def test_halt_survives_day_rollover_and_monitor_goes_quiet():
    cfg, rst = RiskConfig(max_daily_loss=10.0, stop_loss_bps=1.0), new_risk_state()
    _monitor(rst, cfg, DAY0, 1_000.0)
    assert _monitor(rst, cfg, DAY0 + 1, 980.0) == MON_KILL
    before = rst.copy()

    later = _monitor(rst, cfg, DAY0 + 3 * NS_PER_DAY, 500.0, position=1.0, avg=MID, mid=1.0)

    assert later == MON_NONE
    assert rst[RS_HALTED] == 1.0
    np.testing.assert_array_equal(rst, before)


def test_kill_takes_priority_over_stop_loss():
    cfg, rst = RiskConfig(max_drawdown=10.0, stop_loss_bps=5.0), new_risk_state()
    _monitor(rst, cfg, DAY0, 1_000.0)

    action = _monitor(rst, cfg, DAY0 + 1, 900.0, position=1.0, avg=MID, mid=9_000.0)

    assert action == MON_KILL
    assert rst[RS_N_STOP] == 0.0


# -- monitor: stop-loss / take-profit ----------------------------------------------------------

STOP_TAKE = RiskConfig(stop_loss_bps=20.0, take_profit_bps=30.0)


@pytest.mark.parametrize(
    ("position", "mid", "expected"),
    [
        (2.0, 9_980.0, MON_STOP_LOSS),  # long, -20 bps
        (2.0, 9_981.0, MON_NONE),  # -19 bps
        (2.0, 10_030.0, MON_TAKE_PROFIT),  # +30 bps
        (2.0, 10_029.0, MON_NONE),
        (-2.0, 10_020.0, MON_STOP_LOSS),  # short, mid up 20 bps
        (-2.0, 10_019.0, MON_NONE),
        (-2.0, 9_970.0, MON_TAKE_PROFIT),  # short, mid down 30 bps
        (-2.0, 9_971.0, MON_NONE),
        (0.0, 5_000.0, MON_NONE),  # flat: no position to stop
    ],
)
def test_stop_and_take_on_long_and_short(position, mid, expected):
    rst = new_risk_state()

    action = _monitor(rst, STOP_TAKE, DAY0, 1_000.0, position=position, avg=MID, mid=mid)

    assert action == expected


def test_stop_and_take_fire_at_every_call_but_count_once_per_episode():
    rm = RiskManager(STOP_TAKE, tick_size=TICK)

    def call(ts: int, position: float, mid: float) -> int:
        return rm.monitor(ts, equity=1.0, position=position, avg_entry_ticks=MID, mid_ticks=mid)

    stops = [call(DAY0 + i, 1.0, 9_900.0) for i in range(3)]  # flatten in flight: still -100 bps
    nan_mark = call(DAY0 + 3, 1.0, math.nan)  # unknown mark: the episode goes on
    again = call(DAY0 + 4, 1.0, 9_900.0)
    calm = call(DAY0 + 5, 1.0, MID)  # episode over
    new_stop = call(DAY0 + 6, 1.0, 9_900.0)
    take = call(DAY0 + 7, -1.0, 9_900.0)  # short: +100 bps

    assert stops == [MON_STOP_LOSS] * 3
    assert (nan_mark, again, calm, new_stop, take) == (
        MON_NONE, MON_STOP_LOSS, MON_NONE, MON_STOP_LOSS, MON_TAKE_PROFIT,
    )  # fmt: skip
    assert (rm.n_stop, rm.n_take, rm.n_kill, rm.halted) == (2, 1, 0, False)
    assert rm.state[RS_LAST] == MON_TAKE_PROFIT


def test_unknown_average_entry_gives_no_stop():
    rst = new_risk_state()

    assert _monitor(rst, STOP_TAKE, DAY0, 1_000.0, position=1.0, avg=math.nan, mid=1.0) == MON_NONE


@pytest.mark.parametrize(("equity", "mid"), [(math.nan, MID), (1_000.0, math.nan)])
def test_monitor_with_nan_mark_decides_nothing_and_keeps_state(equity, mid):
    cfg, rst = RiskConfig(max_drawdown=1.0, stop_loss_bps=1.0), new_risk_state()
    _monitor(rst, cfg, DAY0, 2_000.0)
    before = rst.copy()

    action = _monitor(rst, cfg, DAY0 + NS_PER_DAY, equity, position=1.0, avg=MID, mid=mid)

    assert action == MON_NONE
    np.testing.assert_array_equal(rst, before)


# -- RiskManager -------------------------------------------------------------------------------


def test_manager_check_returns_decision():
    rm = RiskManager(RiskConfig(max_order_qty=1.0), tick_size=TICK)

    ok = rm.check(_order(qty=1.0), mid_ticks=MID, position=0.0)
    bad = rm.check(_order(qty=1.5), mid_ticks=MID, position=0.0)

    assert ok == RiskDecision(True, Reject.NONE)
    assert bad == RiskDecision(False, Reject.RISK_MAX_ORDER_QTY)


def test_manager_kill_then_reduce_only_flatten():
    rm = RiskManager(RiskConfig(max_drawdown=10.0), tick_size=TICK)
    rm.monitor(DAY0, equity=100.0, position=2.0, avg_entry_ticks=MID, mid_ticks=MID)

    action = rm.monitor(DAY0 + 1, equity=80.0, position=2.0, avg_entry_ticks=MID, mid_ticks=MID)
    new = rm.check(_order(side=1), mid_ticks=MID, position=2.0)
    flat = rm.check(_order(-1, MARKET, 0, 2.0), mid_ticks=MID, position=2.0, reduce_only=True)

    assert action == MON_KILL
    assert rm.halted
    assert rm.n_kill == 1
    assert new == RiskDecision(False, Reject.RISK_KILL_SWITCH)
    assert flat == RiskDecision(True, Reject.NONE)
    assert rm.state[RS_PEAK] == 100.0


def test_manager_accepts_cancels_and_checks_modifies():
    rm = RiskManager(RiskConfig(max_order_qty=1.0), tick_size=TICK)
    cancel, modify = _order(qty=5.0), _order(qty=5.0)
    cancel["action"], modify["action"] = int(OrderAction.CANCEL), int(OrderAction.MODIFY)

    assert rm.check(cancel, mid_ticks=MID, position=0.0).accepted
    assert rm.check(modify, mid_ticks=MID, position=0.0).reason == Reject.RISK_MAX_ORDER_QTY


def test_manager_rejects_misuse_with_typed_errors():
    rm = RiskManager(RiskConfig(), tick_size=TICK)
    bad_action = _order()
    bad_action["action"] = 9

    with pytest.raises(InvalidValueError, match="ORDER_DTYPE"):
        rm.check(np.zeros(1, dtype=np.float64)[0], mid_ticks=MID, position=0.0)
    with pytest.raises(InvalidValueError, match="action"):
        rm.check(bad_action, mid_ticks=MID, position=0.0)
    with pytest.raises(ConfigError, match="tick_size"):
        RiskManager(RiskConfig(), tick_size=0.0)


# -- property: codes stay in the enum, nothing raises, the code equals a plain-Python oracle ----


def _over(value: float, limit: float) -> bool:
    return math.isfinite(limit) and not value <= limit + RISK_RTOL * limit


def _oracle(
    p: RiskParams, halted: bool, side: int, kind: int, price: int, qty: float, mid: float,
    pos: float, ob: float, os_: float, n_open: int, ro: bool,
) -> Reject:  # fmt: skip
    """The module docstring's rules 1-8, written out in plain Python."""
    if side not in (-1, 1) or not (math.isfinite(qty) and qty > 0) or kind not in (1, 2):
        return Reject.INVALID_ORDER
    if kind == LIMIT and price <= 0:
        return Reject.INVALID_ORDER
    if ro:
        ok = pos * side < 0 and qty <= abs(pos) + RISK_RTOL * abs(pos)
        return Reject.NONE if ok else Reject.INVALID_ORDER
    checks = [
        (halted, Reject.RISK_KILL_SWITCH),
        (_over(qty, p.max_order_qty), Reject.RISK_MAX_ORDER_QTY),
        (_over(qty * (mid if kind == MARKET else price) * TICK, p.max_order_notional),
         Reject.RISK_MAX_NOTIONAL),
        (kind == LIMIT and math.isfinite(p.collar_bps)
         and (not mid > 0 or _over(abs(price - mid) * 1e4, p.collar_bps * mid)),
         Reject.RISK_PRICE_COLLAR),
        (n_open >= p.max_open_orders, Reject.RISK_MAX_OPEN_ORDERS),
        (_over(pos + ob + qty if side > 0 else -(pos - os_ - qty), p.max_position),
         Reject.RISK_MAX_POSITION),
    ]  # fmt: skip
    return next((code for broken, code in checks if broken), Reject.NONE)


_finite = st.floats(-1e9, 1e9, allow_nan=False)
_near = st.one_of(st.floats(-3.0, 3.0, allow_nan=False), _finite)  # near the ALL limits
_CONFIGS = [RiskConfig(), ALL, RiskConfig(max_position=0.0, collar_bps=0.0, max_open_orders=1)]


@settings(max_examples=200, deadline=None)
@given(
    cfg=st.sampled_from(_CONFIGS),
    halted=st.sampled_from([False, False, False, True]),
    side=st.sampled_from([1, -1] * 4 + [0, 2]),
    kind=st.sampled_from([LIMIT, MARKET] * 4 + [0, 3]),
    price=st.integers(9_980, 10_020) | st.integers(-(2**40), 2**40),
    qty=st.one_of(st.floats(0.01, 1.2), _finite),
    mid=st.one_of(st.floats(9_990.0, 10_010.0), _finite),
    position=_near,
    open_buy=_near,
    open_sell=_near,
    n_open=st.integers(0, 3),
    reduce_only=st.sampled_from([False, False, False, True]),
)
def test_manager_check_never_raises_and_matches_the_oracle(
    cfg, halted, side, kind, price, qty, mid, position, open_buy, open_sell, n_open, reduce_only
):
    rm = RiskManager(cfg, tick_size=TICK)
    rm._state[RS_HALTED] = float(halted)

    decision = rm.check(
        _order(side, kind, price, qty), mid_ticks=mid, position=position,
        open_buy_qty=open_buy, open_sell_qty=open_sell, n_open=n_open, reduce_only=reduce_only,
    )  # fmt: skip

    assert isinstance(decision.reason, Reject)
    assert decision.accepted == (decision.reason == Reject.NONE)
    expected = _oracle(risk_params(cfg), halted, side, kind, price, qty, mid, position,
                       open_buy, open_sell, n_open, reduce_only)  # fmt: skip
    assert decision.reason == expected
    event(decision.reason.name)
