"""One call from a run's inputs to its report: every section, the checks, the figures' data.

:func:`analyze` runs each section function of the analysis package on the same
:class:`~l2trader.analysis.inputs.RunInputs` and collects the flat metric dicts under their
section names (``performance``, ``risk``, ``drawdowns``, ``benchmark``, ``trades``,
``microstructure``, ``execution``, ``signals``, ``regimes``). Checks are evaluated against
:func:`flat_metrics` of those sections. :func:`write_report` writes ``report.json`` and the
self-contained ``report.html``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis import (
    benchmark,
    drawdowns,
    execution,
    microstructure,
    performance,
    regimes,
    returns,
    risk,
    signal_quality,
    trades,
)
from l2trader.analysis.checks import ChecksConfig, CheckSpec, evaluate_checks
from l2trader.analysis.html import render_html
from l2trader.analysis.inputs import RunInputs
from l2trader.analysis.plots import FIGURE_TITLES, plots_unavailable, render_figures
from l2trader.analysis.report import PlotData, Report
from l2trader.atomic import write_text_atomic
from l2trader.schema import Liquidity
from l2trader.units import NS_PER_SECOND

__all__ = ["REPORT_HTML", "REPORT_JSON", "SECTIONS", "analyze", "flat_metrics", "write_report"]

REPORT_JSON: Final = "report.json"
REPORT_HTML: Final = "report.html"
SECTIONS: Final = (
    "performance",
    "risk",
    "drawdowns",
    "benchmark",
    "trades",
    "microstructure",
    "execution",
    "signals",
    "regimes",
)
"""Metric sections of a report, in report order."""

_VAR_LEVELS: Final = (0.95, 0.99)
_VAR_METHODS: Final = ("historical", "normal", "cornish_fisher")
_TOP_DRAWDOWNS: Final = 5
_WORKERS = 2
"""Threads ``analyze`` runs its steps on (issue 5's target machine has 2 cores)."""
_T = TypeVar("_T")


def flat_metrics(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every metric under its own name (first section wins a clash) and as ``section.name``.

    Examples
    --------
    >>> flat_metrics({"performance": {"sharpe": 1.0}, "risk": {"sharpe": 2.0}})
    {'sharpe': 1.0, 'performance.sharpe': 1.0, 'risk.sharpe': 2.0}
    """
    out: dict[str, Any] = {}
    for section, values in metrics.items():
        for name, value in values.items():
            out.setdefault(name, value)
            out[f"{section}.{name}"] = value
    return out


def _ts_equity(inputs: RunInputs) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    eq = inputs.equity
    return returns.column(eq, "ts_recv"), returns.column(eq, "equity")


@dataclasses.dataclass(frozen=True)
class _Shared:
    """Intermediate results more than one section, table or figure reads (computed once)."""

    markouts: microstructure.Markouts
    decay: signal_quality.Decay
    regime_rows: list[dict[str, float | int | str]]


def _regimes(
    inputs: RunInputs,
) -> tuple[list[dict[str, float | int | str]], dict[str, float | int]]:
    """Regime rows and metrics from one labelling (its ~0.7 GB of labels are freed after)."""
    if inputs.equity.size < 2:
        return [], regimes.regime_metrics(inputs)
    labels = regimes.label_periods(inputs)
    rows = regimes.regime_rows(labels)
    return rows, regimes.regime_metrics_from_labels(labels, regimes.DEFAULT_VOL_WINDOW_NS, rows)


class _Inline(Executor):
    """Runs each submitted call at once in the calling thread (``_WORKERS == 1``)."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # re-raised by ``result()``, as a pool's future does
            future.set_exception(exc)
        return future


def _executor() -> Executor:
    return ThreadPoolExecutor(max_workers=_WORKERS) if _WORKERS > 1 else _Inline()


def _submit(pool: Executor, fn: Callable[..., _T], *args: Any, **kw: Any) -> Future[_T]:
    """Run ``fn`` on the pool inside a copy of this context (it sees the same memo table)."""
    return pool.submit(contextvars.copy_context().run, fn, *args, **kw)


def _independent(pool: Executor, inputs: RunInputs, feed_ns: int) -> dict[str, Future[Any]]:
    """Submit every step that needs no shared intermediate, the slowest first."""
    ts, equity = _ts_equity(inputs)
    return {
        "execution": _submit(pool, execution.execution_metrics, inputs, feed_ns=feed_ns),
        "benchmark": _submit(pool, benchmark.benchmark_metrics, inputs),
        "performance": _submit(pool, performance.performance_metrics, inputs),
        "risk": _submit(pool, risk.risk_metrics, inputs),
        "trades": _submit(pool, trades.trade_metrics, inputs),
        "drawdowns": _submit(pool, drawdowns.drawdown_metrics, ts, equity, inputs.capital),
        "periods": _submit(
            pool, drawdowns.drawdown_periods, ts, equity, inputs.capital, top=_TOP_DRAWDOWNS
        ),
        "underwater": _submit(pool, drawdowns.underwater, equity, inputs.capital),
    }


def _dependent(
    pool: Executor, inputs: RunInputs, feed_ns: int, shared: _Shared
) -> dict[str, Future[Any]]:
    """Submit the sections that read the shared intermediates."""
    return {
        "microstructure": _submit(
            pool,
            microstructure.microstructure_metrics,
            inputs,
            feed_ns=feed_ns,
            markouts=shared.markouts,
        ),
        "signals": _submit(pool, signal_quality.signal_metrics, inputs, decay=shared.decay),
    }


def _run_steps(
    inputs: RunInputs, feed_ns: int, pool: Executor
) -> tuple[dict[str, dict[str, float | int]], dict[str, list[dict[str, Any]]], _Shared, Any]:
    """Every section, the tables and the shared intermediates, on ``pool``'s threads.

    The kernels release the GIL and numpy does for large arrays, so independent steps overlap
    on 2 cores (``_WORKERS = 1``: one after another in this thread). Each step is the same
    deterministic call as when run alone, so the values do not depend on the scheduling; the
    first failing step in the serial order raises.
    """
    for name in ("equity", "position", "mid"):  # memoise the shared C7 columns up front
        returns.column(inputs.equity, name)
    regime = _submit(pool, _regimes, inputs)
    decay = _submit(pool, signal_quality.signal_decay, inputs)
    markouts = _submit(pool, microstructure.markout_table, inputs, feed_ns=feed_ns)
    steps = _independent(pool, inputs, feed_ns)
    regime_rows, regime_metrics = regime.result()
    shared = _Shared(markouts.result(), decay.result(), regime_rows)
    steps.update(_dependent(pool, inputs, feed_ns, shared))
    metrics = {name: steps[name].result() for name in SECTIONS if name != "regimes"}
    metrics["regimes"] = regime_metrics  # SECTIONS order: regimes is the last section
    tables = {
        "drawdown_periods": [dict(p) for p in steps["periods"].result()],
        "regimes": [dict(r) for r in shared.regime_rows],
    }
    return metrics, tables, shared, steps["underwater"].result()


def _markout_curves(mk: microstructure.Markouts) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
    """Horizons (s) and mean markout (bps) per liquidity x side with any finite value."""
    curves = {}
    for liq_name, liq in (("maker", Liquidity.MAKER), ("taker", Liquidity.TAKER)):
        for side_name, side in (("buy", 1), ("sell", -1)):
            curve = mk.curve(int(liq), side)
            if np.isfinite(curve).any():
                curves[f"{liq_name} {side_name}"] = curve
    return mk.horizons_ns / NS_PER_SECOND, curves


def _var_lines(risk_metrics: Mapping[str, Any]) -> dict[str, float]:
    """VaR at each level and method, labelled (return thresholds; from the risk section)."""
    return {
        f"VaR {round(100 * level)}% {method}": float(
            risk_metrics[f"var_{round(100 * level)}_{method}"]
        )
        for level in _VAR_LEVELS
        for method in _VAR_METHODS
    }


def _plot_data(
    inputs: RunInputs,
    tables: dict[str, Any],
    metrics: Mapping[str, Any],
    shared: _Shared,
    feed_ns: int,
    under: NDArray[np.float64],
) -> PlotData:
    """The arrays behind every figure (see :class:`~l2trader.analysis.report.PlotData`)."""
    ts, equity = _ts_equity(inputs)
    _, r = returns.grid_returns(inputs.equity, inputs.capital)
    horizons_s, curves = _markout_curves(shared.markouts)
    decay = shared.decay
    fills = inputs.fills
    return PlotData(
        ts=ts,
        equity=equity,
        position=returns.column(inputs.equity, "position"),
        underwater=under,
        returns=r,
        var_lines=_var_lines(metrics["risk"]),
        markout_horizons_s=horizons_s,
        markout_curves=curves,
        decay_horizons_s=decay.horizons_ns / NS_PER_SECOND,
        decay_ic=decay.ic_spearman,
        decay_half_life_s=decay.half_life_s,
        regimes=tables["regimes"],
        market=inputs.market,
        fill_ts=np.asarray(fills["ts_exch"], np.int64) + feed_ns,
        fill_price=np.asarray(fills["price_ticks"], np.float64) * inputs.tick_size,
        fill_side=np.asarray(fills["side"], np.int8),
        tick_size=inputs.tick_size,
    )


def analyze(
    inputs: RunInputs,
    checks: ChecksConfig | tuple[CheckSpec, ...] | None = None,
    *,
    feed_ns: int = 0,
) -> Report:
    """Analyse one run: every section's metrics, the drawdown and regime tables, the checks.

    Parameters
    ----------
    inputs
        The run's arrays, capital, calendar and market series.
    checks
        Thresholds to evaluate (None = no checks: the report passes).
    feed_ns
        The engine's feed latency (ns): fills (venue time) meet the market at
        ``ts_exch + feed_ns`` (see :mod:`~l2trader.analysis.microstructure`).
    """
    with returns.memo():  # the grid's returns and step are computed once for all sections
        step_ns = returns.grid_step_ns(returns.column(inputs.equity, "ts_recv"))
        with _executor() as pool:
            metrics, tables, shared, under = _run_steps(inputs, feed_ns, pool)
        plot_data = _plot_data(inputs, tables, metrics, shared, feed_ns, under)
    results = evaluate_checks(flat_metrics(metrics), checks) if checks is not None else []
    return Report(
        run_id=inputs.run_id,
        config_id=inputs.config_id,
        code_version=inputs.code_version,
        data_fingerprint=inputs.data_fingerprint,
        periods_per_year=returns.periods_per_year(step_ns, inputs.calendar, inputs.session_s),
        calendar=inputs.calendar,
        session_s=inputs.session_s,
        grid_step_ns=step_ns,
        capital=inputs.capital,
        metrics=metrics,
        checks=[dataclasses.asdict(c) for c in results],
        tables=tables,
        strategy_id=inputs.strategy_id,
        created_ns=time.time_ns(),
        plot_data=plot_data,
    )


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir`` (created; files replaced).

    The figures are rendered from ``report.plot_data`` (left out, with a note in the page,
    when matplotlib is missing or the report was read back from JSON).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = dataclasses.replace(report, artifacts=[REPORT_JSON, REPORT_HTML])
    figures: dict[str, bytes] = {}
    note = plots_unavailable()
    if report.plot_data is None:
        note = "plots omitted: no plot data (report read back from JSON)"
    elif note is None:
        figures = render_figures(report.plot_data)
    json_path, html_path = out_dir / REPORT_JSON, out_dir / REPORT_HTML
    write_text_atomic(json_path, report.to_json())
    write_text_atomic(html_path, render_html(report, figures, titles=FIGURE_TITLES, note=note))
    return json_path, html_path
