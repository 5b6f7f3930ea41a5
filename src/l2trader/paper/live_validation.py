"""Live validation of a paper session: the analyzer's own metrics and checks over the rows so far.

:class:`LiveValidator` builds a :class:`~l2trader.analysis.inputs.RunInputs` from the session's
C7 state rows and C6 fills so far (plus orders, order events and market mids when given) and
calls the analyzer's section functions on it, exactly as ``analyze`` does (same functions, same
inputs, same flat-metric names): ``performance``, ``risk``, ``drawdowns``, ``benchmark``,
``trades``, ``microstructure``, ``execution``. Nothing here re-implements a formula; the only
live addition is :func:`consecutive_losses` (the *current* losing streak; the analyzer reports
the longest one, ``max_consecutive_losses``). The regimes and signals sections are not run.

Checks (:func:`~l2trader.analysis.checks.evaluate_checks`) read the flat metrics of those
sections plus ``live.equity`` and ``live.consecutive_losses``; a metric the live sections do
not compute (``signal_ic_spearman``...) is missing and FAILS, as in the analyzer. The trade
section runs without the market, so ``mae_bps_*``/``mfe_bps_*`` are NaN live.

Not enough data gives NaN, never an error: no state row (every metric NaN), fewer than 2
(no return: PnL, return, Sharpe, correlation NaN; drawdowns 0), fewer than 3 (VaR/CVaR and
Sharpe need 2 returns), no round trip (win rate NaN), no fill with a known mid (slippage NaN).
Rows the analyzer rejects (an off-grid ``ts_recv``, a bad fill) give NaN metrics and the
analyzer's message in ``error``.

Units: times ns, money quote currency, returns fractions of ``capital``, slippage bps.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from l2trader.analysis import (
    benchmark,
    drawdowns,
    execution,
    microstructure,
    performance,
    returns,
    risk,
    trades,
)
from l2trader.analysis.analyze import SECTIONS, flat_metrics
from l2trader.analysis.checks import CheckResult, ChecksConfig, evaluate_checks, verdict
from l2trader.analysis.inputs import Calendar, MarketSeries, RunInputs
from l2trader.analysis.report import json_nulls
from l2trader.errors import ConfigError, InvalidValueError, L2TraderError
from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, STATE_DTYPE

__all__ = [
    "LIVE_METRICS",
    "LIVE_SECTIONS",
    "LiveValidation",
    "LiveValidator",
    "ValidationSink",
    "consecutive_losses",
    "market_series",
    "validation_families",
]

NOT_LIVE: Final = ("signals", "regimes")
"""Sections left out live: they need the signal series and the whole run's terciles."""
LIVE_SECTIONS: Final = tuple(s for s in SECTIONS if s not in NOT_LIVE)
"""Analyzer sections computed live, in the report's order (first section wins a name clash)."""

LIVE_METRICS: Final = (
    "equity",
    "pnl_total",
    "total_return",
    "sharpe",
    "max_drawdown",
    "max_drawdown_quote",
    "current_drawdown",
    "var_95_historical",
    "cvar_95_historical",
    "round_trips",
    "win_rate",
    "max_consecutive_losses",
    "consecutive_losses",
    "slippage_arrival_bps",
    "slippage_decision_bps",
    "correlation",
    "n_periods",
    "periods_per_year",
)
"""Headline metrics of :attr:`LiveValidation.metrics` (flat analyzer names; see the module)."""


def consecutive_losses(pnl: NDArray[np.float64]) -> int:
    """Losing round trips in a row at the end of ``pnl`` (exit order; 0 PnL breaks the run).

    Examples
    --------
    >>> consecutive_losses(np.array([-1.0, 2.0, -0.5, -0.25])), consecutive_losses(np.zeros(0))
    (2, 0)
    """
    not_loss = np.flatnonzero(~(np.asarray(pnl) < 0.0))
    return int(pnl.size - 1 - not_loss[-1]) if not_loss.size else int(pnl.size)


@dataclass(frozen=True)
class LiveValidation:
    """One evaluation: headline metrics, the checks and the counts it was computed on.

    Attributes
    ----------
    metrics
        :data:`LIVE_METRICS` by name (NaN when undefined).
    checks
        One :class:`~l2trader.analysis.checks.CheckResult` per configured check, in order.
    passed
        Every check passed (True with no checks, as the analyzer) and no ``error``.
    n_state, n_fills
        Rows the metrics were computed on.
    computed_ns, elapsed_ns
        Wall clock when computed (ns since the epoch) and the time ``update`` took (ns).
    error
        The analyzer's message when it rejected the rows (metrics are then NaN).
    flat
        Every flat metric of :data:`LIVE_SECTIONS` (what the checks read; not in ``to_dict``).
    """

    metrics: dict[str, float | int]
    checks: list[CheckResult]
    passed: bool
    n_state: int
    n_fills: int
    computed_ns: int
    elapsed_ns: int
    error: str | None = None
    flat: Mapping[str, float | int] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (NaN and +-inf -> None); ``checks`` as dicts of ``CheckResult``."""
        checks = [{k: json_nulls(v) for k, v in dataclasses.asdict(c).items()} for c in self.checks]
        return {
            "metrics": {k: json_nulls(v) for k, v in self.metrics.items()},
            "checks": checks,
            "passed": self.passed,
            "n_state": self.n_state,
            "n_fills": self.n_fills,
            "computed_ns": self.computed_ns,
            "elapsed_ns": self.elapsed_ns,
            "error": self.error,
        }


def _rows(name: str, rows: NDArray[Any] | None, dtype: np.dtype[Any]) -> NDArray[np.void]:
    """``rows`` after checking they are 1-D ``dtype`` records (None -> no rows)."""
    if rows is None:
        return np.zeros(0, dtype)
    if not isinstance(rows, np.ndarray) or rows.dtype != dtype or rows.ndim != 1:
        got = getattr(rows, "dtype", type(rows).__name__)
        raise InvalidValueError(f"{name} must be a 1-D array of {dtype}, got {got}", source=name)
    return rows


def market_series(
    state: NDArray[np.void],
    mid_ts: NDArray[np.int64] | None = None,
    mid: NDArray[np.float64] | None = None,
    spread: NDArray[np.float64] | None = None,
) -> MarketSeries:
    """The market the fills are measured against: ``(mid_ts, mid[, spread])``, else the C7 grid.

    Without ``mid_ts``/``mid`` the state rows' ``(ts_recv, mid)`` are the market (stale by up
    to one grid step; spread unknown). ``step_ns`` is the smallest gap (0 below 2 samples).

    Examples
    --------
    >>> m = market_series(np.zeros(0, STATE_DTYPE), np.array([0, 5, 10]), np.array([1.0, 2, 3]))
    >>> m.step_ns, m.mid_at(np.array([7])).tolist()
    (5, [2.0])
    """
    if (mid_ts is None) != (mid is None):
        raise ConfigError("market_series: give both mid_ts and mid, or neither")
    if mid_ts is None or mid is None:
        ts, m = returns.column(state, "ts_recv"), returns.column(state, "mid")
    else:
        ts, m = np.asarray(mid_ts, dtype=np.int64), np.asarray(mid, dtype=np.float64)
    s = np.full(m.shape, np.nan) if spread is None else np.asarray(spread, dtype=np.float64)
    if ts.ndim != 1 or ts.shape != m.shape or s.shape != m.shape:
        raise InvalidValueError(f"mid_ts {ts.shape}, mid {m.shape}, spread {s.shape} differ")
    gaps = np.diff(ts)
    if gaps.size and gaps.min() < 0:
        raise InvalidValueError("mid_ts must be ascending", source="mid", line=int(gaps.argmin()))
    positive = gaps[gaps > 0]
    step = int(positive.min()) if positive.size else 0
    nan = np.full(m.shape, np.nan)  # depth unknown (both sides share the array)
    return MarketSeries(ts=ts, mid=m, spread=s, bid_depth=nan, ask_depth=nan, step_ns=step,
                        depth_levels=0)  # fmt: skip


def _sections(inputs: RunInputs, feed_ns: int) -> dict[str, dict[str, float | int]]:
    """The analyzer's section functions on ``inputs``, in :data:`LIVE_SECTIONS` order.

    Trades run without the market: MAE/MFE (``mae_bps_*``, ``mfe_bps_*``) stay NaN live (their
    excursion scan was 40% of the time); the win/loss statistics do not read the market.
    """
    eq = inputs.equity
    ts, values = returns.column(eq, "ts_recv"), returns.column(eq, "equity")
    return {
        "performance": performance.performance_metrics(inputs),
        "risk": risk.risk_metrics(inputs),
        "drawdowns": drawdowns.drawdown_metrics(ts, values, inputs.capital),
        "benchmark": benchmark.benchmark_metrics(inputs),
        "trades": trades.trade_metrics(dataclasses.replace(inputs, market=None)),
        "microstructure": microstructure.microstructure_metrics(inputs, feed_ns=feed_ns),
        "execution": execution.execution_metrics(inputs, feed_ns=feed_ns),
    }


class LiveValidator:
    """Analyzer metrics and threshold checks of a running session, recomputed on demand.

    Parameters
    ----------
    checks
        Thresholds (None = none: ``passed`` is True unless the rows were rejected).
    capital
        Return base, quote (> 0): the session's initial cash, as ``paper report`` uses.
    tick_size
        Quote per tick (fill prices are in ticks).
    calendar, session_s
        As :class:`~l2trader.analysis.inputs.RunInputs` (annualisation of the C7 grid).
    feed_ns
        The engine's feed latency, ns (fills meet the market at ``ts_exch + feed_ns``).

    Examples
    --------
    >>> v = LiveValidator(None, capital=1_000.0, tick_size=0.01).update(
    ...     np.zeros(0, STATE_DTYPE), np.zeros(0, FILL_DTYPE))
    >>> v.passed, v.n_state, math.isnan(v.metrics["sharpe"]), v.metrics["round_trips"]
    (True, 0, True, 0)
    """

    def __init__(
        self,
        checks: ChecksConfig | None,
        capital: float,
        tick_size: float,
        calendar: Calendar = "24/7",
        session_s: float = 86_400.0,
        *,
        feed_ns: int = 0,
    ) -> None:
        if not (math.isfinite(capital) and capital > 0):
            raise ConfigError(f"LiveValidator: capital must be > 0 quote, got {capital!r}")
        if not (math.isfinite(tick_size) and tick_size > 0):
            raise ConfigError(f"LiveValidator: tick_size must be > 0, got {tick_size!r}")
        returns.seconds_per_year(calendar, session_s)  # validates calendar and session_s
        self.checks = checks if checks is not None else ChecksConfig()
        self.capital, self.tick_size = float(capital), float(tick_size)
        self.calendar, self.session_s, self.feed_ns = calendar, float(session_s), int(feed_ns)

    def inputs(
        self,
        state: NDArray[np.void],
        fills: NDArray[np.void],
        market: MarketSeries,
        orders: NDArray[np.void] | None = None,
        order_events: NDArray[np.void] | None = None,
    ) -> RunInputs:
        """The :class:`RunInputs` ``update`` analyses (also the oracle's input in tests)."""
        return RunInputs(
            run_id="live", config_id="", code_version="", data_fingerprint="",
            tick_size=self.tick_size, capital=self.capital, calendar=self.calendar,
            session_s=self.session_s, equity=_rows("state", state, STATE_DTYPE),
            fills=_rows("fills", fills, FILL_DTYPE), orders=_rows("orders", orders, ORDER_DTYPE),
            order_events=_rows("order_events", order_events, ORDER_EVENT_DTYPE), market=market,
        )  # fmt: skip

    def update(
        self,
        state: NDArray[np.void],
        fills: NDArray[np.void],
        mid_ts: NDArray[np.int64] | None = None,
        mid: NDArray[np.float64] | None = None,
        *,
        spread: NDArray[np.float64] | None = None,
        orders: NDArray[np.void] | None = None,
        order_events: NDArray[np.void] | None = None,
    ) -> LiveValidation:
        """Metrics and checks over every row so far (the arrays are read, never modified).

        Parameters
        ----------
        state, fills
            C7 rows (``STATE_DTYPE``, on the engine's grid) and C6 fills so far.
        mid_ts, mid, spread
            Market samples (ns, quote) for slippage and markouts; default: the C7 grid mids.
        orders, order_events
            C5 intents and order events (decision slippage, fill ratio, queue wait).
        """
        t0 = time.perf_counter_ns()
        state, fills = _rows("state", state, STATE_DTYPE), _rows("fills", fills, FILL_DTYPE)
        orders = _rows("orders", orders, ORDER_DTYPE)
        order_events = _rows("order_events", order_events, ORDER_EVENT_DTYPE)
        error, flat = None, {}
        try:  # misuse (a wrong dtype) raised above; rows the analyzer rejects are reported
            market = market_series(state, mid_ts, mid, spread)
            inputs = self.inputs(state, fills, market, orders, order_events)
            with returns.memo():
                flat = flat_metrics({**_sections(inputs, self.feed_ns), "live": _live(inputs)})
        except L2TraderError as exc:
            error = f"{type(exc).__name__}: {exc}"
        metrics = {k: flat.get(k, math.nan) for k in LIVE_METRICS}
        results = evaluate_checks(flat, self.checks)
        return LiveValidation(
            metrics=metrics, checks=results, passed=error is None and verdict(results),
            n_state=int(state.size), n_fills=int(fills.size), computed_ns=time.time_ns(),
            elapsed_ns=time.perf_counter_ns() - t0, error=error, flat=flat,
        )  # fmt: skip


def _live(inputs: RunInputs) -> dict[str, float | int]:
    """Live-only metrics: the last equity (quote) and the current losing streak."""
    values = returns.column(inputs.equity, "equity")
    pnl = trades.round_trips(inputs.fills, inputs.tick_size)["pnl"]
    return {
        "equity": float(values[-1]) if values.size else math.nan,
        "consecutive_losses": consecutive_losses(pnl),
    }


class ValidationSink:
    """The validation part of :class:`~l2trader.paper.live_metrics.LiveMetrics` (a mixin).

    Examples
    --------
    >>> class Sink(ValidationSink):
    ...     version = 0
    >>> s = Sink()
    >>> s.on_validation({"passed": True, "metrics": {}, "checks": []})
    >>> s.version, s.validation["passed"]
    (1, True)
    """

    version: int
    validation: dict[str, Any] | None = None
    """The latest :meth:`LiveValidation.to_dict` (None before the first)."""

    def on_validation(self, v: Mapping[str, Any]) -> None:
        """Store a :meth:`LiveValidation.to_dict` for ``snapshot()["validation"]``."""
        self.validation = dict(v)
        self.version += 1


def _gauge_value(x: Any) -> float:
    return math.nan if x is None else float(x)


def validation_families(v: Mapping[str, Any] | None) -> Iterator[Metric]:
    """Prometheus gauges of a validation dict: none before the first, NaN for undefined metrics.

    Examples
    --------
    >>> [f.samples[0].value for f in validation_families(
    ...     {"metrics": {"sharpe": 1.5, "win_rate": None}, "passed": False})]
    [1.5, nan, nan, 0.0]
    >>> list(validation_families(None))
    []
    """
    if v is None:
        return
    m: Mapping[str, Any] = v.get("metrics") or {}
    passed = v.get("passed")
    yield GaugeMetricFamily(
        "l2t_live_sharpe", "Annualized Sharpe of the session so far.", _gauge_value(m.get("sharpe"))
    )
    yield GaugeMetricFamily(
        "l2t_live_var95",
        "Historical 95% VaR of the grid returns (fraction of capital, < 0 = loss).",
        _gauge_value(m.get("var_95_historical")),
    )
    yield GaugeMetricFamily(
        "l2t_live_win_rate", "Winning share of round trips.", _gauge_value(m.get("win_rate"))
    )
    yield GaugeMetricFamily(
        "l2t_live_checks_passed", "1 when every live check passes, else 0.", _gauge_value(passed)
    )
