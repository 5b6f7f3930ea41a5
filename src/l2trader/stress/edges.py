"""Edge-case books: locked, crossed, extreme imbalance, one-sided, empty, one tick wide.

Each holds for ``duration_s`` s from fraction ``at`` of the stream's time span and ends
with a batch restoring the real book, so the rest of the stream is untouched.

- :class:`LockedBook` and :class:`CrossedBook` break C1 on purpose (``keeps_c1`` False):
  an ask at the best bid (locked) or a bid ``cross_ticks`` above the best ask (crossed)
  rests through the window, and the crossed-book check must flag the states after it.
  ``expected_issues`` counts the consistent states that are locked/crossed when nothing
  repairs them (a repairing check changes the later states, so it may count fewer).
- :class:`ExtremeImbalance`, :class:`SingleSidedBook`, :class:`EmptyBook` are masked
  windows (:func:`~l2trader.stress.scenarios.mask_window`): real rows, mapped sizes.
- :class:`OneTickMarket` replaces the window by one state: spread of one tick, both touch
  queues ``queue_qty``, no other change, until the restore.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from l2trader.book.replay import Replayer
from l2trader.config import FrozenConfig
from l2trader.errors import EmptySideError
from l2trader.schema import ASK, BID, KIND_BOOK
from l2trader.stress.transform import (
    Levels,
    Scenario,
    TransformInfo,
    batch_rows,
    concat,
    diff_batch,
    exch_offset,
    levels_at,
    window,
)
from l2trader.stress.windows import Fraction, Positive, Seconds, Step, mask_window, replace_window

__all__ = [
    "CrossedBook",
    "CrossedBookParams",
    "EdgeWindowParams",
    "EmptyBook",
    "ExtremeImbalance",
    "ExtremeImbalanceParams",
    "LockedBook",
    "OneTickMarket",
    "OneTickMarketParams",
    "SingleSidedBook",
    "SingleSidedParams",
]


class EdgeWindowParams(FrozenConfig):
    """Window of an edge case: ``duration_s`` s from fraction ``at`` of the time span."""

    at: Fraction = 0.5
    duration_s: Seconds = 5.0


class CrossedBookParams(EdgeWindowParams):
    """A bid ``cross_ticks`` (>= 1) above the best ask, of ``size`` base units."""

    cross_ticks: Annotated[int, Field(ge=1, le=1_000_000)] = 5
    size: Positive = 1.0


def _inject(
    scenario: Scenario[Any], events: np.ndarray, p: EdgeWindowParams, price: int, side: int,
    size: float,
) -> tuple[np.ndarray, TransformInfo]:  # fmt: skip
    """Rest one level (``price``, ``side``) through the window, then restore the real book."""
    t0, t1, i0, i1 = window(events, p.at, p.duration_s)
    off = exch_offset(events, i0)
    entry = batch_rows(t0, t0 + off, np.array([price]), np.array([size]), side, KIND_BOOK)
    head = concat([events[:i0], entry, events[i0:i1]])
    inside, real = levels_at(head, [len(head)])[0], levels_at(events, [i1])[0]
    restore = diff_batch(inside, real, t1 - 1, t1 - 1 + off)
    out = concat([head, restore, events[i1:]])
    replayer = Replayer(levels=1)
    frame = replayer.feed(out)
    bad = frame.bid_ticks[:, 0] >= frame.ask_ticks[:, 0]
    locked = int((bad & (frame.bid_ticks[:, 0] == frame.ask_ticks[:, 0])).sum())
    expected = {"locked_book": locked, "crossed_book": int(bad.sum()) - locked}
    return out, scenario.info(
        events, out, window_ns=(t0, t1), rows_added=len(entry) + len(restore), rows_removed=0,
        expected_issues={k: v for k, v in expected.items() if v},
        details={"price_ticks": float(price), "entry_index": float(i0)},
    )  # fmt: skip


def _touch(events: np.ndarray, p: EdgeWindowParams, name: str) -> Levels:
    (book0,) = levels_at(events, [window(events, p.at, p.duration_s)[2]])
    if len(book0.bid_ticks) == 0 or len(book0.ask_ticks) == 0:
        raise EmptySideError(f"{name}: the book has an empty side at the window start")
    return book0


class CrossedBook(Scenario[CrossedBookParams]):
    """A bid through the best ask (a fault by design: C1 forbids crossed books)."""

    name = "crossed_book"
    category = "edge"
    keeps_c1 = False
    params_type = CrossedBookParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Inject the crossing bid at ``t0``; restore the real book at ``t1``."""
        p = self.params
        book0 = _touch(events, p, self.name)
        price = int(book0.ask_ticks[0]) + p.cross_ticks
        return _inject(self, events, p, price, BID, p.size)


class LockedBook(Scenario[CrossedBookParams]):
    """An ask at the best bid: zero spread (a fault by design: C1 forbids locked books).

    ``cross_ticks`` is not used.
    """

    name = "locked_book"
    category = "edge"
    keeps_c1 = False
    params_type = CrossedBookParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Inject the locking ask at ``t0``; restore the real book at ``t1``."""
        p = self.params
        book0 = _touch(events, p, self.name)
        return _inject(self, events, p, int(book0.bid_ticks[0]), ASK, p.size)


def _masked(
    scenario: Scenario[Any], events: np.ndarray, p: EdgeWindowParams, bid: float, ask: float
) -> tuple[np.ndarray, TransformInfo]:
    """Masked window multiplying bid sizes by ``bid`` and ask sizes by ``ask``."""
    t0, t1, i0, i1 = window(events, p.at, p.duration_s)

    def qty_map(ticks: Any, qty: Any, side: Any, mid: Any) -> NDArray[np.float64]:
        return np.asarray(qty * np.where(side == BID, bid, ask), dtype=np.float64)

    out, counts = mask_window(events, t0, t1, i0, i1, qty_map)
    return out, scenario.info(events, out, window_ns=(t0, t1), **counts)


class ExtremeImbalanceParams(EdgeWindowParams):
    """Sizes of ``heavy_side`` (+1 bid, -1 ask) times ``heavy``, the other side's ``light``."""

    heavy_side: Annotated[int, Field(ge=-1, le=1)] = BID
    heavy: Annotated[float, Field(ge=1.0, le=1e6)] = 20.0
    light: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05


class ExtremeImbalance(Scenario[ExtremeImbalanceParams]):
    """One side of the book much heavier than the other (a masked window)."""

    name = "extreme_imbalance"
    category = "edge"
    params_type = ExtremeImbalanceParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Scale both sides' sizes through the window."""
        p = self.params
        bid, ask = (p.heavy, p.light) if p.heavy_side == BID else (p.light, p.heavy)
        return _masked(self, events, p, bid, ask)


class SingleSidedParams(EdgeWindowParams):
    """Which side is emptied: +1 bids, -1 asks."""

    empty_side: Annotated[int, Field(ge=-1, le=1)] = ASK


class SingleSidedBook(Scenario[SingleSidedParams]):
    """One side of the book withdrawn entirely (its updates carry size 0) for the window."""

    name = "single_sided_book"
    category = "edge"
    params_type = SingleSidedParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Masked window with the emptied side's sizes times 0."""
        p = self.params
        return _masked(self, events, p, float(p.empty_side != BID), float(p.empty_side != ASK))


class EmptyBook(Scenario[EdgeWindowParams]):
    """Both sides withdrawn for the window (trades still print)."""

    name = "empty_book"
    category = "edge"
    params_type = EdgeWindowParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Masked window with every size times 0."""
        return _masked(self, events, self.params, 0.0, 0.0)


class OneTickMarketParams(EdgeWindowParams):
    """One-tick-wide market: best ask = best bid + 1 tick, both touch queues ``queue_qty``."""

    queue_qty: Positive = 500.0


class OneTickMarket(Scenario[OneTickMarketParams]):
    """The book held one tick wide with huge touch queues (a replaced, frozen window)."""

    name = "one_tick_market"
    category = "edge"
    params_type = OneTickMarketParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Replace the window by one state, then restore the real book."""
        p = self.params
        t0, t1, i0, i1 = window(events, p.at, p.duration_s)
        book0 = _touch(events, p, self.name)
        b0 = int(book0.bid_ticks[0])
        asks = book0.ask_ticks != b0 + 1
        state = Levels(
            book0.bid_ticks, np.concatenate([[p.queue_qty], book0.bid_qty[1:]]),
            np.concatenate([[b0 + 1], book0.ask_ticks[asks]]),
            np.concatenate([[p.queue_qty], book0.ask_qty[asks]]),
        )  # fmt: skip
        out, counts = replace_window(events, i0, i1, [Step(t0, state)], t1 - 1, 0)
        return out, self.info(events, out, window_ns=(t0, t1), **counts,
                              details={"bid_ticks": float(b0)})  # fmt: skip
