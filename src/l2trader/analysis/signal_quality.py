"""Signal quality (issue 5, item 6): frequency, strength, hit rate, IC and its decay.

Definitions (C4 signals: ``score`` is the predicted forward mid return in bps, NaN = no opinion):

- **forward return** at horizon ``h`` of a signal row at ``t``: ``1e4 * (m(t + h) / m(t) - 1)``
  bps, where ``m(t)`` is the mid of the last market sample at or before ``t`` (the run's
  :class:`~l2trader.analysis.inputs.MarketSeries`, else the C7 equity grid's ``mid``); NaN when
  ``t`` is before the first sample or ``t + h`` after the last one.
- **frequency**: rows with an opinion (finite score) per hour of the run (equity grid span, else
  the signal's own span).
- **strength**: quantiles of ``|score|`` (bps) over rows with an opinion.
- **hit rate**: among rows with a nonzero score and a nonzero forward return, the fraction whose
  signs agree. Rows where the mid did not move are left out (their share is reported).
- **IC**: Spearman rank correlation (average ranks for ties, equal to ``scipy.stats.spearmanr``)
  and Pearson correlation between score and forward return, over rows where both are finite.
- **decay half-life**: ``IC(h) = IC0 * 2 ** (-h / T)`` fitted by least squares on ``ln IC``
  against ``h`` (s) over the horizons, from the one with the largest Spearman IC onward, whose
  Spearman IC is positive; ``T = -ln 2 / slope``. NaN with fewer than two such ICs or a
  non-negative slope (not decaying).

Every correlation needs at least :data:`MIN_OBS` pairs and nonzero variance, else NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.kernels import average_ranks_nb, forward_bps_nb, searchsorted_right_nb
from l2trader.errors import ConfigError
from l2trader.units import NS_PER_MILLISECOND, NS_PER_SECOND

__all__ = [
    "DEFAULT_HORIZONS_NS",
    "MIN_OBS",
    "Decay",
    "decay_half_life",
    "forward_returns_bps",
    "hit_rate",
    "horizon_label",
    "pearson_ic",
    "rank_average",
    "signal_decay",
    "signal_metrics",
    "spearman_ic",
]

DEFAULT_HORIZONS_NS: Final = (
    100 * NS_PER_MILLISECOND,
    NS_PER_SECOND,
    5 * NS_PER_SECOND,
    10 * NS_PER_SECOND,
    30 * NS_PER_SECOND,
    60 * NS_PER_SECOND,
)
"""Horizons of the IC decay curve, ns: 100 ms, 1 s, 5 s, 10 s, 30 s, 60 s."""

MIN_OBS: Final = 3
"""Fewest (score, forward return) pairs a correlation or hit rate is computed from."""

STRENGTH_QUANTILES: Final = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
"""Quantiles of ``|score|`` reported as ``signal_abs_score_bps_p<100 q>``."""

_NS_PER_HOUR: Final = 3600 * NS_PER_SECOND


@dataclass(frozen=True)
class Decay:
    """IC against horizon and the fitted half-life (the signal-decay plot's data).

    Attributes
    ----------
    horizons_ns
        int64[k], forward horizons, ns.
    ic_spearman, ic_pearson, hit_rate
        float64[k], per horizon (NaN where undefined).
    n_obs
        int64[k], (score, forward return) pairs used per horizon.
    half_life_s
        Fitted half-life of the Spearman IC, s; NaN when not decaying.
    ic0
        Fitted IC at horizon 0 (intercept of the fit); NaN when no fit.
    """

    horizons_ns: NDArray[np.int64]
    ic_spearman: NDArray[np.float64]
    ic_pearson: NDArray[np.float64]
    hit_rate: NDArray[np.float64]
    n_obs: NDArray[np.int64]
    half_life_s: float
    ic0: float


def horizon_label(horizon_ns: int) -> str:
    """Short label of a horizon for metric keys.

    Examples
    --------
    >>> horizon_label(100_000_000), horizon_label(1_000_000_000), horizon_label(1_500)
    ('100ms', '1s', '1500ns')
    """
    for unit, size in (("s", NS_PER_SECOND), ("ms", NS_PER_MILLISECOND), ("us", 1_000)):
        if horizon_ns % size == 0:
            return f"{horizon_ns // size}{unit}"
    return f"{horizon_ns}ns"


def rank_average(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks with ties given their average rank (``scipy.stats.rankdata`` 'average').

    Examples
    --------
    >>> rank_average(np.array([3.0, 1.0, 3.0, 2.0])).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    return _ranks_in_order(x, np.argsort(x))  # ties share their average: any sort will do


def _ranks_in_order(x: NDArray[np.float64], order: NDArray[np.intp]) -> NDArray[np.float64]:
    """Average ranks of ``x`` given ``order``, a permutation sorting ``x`` ascending."""
    return average_ranks_nb(np.ascontiguousarray(x), np.ascontiguousarray(order, np.int64))


def pearson_ic(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Pearson correlation over pairs where both are finite; NaN if undefined.

    Examples
    --------
    >>> pearson_ic(np.array([1.0, 2.0, 3.0, np.nan]), np.array([2.0, 4.0, 7.0, 1.0]))
    0.9933992677987828
    """
    ok = np.isfinite(x) & np.isfinite(y)
    return _pearson_pairs(x[ok], y[ok])


def _pearson_pairs(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """:func:`pearson_ic` of finite pairs (the masking already done)."""
    if x.size < MIN_OBS or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return float("nan")  # a constant series (exactly; its mean may round off it)
    dx = x - x.mean()
    dy = y - y.mean()
    denom = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    if denom == 0.0:
        return float("nan")
    return float(np.clip(np.dot(dx, dy) / denom, -1.0, 1.0))


def spearman_ic(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Spearman rank correlation (average ranks) over pairs where both are finite.

    Examples
    --------
    >>> spearman_ic(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0]))
    0.8
    """
    ok = np.isfinite(x) & np.isfinite(y)
    if np.count_nonzero(ok) < MIN_OBS:
        return float("nan")
    return pearson_ic(rank_average(x[ok]), rank_average(y[ok]))


def _horizon_ics(
    score: NDArray[np.float64], order: NDArray[np.intp], fwd: NDArray[np.float64]
) -> tuple[int, float, float, float]:
    """Pairs, Spearman IC, Pearson IC and hit rate of ``score`` vs ``fwd`` (one mask).

    ``order = argsort(score)``: the rows of it kept by the mask still sort ``score[ok]``, so
    its ranks need no new sort. Equal to :func:`spearman_ic`, :func:`pearson_ic` and
    :func:`hit_rate`.
    """
    ok = np.isfinite(score) & np.isfinite(fwd)
    n = int(np.count_nonzero(ok))
    x, y = score[ok], fwd[ok]
    spearman = float("nan")
    if n >= MIN_OBS:
        kept = order[ok[order]]  # rows kept by ok, in ascending score
        rx = _ranks_in_order(x, (np.cumsum(ok) - 1)[kept])
        spearman = _pearson_pairs(rx, rank_average(y))
    return n, spearman, _pearson_pairs(x, y), hit_rate(x, y)


def hit_rate(score: NDArray[np.float64], fwd: NDArray[np.float64]) -> float:
    """Fraction of rows whose score sign equals the forward-return sign (zeros left out).

    Examples
    --------
    >>> hit_rate(np.array([1.0, -1.0, 2.0, 0.0, 1.0]), np.array([0.5, 0.2, 1.0, 3.0, -1.0]))
    0.5
    """
    ok = np.isfinite(score) & np.isfinite(fwd) & (score != 0.0) & (fwd != 0.0)
    if np.count_nonzero(ok) < MIN_OBS:
        return float("nan")
    return float(np.mean(np.sign(score[ok]) == np.sign(fwd[ok])))


def decay_half_life(
    horizons_s: NDArray[np.float64], ic: NDArray[np.float64]
) -> tuple[float, float]:
    """Half-life (s) and intercept of ``ln IC = ln IC0 - (ln 2 / T) h``, fitted from the peak.

    The fit uses the positive ICs at horizons from the largest IC onward (``horizons_s``
    ascending): at very short horizons the mid has often not moved yet, so IC first rises.
    Returns ``(nan, nan)`` with fewer than two such ICs, and ``(nan, IC0)`` when the fitted
    slope is not negative (IC not decaying).

    Examples
    --------
    >>> t, ic0 = decay_half_life(np.array([0.1, 1.0, 2.0, 4.0]), np.array([0.1, 0.2, 0.1, 0.025]))
    >>> round(t, 12), round(ic0, 12)
    (1.0, 0.4)
    """
    finite = np.isfinite(ic) & np.isfinite(horizons_s)
    if not finite.any():
        return float("nan"), float("nan")
    peak = int(np.argmax(np.where(finite, ic, -np.inf)))
    ok = finite & (ic > 0.0) & (np.arange(ic.size) >= peak)
    h, y = horizons_s[ok], np.log(ic[ok])
    if h.size < 2 or np.ptp(h) == 0.0:
        return float("nan"), float("nan")
    dh = h - h.mean()
    slope = float(np.dot(dh, y - y.mean()) / np.dot(dh, dh))
    ic0 = float(np.exp(y.mean() - slope * h.mean()))
    if slope >= 0.0:
        return float("nan"), ic0
    return float(-np.log(2.0) / slope), ic0


def _check_horizons(horizons_ns: tuple[int, ...]) -> None:
    """Horizons must be positive ns, strictly ascending (the decay fit reads them in order)."""
    h = list(horizons_ns)
    if any(x <= 0 for x in h) or any(b <= a for a, b in pairwise(h)):
        raise ConfigError(f"horizons_ns must be positive and strictly ascending ns, got {h}")


def _mid_series(inputs: RunInputs) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Mid on a time grid: the market series if present, else the C7 equity grid."""
    if inputs.market is not None and inputs.market.ts.size:
        return inputs.market.ts, inputs.market.mid
    return inputs.equity["ts_recv"], inputs.equity["mid"]


def forward_returns_bps(
    ts: NDArray[np.int64], mid: NDArray[np.float64], t: NDArray[np.int64], horizon_ns: int
) -> NDArray[np.float64]:
    """Forward mid return (bps) from ``t`` to ``t + horizon_ns`` on an as-of mid series.

    Examples
    --------
    >>> ts = np.array([0, 10, 20], dtype=np.int64)
    >>> forward_returns_bps(ts, np.array([100.0, 101.0, 99.0]), ts, 10).tolist()
    [100.0, -198.01980198019803, nan]
    """
    out = np.full(t.shape, np.nan)
    if ts.size == 0:
        return out
    ts, mid, t = _contiguous(ts, mid, t)
    return forward_bps_nb(ts, mid, t, searchsorted_right_nb(ts, t) - 1, horizon_ns)


def _contiguous(
    ts: NDArray[np.int64], mid: NDArray[np.float64], t: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    return (
        np.ascontiguousarray(ts, dtype=np.int64),
        np.ascontiguousarray(mid, dtype=np.float64),
        np.ascontiguousarray(t, dtype=np.int64),
    )


def signal_decay(inputs: RunInputs, horizons_ns: tuple[int, ...] = DEFAULT_HORIZONS_NS) -> Decay:
    """IC (Spearman and Pearson), hit rate and pair count per horizon, plus the half-life fit.

    Raises
    ------
    ConfigError
        A horizon that is not a positive number of ns, or horizons not strictly ascending.
    """
    _check_horizons(horizons_ns)
    ts, mid = _mid_series(inputs)
    t, score = inputs.signals["ts_recv"], inputs.signals["score"]
    k = len(horizons_ns)
    ic_s, ic_p, hits = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    n_obs = np.zeros(k, dtype=np.int64)
    order = np.argsort(score)  # NaN last; reused to rank the score at every horizon
    ts, mid, t = _contiguous(ts, mid, t)
    start = searchsorted_right_nb(ts, t) - 1 if ts.size else np.zeros(0, np.int64)
    for i, h in enumerate(horizons_ns):
        fwd = forward_bps_nb(ts, mid, t, start, h) if ts.size else np.full(t.shape, np.nan)
        n_obs[i], ic_s[i], ic_p[i], hits[i] = _horizon_ics(score, order, fwd)
    h_arr = np.asarray(horizons_ns, dtype=np.int64)
    half_life, ic0 = decay_half_life(h_arr / NS_PER_SECOND, ic_s)
    return Decay(h_arr, ic_s, ic_p, hits, n_obs, half_life, ic0)


def _strength(score: NDArray[np.float64]) -> dict[str, float]:
    """Mean and quantiles of ``|score|`` (bps) over finite scores."""
    a = np.abs(score[np.isfinite(score)])
    keys = [f"signal_abs_score_bps_p{round(q * 100)}" for q in STRENGTH_QUANTILES]
    if a.size == 0:
        return dict.fromkeys(["signal_abs_score_bps_mean", *keys], float("nan"))
    out = {"signal_abs_score_bps_mean": float(a.mean())}
    out.update(zip(keys, np.quantile(a, STRENGTH_QUANTILES).tolist(), strict=True))
    return out


def _activity(inputs: RunInputs) -> dict[str, float | int]:
    """Row counts, opinion share, rows per hour and sign persistence."""
    t, score = inputs.signals["ts_recv"], inputs.signals["score"]
    finite = np.isfinite(score)
    grid = inputs.equity["ts_recv"] if inputs.equity.size >= 2 else t
    span_ns = int(grid[-1] - grid[0]) if grid.size >= 2 else 0
    sign = np.sign(score[finite & (score != 0.0)])
    return {
        "signal_rows": int(t.size),
        "signal_rows_opinion": int(np.count_nonzero(finite)),
        "signal_opinion_fraction": float(finite.mean()) if t.size else float("nan"),
        "signal_rows_per_hour": float(np.count_nonzero(finite) * _NS_PER_HOUR / span_ns)
        if span_ns > 0
        else float("nan"),
        "signal_long_fraction": float(np.mean(sign > 0)) if sign.size else float("nan"),
        "signal_sign_persistence": float(np.mean(sign[1:] == sign[:-1]))
        if sign.size >= 2
        else float("nan"),
    }


def signal_metrics(
    inputs: RunInputs,
    horizons_ns: tuple[int, ...] = DEFAULT_HORIZONS_NS,
    *,
    decay: Decay | None = None,
) -> dict[str, float | int]:
    """Flat signal-quality metrics (see the module docstring for every definition).

    Keys: ``signal_rows``, ``signal_rows_per_hour``, ``signal_abs_score_bps_p50``, ...; at the
    model's own horizon (``inputs.signal_horizon_ns``) ``signal_ic_spearman``,
    ``signal_ic_pearson``, ``signal_hit_rate``, ``signal_flat_move_fraction`` (share of scored
    rows whose mid did not move); per decay horizon ``signal_ic_spearman_<h>``,
    ``signal_ic_pearson_<h>``, ``signal_hit_rate_<h>``, ``signal_n_obs_<h>``; and
    ``signal_decay_half_life_s``, ``signal_decay_ic0``.

    ``decay``: ``signal_decay(inputs, horizons_ns)`` when the caller already has it.

    Raises
    ------
    ConfigError
        Bad ``horizons_ns`` (see :func:`signal_decay`) or a non-positive signal horizon.
    """
    if inputs.signal_horizon_ns <= 0:
        raise ConfigError(f"signal_horizon_ns must be > 0 ns, got {inputs.signal_horizon_ns}")
    out: dict[str, float | int] = {**_activity(inputs), **_strength(inputs.signals["score"])}
    ts, mid = _mid_series(inputs)
    score = inputs.signals["score"]
    fwd = forward_returns_bps(ts, mid, inputs.signals["ts_recv"], inputs.signal_horizon_ns)
    both = np.isfinite(score) & np.isfinite(fwd)
    out["signal_horizon_s"] = inputs.signal_horizon_ns / NS_PER_SECOND
    decay = signal_decay(inputs, horizons_ns) if decay is None else decay
    if inputs.signal_horizon_ns in horizons_ns:  # the same figures: take them from the decay
        i = horizons_ns.index(inputs.signal_horizon_ns)
        ic_s, ic_p, hit = decay.ic_spearman[i], decay.ic_pearson[i], decay.hit_rate[i]
    else:
        ic_s, ic_p, hit = spearman_ic(score, fwd), pearson_ic(score, fwd), hit_rate(score, fwd)
    out |= {"signal_ic_spearman": float(ic_s), "signal_ic_pearson": float(ic_p)}
    out["signal_hit_rate"] = float(hit)
    out["signal_flat_move_fraction"] = (
        float(np.mean(fwd[both] == 0.0)) if both.any() else float("nan")
    )
    for i, h in enumerate(horizons_ns):
        label = horizon_label(h)
        out[f"signal_ic_spearman_{label}"] = float(decay.ic_spearman[i])
        out[f"signal_ic_pearson_{label}"] = float(decay.ic_pearson[i])
        out[f"signal_hit_rate_{label}"] = float(decay.hit_rate[i])
        out[f"signal_n_obs_{label}"] = int(decay.n_obs[i])
    out["signal_decay_half_life_s"] = decay.half_life_s
    out["signal_decay_ic0"] = decay.ic0
    return out
