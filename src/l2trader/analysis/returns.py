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

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.analysis.kernels import grid_check_nb
from l2trader.errors import ConfigError, InvalidValueError

__all__ = [
    "DAYS_PER_YEAR_24_7",
    "SESSIONS_PER_YEAR",
    "ReturnSeries",
    "clean_returns",
    "column",
    "grid_returns",
    "grid_step_ns",
    "has_no_nan",
    "in_memo",
    "memo",
    "memoised",
    "periods_per_year",
    "return_series",
    "seconds_per_year",
    "trading_days_per_year",
]

DAYS_PER_YEAR_24_7: Final = 365
SESSIONS_PER_YEAR: Final = 252
_SECONDS_PER_DAY: Final = 86_400.0
_NS_PER_SECOND: Final = 1_000_000_000
_T = TypeVar("_T")
_MEMO: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("analysis_memo", default=None)


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
    ts = np.asarray(ts)
    key = _memo_key("grid_step_ns", ts)
    hit = _memo_get(key)
    if hit is not None:
        return int(hit)
    t = np.ascontiguousarray(ts, dtype=np.int64)
    step, row, code = grid_check_nb(t)
    if code == 1:
        raise InvalidValueError(
            f"ts_recv not increasing: {int(t[row - 1])} then {int(t[row])} ns",
            source="equity",
            line=row,
        )
    if code == 2:
        raise InvalidValueError(
            f"gap of {int(t[row] - t[row - 1])} ns is not a multiple of the {step} ns grid step",
            source="equity",
            line=row,
        )
    _memo_put(key, ts, int(step))
    return int(step)


@contextmanager
def memo() -> Iterator[None]:
    """Compute :func:`grid_returns`, :func:`grid_step_ns` and :func:`column` once per array.

    ``analyze`` runs every section inside one block. Memoised results are read-only, and the
    input arrays must not be modified inside the block.
    """
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def _memo_key(name: str, a: NDArray[Any], *extra: Any) -> tuple[Any, ...]:
    """Key of ``name`` over the memory of ``a`` (views of one array share it)."""
    return (name, a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str, *extra)


def _memo_get(key: tuple[Any, ...]) -> Any:
    """The memoised value of ``key`` (None when not memoised or outside :func:`memo`)."""
    table = _MEMO.get()
    hit = table.get(key) if table is not None else None
    return hit[1] if hit is not None else None


def _memo_put(key: tuple[Any, ...], a: Any, value: Any) -> None:
    """Memoise ``value``; ``a`` is kept alive so its memory cannot be reused meanwhile."""
    table = _MEMO.get()
    if table is not None:
        table[key] = (a, value)


def in_memo() -> bool:
    """Whether this code runs inside a :func:`memo` block.

    Examples
    --------
    >>> in_memo()
    False
    """
    return _MEMO.get() is not None


def memoised(name: str, a: NDArray[Any], compute: Callable[[], _T], *extra: Any) -> _T:
    """``compute()``, memoised under ``name`` for the memory of ``a`` inside :func:`memo`.

    ``compute`` must depend only on ``a`` and ``extra`` (hashables, or arrays: keyed by their
    memory and kept alive like ``a``); its result is shared and must not be modified.

    Examples
    --------
    >>> memoised("total", np.arange(3.0), lambda: 3.0)
    3.0
    """
    arrays = tuple(x for x in extra if isinstance(x, np.ndarray))
    parts = (_memo_key("", x) if isinstance(x, np.ndarray) else x for x in extra)
    key = _memo_key(name, a, *parts)
    hit = _memo_get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    out = compute()
    _memo_put(key, (a, *arrays), out)
    return out


def column(records: NDArray[np.void], name: str) -> NDArray[Any]:
    """Field ``name`` of a record array as a contiguous array (memoised inside :func:`memo`).

    A field of a 10M-row C7 record is a stride-48 view: every numpy pass over it reads the
    whole record, so sections read each field once, contiguously.

    Examples
    --------
    >>> from l2trader.schema import STATE_DTYPE
    >>> column(np.zeros(3, STATE_DTYPE), "mid").flags.c_contiguous
    True
    """
    key = _memo_key("column", records, name)
    hit = _memo_get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    out = np.ascontiguousarray(records[name])
    if _MEMO.get() is not None:
        out.flags.writeable = False
        _memo_put(key, records, out)
    return out


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
    key = _memo_key("grid_returns", equity, float(capital))
    hit = _memo_get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    out = _grid_returns(equity, capital)
    for a in out:
        a.flags.writeable = _MEMO.get() is None
    _memo_put(key, equity, out)
    return out


def _grid_returns(
    equity: NDArray[np.void], capital: float
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    ts = column(equity, "ts_recv")
    if ts.size < 2:
        return np.zeros(0, np.int64), np.zeros(0)
    grid_step_ns(ts)
    values = column(equity, "equity")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = int(bad[0])
        raise InvalidValueError(
            f"equity is {float(values[k])} at ts {int(ts[k])} ns", source="equity", line=k
        )
    return ts[1:].copy(), np.diff(values) / float(capital)


def has_no_nan(x: NDArray[np.float64]) -> bool:
    """Whether ``sum(x)`` is finite (no NaN or inf), memoised for read-only arrays in a memo.

    Examples
    --------
    >>> has_no_nan(np.array([1.0, 2.0])), has_no_nan(np.array([1.0, np.nan]))
    (True, False)
    """
    if x.flags.writeable or not in_memo():  # temporaries are not kept alive in the table
        return math.isfinite(float(np.sum(x)))
    return memoised("has_no_nan", x, lambda: math.isfinite(float(np.sum(x))))


def clean_returns(returns: ArrayLike) -> NDArray[np.float64]:
    """Returns as a 1-D float64 array with NaN (missing periods) dropped (may be ``returns``).

    Examples
    --------
    >>> clean_returns([0.1, float("nan"), -0.2]).tolist()
    [0.1, -0.2]
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise InvalidValueError(f"returns must be 1-D, got shape {r.shape}", source="returns")
    if has_no_nan(r):  # skip the masked copy (10M rows: ~40 ms)
        return r
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
    step = grid_step_ns(column(equity, "ts_recv"))
    return ReturnSeries(
        ts=ts,
        r=r,
        pnl=np.diff(column(equity, "equity")),
        step_ns=step,
        periods_per_year=periods_per_year(step, calendar, session_s),
        days_per_year=days,
        capital=float(capital),
    )
