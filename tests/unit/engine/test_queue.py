"""Queue position from L2: every rule and branch by hand, plus model-ordering properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.engine.queue import (
    QS_AHEAD,
    QS_LEAVES,
    QS_LEVEL,
    QS_TRADED,
    QUEUE_CONSERVATIVE,
    QUEUE_PROPORTIONAL,
    QUEUE_STATE_LEN,
    QueueModel,
    QueuePosition,
    queue_join_nb,
    queue_on_level_nb,
    queue_on_trade_nb,
)
from l2trader.errors import ConfigError, InvalidValueError

CONS, PROP = QUEUE_CONSERVATIVE, QUEUE_PROPORTIONAL


def _state(ahead: float, leaves: float, traded: float, level: float) -> np.ndarray:
    s = np.zeros(QUEUE_STATE_LEN)
    s[[QS_AHEAD, QS_LEAVES, QS_TRADED, QS_LEVEL]] = [ahead, leaves, traded, level]
    return s


# -- rule 1: join at the back ---------------------------------------------------------------


def test_join_puts_the_whole_level_ahead():
    s = np.full(QUEUE_STATE_LEN, -1.0)

    queue_join_nb(s, 5.0, 2.0)

    assert s.tolist() == [5.0, 2.0, 0.0, 5.0]


def test_join_an_empty_level_is_at_the_front():
    s = np.zeros(QUEUE_STATE_LEN)

    queue_join_nb(s, 0.0, 2.0)

    assert s[QS_AHEAD] == 0.0


# -- rule 2: level decrease without trades ---------------------------------------------------


def test_conservative_decrease_keeps_ahead():
    s = _state(5.0, 2.0, 0.0, 10.0)

    queue_on_level_nb(s, 6.0, CONS)

    assert s.tolist() == [5.0, 2.0, 0.0, 6.0]


def test_conservative_ahead_is_capped_by_the_level_size():
    s = _state(5.0, 2.0, 0.0, 6.0)

    queue_on_level_nb(s, 3.0, CONS)

    assert s.tolist() == [3.0, 2.0, 0.0, 3.0]


def test_proportional_decrease_splits_cancels_ahead_and_behind():
    # ahead 5 of 10: 4 cancelled, 4 * 5/10 = 2 of them ahead -> 3
    s = _state(5.0, 2.0, 0.0, 10.0)

    queue_on_level_nb(s, 6.0, PROP)
    first = s[QS_AHEAD]
    # ahead 3 of 6: 3 cancelled, 3 * 3/6 = 1.5 ahead -> 1.5
    queue_on_level_nb(s, 3.0, PROP)

    assert first == 3.0
    assert s.tolist() == [1.5, 2.0, 0.0, 3.0]


def test_proportional_when_we_are_at_the_back_moves_with_the_level():
    s = _state(10.0, 2.0, 0.0, 10.0)

    queue_on_level_nb(s, 6.0, PROP)

    assert s[QS_AHEAD] == 6.0


@pytest.mark.parametrize("model", [CONS, PROP])
def test_level_removed_puts_us_at_the_front(model):
    s = _state(5.0, 2.0, 0.0, 10.0)

    queue_on_level_nb(s, 0.0, model)

    assert s.tolist() == [0.0, 2.0, 0.0, 0.0]


@pytest.mark.parametrize("model", [CONS, PROP])
def test_level_increase_joins_behind_us(model):
    s = _state(5.0, 2.0, 1.0, 10.0)

    queue_on_level_nb(s, 14.0, model)

    assert s.tolist() == [5.0, 2.0, 0.0, 14.0]


def test_decrease_fully_explained_by_trades_does_not_move_us_again():
    # trade of 2 took ahead 5 -> 3; the book then shows 10 -> 8: no cancel
    s = _state(3.0, 2.0, 2.0, 10.0)

    queue_on_level_nb(s, 8.0, PROP)

    assert s.tolist() == [3.0, 2.0, 0.0, 8.0]


def test_proportional_counts_only_the_decrease_beyond_trades():
    # traded 2, book 10 -> 7: 1 cancelled out of the 8 not yet traded; 3 * 1/8 of it ahead
    s = _state(3.0, 2.0, 2.0, 10.0)

    queue_on_level_nb(s, 7.0, PROP)

    assert s.tolist() == [2.625, 2.0, 0.0, 7.0]


def test_decrease_smaller_than_trades_is_a_refill_behind_us():
    # traded 2 but the book only fell 10 -> 9: 1 joined behind, ahead unchanged
    s = _state(3.0, 2.0, 2.0, 10.0)

    queue_on_level_nb(s, 9.0, PROP)

    assert s.tolist() == [3.0, 2.0, 0.0, 9.0]


# -- rules 3 and 4: trades --------------------------------------------------------------------


def test_trade_smaller_than_ahead_only_advances_us():
    s = _state(5.0, 2.0, 0.0, 10.0)

    filled = queue_on_trade_nb(s, 100, 1, 100, 2.0, -1)

    assert filled == 0.0
    assert s.tolist() == [3.0, 2.0, 2.0, 10.0]


def test_trade_larger_than_ahead_fills_us_partially():
    s = _state(3.0, 2.0, 0.0, 10.0)

    filled = queue_on_trade_nb(s, 100, 1, 100, 4.0, -1)

    assert filled == 1.0
    assert s.tolist() == [0.0, 1.0, 4.0, 10.0]


def test_trade_at_the_front_fills_us_up_to_our_size():
    s = _state(0.0, 2.0, 0.0, 10.0)

    filled = queue_on_trade_nb(s, 100, -1, 100, 5.0, 1)

    assert filled == 2.0
    assert s[QS_LEAVES] == 0.0


@pytest.mark.parametrize(
    ("order_side", "trade_ticks", "trade_side"),
    [(1, 99, -1), (-1, 101, 1), (1, 99, 0)],
)
def test_trade_through_fills_us_completely_whatever_its_size(order_side, trade_ticks, trade_side):
    s = _state(5.0, 2.0, 0.0, 10.0)

    filled = queue_on_trade_nb(s, 100, order_side, trade_ticks, 0.1, trade_side)

    assert filled == 2.0
    assert s[[QS_AHEAD, QS_LEAVES]].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("order_side", "trade_ticks", "trade_side"),
    [
        (1, 101, -1),  # a sell hitting a better bid above ours
        (-1, 99, 1),  # a buy lifting a better ask below ours
        (1, 100, 1),  # a buy aggressor cannot hit our bid
        (-1, 100, -1),  # a sell aggressor cannot lift our ask
    ],
)
def test_trade_not_reaching_us_changes_nothing(order_side, trade_ticks, trade_side):
    s = _state(5.0, 2.0, 0.0, 10.0)

    filled = queue_on_trade_nb(s, 100, order_side, trade_ticks, 50.0, trade_side)

    assert filled == 0.0
    assert s.tolist() == [5.0, 2.0, 0.0, 10.0]


def test_unknown_aggressor_at_our_price_counts():
    s = _state(1.0, 2.0, 0.0, 10.0)

    filled = queue_on_trade_nb(s, 100, 1, 100, 2.0, 0)

    assert filled == 1.0


def test_filled_order_takes_no_more_fills():
    s = _state(0.0, 0.0, 0.0, 10.0)

    assert queue_on_trade_nb(s, 100, 1, 100, 5.0, -1) == 0.0
    assert queue_on_trade_nb(s, 100, 1, 99, 5.0, -1) == 0.0


# -- the Python wrapper -----------------------------------------------------------------------


def test_wrapper_walks_the_module_examples():
    q = QueuePosition(price_ticks=100, side=-1, level_qty=5.0, order_qty=2.0, model="conservative")

    q.on_level(10.0)  # 5 joined behind us
    q.on_trade(100, 4.0, 1)
    q.on_level(6.0)  # explained by the trade
    filled = q.on_trade(100, 2.0, 1)

    assert (q.ahead, q.leaves, filled) == (0.0, 1.0, 1.0)
    assert q.model is QueueModel.CONSERVATIVE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level_qty": -1.0},
        {"level_qty": float("nan")},
        {"order_qty": 0.0},
        {"order_qty": float("inf")},
        {"side": 0},
    ],
)
def test_wrapper_rejects_bad_values(kwargs):
    args = {"price_ticks": 100, "side": 1, "level_qty": 5.0, "order_qty": 2.0} | kwargs

    with pytest.raises(InvalidValueError, match=next(iter(kwargs))):
        QueuePosition(**args)


def test_wrapper_rejects_bad_events():
    q = QueuePosition(price_ticks=100, side=1, level_qty=5.0, order_qty=2.0)

    with pytest.raises(InvalidValueError, match="new_qty"):
        q.on_level(-0.5)
    with pytest.raises(InvalidValueError, match="qty"):
        q.on_trade(100, float("nan"), -1)
    with pytest.raises(InvalidValueError, match="side"):
        q.on_trade(100, 1.0, 2)


def test_wrapper_rejects_unknown_model():
    with pytest.raises(ConfigError, match="fifo"):
        QueuePosition(price_ticks=100, side=1, level_qty=5.0, order_qty=2.0, model="fifo")


# -- properties over random event sequences ---------------------------------------------------

_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("level"), st.integers(0, 30)),
        st.tuples(
            st.just("trade"), st.integers(97, 103), st.integers(1, 12), st.sampled_from([-1, 0, 1])
        ),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(0, 30), st.integers(1, 10), st.sampled_from([1, -1]), _EVENTS)
def test_proportional_is_never_behind_conservative(level0, size, side, events):
    states = {m: np.zeros(QUEUE_STATE_LEN) for m in (CONS, PROP)}
    filled = {CONS: 0.0, PROP: 0.0}
    for s in states.values():
        queue_join_nb(s, float(level0), float(size))

    for event in events:
        for model, s in states.items():
            if event[0] == "level":
                queue_on_level_nb(s, float(event[1]), model)
            else:
                filled[model] += queue_on_trade_nb(
                    s, 100, side, event[1], float(event[2]), event[3]
                )
            assert 0.0 <= s[QS_AHEAD] <= s[QS_LEVEL] + 1e-12
            assert 0.0 <= s[QS_LEAVES] <= size
            assert filled[model] + s[QS_LEAVES] == pytest.approx(size, abs=1e-12)
        assert states[PROP][QS_LEAVES] <= states[CONS][QS_LEAVES] + 1e-12
