"""Drawdowns of an equity curve: underwater curve, maximum drawdown, top-N drawdown periods.

Formulas (one line each):

- ``underwater_t = (E_t - max_{s<=t} E_s) / capital`` -- fixed-capital (additive) drawdown,
  <= 0, in fractions of capital; it equals ``W_t - max W`` for ``W = 1 + cumsum(r)``.
- ``max_drawdown(r) = min_t (W_t - max_{s<=t} W_s)`` with ``W = [1, 1 + cumsum(r)]``
  (additive, the project's convention; the leading 1 is the starting capital).
- ``max_drawdown(r, compounded=True) = min_t (V_t / max_{s<=t} V_s - 1)`` with
  ``V = [1, cumprod(1 + r)]`` -- empyrical's ``max_drawdown`` and quantstats' ``max_drawdown``
  (both add the same phantom starting value).
- A drawdown period runs from a peak (last index at the running maximum) through its trough
  (minimum underwater) to its recovery (first index back at the peak), or to the end of the
  record when not recovered; ``duration = ts[recovery or last] - ts[peak]``.

Conventions: drawdowns are negative numbers (empyrical/quantstats sign). quantstats'
``drawdown_details`` labels a period from its first to its last *underwater* sample; we label
it from the peak to the recovery sample (pyfolio's convention), i.e. one sample earlier and
one later; depth and trough agree.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.analysis.kernels import drawdown_min_nb
from l2trader.analysis.returns import clean_returns, in_memo, memoised
from l2trader.errors import ConfigError, InvalidValueError

__all__ = [
    "NOT_RECOVERED",
    "drawdown_metrics",
    "drawdown_periods",
    "max_drawdown",
    "underwater",
]

NOT_RECOVERED: Final = -1
"""``end_ts`` of a drawdown period that has not recovered by the end of the record."""

_NS_PER_SECOND: Final = 1e9


def underwater(equity_values: ArrayLike, capital: float) -> NDArray[np.float64]:
    """Fixed-capital drawdown from the running peak, fraction of ``capital`` (<= 0).

    Examples
    --------
    >>> underwater([0.0, 5.0, 2.0, 6.0], 100.0).tolist()
    [0.0, 0.0, -0.03, 0.0]
    """
    if not (np.isfinite(capital) and capital > 0):
        raise ConfigError(f"capital must be a positive quote amount, got {capital!r}")
    e = np.asarray(equity_values, dtype=np.float64)
    return memoised("underwater", e, lambda: _underwater(e, capital), float(capital))


def _underwater(e: NDArray[np.float64], capital: float) -> NDArray[np.float64]:
    if e.ndim != 1 or not np.all(np.isfinite(e)):
        raise InvalidValueError("equity values must be 1-D and finite", source="equity")
    if e.size == 0:
        return np.zeros(0)
    out: NDArray[np.float64] = (e - np.maximum.accumulate(e)) / capital
    out.flags.writeable = not in_memo()  # shared by the sections inside ``returns.memo``
    return out


def max_drawdown(returns: ArrayLike, *, compounded: bool = False) -> float:
    """Largest peak-to-trough fall of the wealth built from ``returns`` (<= 0; NaN if empty).

    Parameters
    ----------
    returns
        Simple per-period returns (fraction of capital); NaN entries are dropped.
    compounded
        False: additive wealth ``1 + cumsum(r)``, drawdown in fractions of capital.
        True: compounded wealth ``cumprod(1 + r)``, relative to the peak; equals
        ``empyrical.max_drawdown`` and ``quantstats.stats.max_drawdown``.

    Examples
    --------
    >>> max_drawdown([0.25, -0.5, 0.125])
    -0.5
    >>> max_drawdown([0.25, -0.5, 0.125], compounded=True)
    -0.5
    """
    r = clean_returns(returns)
    if r.size == 0:
        return float("nan")
    return float(drawdown_min_nb(np.ascontiguousarray(r), compounded))


def _runs(dd: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Underwater runs of ``dd``: first underwater index and exclusive stop index of each."""
    under = np.concatenate(([0], (dd < 0).astype(np.int8), [0]))
    edges = np.diff(under)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def drawdown_periods(
    ts: ArrayLike, equity: ArrayLike, capital: float, top: int = 5
) -> list[dict[str, float | int]]:
    """The ``top`` deepest drawdown periods of an equity curve, deepest first.

    Parameters
    ----------
    ts
        int64[n] sample times, ns, ascending.
    equity
        float64[n] equity, quote currency.
    capital
        Return base, quote currency (> 0).
    top
        Number of periods to return (>= 0).

    Returns
    -------
    list of dict
        ``start_ts`` (peak), ``trough_ts``, ``end_ts`` (recovery, ``NOT_RECOVERED`` = -1 if
        none), all ns; ``depth`` (fraction of capital, < 0), ``depth_quote`` (quote, < 0),
        ``duration_s`` (peak to recovery or to the last sample), ``time_to_trough_s``,
        ``recovery_s`` (trough to recovery; NaN if not recovered), ``recovered`` (0/1).

    Examples
    --------
    >>> p = drawdown_periods([0, 1_000_000_000, 2_000_000_000, 3_000_000_000],
    ...                      [0.0, -4.0, 1.0, 0.5], 100.0)
    >>> [(d["start_ts"], d["trough_ts"], d["end_ts"], d["depth"]) for d in p]
    [(0, 1000000000, 2000000000, -0.04), (2000000000, 3000000000, -1, -0.005)]
    """
    if top < 0:
        raise ConfigError(f"top must be >= 0, got {top!r}")
    t = np.asarray(ts, dtype=np.int64)
    e = np.asarray(equity, dtype=np.float64)
    if t.shape != e.shape:
        raise InvalidValueError(f"ts {t.shape} and equity {e.shape} differ", source="equity")
    dd = underwater(e, capital)
    starts, stops = _runs(dd)
    if starts.size == 0 or top == 0:
        return []
    depths = np.minimum.reduceat(dd, starts)
    order = np.argsort(depths, kind="stable")[:top]
    return [_period(t, e, dd, int(starts[k]), int(stops[k]), capital) for k in order]


def _period(
    t: NDArray[np.int64],
    e: NDArray[np.float64],
    dd: NDArray[np.float64],
    first: int,
    stop: int,
    capital: float,
) -> dict[str, float | int]:
    """Describe the underwater run ``dd[first:stop]`` (its peak is ``first - 1``)."""
    peak = first - 1
    trough = first + int(np.argmin(dd[first:stop]))
    recovered = stop < t.size
    end_ts = int(t[stop]) if recovered else NOT_RECOVERED
    last_ts = int(t[stop]) if recovered else int(t[-1])
    return {
        "start_ts": int(t[peak]),
        "trough_ts": int(t[trough]),
        "end_ts": end_ts,
        "depth": float(dd[trough]),
        "depth_quote": float(dd[trough] * capital),
        "duration_s": (last_ts - int(t[peak])) / _NS_PER_SECOND,
        "time_to_trough_s": (int(t[trough]) - int(t[peak])) / _NS_PER_SECOND,
        "recovery_s": (end_ts - int(t[trough])) / _NS_PER_SECOND if recovered else float("nan"),
        "recovered": int(recovered),
    }


def drawdown_metrics(ts: ArrayLike, equity: ArrayLike, capital: float) -> dict[str, float | int]:
    """Summary of the drawdowns of an equity curve.

    Returns
    -------
    dict
        ``max_drawdown`` (fraction of capital, <= 0), ``max_drawdown_quote``,
        ``max_drawdown_duration_s`` (longest peak-to-recovery-or-end time),
        ``current_drawdown`` (last underwater value), ``n_drawdowns``, ``time_underwater_frac``
        (fraction of samples below the running peak). NaN when there are no samples.

    Examples
    --------
    >>> m = drawdown_metrics([0, 1_000_000_000, 2_000_000_000], [0.0, -3.0, -1.0], 100.0)
    >>> m["max_drawdown"], m["max_drawdown_duration_s"], m["n_drawdowns"]
    (-0.03, 2.0, 1)
    """
    t = np.asarray(ts, dtype=np.int64)
    e = np.asarray(equity, dtype=np.float64)
    compute = lambda: _drawdown_metrics(t, e, capital)  # noqa: E731
    return dict(memoised("drawdown_metrics", e, compute, t, float(capital)))


def _drawdown_metrics(
    t: NDArray[np.int64], equity: NDArray[np.float64], capital: float
) -> dict[str, float | int]:
    dd = underwater(equity, capital)
    if dd.size == 0:
        nan = float("nan")
        keys = ("max_drawdown", "max_drawdown_quote", "max_drawdown_duration_s")
        return {**dict.fromkeys(keys, nan), "current_drawdown": nan, "n_drawdowns": 0,
                "time_underwater_frac": nan}  # fmt: skip
    starts, stops = _runs(dd)
    ends = np.where(stops < t.size, t[np.minimum(stops, t.size - 1)], t[-1])
    durations = (ends - t[starts - 1]) / _NS_PER_SECOND if starts.size else np.zeros(1)
    return {
        "max_drawdown": float(dd.min()),
        "max_drawdown_quote": float(dd.min() * capital),
        "max_drawdown_duration_s": float(durations.max()),
        "current_drawdown": float(dd[-1]),
        "n_drawdowns": int(starts.size),
        "time_underwater_frac": float(np.mean(dd < 0)),
    }
