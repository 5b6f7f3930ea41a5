"""A rule signal for tests, benchmarks and research: level-1 imbalance scaled to bps (C4)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from l2trader.book.replay import replay
from l2trader.schema import SIGNAL_DTYPE

__all__ = ["imbalance_signal"]


def imbalance_signal(
    events: NDArray[np.void], gain_bps: float, step_ns: int = 1_000_000_000
) -> NDArray[np.void]:
    """``gain_bps x (bid_qty - ask_qty) / (bid_qty + ask_qty)`` at level 1, once per ``step_ns``.

    One C4 row per clock bucket: the first consistent book state of each ``step_ns`` bucket
    of ``ts_recv``; NaN where both level-1 sizes are 0.

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> ev = make_events([(100, 3.0, 1), (101, 1.0, -1)])
    >>> imbalance_signal(ev, 10.0)["score"].tolist()
    [5.0]
    """
    frame = replay(events, levels=1)
    keep = np.r_[True, np.diff(frame.ts_recv // step_ns) > 0] if len(frame) else np.zeros(0, bool)
    bq, aq = frame.bid_qty[keep, 0], frame.ask_qty[keep, 0]
    sig = np.zeros(int(keep.sum()), SIGNAL_DTYPE)
    sig["ts_recv"] = frame.ts_recv[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        sig["score"] = gain_bps * (bq - aq) / (bq + aq)
    return sig
