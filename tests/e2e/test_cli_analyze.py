"""``l2trader analyze`` / ``compare`` end to end: synth -> ingest -> backtest (MM) -> reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from l2trader.analysis.report import Report
from l2trader.book.replay import replay
from l2trader.cli import analyze_cmd
from l2trader.cli.main import app as main_app
from l2trader.cli.market_series import build_market_series, load_run_inputs
from l2trader.data.catalog import Catalog
from l2trader.engine.config import BacktestConfig, DataSpec, EngineConfig, StrategySpec
from l2trader.engine.registry import RunRegistry, registry_path
from l2trader.engine.run_dir import RunData, read_run, write_run
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.errors import ConfigError

runner = CliRunner()
app = typer.Typer()
app.command("analyze")(analyze_cmd.analyze)
app.command("compare")(analyze_cmd.compare)

PASSING = '[[checks]]\nmetric = "round_trips"\nop = ">="\nthreshold = 0.0\n'
FAILING = PASSING + '[[checks]]\nmetric = "fill_ratio"\nop = ">"\nthreshold = 2.0\n'


def _ok(typer_app: typer.Typer, *args: str) -> str:
    result = runner.invoke(typer_app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Two market-maker runs (different inventory limits) on a 15-minute synthetic day."""
    out = tmp_path_factory.mktemp("analyze")
    _ok(main_app, "synth", "--out", str(out / "raw"), "--seed", "5", "--duration-s", "300")
    for path in sorted((out / "raw").glob("*.csv.gz")):
        _ok(main_app, "ingest", "tardis", str(path), "--catalog", str(out / "cat"),
            "--venue", "synthetic", "--symbol", "SYN")  # fmt: skip
    for max_inventory in (5.0, 2.0):
        mm = MarketMakerConfig(inventory_unit_qty=1.0, max_inventory=max_inventory,
                               sizing=SizingConfig(qty=1.0))  # fmt: skip
        cfg = BacktestConfig(
            data=DataSpec(catalog=str(out / "cat"), venue="synthetic", symbol="SYN"),
            engine=EngineConfig(),
            strategy=StrategySpec(kind="market_maker", market_maker=mm),
            runs_root=str(out / "runs"),
        )
        (out / f"mm{max_inventory}.toml").write_text(cfg.to_toml())
        _ok(main_app, "backtest", str(out / f"mm{max_inventory}.toml"))
    with RunRegistry(registry_path(out / "runs")) as reg:
        ids = [r.run_id for r in reg.list()]
    return out, ids


def test_analyze_writes_both_reports_registers_them_and_passes(
    runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out, ids = runs
    checks = tmp_path / "pass.toml"
    checks.write_text(PASSING)

    printed = _ok(app, "analyze", ids[0], "--runs-root", str(out / "runs"), "--checks", str(checks))

    run_dir = out / "runs" / ids[0]
    report = Report.from_json((run_dir / "report.json").read_text())
    page = (run_dir / "report.html").read_text()
    assert report.run_id == ids[0]
    assert report.passed
    assert report.checks[0]["passed"] is True
    assert report.periods_per_year == 365 * 86_400
    assert report.calendar == "24/7"
    assert report.capital > 0
    assert report.artifacts == ["report.json", "report.html"]
    assert report.metrics["trades"]["round_trips"] > 0
    assert "http" not in page
    assert page.count('src="data:image/png;base64,') >= 5
    assert 'alt="L2 microstructure' in page
    with RunRegistry(registry_path(out / "runs")) as reg:
        assert reg.get(ids[0]).report_path == str((run_dir / "report.json").resolve())
    assert "checks" in printed
    assert "round_trips" in printed or "sharpe" in printed


def test_analyze_exits_1_when_a_check_fails_and_writes_to_out(
    runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out, ids = runs
    checks = tmp_path / "fail.toml"
    checks.write_text(FAILING)

    result = runner.invoke(app, ["analyze", str(out / "runs" / ids[1]), "--out",
                                 str(tmp_path / "rep"), "--checks", str(checks)])  # fmt: skip

    assert result.exit_code == 1, result.output
    raw = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [c["passed"] for c in raw["checks"]] == [True, False]
    assert raw["checks"][1]["op"] == ">"
    assert (tmp_path / "rep" / "report.html").is_file()


def test_compare_prints_runs_side_by_side(runs: tuple[Path, list[str]]) -> None:
    out, ids = runs

    printed = _ok(app, "compare", *ids, "--runs-root", str(out / "runs"))

    assert all(run_id in printed for run_id in ids)
    assert "periods_per_year" in printed


def test_analyze_of_an_unknown_run_raises_a_typed_error(runs: tuple[Path, list[str]]) -> None:
    out, _ = runs

    result = runner.invoke(app, ["analyze", "nope", "--runs-root", str(out / "runs")])

    assert result.exit_code != 0
    assert "nope" in str(result.exception)


def test_market_series_equals_the_book_replayed_in_one_shot(runs: tuple[Path, list[str]]) -> None:
    out, ids = runs
    catalog = Catalog(out / "cat")

    series = build_market_series(catalog, "synthetic", "SYN", tick_size=0.01, max_heat_rows=50)

    frame = replay(catalog.read_all("synthetic", "SYN"), levels=21)
    k = np.searchsorted(frame.ts_recv, series.ts, side="right") - 1
    assert series.step_ns == 100_000_000
    assert np.all(np.diff(series.ts) == 100_000_000)
    assert k.min() >= 0  # the grid starts at or after the first book state
    want_mid = (frame.bid_ticks[k, 0] + frame.ask_ticks[k, 0]) / 2 * 0.01
    np.testing.assert_allclose(series.mid, want_mid, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(series.bid_depth, frame.bid_qty[k, :5].sum(axis=1))
    np.testing.assert_array_equal(series.ask_depth, frame.ask_qty[k, :5].sum(axis=1))
    n_heat = series.heat_qty.shape[0]
    assert n_heat <= 50
    assert series.ts.size % n_heat == 0
    j = series.ts.size // n_heat * 7  # heat row 7
    centre = round((frame.bid_ticks[k[j], 0] + frame.ask_ticks[k[j], 0]) / 2)
    want = np.zeros(41)
    for ticks, qty in ((frame.bid_ticks[k[j]], frame.bid_qty[k[j]]),
                       (frame.ask_ticks[k[j]], frame.ask_qty[k[j]])):  # fmt: skip
        for t, q in zip(ticks, qty, strict=True):
            if q > 0 and abs(t - centre) <= 20:
                want[t - centre + 20] += q
    np.testing.assert_array_equal(series.heat_qty[7], want)
    inputs = load_run_inputs(out / "runs" / ids[0], with_market=False)
    assert inputs.calendar == "24/7"
    assert inputs.session_s == 86_400.0
    assert inputs.market is None
    assert inputs.signal_horizon_ns == 1_000_000_000


def test_a_run_that_never_held_a_position_needs_an_explicit_capital(
    runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out, ids = runs
    run = read_run(out / "runs" / ids[0])
    flat = run.equity.copy()
    flat["position"] = 0.0
    empty = RunData(run.orders[:0], run.order_events[:0], run.fills[:0], flat, run.signals,
                    {**run.meta, "run_id": "flat"})  # fmt: skip
    write_run(tmp_path / "flat", empty)

    with pytest.raises(ConfigError, match=r"capital .* is undefined"):
        load_run_inputs(tmp_path / "flat", with_market=False)
    printed = _ok(app, "analyze", str(tmp_path / "flat"), "--capital", "500")

    report = Report.from_json((tmp_path / "flat" / "report.json").read_text())
    assert report.capital == 500.0
    assert report.metrics["trades"]["round_trips"] == 0
    assert math.isnan(report.metrics["trades"]["win_rate"])
    assert "not registered" in printed
