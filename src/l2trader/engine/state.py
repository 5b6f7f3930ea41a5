"""Layout of the backtest engine's state: slot numbers, parameter and buffer tuples.

Every piece of engine state lives in numpy arrays so the numba loop can stop (output buffer
full, book needs room, a Python strategy must decide) and resume exactly where it was.

- ``est: int64[ES_SIZE]``: counters, pointers and times (``ES_*`` slots).
- ``efl: float64[EF_SIZE]``: float scalars (``EF_*`` slots).
- the venue's order table ``ot_i: int64[M, OT_NI]`` / ``ot_f: float64[M, OT_NF]`` (one row
  per resting order of ours; the first ``QUEUE_STATE_LEN`` float slots are the queue state
  of :mod:`l2trader.engine.queue`);
- in-flight actions ``pend: ORDER_DTYPE[P]`` with their venue arrival time ``pend_at``;
- the strategy's own view of its working orders ``sv: ORDER_DTYPE[M]``;
- the output records :class:`Records` (C5-C7 arrays with capacities, counts in ``est``).

Times are ns on the strategy clock (``ts_recv``); prices are ticks; sizes base units; money
quote currency.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from l2trader.engine.queue import QUEUE_STATE_LEN
from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, STATE_DTYPE

__all__ = [
    "DECIDE_BOOK",
    "DECIDE_CHANGES",
    "DECIDE_SIGNAL",
    "DECIDE_TIME",
    "BookArrays",
    "EngineParams",
    "Records",
    "Scratch",
    "Trader",
    "new_records",
]

# --- est: int64 slots -------------------------------------------------------------------
ES_N_ORD: Final = 0
"""Rows written to ``Records.orders``."""
ES_N_OEV: Final = 1
ES_N_FILL: Final = 2
ES_N_EQ: Final = 3
ES_NEXT_ID: Final = 4
"""Next order id of the run."""
ES_N_PEND: Final = 5
ES_N_SV: Final = 6
ES_NOTE_FILL: Final = 7
"""Fills delivered to the strategy (and the portfolio) so far."""
ES_NOTE_OEV: Final = 8
ES_NEXT_GRID: Final = 9
"""Next equity grid time, ns."""
ES_SIG_PTR: Final = 10
"""Signal rows visible so far."""
ES_SCORE_TS: Final = 11
ES_NEXT_DECIDE: Final = 12
"""DECIDE_TIME: next decision time, ns."""
ES_CHANGES: Final = 13
"""Book rows since the last decision."""
ES_LAST_FILL_RECV: Final = 14
ES_LAST_OEV_RECV: Final = 15
ES_POS_SINCE: Final = 16
"""Time the position last left flat, ns; -1 while flat."""
ES_FLATTEN_ID: Final = 17
"""Order id of the risk manager's flatten order in flight, -1 if none."""
ES_N_ENTRY: Final = 18
"""Entry-latency draws used."""
ES_N_RESP: Final = 19
ES_PREV_TS: Final = 20
"""Time of the previous consistent book state (volatility clock), ns."""
ES_EVENTS: Final = 21
ES_DECISIONS: Final = 22
ES_NEW_SIGNAL: Final = 23
"""1 when a signal row became visible since the last decision."""
ES_PREV_BB: Final = 24
ES_PREV_BA: Final = 25
ES_CROSSED: Final = 26
"""Consistent states skipped because the book was crossed."""
ES_LAST_TS: Final = 27
"""``ts_recv`` of the last event fed (chunk order check), ns."""
ES_OT_HI: Final = 28
"""Order-table rows at or above this index are inactive (loops stop there)."""
ES_LATE_REPORTS: Final = 29
"""Reports delivered at the end of the run rather than on the grid (lost/very late acks)."""
ES_LAST_ARRIVAL: Final = 30
"""Venue arrival (recv clock) of the last action sent: actions arrive in sending order."""
ES_STARTED: Final = 31
"""1 once the first chunk was fed (the grid and decision clocks are anchored)."""
ES_SIZE: Final = 32

# --- efl: float64 slots ------------------------------------------------------------------
EF_SCORE: Final = 0
EF_VOL_S: Final = 1
"""Decayed sum of squared mid log-returns, bps^2."""
EF_VOL_T: Final = 2
"""Decayed sum of elapsed time, s."""
EF_PREV_MID: Final = 3
"""Mid of the previous consistent state, ticks."""
EF_LAST_MID: Final = 4
"""Last valid mid, ticks (marks the equity grid when a side is empty)."""
EF_SIZE: Final = 8

# --- order table -------------------------------------------------------------------------
OT_ID: Final = 0
OT_SIDE: Final = 1
OT_PRICE: Final = 2
OT_TIF: Final = 3
OT_XREF: Final = 4
"""Best opposite price at the last check; a cross fill needs a change of it."""
OT_ACTIVE: Final = 5
OT_NI: Final = 6
OT_QTY: Final = QUEUE_STATE_LEN
"""Original order size, base units."""
OT_NF: Final = QUEUE_STATE_LEN + 1

# --- decision modes ----------------------------------------------------------------------
DECIDE_BOOK: Final = 0
"""Decide at every consistent book state (each ``F_LAST``)."""
DECIDE_TIME: Final = 1
"""Decide at the first consistent state at or after each multiple of ``decide_every``, ns."""
DECIDE_CHANGES: Final = 2
"""Decide once ``decide_every`` book rows arrived since the last decision."""
DECIDE_SIGNAL: Final = 3
"""Decide when a new signal row became visible."""

# --- loop status -------------------------------------------------------------------------
RUN_DONE: Final = 0
RUN_GROW_BOOK: Final = 1
"""The book needs room: grow it and resume at the returned index."""
RUN_BAD_EVENT: Final = 2
RUN_FULL: Final = 3
"""An output buffer is nearly full: enlarge it and resume."""
RUN_DECIDE: Final = 4
"""A Python strategy must decide now; resume at the returned index afterwards."""

STRATEGY_PYTHON: Final = 0
STRATEGY_TAKER: Final = 1
STRATEGY_MAKER: Final = 2
WALK_SCRATCH: Final = 5
"""Levels per side read for the context features."""


class EngineParams(NamedTuple):
    """Scalar and array parameters of one run (units in the names)."""

    tick_size: float
    maker_bps: float
    taker_bps: float
    queue_model: int
    feed_ns: int
    decide_mode: int
    decide_every: int
    grid_ns: int
    vol_tau_ns: float
    initial_cash: float
    strategy_kind: int
    risk_monitor: bool
    """False when no stop-loss, take-profit, daily-loss or drawdown limit is set: skip it."""
    room_orders: int
    """Free rows ``Records.orders`` must have before an event is processed."""
    room_events: int
    room_fills: int
    entry_ns: NDArray[np.int64]
    """Entry latency draws, used in turn (cycled), ns."""
    response_ns: NDArray[np.int64]


class BookArrays(NamedTuple):
    """The book's level store (``book.store_kernels``): scalars, trade volumes, window, overflow."""

    ist: NDArray[np.int64]
    fst: NDArray[np.float64]
    q: NDArray[np.float64]
    ovf_px: NDArray[np.int64]
    ovf_qty: NDArray[np.float64]


class Trader(NamedTuple):
    """The trader's and the venue's mutable state (see the module docstring)."""

    ot_i: NDArray[np.int64]
    ot_f: NDArray[np.float64]
    pend: NDArray[np.void]
    pend_at: NDArray[np.int64]
    sv: NDArray[np.void]
    est: NDArray[np.int64]
    efl: NDArray[np.float64]
    pf: NDArray[np.float64]
    rst: NDArray[np.float64]
    feat: NDArray[np.float64]
    out: NDArray[np.void]
    """Decision output rows, ``MAX_ACTIONS`` of them."""


class Scratch(NamedTuple):
    """Work arrays: taker sweeps (``wt, wq, wout, take``) and context levels (``ft, fq``)."""

    wt: NDArray[np.int64]
    wq: NDArray[np.float64]
    wout: NDArray[np.float64]
    take: NDArray[np.float64]
    ft: NDArray[np.int64]
    fq: NDArray[np.float64]


class Records(NamedTuple):
    """Output buffers (C5-C7); row counts live in ``est``."""

    orders: NDArray[np.void]
    order_events: NDArray[np.void]
    fills: NDArray[np.void]
    equity: NDArray[np.void]


def new_records(cap: int) -> Records:
    """Empty output buffers of ``cap`` rows each."""
    return Records(
        np.zeros(cap, ORDER_DTYPE),
        np.zeros(cap, ORDER_EVENT_DTYPE),
        np.zeros(cap, FILL_DTYPE),
        np.zeros(cap, STATE_DTYPE),
    )
