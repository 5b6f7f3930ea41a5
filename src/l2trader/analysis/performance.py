"""Performance metrics: returns, volatility, risk-adjusted ratios, profit per day, turnover, PnL.

Returns ``r`` are simple per-period returns on the run's grid (``returns.py``), ``ppy`` its
periods per year, ``rf`` a constant *per-period* risk-free return (empyrical's convention;
quantstats takes an annual ``rf`` and converts it with ``(1 + rf) ** (1 / ppy) - 1``).
NaN entries of ``r`` are dropped; undefined results (too few points, zero dispersion) are NaN,
where empyrical sometimes returns +-inf.

Formulas (one line each; ``n`` = number of returns, ``std`` has ``ddof = 1``):

- ``total_return = sum(r)`` (additive: PnL / capital); ``compounded=True``:
  ``prod(1 + r) - 1`` = ``empyrical.cum_returns_final`` = ``quantstats.stats.comp``.
- ``annual_return = mean(r) * ppy`` (additive, arithmetic); ``compounded=True``: CAGR
  ``prod(1 + r) ** (ppy / n) - 1`` = ``empyrical.annual_return`` = ``quantstats.stats.cagr``.
- ``annual_volatility = std(r) * sqrt(ppy)`` = ``empyrical.annual_volatility`` =
  ``quantstats.stats.volatility``.
- ``sharpe = mean(r - rf) / std(r - rf) * sqrt(ppy)`` = ``empyrical.sharpe_ratio`` =
  ``quantstats.stats.sharpe`` (with its annual rf).
- ``downside_risk = sqrt(mean(min(r - mar, 0) ** 2)) * sqrt(ppy)``: target downside deviation
  over all ``n`` periods (Sortino & Price 1994) = ``empyrical.downside_risk``.
- ``sortino = mean(r - mar) * ppy / downside_risk`` = ``empyrical.sortino_ratio`` =
  ``quantstats.stats.sortino`` (rf = mar); NaN when there is no downside (empyrical: inf).
- ``omega = sum(max(x, 0)) / sum(max(-x, 0))`` with ``x = r - rf - thr``,
  ``thr = (1 + required_return) ** (1 / ppy) - 1`` (``required_return`` annual) =
  ``empyrical.omega_ratio`` = ``quantstats.stats.omega``.
- ``calmar = annual_return / |max_drawdown|`` (additive both); ``compounded=True``:
  ``CAGR / |compounded max drawdown|`` = ``empyrical.calmar_ratio`` = ``quantstats.stats.calmar``.
- ``pnl_per_day = mean(pnl per period) * ppy / days_per_year`` (a trading day: 86,400 s for
  24/7, one session for exchange calendars); ``turnover = sum(|fill notional|) / capital``.
- PnL attribution on the grid (exact: ``pnl_total = price_moves + execution + fees``):
  ``pnl_price_moves = sum(position_{t-1} * (mid_t - mid_{t-1}))`` (inventory marked to the
  grid mid), ``pnl_fees = -(fees_T - fees_0)`` (rebates count positive), ``pnl_execution`` =
  the rest: the fills' edge against the mid at the next grid sample (spread capture plus the
  mid's move from the fill to that sample; microstructure.py splits it further).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.analysis.drawdowns import max_drawdown
from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.returns import ReturnSeries, clean_returns, column, return_series

__all__ = [
    "annual_return",
    "annual_volatility",
    "calmar",
    "downside_risk",
    "omega",
    "performance_metrics",
    "pnl_attribution",
    "sharpe",
    "sortino",
    "total_return",
]

_NAN = float("nan")


def total_return(returns: ArrayLike, *, compounded: bool = False) -> float:
    """Return over the whole record: ``sum(r)``, or ``prod(1 + r) - 1`` when compounded.

    Examples
    --------
    >>> total_return([0.5, -0.5]), total_return([0.5, -0.5], compounded=True)
    (0.0, -0.25)
    """
    r = clean_returns(returns)
    if r.size == 0:
        return _NAN
    return float(np.prod(1.0 + r) - 1.0) if compounded else float(np.sum(r))


def annual_return(
    returns: ArrayLike, periods_per_year: float, *, compounded: bool = False
) -> float:
    """Annualized return: ``mean(r) * ppy``, or the CAGR when compounded (NaN if wealth <= 0).

    Examples
    --------
    >>> annual_return([0.01, 0.03], 12)
    0.24
    >>> round(annual_return([0.21, 0.0], 1, compounded=True), 12)
    0.1
    """
    r = clean_returns(returns)
    if r.size == 0:
        return _NAN
    if not compounded:
        return float(np.mean(r) * periods_per_year)
    ending = float(np.prod(1.0 + r))
    if ending <= 0.0:
        return _NAN
    with np.errstate(over="ignore"):
        return float(np.float64(ending) ** (1.0 / (r.size / periods_per_year)) - 1.0)


def annual_volatility(returns: ArrayLike, periods_per_year: float) -> float:
    """Annualized standard deviation ``std(r, ddof=1) * sqrt(ppy)``; NaN for < 2 returns.

    Examples
    --------
    >>> annual_volatility([0.01, -0.01], 4)
    0.02828427124746...
    """
    r = clean_returns(returns)
    if r.size < 2:
        return _NAN
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def sharpe(returns: ArrayLike, periods_per_year: float, *, risk_free: float = 0.0) -> float:
    """Annualized Sharpe ratio of the excess returns ``r - risk_free`` (per period).

    NaN for < 2 returns or zero dispersion.

    Examples
    --------
    >>> round(sharpe([0.01, 0.03, 0.02], 252), 6)
    31.749016
    """
    x = clean_returns(returns) - risk_free
    if x.size < 2 or np.max(x) == np.min(x):
        return _NAN
    return float(np.mean(x) / np.std(x, ddof=1) * math.sqrt(periods_per_year))


def downside_risk(
    returns: ArrayLike, periods_per_year: float, *, required_return: float = 0.0
) -> float:
    """Annualized target downside deviation below ``required_return`` (per period).

    Examples
    --------
    >>> downside_risk([0.02, -0.02], 1)
    0.01414213562373...
    """
    x = clean_returns(returns) - required_return
    if x.size == 0:
        return _NAN
    return float(math.sqrt(np.mean(np.minimum(x, 0.0) ** 2)) * math.sqrt(periods_per_year))


def sortino(returns: ArrayLike, periods_per_year: float, *, required_return: float = 0.0) -> float:
    """Annualized Sortino ratio against ``required_return`` (per period); NaN if no downside.

    Examples
    --------
    >>> round(sortino([0.02, -0.01, 0.03], 252), 6)
    36.660606
    """
    x = clean_returns(returns)
    if x.size < 2:
        return _NAN
    risk = downside_risk(x, periods_per_year, required_return=required_return)
    if not risk > 0.0:
        return _NAN
    return float(np.mean(x - required_return) * periods_per_year / risk)


def omega(
    returns: ArrayLike,
    periods_per_year: float,
    *,
    risk_free: float = 0.0,
    required_return: float = 0.0,
) -> float:
    """Omega ratio: gains over losses around ``risk_free`` (per period) + annual threshold.

    Examples
    --------
    >>> omega([0.02, -0.01, 0.03], 252)
    5.0
    """
    r = clean_returns(returns)
    if r.size < 2 or required_return <= -1.0:
        return _NAN
    threshold = (1.0 + required_return) ** (1.0 / periods_per_year) - 1.0
    x = r - risk_free - threshold
    loss = -float(np.sum(x[x < 0.0]))
    return float(np.sum(x[x > 0.0])) / loss if loss > 0.0 else _NAN


def calmar(returns: ArrayLike, periods_per_year: float, *, compounded: bool = False) -> float:
    """Annual return over the absolute maximum drawdown (same convention for both).

    NaN without a drawdown or when the annual return is not finite.

    Examples
    --------
    >>> round(calmar([0.02, -0.01, 0.03], 12), 12)
    16.0
    """
    dd = max_drawdown(returns, compounded=compounded)
    if not dd < 0.0:
        return _NAN
    ratio = annual_return(returns, periods_per_year, compounded=compounded) / abs(dd)
    return ratio if math.isfinite(ratio) else _NAN


def pnl_attribution(equity: NDArray[np.void]) -> dict[str, float]:
    """Split the PnL of a C7 record into price moves, execution and fees (quote currency).

    Examples
    --------
    >>> from l2trader.schema import STATE_DTYPE
    >>> eq = np.zeros(3, STATE_DTYPE)
    >>> eq["mid"] = [100.0, 101.0, 103.0]
    >>> eq["position"] = [0.0, 1.0, 1.0]
    >>> eq["fees"] = [0.0, 0.1, 0.1]
    >>> eq["equity"] = [0.0, 0.4, 2.4]  # bought 1 at 100.5 during the 1st period, fee 0.1
    >>> {k: round(v, 12) for k, v in pnl_attribution(eq).items()}
    {'pnl_total': 2.4, 'pnl_price_moves': 2.0, 'pnl_execution': 0.5, 'pnl_fees': -0.1}
    """
    if equity.size < 2:
        return dict.fromkeys(("pnl_total", "pnl_price_moves", "pnl_execution", "pnl_fees"), _NAN)
    values = column(equity, "equity")
    position = column(equity, "position")[:-1]
    moves = position * np.diff(column(equity, "mid"))
    price_moves = float(np.sum(np.where(position == 0.0, 0.0, moves)))
    total = float(values[-1] - values[0])
    fees = -float(equity["fees"][-1] - equity["fees"][0])
    return {
        "pnl_total": total,
        "pnl_price_moves": price_moves,
        "pnl_execution": total - price_moves - fees,
        "pnl_fees": fees,
    }


def _ratios(rs: ReturnSeries) -> dict[str, float | int]:
    """Return-based metrics of one series."""
    r, ppy = rs.r, rs.periods_per_year
    return {
        "total_return": total_return(r),
        "total_return_compounded": total_return(r, compounded=True),
        "annual_return": annual_return(r, ppy),
        "annual_return_compounded": annual_return(r, ppy, compounded=True),
        "annual_volatility": annual_volatility(r, ppy),
        "sharpe": sharpe(r, ppy),
        "sortino": sortino(r, ppy),
        "downside_risk": downside_risk(r, ppy),
        "omega": omega(r, ppy),
        "calmar": calmar(r, ppy),
        "calmar_compounded": calmar(r, ppy, compounded=True),
    }


def _trading(inputs: RunInputs, per_day: float) -> dict[str, float | int]:
    """Fill counts, traded size and notional, turnover (total and per trading day)."""
    fills = inputs.fills
    notional = float(np.sum(fills["price_ticks"] * inputs.tick_size * fills["qty"]))
    turnover = notional / inputs.capital
    return {
        "n_fills": int(fills.size),
        "traded_qty": float(np.sum(fills["qty"])),
        "traded_notional": notional,
        "fees_paid": float(np.sum(fills["fee"])),
        "turnover": turnover,
        "turnover_per_day": turnover * per_day,
    }


def performance_metrics(inputs: RunInputs) -> dict[str, float | int]:
    """Performance section of the report (formulas in the module docstring).

    ``per_day`` metrics use the calendar's trading day; ``periods_per_year``,
    ``days_per_year`` and ``grid_step_s`` state the annualization used.

    Examples
    --------
    >>> from l2trader.schema import STATE_DTYPE
    >>> eq = np.zeros(3, STATE_DTYPE)
    >>> eq["ts_recv"] = [0, 86_400_000_000_000, 172_800_000_000_000]  # daily grid
    >>> eq["equity"] = [0.0, 10.0, 5.0]
    >>> run = RunInputs(run_id="r", config_id="c", code_version="v", data_fingerprint="d",
    ...                 tick_size=0.01, capital=1_000.0, calendar="24/7", session_s=0.0,
    ...                 equity=eq)
    >>> m = performance_metrics(run)
    >>> m["periods_per_year"], m["total_return"], m["pnl_per_day"], m["annual_return"]
    (365.0, 0.005, 2.5, 0.9125)
    """
    rs = return_series(inputs.equity, inputs.capital, inputs.calendar, inputs.session_s)
    n = int(rs.r.size)
    periods_per_day = rs.periods_per_year / rs.days_per_year
    per_day = periods_per_day / n if n else _NAN
    attribution = pnl_attribution(inputs.equity)
    return {
        "n_periods": n,
        "grid_step_s": rs.step_ns / 1e9,
        "periods_per_year": rs.periods_per_year,
        "days_per_year": rs.days_per_year,
        "duration_days": n / periods_per_day if n else 0.0,
        "capital": rs.capital,
        **_ratios(rs),
        **attribution,
        "pnl_per_day": attribution["pnl_total"] * per_day,
        "return_per_day": float(np.sum(rs.r)) * per_day if n else _NAN,
        **_trading(inputs, per_day),
    }
