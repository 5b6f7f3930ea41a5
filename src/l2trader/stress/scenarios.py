"""Market stresses: flash crash, volatility spike, liquidity drought, trending run, stuffing.

Every scenario works on the real book state: the stream is replayed up to the window
start, and what the scenario emits is derived from that book. All outputs keep the C1
invariants (``ts_recv`` non-decreasing, one ``ts_recv`` and a closing ``F_LAST`` per
batch, ``qty >= 0``, never crossed or locked after an ``F_LAST``). Inserted rows carry
``seq = -1`` and ``ts_exch = ts_recv +`` the feed offset seen just before the window.
The window mechanisms (replaced and masked windows) are described in
:mod:`l2trader.stress.windows`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from l2trader.book.replay import replay
from l2trader.config import FrozenConfig
from l2trader.errors import EmptySideError
from l2trader.schema import ASK, BID, F_LAST, KIND_BOOK
from l2trader.stress.transform import Levels, Scenario, TransformInfo, concat, levels_at, window
from l2trader.stress.windows import (
    Fraction,
    Positive,
    Seconds,
    Step,
    Steps,
    mask_window,
    move_top,
    replace_window,
    scaled_near,
)

__all__ = [
    "FlashCrash",
    "FlashCrashParams",
    "LiquidityDrought",
    "LiquidityDroughtParams",
    "QuoteStuffing",
    "QuoteStuffingParams",
    "TrendingRun",
    "TrendingRunParams",
    "VolatilitySpike",
    "VolatilitySpikeParams",
]


def _mid0(book: Levels, name: str) -> float:
    mid = book.mid_ticks()
    if math.isnan(mid):
        raise EmptySideError(f"{name}: the book has an empty side at the window start")
    return mid


class FlashCrashParams(FrozenConfig):
    """Flash crash: fall by ``drop_pct`` % in ``crash_s`` s, recover ``recovery_frac`` of it.

    ``at`` (fraction of the stream's time span) starts the crash; ``crash_steps`` batches
    sweep the bids down (a SELL trade per swept level, at its size) while the asks follow;
    sizes within ``thin_bps`` of the mid are scaled by ``thin_factor`` (book thinning, back
    to 1 by the end of the recovery); ``recovery_steps`` batches over ``recovery_s`` s
    bring the mid back up by ``recovery_frac`` of the drop. The rest of the stream stays
    ``(1 - recovery_frac) * drop`` lower. Moving a side moves its best ``levels`` levels
    (deeper levels stay put), which bounds the rows per batch.
    """

    at: Fraction = 0.5
    crash_s: Seconds = 2.0
    drop_pct: Annotated[float, Field(gt=0.0, lt=50.0)] = 0.5
    crash_steps: Steps = 10
    recovery_s: Seconds = 8.0
    recovery_frac: Fraction = 0.5
    recovery_steps: Steps = 10
    thin_factor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2
    thin_bps: Positive = 20.0
    levels: Annotated[int, Field(ge=1, le=100_000)] = 200


class FlashCrash(Scenario[FlashCrashParams]):
    """Fast drop through many bid levels with a sell burst, thinning, partial recovery.

    ``details``: ``mid0_ticks``, ``drop_ticks``, ``bottom_ns`` (time of the bottom state),
    ``recovered_ns`` (time of the last recovery state), ``shift_ticks``, ``trades``.
    """

    name = "flash_crash"
    category = "market"
    params_type = FlashCrashParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Replace the crash + recovery window (see the class docstring)."""
        p = self.params
        t0, t1, i0, i1 = window(events, p.at, p.crash_s + p.recovery_s)
        (book0,) = levels_at(events, [i0])
        mid0 = _mid0(book0, self.name)
        drop = math.ceil(mid0 * p.drop_pct / 100.0)
        crash_ns, rec_ns = round(p.crash_s * 1e9), round(p.recovery_s * 1e9)
        steps = [self._crash_step(book0, mid0, drop, k, t0 + crash_ns * (k - 1) // p.crash_steps)
                 for k in range(1, p.crash_steps + 1)]  # fmt: skip
        for j in range(1, p.recovery_steps + 1):
            offset = -drop + round(p.recovery_frac * drop * j / p.recovery_steps)
            factor = p.thin_factor + (1.0 - p.thin_factor) * j / p.recovery_steps
            t = t0 + crash_ns + rec_ns * (j - 1) // p.recovery_steps
            state = move_top(book0, offset, p.levels)
            steps.append(Step(t, scaled_near(state, mid0 + offset, p.thin_bps, factor)))
        shift = -drop + round(p.recovery_frac * drop)
        out, counts = replace_window(events, i0, i1, steps, t1 - 1, shift)
        details = {
            "mid0_ticks": mid0, "drop_ticks": float(drop), "shift_ticks": float(shift),
            "bottom_ns": float(steps[p.crash_steps - 1].ts_recv),
            "recovered_ns": float(steps[-1].ts_recv),
            "trades": float(sum(len(s.trades[0]) for s in steps if s.trades is not None)),
        }  # fmt: skip
        return out, self.info(events, out, window_ns=(t0, t1), details=details, **counts)

    def _crash_step(self, book0: Levels, mid0: float, drop: int, k: int, t: int) -> Step:
        """State ``k`` of the crash: bids above ``b0 - k/n drop`` swept, asks moved down."""
        p = self.params
        offset = -round(drop * k / p.crash_steps)
        above = -round(drop * (k - 1) / p.crash_steps)
        b0 = int(book0.bid_ticks[0])
        keep = book0.bid_ticks <= b0 + offset
        swept = ~keep & (book0.bid_ticks <= b0 + above)
        if k == 1:
            swept = ~keep
        asks = move_top(book0, offset, p.levels)
        state = Levels(book0.bid_ticks[keep], book0.bid_qty[keep], asks.ask_ticks, asks.ask_qty)
        state = scaled_near(state, mid0 + offset, p.thin_bps, p.thin_factor)
        trades = (book0.bid_ticks[swept], book0.bid_qty[swept], ASK)
        return Step(t, state, trades)


class _PathParams(FrozenConfig):
    """Shared fields of the shifted-book paths (volatility spike, trending run)."""

    at: Fraction = 0.5
    duration_s: Seconds = 10.0
    steps: Steps = 50
    levels: Annotated[int, Field(ge=1, le=100_000)] = 200


class VolatilitySpikeParams(_PathParams):
    """Volatility spike: the mid follows a Gaussian random walk of ``step_bps`` per step.

    ``steps`` moves over ``duration_s`` s from ``at``; during the window the book is the
    book at ``t0`` with its best ``levels`` levels per side moved by the walk (deeper levels
    stay put); the final offset persists.
    """

    step_bps: Positive = 2.0


class TrendingRunParams(_PathParams):
    """Trending run: the mid moves by ``move_bps`` (signed) in equal steps over the window."""

    move_bps: Annotated[float, Field(ge=-5000.0, le=5000.0)] = -30.0


def _path_transform(
    scenario: Scenario[Any], events: np.ndarray, p: _PathParams, offsets: NDArray[np.int64]
) -> tuple[np.ndarray, TransformInfo]:
    """Replace the window by the book at ``t0`` (top ``p.levels``) moved along ``offsets``."""
    t0, t1, i0, i1 = window(events, p.at, p.duration_s)
    (book0,) = levels_at(events, [i0])
    mid0 = _mid0(book0, scenario.name)
    dur = round(p.duration_s * 1e9)
    steps = [Step(t0 + dur * k // p.steps, move_top(book0, int(o), p.levels))
             for k, o in enumerate(offsets)]  # fmt: skip
    shift = int(offsets[-1])
    out, counts = replace_window(events, i0, i1, steps, t1 - 1, shift)
    details = {"mid0_ticks": mid0, "shift_ticks": float(shift),
               "step_ns": float(dur // p.steps)}  # fmt: skip
    return out, scenario.info(events, out, window_ns=(t0, t1), details=details, **counts)


def _mid_at(events: np.ndarray, p: _PathParams) -> float:
    (book0,) = levels_at(events, [window(events, p.at, p.duration_s)[2]])
    return _mid0(book0, "path")


class VolatilitySpike(Scenario[VolatilitySpikeParams]):
    """Random-walk mid with ``step_bps`` standard deviation per step (seeded)."""

    name = "volatility_spike"
    category = "market"
    params_type = VolatilitySpikeParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Walk step ``k`` at ``t0 + k * duration / steps``; offsets rounded to ticks."""
        p = self.params
        sd = _mid_at(events, p) * p.step_bps * 1e-4
        offsets = np.rint(np.cumsum(rng.normal(0.0, sd, p.steps))).astype(np.int64)
        return _path_transform(self, events, p, offsets)


class TrendingRun(Scenario[TrendingRunParams]):
    """Steady one-way move of ``move_bps`` over the window (then it persists)."""

    name = "trending_run"
    category = "market"
    params_type = TrendingRunParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Offset of step ``k`` (1..steps) is ``round(move * k / steps)`` ticks."""
        p = self.params
        move = _mid_at(events, p) * p.move_bps * 1e-4
        k = np.arange(1, p.steps + 1)
        offsets = np.rint(move * k / p.steps).astype(np.int64)
        return _path_transform(self, events, p, offsets)


class LiquidityDroughtParams(FrozenConfig):
    """Liquidity drought for ``duration_s`` s from ``at``.

    Sizes within ``radius_bps`` of the (real) mid are scaled by ``factor``; levels within
    ``widen_bps`` of the mid are removed, so the spread is at least ``2 * widen_bps``
    wide at entry.
    """

    at: Fraction = 0.5
    duration_s: Seconds = 30.0
    radius_bps: Positive = 10.0
    factor: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    widen_bps: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.0


class LiquidityDrought(Scenario[LiquidityDroughtParams]):
    """Depth withdrawn near the mid and the spread widened (a masked window)."""

    name = "liquidity_drought"
    category = "market"
    params_type = LiquidityDroughtParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Mask the window with the drought size map."""
        p = self.params
        t0, t1, i0, i1 = window(events, p.at, p.duration_s)

        def qty_map(ticks: Any, qty: Any, side: Any, mid: Any) -> NDArray[np.float64]:
            dist = np.where(side == BID, mid - ticks, ticks - mid) / mid * 1e4  # bps
            scaled = np.where(dist <= p.radius_bps, qty * p.factor, qty)
            return np.asarray(np.where(dist < p.widen_bps, 0.0, scaled), dtype=np.float64)

        out, counts = mask_window(events, t0, t1, i0, i1, qty_map)
        return out, self.info(events, out, window_ns=(t0, t1), **counts)


class QuoteStuffingParams(FrozenConfig):
    """Quote stuffing: ``rate_per_s`` add/cancel pairs per second for ``duration_s`` s.

    Each pair adds ``size`` to one of the top ``levels`` levels of a random side, then
    cancels it in the next batch (same ``ts_recv``), right after a real batch.
    """

    at: Fraction = 0.5
    duration_s: Seconds = 5.0
    rate_per_s: Annotated[float, Field(gt=0.0, le=1e7)] = 2000.0
    levels: Annotated[int, Field(ge=1, le=1000)] = 10
    size: Positive = 0.001


class QuoteStuffing(Scenario[QuoteStuffingParams]):
    """A burst of add/cancel batches that leaves every real book state unchanged."""

    name = "quote_stuffing"
    category = "market"
    params_type = QuoteStuffingParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Insert the pairs after random real batches of the window (seeded)."""
        p = self.params
        t0, t1, i0, i1 = window(events, p.at, p.duration_s)
        frame = replay(events[:i1], levels=p.levels)
        rows = np.flatnonzero(frame.event_idx >= i0)
        n = round(p.rate_per_s * p.duration_s) if len(rows) else 0
        pick = np.sort(rng.choice(rows, size=n)) if n else np.zeros(0, dtype=np.int64)
        side = np.where(rng.random(n) < 0.5, BID, ASK).astype(np.int8)
        lvl = rng.integers(0, p.levels, size=n)
        ticks = np.where(side == BID, frame.bid_ticks[pick, lvl], frame.ask_ticks[pick, lvl])
        qty = np.where(side == BID, frame.bid_qty[pick, lvl], frame.ask_qty[pick, lvl])
        ok = qty > 0  # only real levels (an empty slot has no price)
        pick, side, ticks, qty = pick[ok], side[ok], ticks[ok], qty[ok]
        out = _insert_pairs(events, frame.event_idx[pick], side, ticks, qty, p.size)
        added = len(out) - len(events)
        return out, self.info(events, out, window_ns=(t0, t1), rows_added=added, rows_removed=0,
                              details={"pairs": float(len(pick))})  # fmt: skip


def _insert_pairs(
    events: np.ndarray,
    after: NDArray[np.int64],
    side: NDArray[np.int8],
    ticks: NDArray[np.int64],
    qty: NDArray[np.float64],
    size: float,
) -> np.ndarray:
    """Insert an add batch (``qty + size``) then a cancel batch (``qty``) after each row."""
    n = len(after)
    pairs = np.zeros(2 * n, dtype=events.dtype)
    ts = events["ts_recv"][after]
    off = np.where(events["ts_exch"][after] >= 0, events["ts_exch"][after] - ts, 0)
    for half, q in ((0, qty + size), (1, qty)):
        view = pairs[half::2]
        view["ts_recv"], view["ts_exch"], view["seq"] = ts, ts + off, -1
        view["price_ticks"], view["qty"], view["side"] = ticks, q, side
        view["kind"], view["flags"] = KIND_BOOK, F_LAST
    keys = np.concatenate([2 * np.arange(len(events)), np.repeat(2 * after + 1, 2)])
    order = np.argsort(keys, kind="stable")
    return concat([np.concatenate([events, pairs])[order]])
