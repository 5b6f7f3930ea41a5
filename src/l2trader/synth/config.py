"""``SynthConfig``: every parameter of the synthetic order-flow model, with units.

The model and the meaning of each parameter are described in ``docs/synth.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from l2trader.config import FrozenConfig

__all__ = ["SynthConfig"]

PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Prob = Annotated[float, Field(ge=0, le=1)]
Branching = Annotated[float, Field(ge=0, lt=1)]


class SynthConfig(FrozenConfig):
    """Parameters of the seeded synthetic L2 market (defaults: a ~2.6M-event day).

    Clock and output
        ``seed`` (int >= 0), ``start`` (UTC date ``YYYY-MM-DD``, the day starts at
        00:00:00), ``duration_s`` (simulated seconds), ``events_per_s`` (target mean C1
        events per second; the realised rate is within about 10 %), ``tick_size`` (quote
        currency), ``initial_mid`` (quote currency; the first best bid is this price on the
        grid and the spread starts at 1 tick), ``levels`` (levels per side in the initial
        snapshot).
    Book geometry
        ``max_depth_ticks`` (a side keeps levels within this many ticks of its best; farther
        levels are deleted, like a depth-limited feed), ``max_spread_ticks`` (hard cap).
    Clustering (Hawkes, exponential kernel)
        ``hawkes_branching`` / ``hawkes_branching_trade`` (branching ratio added by a
        non-trade / trade batch), ``hawkes_decay_s`` (kernel time constant, s),
        ``intraday_amplitude`` (U-shape: the open/close rate is ``1 + a`` times midday).
    Order placement and sizes (sizes are whole base units)
        ``order_size_median`` / ``order_size_sigma`` (lognormal limit/cancel size),
        ``near_levels`` (ticks from the touch with queue-reactive adds),
        ``near_decay`` (weight ratio between consecutive near levels),
        ``queue_reactivity`` / ``queue_ref_size`` (add boost ``1 + r q_ref / (q_ref + q)``),
        ``placement_scale_ticks`` / ``placement_tail`` (Pareto law of the distance beyond
        the near levels).
    Event weights (relative rates of the event mix)
        ``w_near``, ``w_far``, ``w_inspread`` (per empty tick inside the spread),
        ``cancel_rate`` (per base unit resting in the window), ``cancel_rate_near`` (extra,
        per base unit resting in the near levels), ``w_market``, ``w_sweep``,
        ``w_hole``.
    Market orders
        ``trade_size_min`` / ``trade_size_tail`` (Pareto law), ``sign_follow_prob`` and
        ``metaorder_tail`` (Lillo-Mike-Farmer metaorder sign persistence),
        ``sweep_levels_mean``, ``hole_levels_mean`` (extra levels beyond 2, geometric).
    Feed latency
        ``latency_median_ms`` / ``latency_sigma`` (lognormal ``ts_recv - ts_exch``, ms).

    Examples
    --------
    >>> SynthConfig(seed=1, duration_s=60.0).duration_s
    60.0
    """

    seed: Annotated[int, Field(ge=0)] = 7
    start: str = "2024-01-02"
    duration_s: PosFloat = 86_400.0
    events_per_s: PosFloat = 30.0
    tick_size: PosFloat = 0.01
    initial_mid: PosFloat = 100.0
    levels: Annotated[int, Field(ge=1, le=1000)] = 50
    max_depth_ticks: Annotated[int, Field(ge=8, le=4000)] = 200
    max_spread_ticks: Annotated[int, Field(ge=2, le=1000)] = 50
    hawkes_branching: Branching = 0.7
    hawkes_branching_trade: Branching = 0.9
    hawkes_decay_s: PosFloat = 0.5
    intraday_amplitude: NonNegFloat = 1.5
    order_size_median: PosFloat = 5.0
    order_size_sigma: NonNegFloat = 0.8
    near_levels: Annotated[int, Field(ge=1, le=20)] = 4
    near_decay: PosFloat = 0.7
    queue_reactivity: NonNegFloat = 3.0
    queue_ref_size: PosFloat = 10.0
    placement_scale_ticks: PosFloat = 4.0
    placement_tail: PosFloat = 1.2
    w_near: NonNegFloat = 0.5
    w_far: NonNegFloat = 1.5
    w_inspread: NonNegFloat = 0.3
    cancel_rate: PosFloat = 0.0012
    cancel_rate_near: NonNegFloat = 0.02
    w_market: NonNegFloat = 0.8
    w_sweep: NonNegFloat = 0.002
    w_hole: NonNegFloat = 0.001
    trade_size_min: PosFloat = 2.0
    trade_size_tail: PosFloat = 1.5
    sign_follow_prob: Prob = 0.7
    metaorder_tail: Annotated[float, Field(gt=1)] = 1.7
    sweep_levels_mean: NonNegFloat = 2.0
    hole_levels_mean: NonNegFloat = 3.0
    latency_median_ms: PosFloat = 1.0
    latency_sigma: NonNegFloat = 0.5

    @field_validator("start")
    @classmethod
    def _check_start(cls, value: str) -> str:
        try:
            dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"start must be a date 'YYYY-MM-DD', got {value!r}") from exc
        if len(value) != 10:
            raise ValueError(f"start must be a date 'YYYY-MM-DD', got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_geometry(self) -> Self:
        if self.levels > self.max_depth_ticks:
            raise ValueError(
                f"levels={self.levels} must be <= max_depth_ticks={self.max_depth_ticks}"
            )
        if self.near_levels >= self.max_depth_ticks:
            raise ValueError(f"near_levels={self.near_levels} must be < max_depth_ticks")
        if self.initial_mid / self.tick_size < 10 * self.max_depth_ticks:
            raise ValueError(
                f"initial_mid={self.initial_mid} is too few ticks above 0 for "
                f"max_depth_ticks={self.max_depth_ticks} (need >= 10x depth)"
            )
        return self

    @property
    def start_ns(self) -> int:
        """Start of the simulated day: ``start`` at 00:00:00 UTC, ns since the epoch."""
        day = dt.datetime.fromisoformat(self.start).replace(tzinfo=dt.UTC)
        return int(day.timestamp()) * 1_000_000_000
