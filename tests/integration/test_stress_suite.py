"""Stress suites end to end: the broken strategy scores lower; the real capture runs them all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from l2trader.cli.stress_cmd import StressData, StressRunConfig, SyntheticLoader, run_stress, stress
from l2trader.stress.runner import CaseResult, run_many
from l2trader.stress.score import ScoreConfig, score_results
from l2trader.stress.suites import (
    CaptureLoader,
    StressLimits,
    broken_market_maker,
    build_suite,
    reference_market_maker,
)

USDM = "hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
LIMITS = StressLimits(max_position=0.1, max_drawdown=10.0)


def _checks(result: CaseResult) -> dict[str, bool | None]:
    return {i.name: i.passed for i in result.invariants}


def test_broken_market_maker_scores_visibly_lower_under_the_flash_crash_suite() -> None:
    # issue 6: no stop, no kill switch, no inventory limit -> lower score than the reference
    strategies = [reference_market_maker(), broken_market_maker()]
    cases = build_suite("flash_crash", strategies, limits=LIMITS)

    results = run_many(cases, SyntheticLoader(seed=7), executor="serial")
    ref, broken = score_results(results, ScoreConfig())

    assert ref.overall - broken.overall >= 10.0
    assert ref.passed
    assert not broken.passed
    crash = next(r for r in results if r.case_id == "reference_mm/flash_crash")
    assert crash.metrics["kill_switch"] == 1.0  # the kill switch fired in the crash ...
    assert _checks(crash)["kill_switch"] is True  # ... only flattens after it, flat at the end
    assert crash.equity[-1] == pytest.approx(crash.metrics["pnl"])
    assert _checks(next(r for r in results if r.case_id == "broken_mm/flash_crash")) == {
        "no_crash": True, "typed_error_strict": True, "conservation": True,
        "faults_detected": None, "position_limit": False, "drawdown_limit": False,
        "kill_switch": None, "equity_reconciles": True, "book_consistent": True,
    }  # fmt: skip


def test_stress_command_writes_the_reports_and_prints_the_scores(tmp_path: Path) -> None:
    config = tmp_path / "stress.toml"
    config.write_text('name = "demo"\nduration_s = 30.0\nexecutor = "serial"\n'
                      '[data]\nsource = "synthetic"\nn_events = 30000\n')  # fmt: skip
    app = typer.Typer()
    app.command()(stress)

    result = CliRunner().invoke(app, [str(config), "--out", str(tmp_path / "out")])

    assert result.exit_code == 0, result.output
    assert "reference_mm" in result.output
    assert "broken_mm" in result.output
    assert (tmp_path / "out" / "stress_report.json").is_file()
    assert (tmp_path / "out" / "stress_report.html").is_file()


@pytest.mark.shared_data
def test_quick_suite_on_the_real_usdm_capture(shared_data: Path) -> None:
    cfg = StressRunConfig(
        data=StressData(source="capture", paths=(str(shared_data / USDM),), max_events=150_000),
        strategies=[reference_market_maker(0.002, max_drawdown=20.0),
                    broken_market_maker(0.002)],
        limits=StressLimits(max_position=0.02, max_drawdown=30.0), executor="serial",
    )  # fmt: skip

    results, scores, report = run_stress(cfg, show_progress=False)

    assert all(r.error is None for r in results)
    ref = [r for r in results if r.strategy == "reference_mm"]
    assert [(r.scenario, n) for r in ref for n, ok in _checks(r).items() if ok is False] == []
    assert scores[0].overall > scores[1].overall
    assert scores[0].passed
    assert not scores[1].passed  # it breaches the desk's position limit
    assert report["score_0_100"] == pytest.approx(scores[0].overall)


@pytest.mark.shared_data
def test_full_suite_on_the_real_usdm_capture_runs_every_case(shared_data: Path) -> None:
    loader = CaptureLoader((str(shared_data / USDM),))
    strategies = [reference_market_maker(0.002, max_drawdown=20.0), broken_market_maker(0.002)]
    cases = build_suite("full", strategies, limits=StressLimits(max_position=0.02,
                                                                max_drawdown=30.0))  # fmt: skip

    results = run_many(cases, loader, executor="process", workers=2)

    assert len(results) == 2 * 27  # 18 transforms, 1 composition, 7 system, baseline
    assert all(r.error is None for r in results)
    scores = score_results(results, ScoreConfig())
    assert scores[0].overall > scores[1].overall  # measured: 99.1 vs 92.5
    assert scores[0].passed
    assert not scores[1].passed
    assert "broken_mm/baseline: position_limit" in scores[1].critical
    assert np.isfinite([s.overall for s in scores]).all()
