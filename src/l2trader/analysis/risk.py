"""Risk metrics: VaR/CVaR (3 methods), tail ratio, moments, worst periods, exposure, drawdowns.

VaR and CVaR are *return quantiles*: negative numbers are losses, as in empyrical and
quantstats. ``a = 1 - level`` is the tail probability, ``z = Phi^-1(a)``, ``phi`` the normal
density, ``mu = mean(r)``, ``sd = std(r, ddof=1)``, ``S`` and ``K`` the sample skewness and
excess kurtosis (biased moment estimators, as ``scipy.stats.skew/kurtosis``).

Formulas (one line each):

- historical VaR ``= percentile(r, 100 a)`` (linear interpolation) =
  ``empyrical.value_at_risk(r, a)``.
- historical CVaR (empyrical convention) ``= mean of the floor((n - 1) a) + 1 smallest r`` =
  ``empyrical.conditional_value_at_risk(r, a)``; quantstats convention ``= mean(r[r <=
  historical VaR])`` = ``quantstats.stats.cvar(method="historical")``; they differ on ties.
- normal VaR ``= mu + sd z`` = ``quantstats.stats.value_at_risk``; normal CVaR ``= mu - sd
  phi(z) / a`` = ``quantstats.stats.cvar(method="parametric")``.
- Cornish-Fisher VaR ``= mu + sd z_cf``, ``z_cf = z + (z^2-1) S/6 + (z^3-3z) K/24 -
  (2z^3-5z) S^2/36`` (Favre & Galeano 2002; PerformanceAnalytics ``VaR(method="modified")``).
- Cornish-Fisher CVaR ``= mu + sd phi(z)/a [-1 - z S/6 + (1-z^2) K/24 - (1-2z^2) S^2/36]``:
  the exact tail mean ``(1/a) int_0^a q_cf(u) du`` of the Cornish-Fisher quantile function
  (not Boudt et al.'s Edgeworth "modified ES"). Both are meaningful only while ``q_cf`` is
  increasing (``cornish_fisher_valid``; fails for heavy tails, e.g. excess kurtosis > ~8).
- ``tail_ratio = |percentile(r, 95)| / |percentile(r, 5)|`` = ``empyrical.tail_ratio`` =
  ``quantstats.stats.tail_ratio``; NaN when the 5th percentile is 0 (quantstats; empyrical inf).
- ``skew = m3 / m2^1.5``, ``kurtosis = m4 / m2^2 - 3`` (central moments ``m_k``); the
  ``_unbiased`` variants are pandas' (= quantstats' ``skew``/``kurtosis``).
- Exposure on the grid: ``exposure_time_frac = mean(position != 0)``, ``leverage_max =
  max |position * mid| / capital``.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.analysis.drawdowns import drawdown_metrics, max_drawdown
from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.returns import clean_returns, column, grid_returns
from l2trader.errors import ConfigError

__all__ = [
    "RISK_LEVELS",
    "RISK_METHODS",
    "conditional_value_at_risk",
    "cornish_fisher_valid",
    "excess_kurtosis",
    "exposure_metrics",
    "risk_metrics",
    "skewness",
    "tail_ratio",
    "value_at_risk",
]

Method = Literal["historical", "normal", "cornish_fisher"]
RISK_METHODS: Final[tuple[Method, ...]] = ("historical", "normal", "cornish_fisher")
RISK_LEVELS: Final = (0.95, 0.99)
_NAN: Final = float("nan")
_NS_PER_DAY: Final = 86_400_000_000_000


def _tail(level: float, method: str) -> float:
    """Tail probability ``1 - level`` after validating ``level`` and ``method``."""
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    if method not in RISK_METHODS:
        raise ConfigError(f"method must be one of {RISK_METHODS}, got {method!r}")
    return 1.0 - level


def _central(r: NDArray[np.float64]) -> tuple[int, float, float, float, float]:
    """``n``, ``sum(d^2)``, and the biased central moments ``m2, m3, m4`` (``d = r - mean``).

    ``d * d`` is formed once and reused for ``d^3`` and ``d^4`` (10M returns: one pass each
    instead of numpy's generic ``power``).
    """
    n = r.size
    if n == 0:
        return 0, 0.0, 0.0, 0.0, 0.0
    d = r - np.mean(r)
    d2 = d * d
    ss = float(np.sum(d2))
    return n, ss, ss / n, float(np.mean(d2 * d)), float(np.mean(d2 * d2))


def _skew_from(n: int, m2: float, m3: float, bias: bool) -> float:
    if n < (2 if bias else 3) or m2 == 0.0:
        return _NAN
    g1 = m3 / math.pow(m2, 1.5)
    return g1 if bias else g1 * math.sqrt(n * (n - 1)) / (n - 2)


def _kurt_from(n: int, m2: float, m4: float, bias: bool) -> float:
    if n < (2 if bias else 4) or m2 == 0.0:
        return _NAN
    g2 = m4 / m2**2 - 3.0
    return g2 if bias else ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))


def skewness(returns: ArrayLike, *, bias: bool = True) -> float:
    """Sample skewness ``m3 / m2^1.5``; ``bias=False`` gives pandas' adjusted estimator.

    Examples
    --------
    >>> round(skewness([1.0, 2.0, 10.0]), 12)
    0.674555484546
    """
    n, _, m2, m3, _ = _central(clean_returns(returns))
    return _skew_from(n, m2, m3, bias)


def excess_kurtosis(returns: ArrayLike, *, bias: bool = True) -> float:
    """Sample excess kurtosis ``m4 / m2^2 - 3``; ``bias=False`` gives pandas' estimator.

    Examples
    --------
    >>> excess_kurtosis([1.0, -1.0, 1.0, -1.0])
    -2.0
    """
    n, _, m2, _, m4 = _central(clean_returns(returns))
    return _kurt_from(n, m2, m4, bias)


def _moments(r: NDArray[np.float64]) -> tuple[float, float, float, float]:
    """``mu``, ``sd`` (ddof 1), biased skewness and excess kurtosis (0 when undefined)."""
    n, ss, m2, m3, m4 = _central(r)
    s, k = _skew_from(n, m2, m3, True), _kurt_from(n, m2, m4, True)
    sd = math.sqrt(ss / (n - 1)) if n > 1 else _NAN  # = np.std(r, ddof=1), same operations
    return float(np.mean(r)), sd, s if math.isfinite(s) else 0.0, k if math.isfinite(k) else 0.0


def cornish_fisher_valid(skew: float, kurtosis: float) -> bool:
    """Whether the Cornish-Fisher transform is increasing for every ``z`` (a valid quantile).

    ``g'(z) = a z^2 + b z + c`` with ``a = K/8 - S^2/6``, ``b = S/3``, ``c = 1 - K/8 + 5 S^2/36``
    must stay positive (Maillard 2012's domain of validity).

    Examples
    --------
    >>> [cornish_fisher_valid(0.0, k) for k in (0.0, 4.0, 50.0)]
    [True, True, False]
    """
    a = kurtosis / 8 - skew**2 / 6
    b = skew / 3
    c = 1 - kurtosis / 8 + 5 * skew**2 / 36
    if a == 0.0:
        return b == 0.0 and c > 0.0
    return a > 0.0 and b * b < 4 * a * c


def value_at_risk(returns: ArrayLike, level: float = 0.95, method: Method = "historical") -> float:
    """Value at risk at confidence ``level`` as a return quantile (< 0 = loss).

    ``method``: ``"historical"``, ``"normal"`` or ``"cornish_fisher"`` (module docstring).
    NaN for < 2 returns.

    Examples
    --------
    >>> round(value_at_risk([-0.02, -0.01, 0.0, 0.01, 0.02], 0.75), 12)
    -0.01
    """
    a = _tail(level, method)
    r = clean_returns(returns)
    if r.size < 2:
        return _NAN
    if method == "historical":
        return float(np.percentile(r, 100.0 * a))
    return _parametric_var(_moments(r), a, method)


def _parametric_var(moments: tuple[float, float, float, float], a: float, method: str) -> float:
    """Normal or Cornish-Fisher VaR from ``(mu, sd, skew, kurtosis)`` at tail ``a``."""
    mu, sd, s, k = moments
    z = NormalDist().inv_cdf(a)
    if method == "normal":
        return mu + sd * z
    z_cf = z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36
    return mu + sd * z_cf


def conditional_value_at_risk(
    returns: ArrayLike,
    level: float = 0.95,
    method: Method = "historical",
    *,
    convention: Literal["empyrical", "quantstats"] = "empyrical",
) -> float:
    """Expected return in the worst ``1 - level`` tail (CVaR, expected shortfall; < 0 = loss).

    ``convention`` selects the historical tail (module docstring); NaN for < 2 returns.

    Examples
    --------
    >>> conditional_value_at_risk([-0.04, -0.02, 0.0, 0.01, 0.02], 0.5)
    -0.02
    """
    a = _tail(level, method)
    if convention not in ("empyrical", "quantstats"):
        raise ConfigError(f"convention must be 'empyrical' or 'quantstats', got {convention!r}")
    r = clean_returns(returns)
    if r.size < 2:
        return _NAN
    if method == "historical":
        if convention == "quantstats":
            return float(np.mean(r[r <= np.percentile(r, 100.0 * a)]))
        k = int((r.size - 1) * a)
        return float(np.mean(np.partition(r, k)[: k + 1]))
    return _parametric_cvar(_moments(r), a, method)


def _parametric_cvar(moments: tuple[float, float, float, float], a: float, method: str) -> float:
    """Normal or Cornish-Fisher CVaR from ``(mu, sd, skew, kurtosis)`` at tail ``a``."""
    mu, sd, s, kurt = moments
    z = NormalDist().inv_cdf(a)
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    if method == "normal":
        return mu - sd * density / a
    bracket = -1 - z * s / 6 + (1 - z**2) * kurt / 24 - (1 - 2 * z**2) * s**2 / 36
    return mu + sd * density / a * bracket


def percentile_sorted(s: NDArray[np.float64], pct: float) -> float:
    """``np.percentile(s, pct)`` (linear) of an ascending NaN-free ``s``, without a partition.

    The same float operations as numpy's ``_quantile``/``_lerp``, so the same value.

    Examples
    --------
    >>> percentile_sorted(np.array([1.0, 2.0, 4.0]), 75.0)
    3.0
    """
    n = s.size
    q = pct / 100.0
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return float(s[-1])
    prev = 0.0 if virtual < 0 else math.floor(virtual)
    a, b = float(s[int(prev)]), float(s[int(prev) + 1])
    t = virtual - prev
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def tail_ratio(returns: ArrayLike) -> float:
    """``|95th percentile| / |5th percentile|`` of the returns; NaN if empty or 5th is 0.

    Examples
    --------
    >>> round(tail_ratio(np.arange(-10.0, 21.0)), 12)
    2.176470588235
    """
    r = clean_returns(returns)
    if r.size == 0:
        return _NAN
    low = abs(float(np.percentile(r, 5.0)))
    return abs(float(np.percentile(r, 95.0))) / low if low > 0.0 else _NAN


def exposure_metrics(equity: NDArray[np.void], capital: float) -> dict[str, float]:
    """Position (base units) and notional (quote) statistics over the C7 grid samples.

    Examples
    --------
    >>> from l2trader.schema import STATE_DTYPE
    >>> eq = np.zeros(4, STATE_DTYPE)
    >>> eq["position"] = [0.0, 2.0, -1.0, 0.0]
    >>> eq["mid"] = 10.0
    >>> m = exposure_metrics(eq, 100.0)
    >>> m["exposure_time_frac"], m["position_abs_max"], m["leverage_max"]
    (0.5, 2.0, 0.2)
    """
    keys = ("exposure_time_frac", "position_mean", "position_abs_mean", "position_std",
            "position_long_max", "position_short_max", "position_abs_max",
            "notional_abs_mean", "notional_abs_max", "leverage_max")  # fmt: skip
    pos = column(equity, "position")
    if pos.size == 0:
        return dict.fromkeys(keys, _NAN)
    notional = np.abs(np.where(pos == 0.0, 0.0, pos * column(equity, "mid")))
    values = (
        float(np.mean(pos != 0.0)),
        float(np.mean(pos)),
        float(np.mean(np.abs(pos))),
        float(np.std(pos)),
        float(max(np.max(pos), 0.0)),
        float(min(np.min(pos), 0.0)),
        float(np.max(np.abs(pos))),
        float(np.mean(notional)),
        float(np.max(notional)),
        float(np.max(notional)) / capital,
    )
    return dict(zip(keys, values, strict=True))


def _tail_metrics(r: NDArray[np.float64]) -> dict[str, float | int]:
    """VaR and CVaR for every level and method, quantstats' historical CVaR, tail ratio.

    One sort and one moment pass serve every figure (10M returns: ~0.3 s instead of one
    partition per percentile and one moment pass per parametric figure). The CVaR means sum
    the same values in sorted order (may differ from a partition's order in the last bit).
    """
    out: dict[str, float | int] = {}
    if r.size < 2:
        for level in RISK_LEVELS:
            pct = round(level * 100)
            for method in RISK_METHODS:
                out[f"var_{pct}_{method}"] = out[f"cvar_{pct}_{method}"] = _NAN
            out[f"cvar_{pct}_historical_quantstats"] = _NAN
        out["tail_ratio"] = tail_ratio(r)
        return out
    s, moments = np.sort(r), _moments(r)
    for level in RISK_LEVELS:
        pct, a = round(level * 100), _tail(level, "historical")
        var = percentile_sorted(s, 100.0 * a)
        out[f"var_{pct}_historical"] = var
        out[f"cvar_{pct}_historical"] = float(np.mean(s[: int((r.size - 1) * a) + 1]))
        for method in RISK_METHODS[1:]:
            out[f"var_{pct}_{method}"] = _parametric_var(moments, a, method)
            out[f"cvar_{pct}_{method}"] = _parametric_cvar(moments, a, method)
        tail = s[: int(np.searchsorted(s, var, side="right"))]
        out[f"cvar_{pct}_historical_quantstats"] = float(np.mean(tail))
    low = abs(percentile_sorted(s, 5.0))
    out["tail_ratio"] = abs(percentile_sorted(s, 95.0)) / low if low > 0.0 else _NAN
    return out


def _worst(ts: NDArray[np.int64], r: NDArray[np.float64]) -> dict[str, float | int]:
    """Worst and best period and UTC-day returns (a day sums its periods' returns)."""
    if r.size == 0:
        return {"worst_return": _NAN, "worst_return_ts": -1, "best_return": _NAN,
                "worst_day_return": _NAN, "best_day_return": _NAN, "n_days": 0}  # fmt: skip
    day = ts // _NS_PER_DAY  # ts ascending: a new day starts where the day number changes
    day_index = np.concatenate(([0], np.cumsum(day[1:] != day[:-1])))
    days = np.bincount(day_index, weights=r)
    k = int(np.argmin(r))
    return {
        "worst_return": float(r[k]),
        "worst_return_ts": int(ts[k]),
        "best_return": float(np.max(r)),
        "worst_day_return": float(np.min(days)),
        "best_day_return": float(np.max(days)),
        "n_days": int(days.size),
    }


def risk_metrics(inputs: RunInputs) -> dict[str, float | int]:
    """Risk section of the report (formulas in the module docstring).

    Keys: ``max_drawdown`` (fraction of capital), ``max_drawdown_quote``,
    ``max_drawdown_duration_s``, ``max_drawdown_compounded`` (empyrical's; the full drawdown
    summary is ``drawdowns.drawdown_metrics``),
    ``var_<95|99>_<method>``, ``cvar_<95|99>_<method>``, ``cvar_<95|99>_historical_quantstats``,
    ``cornish_fisher_valid`` (1 if the Cornish-Fisher quantile is monotone for these moments),
    ``tail_ratio``, ``skew``, ``kurtosis`` (excess) and their ``_unbiased`` variants, worst
    periods and exposure (``exposure_metrics``).
    """
    ts, r = grid_returns(inputs.equity, inputs.capital)
    eq = inputs.equity
    dd = drawdown_metrics(column(eq, "ts_recv"), column(eq, "equity"), inputs.capital)
    tail = _tail_metrics(r)
    n, _, m2, m3, m4 = _central(r)
    skew, kurt = _skew_from(n, m2, m3, True), _kurt_from(n, m2, m4, True)
    finite = (s if math.isfinite(s) else 0.0 for s in (skew, kurt))
    return {
        **{k: dd[k] for k in ("max_drawdown", "max_drawdown_quote", "max_drawdown_duration_s")},
        "max_drawdown_compounded": max_drawdown(r, compounded=True),
        **{k: v for k, v in tail.items() if k != "tail_ratio"},
        "cornish_fisher_valid": int(cornish_fisher_valid(*finite)) if r.size > 1 else 0,
        "tail_ratio": tail["tail_ratio"],
        "skew": skew,
        "kurtosis": kurt,
        "skew_unbiased": _skew_from(n, m2, m3, False),
        "kurtosis_unbiased": _kurt_from(n, m2, m4, False),
        **_worst(ts, r),
        **exposure_metrics(eq, inputs.capital),
    }
