"""Performance split by market regime (issue 5, item 8).

Each period ``k`` of the C7 equity grid (from ``ts[k-1]`` to ``ts[k]``, PnL
``equity[k] - equity[k-1]`` quote, return ``PnL / capital``) is labelled by the market as it
was at its start ``ts[k-1]`` (the last market sample at or before it, so no look-ahead):

- **volatility**: realized volatility of the mid over the trailing ``vol_window_ns`` (default
  60 s): ``1e4 * sqrt(sum of squared log mid returns)`` on the market grid (bps per window, not
  annualized); NaN until a full window has passed and for windows touching a NaN mid;
- **spread**: quoted spread in ticks (rounded to 1e-9 tick to drop float noise);
- **depth**: ``bid_depth + ask_depth`` (base units) over the market series' best
  ``depth_levels`` levels (top-of-book depth when ``depth_levels == 1``);
- **hour**: UTC hour of day ``0..23`` (for both calendars: the run has no session open time).

Volatility, spread and depth are cut into terciles ``low / mid / high`` at the 1/3 and 2/3
quantiles (numpy linear) of the labelled periods: ``low`` is ``x <= q33``, ``mid`` is
``q33 < x <= q67``, ``high`` is ``x > q67`` -- so ties (a spread that is always one tick)
all fall in ``low``. Periods with a NaN feature are unlabelled for that dimension and counted.
Without a market series, volatility uses the equity grid's ``mid`` and spread/depth are
unlabelled.

Per regime: ``periods``, ``pnl`` (quote), ``mean_return`` (per period), ``sharpe``
(``performance.sharpe`` of the regime's returns, annualized with the whole grid's periods
per year: ``mean / std(ddof=1) * sqrt(ppy)``, NaN below 2 returns or with zero dispersion)
and ``hit_rate`` (positive-PnL periods over nonzero-PnL periods).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.kernels import (
    group_rows_nb,
    realized_vol_nb,
    searchsorted_right_nb,
    take_or_nan_nb,
    tercile_codes_nb,
)
from l2trader.analysis.performance import sharpe
from l2trader.analysis.returns import column, grid_step_ns, periods_per_year
from l2trader.errors import ConfigError
from l2trader.units import NS_PER_SECOND

__all__ = [
    "DEFAULT_VOL_WINDOW_NS",
    "TERCILES",
    "RegimeLabels",
    "label_periods",
    "regime_metrics",
    "regime_metrics_from_labels",
    "regime_rows",
    "regime_table",
    "tercile_labels",
    "trailing_realized_vol_bps",
]

DEFAULT_VOL_WINDOW_NS: Final = 60 * NS_PER_SECOND
"""Trailing window of the realized volatility, ns (60 s)."""

TERCILES: Final = ("low", "mid", "high")
"""Names of tercile labels 0, 1, 2."""

_DIMENSIONS: Final = ("volatility", "spread", "depth")
_UNITS: Final = {"volatility": "bps", "spread": "ticks", "depth": "qty"}
_NS_PER_HOUR: Final = 3600 * NS_PER_SECOND


@dataclass(frozen=True)
class RegimeLabels:
    """Per-period features and labels of a run's equity grid (``n - 1`` periods).

    Attributes
    ----------
    ts_start
        int64[p], period start times, ns.
    pnl, returns
        float64[p], PnL (quote) and return (fraction of capital) of each period.
    features
        ``{"volatility", "spread", "depth"} -> float64[p]`` (bps per window, ticks, base units).
    labels
        Same keys plus ``"hour"`` ``-> int64[p]``: tercile 0/1/2 (hour 0..23), -1 = unlabelled.
    edges
        ``dimension -> (q33, q67)`` tercile edges (NaN when nothing is labelled).
    periods_per_year
        From the grid step and the calendar.
    """

    ts_start: NDArray[np.int64]
    pnl: NDArray[np.float64]
    returns: NDArray[np.float64]
    features: dict[str, NDArray[np.float64]]
    labels: dict[str, NDArray[np.int64]]
    edges: dict[str, tuple[float, float]]
    periods_per_year: float


def tercile_labels(x: NDArray[np.float64]) -> tuple[NDArray[np.int64], tuple[float, float]]:
    """Tercile labels (0 low, 1 mid, 2 high; -1 for NaN) and the ``(q33, q67)`` edges.

    Examples
    --------
    >>> labels, edges = tercile_labels(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan]))
    >>> labels.tolist(), edges
    ([0, 0, 1, 1, 2, 2, -1], (2.6666666666666665, 4.333333333333333))
    """
    ok = np.isfinite(x)
    if not ok.any():
        return np.full(x.shape, -1, dtype=np.int64), (float("nan"), float("nan"))
    q33, q67 = (float(q) for q in np.quantile(x if ok.all() else x[ok], (1.0 / 3.0, 2.0 / 3.0)))
    return tercile_codes_nb(np.ascontiguousarray(x, dtype=np.float64), q33, q67), (q33, q67)


def trailing_realized_vol_bps(
    ts: NDArray[np.int64], mid: NDArray[np.float64], window_ns: int
) -> NDArray[np.float64]:
    """``1e4 * sqrt(sum of squared log mid returns)`` over samples in ``(t - window, t]``.

    NaN while ``t - ts[0] < window_ns`` (warm-up) and for windows holding a non-finite return.

    Examples
    --------
    >>> ts = np.arange(4, dtype=np.int64) * 10
    >>> mid = np.array([100.0, 100.0, 100.0 * np.exp(3e-4), 100.0])
    >>> np.round(trailing_realized_vol_bps(ts, mid, 20), 9).tolist()
    [nan, nan, 3.0, 4.242640687]
    """
    n = ts.size
    out = np.full(n, np.nan)
    if n < 2:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(mid))
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    realized_vol_nb(ts, r, window_ns, out)
    return out


def _asof(
    ts: NDArray[np.int64], x: NDArray[np.float64], t: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Value of the last sample at or before each ``t``; NaN before the first."""
    return take_or_nan_nb(np.ascontiguousarray(x, dtype=np.float64), _asof_rows(ts, t))


def _asof_rows(ts: NDArray[np.int64], t: NDArray[np.int64]) -> NDArray[np.int64]:
    """Row of the last sample at or before each ``t`` (-1 before the first)."""
    return searchsorted_right_nb(np.ascontiguousarray(ts), np.ascontiguousarray(t)) - 1


def _features(
    inputs: RunInputs, t: NDArray[np.int64], window_ns: int
) -> dict[str, NDArray[np.float64]]:
    """Volatility (bps), spread (ticks) and depth (base units) as of each time ``t``."""
    m = inputs.market
    nan = np.full(t.shape, np.nan)
    if m is None or m.ts.size == 0:
        e = inputs.equity
        vol = trailing_realized_vol_bps(e["ts_recv"], e["mid"], window_ns)
        return {"volatility": _asof(e["ts_recv"], vol, t), "spread": nan, "depth": nan.copy()}
    vol = trailing_realized_vol_bps(m.ts, m.mid, window_ns)
    k = _asof_rows(m.ts, t)  # one search for the three features
    return {
        "volatility": take_or_nan_nb(vol, k),
        "spread": take_or_nan_nb(np.round(m.spread / inputs.tick_size, 9), k),
        "depth": take_or_nan_nb(m.bid_depth + m.ask_depth, k),
    }


def label_periods(inputs: RunInputs, vol_window_ns: int = DEFAULT_VOL_WINDOW_NS) -> RegimeLabels:
    """Label every equity-grid period by volatility, spread, depth terciles and UTC hour.

    Returns are NaN when ``inputs.capital`` is not a positive number (PnL stays exact).

    Raises
    ------
    InvalidValueError
        Fewer than 2 equity rows, or an equity grid that is not increasing on a fixed step
        (``returns.grid_step_ns``).
    ConfigError
        ``vol_window_ns`` is not positive.
    """
    if vol_window_ns <= 0:
        raise ConfigError(f"vol_window_ns must be > 0 ns, got {vol_window_ns}")
    ts = column(inputs.equity, "ts_recv")
    pnl = np.diff(column(inputs.equity, "equity"))
    ppy = periods_per_year(grid_step_ns(ts), inputs.calendar, inputs.session_s)
    capital_ok = np.isfinite(inputs.capital) and inputs.capital > 0
    returns = pnl / inputs.capital if capital_ok else np.full(pnl.shape, np.nan)
    t0 = ts[:-1]
    features = _features(inputs, t0, vol_window_ns)
    labels: dict[str, NDArray[np.int64]] = {}
    edges: dict[str, tuple[float, float]] = {}
    for dim in _DIMENSIONS:
        labels[dim], edges[dim] = tercile_labels(features[dim])
    labels["hour"] = (t0 // _NS_PER_HOUR) % 24
    return RegimeLabels(t0, pnl, returns, features, labels, edges, ppy)


def _stats(lab: RegimeLabels, rows: NDArray[np.int64]) -> dict[str, float | int]:
    """Periods, PnL, mean return, Sharpe and hit rate of the periods ``rows`` (ascending)."""
    r, pnl = lab.returns[rows], lab.pnl[rows]
    moved = np.count_nonzero(pnl != 0.0)
    return {
        "periods": int(r.size),
        "pnl": float(pnl.sum()),
        "mean_return": float(r.mean()) if r.size else float("nan"),
        "sharpe": sharpe(r, lab.periods_per_year),
        "hit_rate": float(np.count_nonzero(pnl > 0.0) / moved) if moved else float("nan"),
    }


def _groups(codes: NDArray[np.int64], n_codes: int) -> list[NDArray[np.int64]]:
    """Rows (ascending) of each code ``0 .. n_codes - 1`` (one counting sort, no masks)."""
    rows, bounds = group_rows_nb(np.ascontiguousarray(codes, dtype=np.int64), n_codes)
    return [rows[bounds[c] : bounds[c + 1]] for c in range(n_codes)]


def regime_rows(lab: RegimeLabels) -> list[dict[str, float | int | str]]:
    """One row per (dimension, regime) with at least one period, terciles then hours."""
    rows: list[dict[str, float | int | str]] = []
    for dim in _DIMENSIONS:
        q33, q67 = lab.edges[dim]
        bounds = ((float("-inf"), q33), (q33, q67), (q67, float("inf")))
        for code, idx in enumerate(_groups(lab.labels[dim], len(TERCILES))):
            if idx.size:
                lower, upper = bounds[code]
                info = {"dimension": dim, "regime": TERCILES[code], "unit": _UNITS[dim]}
                rows.append({**info, "lower": lower, "upper": upper, **_stats(lab, idx)})
    for hour, idx in enumerate(_groups(lab.labels["hour"], 24)):
        if idx.size:
            info = {"dimension": "hour", "regime": f"utc{hour:02d}", "unit": "h"}
            rows.append(
                {**info, "lower": float(hour), "upper": float(hour + 1), **_stats(lab, idx)}
            )
    return rows


def regime_table(
    inputs: RunInputs, vol_window_ns: int = DEFAULT_VOL_WINDOW_NS
) -> list[dict[str, float | int | str]]:
    """Per-regime rows (the regime bar plot's data); regimes without periods are left out.

    Each row has ``dimension``, ``regime``, ``unit``, ``lower``/``upper`` (feature bounds:
    ``lower < x <= upper``; hours ``[lower, upper)``), ``periods``, ``pnl``, ``mean_return``,
    ``sharpe``, ``hit_rate``.
    """
    if inputs.equity.size < 2:
        return []
    return regime_rows(label_periods(inputs, vol_window_ns))


def regime_metrics(
    inputs: RunInputs, vol_window_ns: int = DEFAULT_VOL_WINDOW_NS
) -> dict[str, float | int]:
    """Flat regime metrics (see the module docstring for the definitions).

    Keys: ``regime_<dimension>_<regime>_<stat>`` for every :func:`regime_table` row (e.g.
    ``regime_volatility_high_sharpe``, ``regime_hour_utc13_pnl``), the tercile edges
    ``regime_<dimension>_q33_<unit>`` / ``_q67_<unit>``, unlabelled period counts
    ``regime_<dimension>_unlabelled`` and ``regime_vol_window_s``.
    """
    if inputs.equity.size < 2:
        return {"regime_vol_window_s": vol_window_ns / NS_PER_SECOND}
    return regime_metrics_from_labels(label_periods(inputs, vol_window_ns), vol_window_ns)


def regime_metrics_from_labels(
    lab: RegimeLabels,
    vol_window_ns: int,
    rows: list[dict[str, float | int | str]] | None = None,
) -> dict[str, float | int]:
    """:func:`regime_metrics` of labelled periods (and their ``regime_rows``, if at hand)."""
    out: dict[str, float | int] = {"regime_vol_window_s": vol_window_ns / NS_PER_SECOND}
    for dim in _DIMENSIONS:
        q33, q67 = lab.edges[dim]
        out[f"regime_{dim}_q33_{_UNITS[dim]}"] = q33
        out[f"regime_{dim}_q67_{_UNITS[dim]}"] = q67
        out[f"regime_{dim}_unlabelled"] = int(np.count_nonzero(lab.labels[dim] < 0))
    for row in regime_rows(lab) if rows is None else rows:
        prefix = f"regime_{row['dimension']}_{row['regime']}"
        for stat in ("periods", "pnl", "mean_return", "sharpe", "hit_rate"):
            value = row[stat]
            if not isinstance(value, str):
                out[f"{prefix}_{stat}"] = value
    return out
