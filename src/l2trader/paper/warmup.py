"""Compile the engine's kernels before a live session starts serving.

A cold numba compile of the event loop takes tens of seconds; done on the first arrival it
would stall the feed and, in the deploy service, the HTTP probes that share the session's
thread. :func:`warm_up` runs a throwaway engine over a tiny synthetic two-sided book so the
compile happens before the session opens its feed (a cached compile returns in well under
a second).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from l2trader.engine.engine import Engine
from l2trader.schema import EVENT_DTYPE, F_LAST, EventKind

__all__ = ["warm_up", "warm_up_events"]

_MID_TICKS = 10_000
_NS = 1_000_000_000


def warm_up_events(batches: int = 4) -> NDArray[np.void]:
    """``batches`` one-second BOOK batches of a bid and an ask around 10,000 ticks.

    >>> ev = warm_up_events(2)
    >>> ev["price_ticks"].tolist(), int(ev["flags"][1] & F_LAST) > 0
    ([9999, 10001, 9998, 10002], True)
    """
    ev = np.zeros(2 * batches, EVENT_DTYPE)
    k = np.arange(2 * batches)
    step = k // 2
    ev["ts_recv"] = (1 + step) * _NS
    ev["ts_exch"] = ev["ts_recv"]
    ev["seq"] = k
    ev["side"] = np.where(k % 2 == 0, 1, -1)
    ev["price_ticks"] = _MID_TICKS + ev["side"].astype(np.int64) * -(1 + step % 2)
    ev["qty"] = 5.0
    ev["kind"] = int(EventKind.BOOK)
    ev["flags"] = np.where(k % 2 == 1, F_LAST, 0)
    return ev


def warm_up(make_engine: Callable[[], Engine]) -> None:
    """Run a throwaway engine from ``make_engine`` over :func:`warm_up_events` and finish it."""
    engine = make_engine()
    engine.run(warm_up_events())
    engine.finish()
