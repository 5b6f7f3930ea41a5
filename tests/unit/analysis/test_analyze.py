"""``analyze``: every section, checks against flat metrics, figures and files written."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from l2trader.analysis.analyze import SECTIONS, analyze, flat_metrics, write_report
from l2trader.analysis.checks import ChecksConfig, CheckSpec
from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.plots import plots_unavailable, render_figures
from l2trader.analysis.report import Report, encode_value
from l2trader.errors import InvalidValueError
from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, SIGNAL_DTYPE, STATE_DTYPE

T0 = 1_704_153_600_000_000_000
S = 1_000_000_000
TICK = 0.01


def _market(n_s: int) -> MarketSeries:
    """A 100 ms grid over ``n_s`` seconds: mid walks +-1 tick, spread 1 tick, 41-tick heatmap."""
    rng = np.random.default_rng(11)
    n = 10 * n_s
    ts = T0 + S // 10 * np.arange(n, dtype=np.int64)
    mid_ticks = 10_000.5 + np.cumsum(rng.choice([-1, 0, 0, 1], n))
    heat = np.tile(np.abs(np.arange(-20, 21, dtype=np.float64)), (n // 10, 1))
    return MarketSeries(ts=ts, mid=mid_ticks * TICK, spread=np.full(n, TICK),
                        bid_depth=np.full(n, 5.0), ask_depth=np.full(n, 6.0), step_ns=S // 10,
                        depth_levels=5, heat_ticks=np.arange(-20, 21, dtype=np.int64),
                        heat_qty=heat)  # fmt: skip


def _inputs(n_s: int = 600) -> RunInputs:
    market = _market(n_s)
    eq = np.zeros(n_s, STATE_DTYPE)
    eq["ts_recv"] = T0 + S * np.arange(n_s, dtype=np.int64)
    eq["mid"] = market.mid_at(eq["ts_recv"])
    k = 20
    fills = np.zeros(2 * k, FILL_DTYPE)
    fills["ts_exch"] = T0 + S * (5 + 10 * np.arange(2 * k))
    fills["ts_recv"] = fills["ts_exch"] + 1_000_000
    fills["order_id"] = np.arange(1, 2 * k + 1)
    fills["side"] = np.tile([1, -1], k)
    fills["liquidity"] = 1
    fills["qty"] = 1.0
    fills["price_ticks"] = np.round(market.mid_at(fills["ts_exch"]) / TICK - 0.5 * fills["side"])
    fills["fee"] = -0.0005
    pos = np.cumsum(fills["side"].astype(float))
    cash = np.cumsum(-fills["side"] * fills["price_ticks"] * TICK - fills["fee"])
    j = np.searchsorted(fills["ts_recv"], eq["ts_recv"], side="right") - 1
    eq["position"] = np.where(j >= 0, pos[np.maximum(j, 0)], 0.0)
    eq["cash"] = np.where(j >= 0, cash[np.maximum(j, 0)], 0.0)
    eq["equity"] = eq["cash"] + eq["position"] * eq["mid"]
    orders = np.zeros(2 * k, ORDER_DTYPE)
    orders["ts_recv"] = fills["ts_exch"] - S
    orders["order_id"], orders["action"], orders["side"] = fills["order_id"], 1, fills["side"]
    orders["order_type"], orders["tif"], orders["qty"] = 1, 4, 1.0
    orders["price_ticks"] = fills["price_ticks"]
    events = np.zeros(2 * k, ORDER_EVENT_DTYPE)
    events["ts_exch"], events["ts_recv"] = fills["ts_exch"], fills["ts_recv"]
    events["order_id"], events["status"] = fills["order_id"], 5
    signals = np.zeros(n_s, SIGNAL_DTYPE)
    signals["ts_recv"] = eq["ts_recv"]
    signals["score"] = np.random.default_rng(2).normal(size=n_s)
    return RunInputs(run_id="r1", config_id="c1", code_version="0.1.0", data_fingerprint="fp",
                     tick_size=TICK, capital=100.0, calendar="24/7", session_s=86_400.0,
                     equity=eq, fills=fills, orders=orders, order_events=events,
                     signals=signals, market=market)  # fmt: skip


@pytest.fixture(scope="module")
def report() -> Report:
    return analyze(_inputs())


def test_report_has_every_section_and_states_its_conventions(report: Report) -> None:
    assert tuple(report.metrics) == SECTIONS
    assert all(report.metrics[s] for s in SECTIONS)
    assert report.periods_per_year == 31_536_000.0
    assert report.grid_step_ns == S
    assert report.capital == 100.0
    assert report.calendar == "24/7"
    assert report.metrics["trades"]["round_trips"] == 20
    assert report.checks == []
    assert report.passed


def test_checks_are_evaluated_on_the_flat_metrics(report: Report) -> None:
    checks = ChecksConfig(checks=(
        CheckSpec(metric="round_trips", op="==", threshold=20.0),
        CheckSpec(metric="trades.round_trips", op=">", threshold=20.0),
        CheckSpec(metric="no_such_metric", op=">", threshold=0.0),
    ))  # fmt: skip

    checked = analyze(_inputs(), checks)

    assert [c["passed"] for c in checked.checks] == [True, False, False]
    assert checked.checks[1]["value"] == 20.0
    assert checked.checks[2]["reason"] == "metric 'no_such_metric' is missing from the report"
    assert not checked.passed
    assert encode_value(checked.metrics) == encode_value(report.metrics)  # NaN-safe


def test_plot_data_feeds_every_figure(report: Report) -> None:
    assert report.plot_data is not None

    figures = render_figures(report.plot_data)

    assert set(figures) == {"equity", "returns", "markouts", "inventory", "signal_decay",
                            "regimes", "l2_panel"}  # fmt: skip
    assert set(report.plot_data.markout_curves) == {"maker buy", "maker sell"}
    assert report.plot_data.markout_horizons_s.tolist() == [0.1, 1.0, 10.0, 60.0]
    assert len(report.plot_data.var_lines) == 6


def test_write_report_writes_json_and_self_contained_html(report: Report, tmp_path: Path) -> None:
    json_path, html_path = write_report(report, tmp_path / "out")

    back = Report.from_json(json_path.read_text())
    page = html_path.read_text()
    assert back.artifacts == ["report.json", "report.html"]
    assert back.metrics.keys() == report.metrics.keys()
    assert json.loads(json_path.read_text())["run_id"] == "r1"
    assert "http" not in page
    assert page.count('src="data:image/png;base64,') == 7
    assert all(f'<h2 id="{s}">' in page for s in SECTIONS)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.json"]


def test_without_matplotlib_the_report_is_written_without_figures(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    _, html_path = write_report(report, tmp_path)

    reason = plots_unavailable()
    assert reason is not None
    assert "pip install 'l2trader[plot]'" in reason
    page = html_path.read_text()
    assert "data:image/png" not in page
    assert "matplotlib (the &#x27;plot&#x27; extra) is not installed" in page


def test_flat_metrics_keeps_first_section_and_qualified_names() -> None:
    flat = flat_metrics({"a": {"x": 1, "y": math.nan}, "b": {"x": 2}})

    assert flat["x"] == 1
    assert flat["b.x"] == 2
    assert math.isnan(flat["a.y"])


def test_threaded_and_serial_analyze_give_the_same_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange
    from l2trader.analysis import analyze as analyze_module

    inputs = _inputs()
    monkeypatch.setattr(analyze_module, "_WORKERS", 1)
    serial = dataclasses.replace(analyze(inputs), created_ns=0).to_json()

    # Act
    monkeypatch.setattr(analyze_module, "_WORKERS", 2)
    threaded = dataclasses.replace(analyze(inputs), created_ns=0).to_json()

    # Assert
    assert threaded == serial


def test_a_failing_step_raises_its_own_error_from_the_threads() -> None:
    # Arrange
    inputs = _inputs()
    bad = inputs.equity.copy()
    bad["ts_recv"][5] = bad["ts_recv"][4]  # a repeated grid time

    # Act / Assert
    with pytest.raises(InvalidValueError, match="not increasing"):
        analyze(dataclasses.replace(inputs, equity=bad))
