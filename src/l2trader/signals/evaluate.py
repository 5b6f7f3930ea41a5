"""Signal quality: information coefficient, hit rate, decay by horizon, turnover, stability.

Conventions: inputs are 1-d float arrays of equal length (``labels`` is ``f8[m, H]``); a
row counts only where both of its values are finite (NaN / inf rows are dropped pairwise,
per horizon); a statistic over fewer than :data:`MIN_PAIRS` valid rows (or buckets) is NaN,
and so is a correlation with a constant input. Nothing here raises for lack of data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.errors import ConfigError, InvalidValueError

__all__ = [
    "MIN_PAIRS",
    "DecayCurve",
    "EvaluationReport",
    "ICSummary",
    "evaluate_signal",
    "half_life_ns",
    "hit_rate",
    "ic_by_horizon",
    "ic_series",
    "ic_summary",
    "information_coefficient",
    "turnover",
]

MIN_PAIRS: Final = 3
"""Fewest valid rows (or buckets) a statistic needs; below it the result is NaN."""

Method = Literal["spearman", "pearson"]
F8 = NDArray[np.float64]
I8 = NDArray[np.int64]


class DecayCurve(NamedTuple):
    """IC and hit rate per label horizon (signal decay); ``n`` = valid pairs per horizon."""

    horizons_ns: I8
    ic: F8
    hit_rate: F8
    n: I8


class ICSummary(NamedTuple):
    """Stability of per-bucket ICs: mean, std (ddof=1), t-stat = mean / std * sqrt(k)."""

    mean: float
    std: float
    t_stat: float
    n_buckets: int


def _vector(values: ArrayLike, name: str) -> F8:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "fiub":
        raise InvalidValueError(
            f"{name} must be a 1-d numeric array, got {array.shape} {array.dtype}",
            source="signals.evaluate",
        )
    return array.astype(np.float64, copy=False)


def _both(score: ArrayLike, fwd_ret: ArrayLike) -> tuple[F8, F8]:
    x, y = _vector(score, "score"), _vector(fwd_ret, "fwd_ret")
    if x.shape != y.shape:
        raise InvalidValueError(
            f"score and fwd_ret lengths differ: {x.size} != {y.size}", source="signals.evaluate"
        )
    return x, y


def _pair(score: ArrayLike, fwd_ret: ArrayLike) -> tuple[F8, F8]:
    """Both arrays as f8, length-checked, restricted to rows where both are finite."""
    x, y = _both(score, fwd_ret)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _average_ranks(x: F8) -> F8:
    """1-based ranks with ties given their average rank (``scipy.stats.rankdata``)."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    new = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    dense = np.empty(x.size, dtype=np.int64)
    dense[order] = np.cumsum(new)
    bounds = np.r_[np.flatnonzero(new), x.size]
    ranks: F8 = 0.5 * (bounds[dense] + bounds[dense - 1] + 1).astype(np.float64)
    return ranks


def _pearson(x: F8, y: F8) -> float:
    if np.all(x == x[0]) or np.all(y == y[0]):  # constant input: no correlation
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return max(-1.0, min(1.0, float(dx @ dy) / denom))


def _method(method: str) -> Method:
    if method not in ("spearman", "pearson"):
        raise ConfigError(f"method must be 'spearman' or 'pearson', got {method!r}")
    return "spearman" if method == "spearman" else "pearson"


def _ic_valid(x: F8, y: F8, method: Method) -> float:
    if x.size < MIN_PAIRS:
        return math.nan
    if method == "spearman":
        return _pearson(_average_ranks(x), _average_ranks(y))
    return _pearson(x, y)


def information_coefficient(
    score: ArrayLike, fwd_ret: ArrayLike, method: Method = "spearman"
) -> float:
    """Correlation of a score with the forward return it predicts (the IC).

    ``spearman`` is the Pearson correlation of average ranks (ties share their mean rank),
    equal to ``scipy.stats.spearmanr``; ``pearson`` equals ``scipy.stats.pearsonr``.

    Examples
    --------
    >>> information_coefficient([1.0, 2.0, 3.0, np.nan], [0.1, 0.5, 0.4, 9.0])
    0.5
    >>> information_coefficient([1.0, 2.0], [1.0, 2.0])
    nan
    """
    x, y = _pair(score, fwd_ret)
    return _ic_valid(x, y, _method(method))


def _hit_valid(x: F8, y: F8) -> float:
    both = (x != 0) & (y != 0)
    count = int(both.sum())
    if count < MIN_PAIRS:
        return math.nan
    return float(np.count_nonzero(np.sign(x[both]) == np.sign(y[both]))) / count


def hit_rate(score: ArrayLike, fwd_ret: ArrayLike) -> float:
    """Fraction of rows where the score's sign equals the forward return's sign.

    Only rows where both are finite AND non-zero count: a zero score is no call and a zero
    return (common at short horizons on a tick grid) is no outcome. NaN when fewer than
    :data:`MIN_PAIRS` such rows.

    Examples
    --------
    >>> hit_rate([1.0, -1.0, 2.0, 0.0, 3.0], [0.5, 0.5, 1.0, 1.0, -2.0])  # 2 of 4 rows
    0.5
    """
    x, y = _pair(score, fwd_ret)
    return _hit_valid(x, y)


def _horizon_array(horizons_ns: ArrayLike, count: int) -> I8:
    h = np.asarray(horizons_ns)
    if h.ndim != 1 or h.size != count or count < 1 or h.dtype.kind not in "iu":
        raise ConfigError(f"horizons_ns must be {count} (>= 1) integers, ns, got {h.tolist()}")
    if np.any(h <= 0) or np.any(np.diff(h) <= 0):
        raise ConfigError(f"horizons_ns must be > 0 and strictly increasing, got {h.tolist()}")
    return h.astype(np.int64)


def ic_by_horizon(
    score: ArrayLike, labels: ArrayLike, horizons_ns: ArrayLike, method: Method = "spearman"
) -> DecayCurve:
    """IC and hit rate of ``score`` against each label column (the signal decay curve).

    ``labels`` is ``f8[m, H]``: column ``j`` is the forward return over ``horizons_ns[j]``
    (ns, ``H >= 1`` horizons, > 0 and strictly increasing).

    Examples
    --------
    >>> labels = np.array([[1.0, -1.0], [2.0, -2.0], [3.0, 0.5], [4.0, 0.0]])
    >>> curve = ic_by_horizon([1.0, 2.0, 3.0, 4.0], labels, [1_000, 2_000])
    >>> curve.ic.tolist(), curve.n.tolist()
    ([1.0, 0.6], [4, 4])
    """
    x = _vector(score, "score")
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] != x.size:
        raise InvalidValueError(
            f"labels must be f8[{x.size}, H], got shape {y.shape}", source="signals.evaluate"
        )
    h, how = _horizon_array(horizons_ns, y.shape[1]), _method(method)
    ic, hits, n = np.empty(h.size), np.empty(h.size), np.empty(h.size, dtype=np.int64)
    for j in range(h.size):
        xs, ys = _pair(x, y[:, j])
        ic[j], hits[j], n[j] = _ic_valid(xs, ys, how), _hit_valid(xs, ys), xs.size
    return DecayCurve(h, ic, hits, n)


def half_life_ns(curve: DecayCurve) -> float:
    """Horizon (ns) at which the IC has decayed to half of its peak.

    The peak is the largest ``|IC|``; after it, ICs are taken in the peak's direction
    (``a = sign(peak) * IC``, so a sign flip counts as decay). The result is the horizon
    where ``a`` first reaches ``|peak| / 2``, interpolated between the bracketing horizons
    linearly in ``log a`` (exact for an exponential decay), or linearly in ``a`` when the
    later bracket is <= 0. It is an absolute horizon: subtract the peak's horizon for the
    decay time. NaN horizons are skipped; NaN when no IC is valid, the peak is 0, or the
    IC never halves within the measured horizons.

    Examples
    --------
    >>> h = np.array([1, 2, 3, 4]) * 1_000_000_000
    >>> curve = DecayCurve(h, np.array([0.4, 0.3, 0.1, 0.05]), np.full(4, np.nan), np.ones(4))
    >>> half_life_ns(curve) / 1e9  # log-linear between 0.3 @ 2 s and 0.1 @ 3 s
    2.3690702464285427
    """
    h = np.asarray(curve.horizons_ns, dtype=np.float64)
    ic = np.asarray(curve.ic, dtype=np.float64)
    valid = np.flatnonzero(np.isfinite(ic))
    if valid.size == 0 or not np.abs(ic[valid]).max() > 0:
        return math.nan
    prev = int(valid[np.argmax(np.abs(ic[valid]))])
    aligned = np.sign(ic[prev]) * ic
    half = float(aligned[prev]) / 2.0
    for j in valid[valid > prev]:
        a0, a1 = float(aligned[prev]), float(aligned[j])
        if a1 <= half:  # bracketed: log-linear if a1 > 0, else linear
            frac = math.log(half / a0) / math.log(a1 / a0) if a1 > 0 else (a0 - half) / (a0 - a1)
            return float(h[prev] + frac * (h[j] - h[prev]))
        prev = int(j)
    return math.nan


def turnover(score: ArrayLike, *, scale: float | None = None) -> float:
    """Mean absolute change of the position the score implies, per row.

    The position is ``sign(score)`` (``scale=None``: -1, 0 or +1, so a full reversal counts
    2) or ``clip(score / scale, -1, 1)`` (a score of ``scale``, e.g. bps, is a full
    position). NaN scores are "no opinion", i.e. a flat position, not dropped rows. The
    result is ``mean(|pos[i] - pos[i-1]|)`` over ``i = 1..m-1``; NaN when ``m < 2``.

    Examples
    --------
    >>> turnover([1.0, 1.0, -1.0, np.nan, 2.0])
    1.0
    >>> turnover([0.0, 5.0, 10.0, -10.0], scale=10.0)  # (0.5 + 0.5 + 2) / 3
    1.0
    """
    if scale is not None and not scale > 0:
        raise ConfigError(f"scale must be > 0, got {scale}")
    x = np.nan_to_num(_vector(score, "score"), nan=0.0, posinf=np.inf, neginf=-np.inf)
    if x.size < 2:
        return math.nan
    position = np.sign(x) if scale is None else np.clip(x / scale, -1.0, 1.0)
    return float(np.mean(np.abs(np.diff(position))))


def _sorted_ts(ts: ArrayLike, count: int) -> I8:
    t = np.asarray(ts)
    if t.ndim != 1 or t.size != count or t.dtype.kind not in "iu" or np.any(np.diff(t) < 0):
        raise InvalidValueError(
            f"ts must be {count} non-decreasing integers (ns), got {t.shape} {t.dtype}",
            source="ic_series",
        )
    return t.astype(np.int64, copy=False)


def ic_series(
    ts: ArrayLike,
    score: ArrayLike,
    fwd_ret: ArrayLike,
    bucket_ns: int,
    method: Method = "spearman",
) -> tuple[I8, F8]:
    """IC within each time bucket (e.g. each minute): ``(bucket_start_ns, ic)``.

    Buckets are epoch-aligned, ``[b, b + bucket_ns)`` with ``b = floor(ts / bucket_ns) *
    bucket_ns`` (ns); only buckets holding at least one row are returned. A bucket with
    fewer than :data:`MIN_PAIRS` valid pairs has IC NaN. ``ts`` must be non-decreasing.

    Examples
    --------
    >>> start, ic = ic_series([0, 1, 2, 10, 11, 12], [1.0, 2, 3, 1, 2, 3], [1.0, 2, 3, 3, 2, 1], 10)
    >>> start.tolist(), ic.tolist()
    ([0, 10], [1.0, -1.0])
    """
    if bucket_ns <= 0:
        raise ConfigError(f"bucket_ns must be > 0 ns, got {bucket_ns}")
    x, y = _both(score, fwd_ret)
    t, how = _sorted_ts(ts, x.size), _method(method)
    key = t // np.int64(bucket_ns)
    first = np.flatnonzero(np.diff(key, prepend=key[:1] - 1))
    bounds = np.r_[first, t.size]
    ic = np.full(first.size, np.nan)
    for b in range(first.size):
        lo, hi = bounds[b], bounds[b + 1]
        ic[b] = _ic_valid(*_pair(x[lo:hi], y[lo:hi]), how)
    return key[first] * np.int64(bucket_ns), ic


def ic_summary(ic: ArrayLike) -> ICSummary:
    """Mean, std (ddof=1) and t-stat ``mean / std * sqrt(k)`` of the finite bucket ICs.

    Everything is NaN below :data:`MIN_PAIRS` finite buckets; ``t_stat`` is NaN if std is 0.

    Examples
    --------
    >>> ic_summary([0.25, 0.75, np.nan, 0.5])
    ICSummary(mean=0.5, std=0.25, t_stat=3.4641016151377544, n_buckets=3)
    """
    values = _vector(ic, "ic")
    values = values[np.isfinite(values)]
    k = int(values.size)
    if k < MIN_PAIRS:
        return ICSummary(math.nan, math.nan, math.nan, k)
    mean, std = float(values.mean()), float((values - values[0]).std(ddof=1))  # exact 0 if flat
    t_stat = mean / std * math.sqrt(k) if std > 0 else math.nan
    return ICSummary(mean, std, t_stat, k)


def _json(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class EvaluationReport:
    """Everything :func:`evaluate_signal` measures; ``to_dict`` gives a JSON-safe form."""

    n_rows: int  # rows evaluated (m)
    n_scored: int  # rows with a finite score
    decay: DecayCurve  # IC, hit rate and valid pairs per horizon
    half_life_ns: float  # half_life_ns(decay), ns; NaN if the IC never halves
    turnover: float  # turnover(score): sign-position change per row
    bucket_ns: int  # bucket length of the IC stability series, ns
    bucket_start_ns: I8  # start of each non-empty bucket, ns, i8[k]
    bucket_ic: F8  # IC per bucket and horizon, f8[k, H]
    stability: tuple[ICSummary, ...]  # ic_summary of each column of bucket_ic

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict: plain Python numbers and lists, NaN/inf as None."""
        horizons = [
            {"horizon_ns": int(h), "ic": _json(ic), "hit_rate": _json(hit), "n": int(n)}
            | {"ic_mean": _json(s.mean), "ic_std": _json(s.std), "ic_t_stat": _json(s.t_stat)}
            | {"n_buckets": s.n_buckets}
            for h, ic, hit, n, s in zip(*self.decay, self.stability, strict=True)
        ]
        return {
            "n_rows": self.n_rows,
            "n_scored": self.n_scored,
            "half_life_ns": _json(self.half_life_ns),
            "turnover": _json(self.turnover),
            "bucket_ns": self.bucket_ns,
            "horizons": horizons,
            "bucket_start_ns": [int(b) for b in self.bucket_start_ns],
            "bucket_ic": [[_json(v) for v in row] for row in self.bucket_ic.tolist()],
        }


def evaluate_signal(
    ts: ArrayLike,
    score: ArrayLike,
    labels: ArrayLike,
    horizons_ns: ArrayLike,
    bucket_ns: int,
    method: Method = "spearman",
) -> EvaluationReport:
    """Evaluate a signal against forward-return labels at several horizons.

    ``ts`` are the row times (ns, non-decreasing), ``score`` the signal ``f8[m]`` (e.g. C4
    ``score``, bps, NaN = no opinion), ``labels`` the forward returns ``f8[m, H]`` (e.g. the
    C3 ``label_fwd_ret_bps_<h>`` columns) over ``horizons_ns`` (ns, strictly increasing) and
    ``bucket_ns`` the bucket length of the IC stability series (ns, e.g. 60 s).

    Examples
    --------
    >>> ts = np.arange(6, dtype=np.int64)
    >>> labels = np.array([[1.0], [2.0], [3.0], [3.0], [2.0], [1.0]])
    >>> report = evaluate_signal(ts, [1.0, 2, 3, 1, 2, 3], labels, [5], bucket_ns=3)
    >>> report.decay.ic.tolist(), report.bucket_ic[:, 0].tolist(), report.turnover
    ([0.0], [1.0, -1.0], 0.0)
    """
    x = _vector(score, "score")
    curve = ic_by_horizon(x, labels, horizons_ns, method)
    y = np.asarray(labels, dtype=np.float64)
    series = [ic_series(ts, x, y[:, j], bucket_ns, method) for j in range(y.shape[1])]
    return EvaluationReport(
        n_rows=int(x.size),
        n_scored=int(np.count_nonzero(np.isfinite(x))),
        decay=curve,
        half_life_ns=half_life_ns(curve),
        turnover=turnover(x),
        bucket_ns=int(bucket_ns),
        bucket_start_ns=series[0][0],
        bucket_ic=np.column_stack([ic for _, ic in series]),
        stability=tuple(ic_summary(ic) for _, ic in series),
    )
