"""The generator's hot loop: Hawkes clock, event-mix choice and order-flow actions.

Everything is a pure ``@njit_cached`` function over arrays and one ``SynthParams``
NamedTuple; all mutable state lives in ``q``/``ist``/``fst``/``rng`` so :func:`run_nb`
resumes exactly where it stopped (chunked output == one-shot output). The model is
documented in ``docs/synth.md``. Oracle: ``ReferenceBook`` replay of the emitted rows
(never crossed, sizes >= 0) and the one-shot run for the chunked run.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached
from l2trader.schema import F_LAST, KIND_CLEAR, KIND_SNAPSHOT
from l2trader.synth import book_kernels as bk
from l2trader.synth.actions_kernels import cancel_at_nb, cancel_nb, hole_nb, market_nb, sweep_nb
from l2trader.synth.params import SynthParams
from l2trader.synth.rng_kernels import exponential_nb, lognormal_int_nb, normal_nb, uniform_nb

__all__ = ["run_nb"]


@njit_cached
def profile_nb(t: float, p: SynthParams) -> float:
    """Intraday multiplier of the baseline rate: U-shape with mean 1 over the run."""
    x = 2.0 * t / p.duration_s - 1.0
    return (1.0 + p.profile_amp * x * x) / (1.0 + p.profile_amp / 3.0)


@njit_cached
def advance_time_nb(fst: NDArray[np.float64], rng: NDArray[np.uint64], p: SynthParams) -> bool:
    """Move the model clock to the next arrival (Ogata thinning); False past the end."""
    t = fst[bk.T]
    e = fst[bk.EXC]
    lam_bar_base = p.mu0 * (1.0 + p.profile_amp) / (1.0 + p.profile_amp / 3.0)
    while True:
        lam_bar = lam_bar_base + e
        w = exponential_nb(rng, lam_bar)
        t += w
        e *= math.exp(-p.beta * w)
        if t >= p.duration_s:
            fst[bk.T] = t
            fst[bk.EXC] = e
            return False
        if uniform_nb(rng) * lam_bar <= p.mu0 * profile_nb(t, p) + e:
            fst[bk.T] = t
            fst[bk.EXC] = e
            return True


@njit_cached
def batch_clock_nb(
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    p: SynthParams,
) -> None:
    """Whole-µs ``ts_exch`` (model time) and ``ts_recv`` (+ lognormal latency) of a batch.

    Both are strictly greater than the previous batch's, by at least 1 µs.
    """
    exch = p.start_ns + round(fst[bk.T] * 1e6) * 1000
    exch = max(exch, ist[bk.TS_EXCH] + 1000)
    lat = p.lat_median_ns * math.exp(p.lat_sigma * normal_nb(rng))
    lat_ns = max(1000, round(lat / 1000.0) * 1000)
    batch[bk.B_EXCH] = exch
    batch[bk.B_RECV] = max(exch + lat_ns, ist[bk.TS_RECV] + 1000)
    batch[bk.B_SEQ] = ist[bk.SEQ] + 1


@njit_cached
def weights_nb(
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    w: NDArray[np.float64],
    decay: NDArray[np.float64],
    p: SynthParams,
) -> float:
    """Fill ``w`` with the relative rate of every event type; return their sum.

    Layout (K = near levels, F = 4K): near adds bid/ask (K each), near cancels bid/ask
    (K each), then F + 0..8 = far add bid/ask, in-spread add bid/ask, cancel bid/ask
    (anywhere), market, sweep, hole. ``decay[d] = near_decay ** d``.
    """
    k = p.near_levels
    for i in range(2 * k):
        side = 1 if i < k else -1
        d = i % k
        size = bk.level_nb(q, side, bk.best_nb(ist, side) - side * d)
        w[i] = p.w_near * decay[d] * (1.0 + p.qr * p.q_ref / (p.q_ref + size))
        w[2 * k + i] = p.cancel_rate_near * size
    f = 4 * k
    spread = ist[bk.BA] - ist[bk.BB]
    w[f] = p.w_far
    w[f + 1] = p.w_far
    w[f + 2] = p.w_inspread * (spread - 1)
    w[f + 3] = p.w_inspread * (spread - 1)
    w[f + 4] = p.cancel_rate * fst[bk.VOL_BID]
    w[f + 5] = p.cancel_rate * fst[bk.VOL_ASK]
    w[f + 6] = p.w_market
    w[f + 7] = p.w_sweep
    w[f + 8] = p.w_hole
    return float(w.sum())


@njit_cached
def pick_nb(w: NDArray[np.float64], total: float, u: float) -> int:
    """Index drawn with probability ``w[i] / total`` given a uniform ``u``."""
    target = u * total
    acc = 0.0
    for i in range(len(w)):
        acc += w[i]
        if target < acc:
            return i
    return len(w) - 1


@njit_cached
def next_sign_nb(ist: NDArray[np.int64], rng: NDArray[np.uint64], p: SynthParams) -> int:
    """Aggressor sign: follows the current metaorder with prob ``follow``, else a coin flip.

    Metaorder lengths are Pareto(``meta_tail``) (Lillo, Mike & Farmer 2005).
    """
    if ist[bk.META_LEFT] <= 0:
        ist[bk.META_SIGN] = 1 if uniform_nb(rng) < 0.5 else -1
        ist[bk.META_LEFT] = int(uniform_nb(rng) ** (-1.0 / p.meta_tail))
    if uniform_nb(rng) < p.follow:
        ist[bk.META_LEFT] -= 1
        return int(ist[bk.META_SIGN])
    return 1 if uniform_nb(rng) < 0.5 else -1


@njit_cached
def far_distance_nb(rng: NDArray[np.uint64], p: SynthParams) -> int:
    """Distance from the touch (ticks) of a far add: ``K + floor(s (U^(-1/g) - 1))`` <= depth."""
    while True:
        d = p.near_levels + int(p.place_scale * (uniform_nb(rng) ** (-1.0 / p.place_tail) - 1.0))
        if d <= p.depth:
            return d


@njit_cached
def limit_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    c: int,
    p: SynthParams,
) -> int:
    """Apply limit-order add ``c`` of the weight layout (near, far or in-spread)."""
    k = p.near_levels
    f = 4 * k
    if c < 2 * k:
        side = 1 if c < k else -1
        price = bk.best_nb(ist, side) - side * (c % k)
    elif c < f + 2:
        side = 1 if c == f else -1
        price = bk.best_nb(ist, side) - side * far_distance_nb(rng, p)
    else:
        side = 1 if c == f + 2 else -1
        gap = ist[bk.BA] - ist[bk.BB] - 1
        price = int(ist[bk.BB]) + 1 + int(uniform_nb(rng) * gap)
    if price < 1:
        return n
    size = lognormal_int_nb(rng, p.size_median, p.size_sigma)
    return bk.add_nb(out, n, q, ist, fst, batch, side, price, size, p.depth)


@njit_cached
def act_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    batch: NDArray[np.int64],
    c: int,
    p: SynthParams,
) -> int:
    """Dispatch event type ``c`` (layout of :func:`weights_nb`); return the row count."""
    k = p.near_levels
    f = 4 * k
    if c < 2 * k or f <= c < f + 4:
        return limit_nb(out, n, q, ist, fst, rng, batch, c, p)
    if c < f:
        side = 1 if c < 3 * k else -1
        price = bk.best_nb(ist, side) - side * (c % k)
        return cancel_at_nb(out, n, q, ist, fst, rng, batch, side, price, p)
    if c < f + 6:
        return cancel_nb(out, n, q, ist, fst, rng, batch, 1 if c == f + 4 else -1, p)
    if c == f + 6:
        return market_nb(out, n, q, ist, fst, rng, batch, next_sign_nb(ist, rng, p), p)
    if c == f + 7:
        return sweep_nb(out, n, q, ist, fst, rng, batch, next_sign_nb(ist, rng, p), p)
    side = 1 if uniform_nb(rng) < 0.5 else -1
    return hole_nb(out, n, q, ist, fst, rng, batch, side, p)


@njit_cached
def step_nb(
    out: NDArray[np.void],
    n: int,
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    scratch: NDArray[np.float64],
    batch: NDArray[np.int64],
    p: SynthParams,
) -> int:
    """Generate the next batch into ``out[n:]``; return the new row count, -1 at the end."""
    if not advance_time_nb(fst, rng, p):
        return -1
    batch_clock_nb(ist, fst, rng, batch, p)
    f = 4 * p.near_levels
    w = scratch[: f + 9]
    c = pick_nb(w, weights_nb(q, ist, fst, w, scratch[f + 9 :], p), uniform_nb(rng))
    m = act_nb(out, n, q, ist, fst, rng, batch, c, p)
    is_trade = c == f + 6 or c == f + 7
    fst[bk.EXC] += (p.alpha_trade if is_trade else p.alpha) * p.beta
    if m > n:
        out[m - 1].flags = F_LAST
        ist[bk.TS_EXCH] = batch[bk.B_EXCH]
        ist[bk.TS_RECV] = batch[bk.B_RECV]
        ist[bk.SEQ] = batch[bk.B_SEQ]
    return m


@njit_cached
def snapshot_nb(
    out: NDArray[np.void],
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    p: SynthParams,
) -> int:
    """Build the initial book (``levels`` per side, 1-tick spread) and emit its batch.

    Rows: CLEAR bid, SNAPSHOT bids, CLEAR ask, SNAPSHOT asks (``F_LAST`` on the last row).
    """
    batch = np.empty(3, dtype=np.int64)
    lat = p.lat_median_ns * math.exp(p.lat_sigma * normal_nb(rng))
    batch[bk.B_EXCH] = p.start_ns
    batch[bk.B_RECV] = p.start_ns + max(1000, round(lat / 1000.0) * 1000)
    batch[bk.B_SEQ] = 1
    ist[bk.BB] = p.bb0
    ist[bk.BA] = p.bb0 + 1
    n = 0
    for side in (1, -1):
        n = bk.emit_nb(out, n, batch, 0, 0.0, KIND_CLEAR, side)
        for i in range(p.levels):
            price = bk.best_nb(ist, side) - side * i
            size = lognormal_int_nb(rng, 1.5 * p.q_ref, 0.6)
            bk.set_level_nb(q, ist, fst, side, price, size)
            n = bk.emit_nb(out, n, batch, price, size, KIND_SNAPSHOT, side)
    out[n - 1].flags = F_LAST
    ist[bk.TS_EXCH] = batch[bk.B_EXCH]
    ist[bk.TS_RECV] = batch[bk.B_RECV]
    ist[bk.SEQ] = 1
    ist[bk.STARTED] = 1
    return n


@njit_cached
def run_nb(
    out: NDArray[np.void],
    q: NDArray[np.float64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rng: NDArray[np.uint64],
    scratch: NDArray[np.float64],
    p: SynthParams,
) -> int:
    """Fill ``out`` with whole batches; return the number of rows written.

    Stops when fewer than ``max_batch`` rows are free or the run ends (``ist[DONE] = 1``).
    """
    n = 0
    if ist[bk.STARTED] == 0:
        n = snapshot_nb(out, q, ist, fst, rng, p)
    batch = np.empty(3, dtype=np.int64)
    while n + p.max_batch <= len(out):
        m = step_nb(out, n, q, ist, fst, rng, scratch, batch, p)
        if m < 0:
            ist[bk.DONE] = 1
            break
        n = m
    return n
