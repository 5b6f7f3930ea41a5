"""The stress report: strict JSON with the C9 keys, one self-contained HTML page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from l2trader.stress.invariants import InvariantResult
from l2trader.stress.report import build_report, write_report
from l2trader.stress.runner import CaseResult
from l2trader.stress.score import ScoreConfig, score_results


def _result(scenario: str, category: str, pnl: float, ok: bool) -> CaseResult:
    check = InvariantResult("position_limit", ok, "max 0.2 base units > limit 0.1")
    metrics = {"pnl": pnl, "max_drawdown": max(-pnl, 0.0), "sharpe": float("nan"), "fills": 3.0}
    return CaseResult(f"mm/{scenario}", "mm", scenario, category, metrics, (check,), {},
                      equity_ts=(0, 10**9, 2 * 10**9), equity=(0.0, pnl / 2, pnl))  # fmt: skip


RESULTS = [
    _result("baseline", "baseline", -1.0, True),
    _result("flash_crash", "market", -5.0, False),
]


def test_report_json_has_the_c9_keys_and_the_violation_evidence() -> None:
    cfg = ScoreConfig()
    report = build_report(RESULTS, score_results(RESULTS, cfg), cfg, run_id="r1",
                          config_id="c1", data_fingerprint="d1")  # fmt: skip

    text = json.dumps(report, allow_nan=False)  # NaN Sharpe became null

    assert {"run_id", "config_id", "code_version", "data_fingerprint", "metrics", "checks",
            "artifacts", "scenarios", "score_0_100"} <= set(report)  # fmt: skip
    assert [s["name"] for s in report["scenarios"]] == ["baseline", "flash_crash"]
    assert report["scenarios"][1]["metrics_delta"]["pnl"] == -4.0
    assert report["scenarios"][1]["metrics_delta"]["sharpe"] is None
    assert report["strategies"][0]["violations"] == [{
        "case": "mm/flash_crash", "invariant": "position_limit",
        "evidence": "max 0.2 base units > limit 0.1"}]  # fmt: skip
    assert '"score_0_100"' in text


def test_html_is_self_contained_with_heatmap_equity_and_violations(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    cfg = ScoreConfig()
    report = build_report(RESULTS, score_results(RESULTS, cfg), cfg, run_id="r1",
                          config_id="c1", data_fingerprint="d1")  # fmt: skip

    json_path, html_path = write_report(report, RESULTS, tmp_path)

    html = html_path.read_text()
    assert json.loads(json_path.read_text())["run_id"] == "r1"
    assert html.count("data:image/png;base64,") == 2
    assert 'alt="heatmap"' in html
    assert "max 0.2 base units &gt; limit 0.1" in html
    assert "http" not in html
    assert "<script" not in html


def test_system_measurements_and_identity_are_reported_but_not_scored(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    base = _result("baseline", "baseline", -1.0, True)
    cpu = CaseResult("mm/system_cpu_contention", "mm", "system_cpu_contention", "system",
                     base.metrics, base.invariants, {}, equity_ts=base.equity_ts,
                     equity=base.equity, measurements={"slowdown": 2.5})  # fmt: skip
    results = [base, cpu]
    cfg = ScoreConfig()
    report = build_report(results, score_results(results, cfg), cfg, run_id="r", config_id="c",
                          data_fingerprint="d", strategy_ids={"mm": "a" * 64})  # fmt: skip

    _, html_path = write_report(report, results, tmp_path)

    assert report["strategies"][0]["measurements"] == [
        {"case": "mm/system_cpu_contention", "slowdown": 2.5}]  # fmt: skip
    assert report["strategy_id"] == "a" * 64
    assert report["passed"] is True
    assert report["created_ns"] > 0
    assert "System measurements: mm/system_cpu_contention" in html_path.read_text()
