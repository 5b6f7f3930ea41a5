"""``generate``: stream the synthetic market as C1 event chunks (bounded memory)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from l2trader.errors import ConfigError
from l2trader.schema import EVENT_DTYPE
from l2trader.synth import book_kernels as bk
from l2trader.synth.actions_kernels import MAX_BLOCK_LEVELS
from l2trader.synth.config import SynthConfig
from l2trader.synth.kernels import run_nb
from l2trader.synth.params import SynthParams
from l2trader.synth.rng_kernels import seed_state

__all__ = ["GeneratorState", "generate", "make_params", "new_state"]

EVENTS_PER_BATCH: Final = 1.046
"""Measured mean C1 rows per batch at the default mix (converts events/s to batches/s)."""
TRADE_SHARE: Final = 0.05
"""Measured share of trade batches at the default mix (for the mean branching ratio)."""


class GeneratorState(NamedTuple):
    """All mutable state of a run: book ring buffer, scalars, RNG, scratch."""

    q: NDArray[np.float64]
    ist: NDArray[np.int64]
    fst: NDArray[np.float64]
    rng: NDArray[np.uint64]
    scratch: NDArray[np.float64]


def make_params(config: SynthConfig) -> SynthParams:
    """Derive the kernel constants from a config (rates per second, latency in ns)."""
    c = config
    branching = c.hawkes_branching * (1 - TRADE_SHARE) + c.hawkes_branching_trade * TRADE_SHARE
    return SynthParams(
        start_ns=c.start_ns,
        duration_s=c.duration_s,
        mu0=c.events_per_s / EVENTS_PER_BATCH * (1.0 - branching),
        profile_amp=c.intraday_amplitude,
        beta=1.0 / c.hawkes_decay_s,
        alpha=c.hawkes_branching,
        alpha_trade=c.hawkes_branching_trade,
        bb0=round(c.initial_mid / c.tick_size),
        levels=c.levels,
        depth=c.max_depth_ticks,
        max_spread=c.max_spread_ticks,
        near_levels=c.near_levels,
        near_decay=c.near_decay,
        qr=c.queue_reactivity,
        q_ref=c.queue_ref_size,
        place_scale=c.placement_scale_ticks,
        place_tail=c.placement_tail,
        w_near=c.w_near,
        w_far=c.w_far,
        w_inspread=c.w_inspread,
        cancel_rate=c.cancel_rate,
        cancel_rate_near=c.cancel_rate_near,
        w_market=c.w_market,
        w_sweep=c.w_sweep,
        w_hole=c.w_hole,
        size_median=c.order_size_median,
        size_sigma=c.order_size_sigma,
        trade_min=c.trade_size_min,
        trade_tail=c.trade_size_tail,
        follow=c.sign_follow_prob,
        meta_tail=c.metaorder_tail,
        sweep_mean=c.sweep_levels_mean,
        hole_mean=c.hole_levels_mean,
        lat_median_ns=c.latency_median_ms * 1e6,
        lat_sigma=c.latency_sigma,
        max_batch=max_batch_rows(config),
    )


def max_batch_rows(config: SynthConfig) -> int:
    """Upper bound on the rows of one batch after the initial snapshot."""
    return max(2 * MAX_BLOCK_LEVELS, config.max_spread_ticks + 1) + 4


def new_state(config: SynthConfig) -> GeneratorState:
    """Fresh state for ``config`` (empty book; the first kernel call emits the snapshot)."""
    width = 2 * config.max_depth_ticks + config.max_spread_ticks + 2
    slots = 1 << math.ceil(math.log2(width))
    return GeneratorState(
        q=np.zeros((2, slots), dtype=np.float64),
        ist=np.zeros(16, dtype=np.int64),
        fst=np.zeros(8, dtype=np.float64),
        rng=seed_state(config.seed),
        scratch=np.concatenate(
            [
                np.zeros(4 * config.near_levels + 9),
                config.near_decay ** np.arange(config.near_levels, dtype=np.float64),
            ]
        ),
    )


def generate(config: SynthConfig, *, chunk_size: int = 1_000_000) -> Iterator[np.ndarray]:
    """Stream the synthetic market as C1 chunks of at most ``chunk_size`` rows.

    A chunk never splits a batch (each ends with ``F_LAST``); the concatenation does not
    depend on ``chunk_size``. Memory is one chunk at a time.

    Examples
    --------
    >>> from l2trader.data.events import collect
    >>> ev = collect(generate(SynthConfig(duration_s=5.0, levels=3)))
    >>> ev["kind"][:4].tolist(), int(ev["seq"][0])
    ([4, 3, 3, 3], 1)
    """
    minimum = max(max_batch_rows(config), 2 * config.levels + 2)
    if chunk_size < minimum:
        raise ConfigError(f"chunk_size={chunk_size} must be >= {minimum} (one whole batch)")
    params = make_params(config)
    state = new_state(config)
    while state.ist[bk.DONE] == 0:
        out = np.zeros(chunk_size, dtype=EVENT_DTYPE)  # zeroed padding: identical bytes
        n = run_nb(out, state.q, state.ist, state.fst, state.rng, state.scratch, params)
        if n > chunk_size // 2:
            yield out[:n]
        elif n:
            small = np.zeros(n, dtype=EVENT_DTYPE)  # .copy() would not keep padding zeroed
            small[:] = out[:n]
            yield small
