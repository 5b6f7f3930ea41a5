"""Queue position of a resting limit order, estimated from L2 data alone.

L2 shows only the total size of a price level, never the orders in it, and our simulated
order is not part of the recorded data. The state of one resting order is a float64[4]
array (base units): ``QS_AHEAD`` size ahead of us, ``QS_LEAVES`` our remaining size,
``QS_TRADED`` size traded at our price since the level's last book update, and ``QS_LEVEL``
the level size the book last showed. The kernels (pure ``_nb`` functions, called per event
by the engine loop) apply four rules; each example is worked by hand and runs as a doctest.

1. **Join at the back**: ``ahead = level size at arrival``. Joining a level of 5.0 with an
   order of 2.0 gives ahead 5.0, leaves 2.0.
2. **Level size decrease not explained by trades**: ``d = (old - new) - traded`` is taken as
   cancellations (then ``traded`` resets to 0).

   - ``conservative``: ahead unchanged (only trades fill us), but never above the new level
     size. Ahead 5.0, level 10.0 -> 6.0: ahead stays 5.0; level 6.0 -> 3.0: ahead 3.0.
   - ``proportional``: cancellations hit ahead and behind in proportion,
     ``ahead -= d * ahead / (ahead + behind)`` with ``ahead + behind = old - traded`` (the
     visible level net of trades it does not show yet). Ahead 5.0, level 10.0 -> 6.0:
     ``5 - 4 * 5 / 10 = 3.0``.

   An increase (``d <= 0``) joins behind us: ahead unchanged.
3. **Trade at our price** (aggressor on the other side): the size ahead is consumed first,
   then our order fills, partially if the trade is smaller. Ahead 3.0, leaves 2.0, a trade
   of 4.0: ahead 0.0, we fill 1.0, leaves 1.0. The trade is added to ``traded``, since the
   book will show it as a decrease of the level.
4. **Trade through our price** (a sell below our bid, a buy above our ask): we fill
   completely, whatever the trade size.

Known limits: if a venue publishes the book decrease *before* the trade print (separate
streams), ``proportional`` counts that size twice (optimistic) and ``conservative`` once
(correct); a later unexplained decrease is not discounted by trades printed after it.

Oracle: hand-worked cases in ``tests/unit/engine/test_queue.py`` (every branch, exact
numbers) plus properties over random event sequences (0 <= ahead <= level, fills + leaves =
order size, ``proportional`` never fills less than ``conservative``).
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_inline
from l2trader.errors import ConfigError, InvalidValueError

__all__ = [
    "QS_AHEAD",
    "QS_LEAVES",
    "QS_LEVEL",
    "QS_TRADED",
    "QUEUE_CONSERVATIVE",
    "QUEUE_PROPORTIONAL",
    "QUEUE_STATE_LEN",
    "QueueModel",
    "QueuePosition",
    "queue_join_nb",
    "queue_on_level_nb",
    "queue_on_trade_nb",
]

QS_AHEAD: Final = 0
QS_LEAVES: Final = 1
QS_TRADED: Final = 2
QS_LEVEL: Final = 3
QUEUE_STATE_LEN: Final = 4
QUEUE_CONSERVATIVE: Final = 0
QUEUE_PROPORTIONAL: Final = 1


class QueueModel(IntEnum):
    """How an unexplained decrease of our level's size moves us up the queue."""

    CONSERVATIVE = QUEUE_CONSERVATIVE
    """Cancellations are all behind us: only trades at or through our price fill us."""
    PROPORTIONAL = QUEUE_PROPORTIONAL
    """Cancellations are spread over ahead and behind in proportion to their sizes."""


@njit_inline
def queue_join_nb(state: NDArray[np.float64], level_qty: float, order_qty: float) -> None:
    """Rule 1: join the back of a level of ``level_qty`` with ``order_qty`` (base units)."""
    state[QS_AHEAD] = level_qty
    state[QS_LEAVES] = order_qty
    state[QS_TRADED] = 0.0
    state[QS_LEVEL] = level_qty


@njit_inline
def queue_on_level_nb(state: NDArray[np.float64], new_qty: float, model: int) -> None:
    """Rule 2: the book shows our level at ``new_qty`` base units (``model``: QUEUE_*)."""
    old = state[QS_LEVEL]
    traded = state[QS_TRADED]
    ahead = state[QS_AHEAD]
    cancelled = (old - new_qty) - traded
    total = old - traded
    if model == QUEUE_PROPORTIONAL and cancelled > 0.0 and total > 0.0:
        ahead -= cancelled * ahead / total
    state[QS_AHEAD] = max(min(ahead, new_qty), 0.0)
    state[QS_TRADED] = 0.0
    state[QS_LEVEL] = new_qty


@njit_inline
def queue_on_trade_nb(
    state: NDArray[np.float64],
    order_ticks: int,
    order_side: int,
    trade_ticks: int,
    trade_qty: float,
    trade_side: int,
) -> float:
    """Rules 3 and 4: a trade print; returns the size of our order it fills (base units).

    ``order_side`` +1 for a resting bid, -1 for an ask; ``trade_side`` is the aggressor
    (+1 buy, -1 sell, 0 unknown: judged by price alone). A trade by an aggressor on our own
    side, or at a price worse than ours for our counterparty, fills nothing.
    """
    leaves = float(state[QS_LEAVES])
    if trade_side == order_side:
        return 0.0
    through = trade_ticks < order_ticks if order_side > 0 else trade_ticks > order_ticks
    if through:
        state[QS_AHEAD] = 0.0
        state[QS_LEAVES] = 0.0
        return leaves
    if trade_ticks != order_ticks:
        return 0.0
    state[QS_TRADED] += trade_qty
    ahead = float(state[QS_AHEAD])
    used = min(ahead, trade_qty)
    state[QS_AHEAD] = ahead - used
    fill = min(trade_qty - used, leaves)
    state[QS_LEAVES] = leaves - fill
    return fill


def _check_qty(name: str, value: float, *, positive: bool = False) -> float:
    """Return ``value`` as float or raise :class:`InvalidValueError` naming ``name``."""
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
        need = "> 0" if positive else ">= 0"
        raise InvalidValueError(f"{name}={value!r}: must be finite and {need}", source="queue")
    return v


def _check_side(name: str, value: int, allowed: tuple[int, ...]) -> int:
    """Return ``value`` or raise :class:`InvalidValueError` if it is not in ``allowed``."""
    if int(value) not in allowed:
        raise InvalidValueError(f"{name}={value!r}: must be one of {allowed}", source="queue")
    return int(value)


class QueuePosition:
    """Validated Python face of the queue kernels for one resting order (paper, tests).

    Parameters
    ----------
    price_ticks
        Our limit price, ticks.
    side
        +1 resting bid, -1 resting ask.
    level_qty
        Visible size of our level when the order arrives, base units.
    order_qty
        Our order size, base units (> 0).
    model
        :class:`QueueModel` or its name (``"conservative"``, ``"proportional"``).

    Examples
    --------
    >>> q = QueuePosition(price_ticks=100, side=1, level_qty=10.0, order_qty=2.0,
    ...                   model="proportional")
    >>> q.on_level(6.0); q.ahead
    6.0
    >>> q.on_trade(100, 7.0, -1), q.ahead, q.leaves
    (1.0, 0.0, 1.0)
    >>> q.on_trade(99, 0.1, -1), q.leaves
    (1.0, 0.0)
    """

    def __init__(
        self,
        *,
        price_ticks: int,
        side: int,
        level_qty: float,
        order_qty: float,
        model: QueueModel | str = QueueModel.CONSERVATIVE,
    ) -> None:
        self.price_ticks = int(price_ticks)
        self.side = _check_side("side", side, (1, -1))
        self.model = _parse_model(model)
        self.state = np.zeros(QUEUE_STATE_LEN)
        queue_join_nb(
            self.state,
            _check_qty("level_qty", level_qty),
            _check_qty("order_qty", order_qty, positive=True),
        )

    @property
    def ahead(self) -> float:
        """Estimated size ahead of us, base units."""
        return float(self.state[QS_AHEAD])

    @property
    def leaves(self) -> float:
        """Our remaining size, base units."""
        return float(self.state[QS_LEAVES])

    def on_level(self, new_qty: float) -> None:
        """Apply a book update of our level to ``new_qty`` base units (rule 2)."""
        queue_on_level_nb(self.state, _check_qty("new_qty", new_qty), int(self.model))

    def on_trade(self, price_ticks: int, qty: float, side: int) -> float:
        """Apply a trade print (rules 3, 4); returns the size of our order filled."""
        return float(
            queue_on_trade_nb(
                self.state,
                self.price_ticks,
                self.side,
                int(price_ticks),
                _check_qty("qty", qty),
                _check_side("side", side, (1, -1, 0)),
            )
        )


def _parse_model(model: QueueModel | str) -> QueueModel:
    """Return the :class:`QueueModel` for an enum or its (case-insensitive) name."""
    if isinstance(model, QueueModel):
        return model
    try:
        return QueueModel[str(model).upper()]
    except KeyError:
        names = [m.name.lower() for m in QueueModel]
        raise ConfigError(f"queue model={model!r}: must be one of {names}") from None
