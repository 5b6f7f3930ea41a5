"""What the analyzer reads: one run's outputs plus the market around it, as plain arrays.

The analyzer never imports the engine or the book (DESIGN: ``analysis`` imports core only).
The CLI builds a :class:`RunInputs` from a run directory (C5-C7 Parquet files, ``run.json``)
and a :class:`MarketSeries` from the catalog the run replayed, then hands both to the pure
functions of this package.

Units: times ns (``ts_recv`` clock), prices quote currency (``mid``, ``spread``; fills stay in
ticks with ``tick_size`` to convert), sizes base units, money quote currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from l2trader.schema import (
    FILL_DTYPE,
    ORDER_DTYPE,
    ORDER_EVENT_DTYPE,
    SIGNAL_DTYPE,
    STATE_DTYPE,
)

__all__ = ["Calendar", "MarketSeries", "RunInputs"]

Calendar = Literal["24/7", "exchange"]
"""Trading calendar: ``24/7`` (crypto: 365 days of 86,400 s) or ``exchange`` (252 sessions
of ``session_s`` seconds each)."""


@dataclass(frozen=True)
class MarketSeries:
    """The replayed book on a fixed sampling grid (the last book state at or before each time).

    Attributes
    ----------
    ts
        int64[n], sample times, ns, ascending and evenly spaced by ``step_ns``.
    mid, spread
        float64[n], quote currency; NaN where a side was empty.
    bid_depth, ask_depth
        float64[n], summed size of the best ``depth_levels`` levels per side, base units.
    heat_ticks, heat_qty
        Optional depth heatmap: int64[m] price offsets from the mid in ticks (ascending) and
        float64[n, m] visible size at ``round(mid / tick) + offset`` (bids below the mid, asks
        above), base units. Empty arrays when not built.
    """

    ts: NDArray[np.int64]
    mid: NDArray[np.float64]
    spread: NDArray[np.float64]
    bid_depth: NDArray[np.float64]
    ask_depth: NDArray[np.float64]
    step_ns: int
    depth_levels: int
    heat_ticks: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    heat_qty: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))

    def mid_at(self, t: NDArray[np.int64]) -> NDArray[np.float64]:
        """Mid (quote) of the last sample at or before each time in ``t``; NaN before the first."""
        k = np.searchsorted(self.ts, t, side="right") - 1
        out = np.full(np.shape(t), np.nan)
        ok = k >= 0
        out[ok] = self.mid[k[ok]]
        return out


@dataclass(frozen=True)
class RunInputs:
    """One run's outputs (C4-C7) and metadata, the input of every analysis function.

    ``capital`` (quote) is the base returns are measured against: the run's initial cash if
    positive, else the largest absolute notional the position reached (stated in reports).
    """

    run_id: str
    config_id: str
    code_version: str
    data_fingerprint: str
    tick_size: float
    capital: float
    calendar: Calendar
    session_s: float
    equity: NDArray[np.void] = field(default_factory=lambda: np.zeros(0, STATE_DTYPE))
    fills: NDArray[np.void] = field(default_factory=lambda: np.zeros(0, FILL_DTYPE))
    orders: NDArray[np.void] = field(default_factory=lambda: np.zeros(0, ORDER_DTYPE))
    order_events: NDArray[np.void] = field(default_factory=lambda: np.zeros(0, ORDER_EVENT_DTYPE))
    signals: NDArray[np.void] = field(default_factory=lambda: np.zeros(0, SIGNAL_DTYPE))
    market: MarketSeries | None = None
    signal_horizon_ns: int = 1_000_000_000
    """Horizon the signal predicts (C4 metadata), ns."""
    strategy_id: str = ""
    """Identity of the run's strategy + engine (carried into the report)."""
