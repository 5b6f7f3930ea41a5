"""Strategy interface: the read-only context a strategy sees and the protocol it implements.

The same decision code runs in the backtest and in paper trading. A built-in strategy is a
pure numba function ``decide_nb(ctx, params, out) -> n``: it reads a
:class:`StrategyContext`, writes ``n`` C5 ``ORDER_DTYPE`` rows into ``out`` (capacity
``MAX_ACTIONS``) and returns ``n``. The numba backtest loop calls it directly; Python code
(paper trading, tests) calls the very same compiled function with a context built in Python.
A plain-Python :class:`Strategy` object is also accepted by the backtest; the loop then
stops at every decision point and calls ``decide`` from Python (slower, same results).

Rules for the rows a strategy writes:

- NEW: ``order_id`` is ignored (the engine assigns the next id of the run, ``0, 1, ...``);
  ``side`` +1/-1, ``order_type`` LIMIT/MARKET, ``tif`` GTC/IOC/FOK/POST_ONLY,
  ``price_ticks`` the limit price (ignored for MARKET), ``qty`` base units > 0.
- CANCEL: ``order_id`` of a working order (from ``ctx.open_orders``).
- MODIFY: ``order_id``, new ``price_ticks`` and new remaining ``qty``; a price change or a
  size increase loses the queue position, a size decrease keeps it.
- ``ts_recv`` is overwritten with the decision time.

``ctx.features`` holds the engine's book features at the decision (slots ``FEAT_*``
below); they are computed from the book the strategy has seen, never a later one.
"""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FEATURE_NAMES",
    "FEAT_ASK_DEPTH5",
    "FEAT_ASK_QTY1",
    "FEAT_AVG_ENTRY_TICKS",
    "FEAT_BID_DEPTH5",
    "FEAT_BID_QTY1",
    "FEAT_IMB1",
    "FEAT_IMB5",
    "FEAT_MICRO_TICKS",
    "FEAT_MID_TICKS",
    "FEAT_POS_AGE_NS",
    "FEAT_SCORE_AGE_NS",
    "FEAT_SPREAD_TICKS",
    "FEAT_UNREALIZED",
    "FEAT_VOL_BPS",
    "MAX_ACTIONS",
    "N_FEATURES",
    "Strategy",
    "StrategyContext",
]

FEAT_MID_TICKS: Final = 0
"""Mid price, ticks (float); NaN when a side is empty."""
FEAT_MICRO_TICKS: Final = 1
"""Level-1 size-weighted mid ``(bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty)``, ticks."""
FEAT_SPREAD_TICKS: Final = 2
"""Best ask - best bid, ticks; NaN when a side is empty."""
FEAT_IMB1: Final = 3
"""Level-1 imbalance ``(bid_qty - ask_qty) / (bid_qty + ask_qty)`` in [-1, 1]."""
FEAT_IMB5: Final = 4
"""Imbalance of the summed sizes of the best 5 levels per side, in [-1, 1]."""
FEAT_BID_DEPTH5: Final = 5
"""Summed size of the best 5 bid levels, base units."""
FEAT_ASK_DEPTH5: Final = 6
"""Summed size of the best 5 ask levels, base units."""
FEAT_VOL_BPS: Final = 7
"""Mid volatility, bps per sqrt(second): exponentially time-weighted, ``vol_halflife_ns``."""
FEAT_BID_QTY1: Final = 8
"""Best bid size, base units."""
FEAT_ASK_QTY1: Final = 9
"""Best ask size, base units."""
FEAT_AVG_ENTRY_TICKS: Final = 10
"""Average entry price of the open position, ticks (float); NaN when flat."""
FEAT_SCORE_AGE_NS: Final = 11
"""Age of ``ctx.score`` (decision time - signal time), ns (float); inf before any signal."""
FEAT_UNREALIZED: Final = 12
"""Unrealized PnL of the open position at the mid, quote currency."""
FEAT_POS_AGE_NS: Final = 13
"""Time since the position last left flat, ns (float); NaN when flat."""
N_FEATURES: Final = 14
FEATURE_NAMES: Final = (
    "mid_ticks",
    "micro_ticks",
    "spread_ticks",
    "imbalance_1",
    "imbalance_5",
    "bid_depth_5",
    "ask_depth_5",
    "vol_bps",
    "bid_qty_1",
    "ask_qty_1",
    "avg_entry_ticks",
    "score_age_ns",
    "unrealized",
    "position_age_ns",
)
MAX_ACTIONS: Final = 16
"""Capacity of ``out``: the most order rows one decision may write."""


class StrategyContext(NamedTuple):
    """Read-only view handed to the strategy at each decision point.

    Attributes
    ----------
    ts_recv
        Decision time on the strategy clock, ns.
    best_bid_ticks, best_ask_ticks
        Best prices, ticks (C2 sentinels when a side is empty).
    position
        Signed position as known from fill notifications, base units.
    open_orders
        ``ORDER_DTYPE`` rows of the orders the strategy believes are working; ``qty`` is the
        remaining size as last notified.
    features
        ``float64[N_FEATURES]``, slots ``FEAT_*``.
    score
        Latest C4 signal value at or before ``ts_recv`` (bps), NaN if none.
    """

    ts_recv: int
    best_bid_ticks: int
    best_ask_ticks: int
    position: float
    open_orders: NDArray[np.void]
    features: NDArray[np.float64]
    score: float


class Strategy(Protocol):
    """A plain-Python strategy: ``decide`` writes ORDER_DTYPE rows into ``out``, returns n."""

    def decide(self, ctx: StrategyContext, out: NDArray[np.void]) -> int:
        """Write up to ``len(out)`` order rows for this decision; return how many."""
        ...
