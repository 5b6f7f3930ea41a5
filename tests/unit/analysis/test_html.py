"""The HTML report: one self-contained page, every section, the checks and the conventions."""

from __future__ import annotations

import math
import re

import numpy as np

from l2trader.analysis.html import format_value, render_html
from l2trader.analysis.plots import FIGURE_TITLES, render_figures
from l2trader.analysis.report import PlotData, Report

SECTIONS = ("performance", "risk", "benchmark", "trades", "microstructure", "execution",
            "signals", "regimes")  # fmt: skip


def _report(checks: list[dict[str, object]]) -> Report:
    return Report(
        run_id="run-<1>",
        config_id="cfg",
        code_version="0.1.0",
        data_fingerprint="fp",
        periods_per_year=31_536_000.0,
        calendar="24/7",
        session_s=86_400.0,
        grid_step_ns=1_000_000_000,
        capital=2_500.0,
        metrics={name: {f"{name}_metric": 0.5, f"{name}_nan": math.nan} for name in SECTIONS},
        checks=checks,
        tables={"drawdown_periods": [{"start_ns": 1, "depth": -0.25}]},
    )


def _plot_data() -> PlotData:
    rng = np.random.default_rng(3)
    n = 600
    ts = 1_704_153_600_000_000_000 + 1_000_000_000 * np.arange(n, dtype=np.int64)
    equity = np.cumsum(rng.normal(0.0, 1.0, n))
    return PlotData(
        ts=ts,
        equity=equity,
        position=np.sign(rng.normal(size=n)),
        underwater=(equity - np.maximum.accumulate(equity)) / 2_500.0,
        returns=np.diff(equity) / 2_500.0,
        var_lines={"VaR 95% historical": -0.0006},
        markout_horizons_s=np.array([0.1, 1.0, 10.0, 60.0]),
        markout_curves={"maker buy": np.array([0.1, -0.2, -0.5, -0.4])},
        decay_horizons_s=np.array([1.0, 10.0, 60.0]),
        decay_ic=np.array([0.2, 0.1, 0.02]),
        decay_half_life_s=8.0,
        regimes=[{"dimension": "volatility", "regime": "low", "pnl": 3.0}],
    )


def _external_refs(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?(?!data:)([^"'\s>]+)""", page)


def test_page_is_self_contained_with_every_section_and_the_conventions() -> None:
    report = _report([])

    page = render_html(report, render_figures(_plot_data()), titles=FIGURE_TITLES)

    assert "http" not in page
    assert "<script" not in page
    assert _external_refs(page) == []
    for name in SECTIONS:
        assert f'<h2 id="{name}">{name}</h2>' in page
        assert f'<th>{name}_metric</th><td class="num">0.5</td>' in page
    assert '<th>periods_per_year</th><td class="num">3.1536e+07</td>' in page
    assert "<th>calendar</th><td>24/7</td>" in page
    assert '<th>capital (quote)</th><td class="num">2500</td>' in page
    assert "no checks configured" in page
    assert "run-&lt;1&gt;" in page  # escaped


def test_every_figure_is_embedded_as_a_png_data_uri() -> None:
    figures = render_figures(_plot_data())

    page = render_html(_report([]), figures, titles=FIGURE_TITLES)

    assert set(figures) == {"equity", "returns", "markouts", "inventory", "signal_decay", "regimes"}
    assert page.count('src="data:image/png;base64,') == 6
    assert all(png.startswith(b"\x89PNG") for png in figures.values())


def test_checks_table_colours_pass_and_fail_rows() -> None:
    checks = [
        {"name": "a", "value": 1.0, "threshold": 0.0, "op": ">=", "passed": True, "reason": "ok"},
        {"name": "b", "value": math.nan, "threshold": 0.0, "op": ">=", "passed": False,
         "reason": "NaN"},
    ]  # fmt: skip

    page = render_html(_report(checks))

    assert '<span class="verdict-fail">FAIL</span>' in page
    assert page.count('<tr class="pass">') == 1
    assert page.count('<tr class="fail">') == 1


def test_format_value_spells_out_non_finite_numbers() -> None:
    assert [format_value(v) for v in (math.inf, -math.inf, 1e-12, "x")] == [
        "Infinity", "-Infinity", "1e-12", "x",
    ]  # fmt: skip
