"""``SynthParams``: the constants NamedTuple the generator kernels take."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SynthParams"]


class SynthParams(NamedTuple):
    """Kernel constants derived from ``SynthConfig`` (see ``generator.make_params``)."""

    start_ns: int
    duration_s: float
    mu0: float
    profile_amp: float
    beta: float
    alpha: float
    alpha_trade: float
    bb0: int
    levels: int
    depth: int
    max_spread: int
    near_levels: int
    near_decay: float
    qr: float
    q_ref: float
    place_scale: float
    place_tail: float
    w_near: float
    w_far: float
    w_inspread: float
    cancel_rate: float
    cancel_rate_near: float
    w_market: float
    w_sweep: float
    w_hole: float
    size_median: float
    size_sigma: float
    trade_min: float
    trade_tail: float
    follow: float
    meta_tail: float
    sweep_mean: float
    hole_mean: float
    lat_median_ns: float
    lat_sigma: float
    max_batch: int
