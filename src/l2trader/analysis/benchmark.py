"""Benchmark: the strategy against holding the instrument (mid buy-and-hold), alpha and beta.

The benchmark buys, at the first grid mid, the largest absolute notional the strategy ever
held, ``N = max_t |position_t * mid_t|`` (quote), and holds it: ``q = N / mid_0`` base units,
``rb_t = q * (mid_t - mid_{t-1}) / capital`` -- simple returns on the same grid and capital as
the strategy's (``returns.py``), so both are in the same units. A run that never holds a
position has ``N = 0``: the benchmark is flat and beta, alpha and correlation are NaN.

Formulas (one line each; pairs with a NaN on either side are dropped, ``std`` has ddof 1):

- ``beta = mean((rb - mean rb) r) / mean((rb - mean rb)^2)`` (NaN if the variance < 1e-30) =
  ``empyrical.beta`` = quantstats ``greeks()['beta']``.
- ``alpha = mean(r - rf - beta (rb - rf)) * ppy`` (additive; quantstats ``greeks()['alpha']``
  for rf = 0); ``compounded=True``: ``(1 + mean(...)) ** ppy - 1`` = ``empyrical.alpha``.
- ``correlation`` = Pearson correlation of ``r`` and ``rb``.
- ``information_ratio = mean(r - rb) / std(r - rb)`` per period (not annualized) =
  ``empyrical.excess_sharpe`` = ``quantstats.stats.information_ratio``;
  ``information_ratio_annualized`` multiplies it by ``sqrt(ppy)``.
- ``tracking_error = std(r - rb) * sqrt(ppy)``.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.analysis.drawdowns import max_drawdown
from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.performance import annual_return, sharpe, total_return
from l2trader.analysis.returns import (
    column,
    grid_returns,
    grid_step_ns,
    has_no_nan,
    memoised,
    periods_per_year,
)
from l2trader.errors import InvalidValueError

__all__ = [
    "alpha",
    "benchmark_metrics",
    "benchmark_returns",
    "beta",
    "correlation",
    "information_ratio",
    "tracking_error",
]

_NAN: Final = float("nan")
_MIN_VARIANCE: Final = 1e-30
"""Benchmark variances below this give a NaN beta (empyrical's threshold)."""


def _paired(
    returns: ArrayLike, benchmark: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both series as float64 with the pairs holding a NaN dropped."""
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if r.ndim != 1 or r.shape != b.shape:
        raise InvalidValueError(
            f"returns {r.shape} and benchmark {b.shape} must be 1-D of one length",
            source="returns",
        )
    if has_no_nan(r) and has_no_nan(b):  # nothing to drop
        return r, b
    ok = ~(np.isnan(r) | np.isnan(b))
    return r[ok], b[ok]


def beta(returns: ArrayLike, benchmark: ArrayLike) -> float:
    """Regression slope of ``returns`` on ``benchmark`` (per-period returns).

    Examples
    --------
    >>> beta([0.02, -0.02, 0.04], [0.01, -0.01, 0.02])
    2.0
    """
    r, b = _paired(returns, benchmark)
    if r.flags.writeable:  # not a memoised series: do not keep temporaries alive
        return _beta(r, b)
    return memoised("beta", r, lambda: _beta(r, b), b)  # alpha and beta share it


def _beta(r: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    if r.size < 2:
        return _NAN
    centred = b - np.mean(b)
    variance = float(np.mean(centred**2))
    return float(np.mean(centred * r)) / variance if variance >= _MIN_VARIANCE else _NAN


def alpha(
    returns: ArrayLike,
    benchmark: ArrayLike,
    periods_per_year: float,
    *,
    risk_free: float = 0.0,
    compounded: bool = False,
) -> float:
    """Annualized return not explained by ``beta * benchmark`` (``risk_free`` per period).

    Examples
    --------
    >>> round(alpha([0.03, -0.01, 0.05], [0.01, -0.01, 0.02], 12), 12)
    0.12
    """
    r, b = _paired(returns, benchmark)
    slope = beta(r, b)
    if not math.isfinite(slope):
        return _NAN
    excess = float(np.mean((r - risk_free) - slope * (b - risk_free)))
    if not compounded:
        return excess * periods_per_year
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.float64(1.0 + excess) ** periods_per_year - 1.0)


def correlation(returns: ArrayLike, benchmark: ArrayLike) -> float:
    """Pearson correlation of the two return series; NaN if either is constant.

    Examples
    --------
    >>> round(correlation([0.02, -0.02, 0.04], [0.01, -0.01, 0.02]), 12)
    1.0
    """
    r, b = _paired(returns, benchmark)
    if r.size < 2 or np.ptp(r) == 0.0 or np.ptp(b) == 0.0:
        return _NAN
    return float(np.clip(np.corrcoef(r, b)[0, 1], -1.0, 1.0))


def information_ratio(returns: ArrayLike, benchmark: ArrayLike) -> float:
    """Mean active return over its standard deviation, per period (not annualized).

    Examples
    --------
    >>> round(information_ratio([0.02, 0.01, 0.03], [0.01, -0.01, 0.02]), 12)
    2.309401076759
    """
    r, b = _paired(returns, benchmark)
    active = r - b
    if active.size < 2 or np.ptp(active) == 0.0:
        return _NAN
    return float(np.mean(active) / np.std(active, ddof=1))


def tracking_error(returns: ArrayLike, benchmark: ArrayLike, periods_per_year: float) -> float:
    """Annualized standard deviation of the active return ``r - rb``.

    Examples
    --------
    >>> round(tracking_error([0.02, 0.01, 0.03], [0.01, -0.01, 0.02], 4), 12)
    0.011547005384
    """
    r, b = _paired(returns, benchmark)
    if r.size < 2:
        return _NAN
    return float(np.std(r - b, ddof=1) * math.sqrt(periods_per_year))


def benchmark_returns(
    equity: NDArray[np.void], capital: float
) -> tuple[NDArray[np.float64], float]:
    """Returns of the mid buy-and-hold of the max-exposure notional, and that notional (quote).

    Examples
    --------
    >>> from l2trader.schema import STATE_DTYPE
    >>> eq = np.zeros(3, STATE_DTYPE)
    >>> eq["ts_recv"] = [0, 1, 2]
    >>> eq["mid"] = [100.0, 110.0, 99.0]
    >>> eq["position"] = [0.0, -2.0, 0.0]  # max |notional| = 220 -> hold 2.2 units
    >>> rb, notional = benchmark_returns(eq, 1_000.0)
    >>> [round(float(x), 12) for x in rb], notional
    ([0.022, -0.0242], 220.0)
    """
    grid_returns(equity, capital)  # validates the grid and capital
    mid = column(equity, "mid")
    pos = column(equity, "position")
    held = np.where(pos == 0.0, 0.0, np.abs(pos * mid))
    notional = float(np.nanmax(held)) if held.size and not np.all(np.isnan(held)) else 0.0
    finite = np.flatnonzero(np.isfinite(mid))
    if mid.size < 2 or finite.size == 0 or notional == 0.0:
        return np.zeros(max(mid.size - 1, 0)), notional
    units = notional / float(mid[finite[0]])
    return units * np.diff(mid) / capital, notional


def benchmark_metrics(inputs: RunInputs) -> dict[str, float | int]:
    """Benchmark section of the report (formulas in the module docstring)."""
    eq = inputs.equity
    _, r = grid_returns(eq, inputs.capital)
    rb, notional = benchmark_returns(eq, inputs.capital)
    ppy = _NAN
    if r.size:
        step = grid_step_ns(column(eq, "ts_recv"))
        ppy = periods_per_year(step, inputs.calendar, inputs.session_s)
    ir = information_ratio(r, rb)
    return {
        "benchmark_notional": notional,
        "benchmark_total_return": total_return(rb),
        "benchmark_annual_return": annual_return(rb, ppy),
        "benchmark_sharpe": sharpe(rb, ppy),
        "benchmark_max_drawdown": max_drawdown(rb),
        "excess_total_return": total_return(r) - total_return(rb),
        "alpha": alpha(r, rb, ppy),
        "alpha_compounded": alpha(r, rb, ppy, compounded=True),
        "beta": beta(r, rb),
        "correlation": correlation(r, rb),
        "information_ratio": ir,
        "information_ratio_annualized": ir * math.sqrt(ppy),
        "tracking_error": tracking_error(r, rb, ppy),
    }
