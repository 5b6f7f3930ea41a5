"""Equity curve -> returns on the fixed C7 grid, and the annualization factor of that grid.

Formulas (one line each):

- ``r_t = (equity_t - equity_{t-1}) / capital`` -- simple, additive, no compounding: the
  returns of a fixed-capital strategy, so ``sum(r) = PnL / capital``.
- ``seconds_per_year = 365 * 86_400`` for ``"24/7"`` (crypto) and ``252 * session_s`` for
  ``"exchange"`` (252 sessions of ``session_s`` seconds).
- ``periods_per_year = seconds_per_year / grid_step_s``: never an assumed 252.
- ``trading_days_per_year = 365`` (``"24/7"``) or ``252`` (``"exchange"``): the "day" of
  per-day metrics.

The grid step is the smallest gap between consecutive ``ts_recv``; every gap must be a whole
multiple of it (an exchange calendar's overnight gap is one period, as in daily data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.errors import ConfigError, InvalidValueError

__all__ = [
    "DAYS_PER_YEAR_24_7",
    "SESSIONS_PER_YEAR",
    "ReturnSeries",
    "clean_returns",
    "grid_returns",
    "grid_step_ns",
    "periods_per_year",
    "return_series",
    "seconds_per_year",
    "trading_days_per_year",
]

DAYS_PER_YEAR_24_7: Final = 365
SESSIONS_PER_YEAR: Final = 252
_SECONDS_PER_DAY: Final = 86_400.0
_NS_PER_SECOND: Final = 1_000_000_000


def trading_days_per_year(calendar: str) -> int:
    """Trading days in a year: 365 for ``"24/7"``, 252 for ``"exchange"``.

    Examples
    --------
    >>> trading_days_per_year("24/7"), trading_days_per_year("exchange")
    (365, 252)
    """
    if calendar == "24/7":
        return DAYS_PER_YEAR_24_7
    if calendar == "exchange":
        return SESSIONS_PER_YEAR
    raise ConfigError(f"calendar must be '24/7' or 'exchange', got {calendar!r}")


def seconds_per_year(calendar: str, session_s: float) -> float:
    """Trading seconds in a year, s: ``365 * 86400`` (24/7) or ``252 * session_s`` (exchange).

    Examples
    --------
    >>> seconds_per_year("24/7", 0.0), seconds_per_year("exchange", 23_400.0)
    (31536000.0, 5896800.0)
    """
    days = trading_days_per_year(calendar)
    if calendar == "24/7":
        return days * _SECONDS_PER_DAY
    if not (np.isfinite(session_s) and session_s > 0):
        raise ConfigError(f"session_s must be a positive number of seconds, got {session_s!r}")
    return days * float(session_s)


def periods_per_year(step_ns: int, calendar: str, session_s: float) -> float:
    """Grid periods in a trading year: ``seconds_per_year / (step_ns / 1e9)``.

    Parameters
    ----------
    step_ns
        Grid step, ns (> 0).
    calendar
        ``"24/7"`` or ``"exchange"``.
    session_s
        Length of one exchange session, s (used for ``"exchange"`` only).

    Examples
    --------
    >>> periods_per_year(1_000_000_000, "24/7", 0.0)
    31536000.0
    >>> periods_per_year(60_000_000_000, "exchange", 23_400.0)
    98280.0
    """
    if step_ns <= 0:
        raise ConfigError(f"step_ns must be > 0 ns, got {step_ns!r}")
    return seconds_per_year(calendar, session_s) * _NS_PER_SECOND / step_ns


def grid_step_ns(ts: NDArray[np.int64]) -> int:
    """Step of an increasing time grid, ns: the smallest gap; every gap must be a multiple.

    Raises
    ------
    InvalidValueError
        Fewer than 2 samples, a gap <= 0 (``line`` = its row) or a gap off the step.
    """
    if len(ts) < 2:
        raise InvalidValueError(f"need >= 2 grid samples, got {len(ts)}", source="equity")
    gaps = np.diff(np.asarray(ts, dtype=np.int64))
    bad = np.flatnonzero(gaps <= 0)
    if bad.size:
        k = int(bad[0])
        raise InvalidValueError(
            f"ts_recv not increasing: {int(ts[k])} then {int(ts[k + 1])} ns",
            source="equity",
            line=k + 1,
        )
    step = int(gaps.min())
    off = np.flatnonzero(np.remainder(gaps, step))
    if off.size:
        k = int(off[0])
        raise InvalidValueError(
            f"gap of {int(gaps[k])} ns is not a multiple of the {step} ns grid step",
            source="equity",
            line=k + 1,
        )
    return step


def grid_returns(
    equity: NDArray[np.void], capital: float
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Simple additive returns of a C7 equity record: ``r_t = diff(equity)_t / capital``.

    Parameters
    ----------
    equity
        C7 rows (``STATE_DTYPE``) on a fixed grid, ``ts_recv`` ascending.
    capital
        Base the returns are measured against, quote currency (> 0).

    Returns
    -------
    ts, r
        int64[n-1] period end times (ns) and float64[n-1] returns (fraction of capital);
        empty when ``n < 2``.

    Examples
    --------
    >>> from l2trader.schema import STATE_DTYPE
    >>> eq = np.zeros(3, STATE_DTYPE)
    >>> eq["ts_recv"] = [0, 10, 20]
    >>> eq["equity"] = [0.0, 5.0, 2.0]
    >>> ts, r = grid_returns(eq, 100.0)
    >>> ts.tolist(), r.tolist()
    ([10, 20], [0.05, -0.03])
    """
    if not (np.isfinite(capital) and capital > 0):
        raise ConfigError(f"capital must be a positive quote amount, got {capital!r}")
    ts = np.ascontiguousarray(equity["ts_recv"], dtype=np.int64)
    if ts.size < 2:
        return np.zeros(0, np.int64), np.zeros(0)
    grid_step_ns(ts)
    values = np.asarray(equity["equity"], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = int(bad[0])
        raise InvalidValueError(
            f"equity is {float(values[k])} at ts {int(ts[k])} ns", source="equity", line=k
        )
    return ts[1:].copy(), np.diff(values) / float(capital)


def clean_returns(returns: ArrayLike) -> NDArray[np.float64]:
    """Returns as a 1-D float64 array with NaN (missing periods) dropped.

    Examples
    --------
    >>> clean_returns([0.1, float("nan"), -0.2]).tolist()
    [0.1, -0.2]
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise InvalidValueError(f"returns must be 1-D, got shape {r.shape}", source="returns")
    return r[~np.isnan(r)]


@dataclass(frozen=True)
class ReturnSeries:
    """Returns of one run on its grid, with the annualization that goes with them.

    Attributes
    ----------
    ts
        int64[n], period end times, ns.
    r
        float64[n], simple returns, fraction of ``capital``.
    pnl
        float64[n], equity change per period, quote currency.
    step_ns
        Grid step, ns.
    periods_per_year, days_per_year
        Annualization factor of the grid and trading days per year of the calendar.
    capital
        Return base, quote currency.
    """

    ts: NDArray[np.int64]
    r: NDArray[np.float64]
    pnl: NDArray[np.float64]
    step_ns: int
    periods_per_year: float
    days_per_year: int
    capital: float


def return_series(
    equity: NDArray[np.void], capital: float, calendar: str, session_s: float
) -> ReturnSeries:
    """Build the :class:`ReturnSeries` of a C7 record (see :func:`grid_returns`).

    Fewer than 2 rows give empty arrays, ``step_ns = 0`` and ``periods_per_year = NaN``.
    """
    ts, r = grid_returns(equity, capital)
    days = trading_days_per_year(calendar)
    if ts.size == 0:
        seconds_per_year(calendar, session_s)  # validates the calendar even when empty
        empty = np.zeros(0)
        return ReturnSeries(ts, empty, empty, 0, float("nan"), days, float(capital))
    step = grid_step_ns(np.asarray(equity["ts_recv"], dtype=np.int64))
    return ReturnSeries(
        ts=ts,
        r=r,
        pnl=np.diff(np.asarray(equity["equity"], dtype=np.float64)),
        step_ns=step,
        periods_per_year=periods_per_year(step, calendar, session_s),
        days_per_year=days,
        capital=float(capital),
    )
