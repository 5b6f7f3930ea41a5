"""Scores worked by hand: survival, invariant share, degradation vs baseline, weights, verdict."""

from __future__ import annotations

import math

import pytest

from l2trader.errors import ConfigError
from l2trader.stress.invariants import InvariantResult
from l2trader.stress.runner import CaseResult
from l2trader.stress.score import ScoreConfig, degradation, score_case, score_results


def _result(
    scenario: str, category: str, pnl: float, dd: float, passed: list[bool | None],
    strategy: str = "s", error: str | None = None,
) -> CaseResult:  # fmt: skip
    checks = tuple(InvariantResult(f"c{i}", p, "") for i, p in enumerate(passed))
    metrics = {} if error else {"pnl": pnl, "max_drawdown": dd}
    return CaseResult(f"{strategy}/{scenario}", strategy, scenario, category, metrics, checks, {},
                      error)  # fmt: skip


def test_degradation_is_one_without_extra_loss_and_exp_minus_one_at_one_scale() -> None:
    base = {"pnl": -2.0, "max_drawdown": 3.0}

    assert degradation({"pnl": 5.0, "max_drawdown": 1.0}, base, 10.0) == 1.0
    assert degradation({"pnl": -12.0, "max_drawdown": 13.0}, base, 10.0) == pytest.approx(
        math.exp(-1.0)
    )
    assert degradation({"pnl": -12.0, "max_drawdown": 3.0}, base, 10.0) == pytest.approx(
        (math.exp(-1.0) + 1.0) / 2.0
    )
    assert degradation({"pnl": math.nan, "max_drawdown": 3.0}, base, 10.0) == 0.5


def test_case_score_is_40_survival_plus_30_invariant_share_plus_30_degradation() -> None:
    base = _result("baseline", "baseline", 0.0, 2.0, [True])
    stressed = _result("flash_crash", "market", -10.0, 12.0, [True, True, False, None])

    s = score_case(stressed, base, ScoreConfig())

    # 40 * 1 + 30 * 2/3 + 30 * exp(-1) (10 quote more loss and drawdown, scale 10)
    assert s.score == pytest.approx(40.0 + 20.0 + 30.0 * math.exp(-1.0))
    assert s.metrics_delta == {"pnl": -10.0, "max_drawdown": 10.0}
    assert score_case(base, None, ScoreConfig()).score == 100.0


def test_a_crashed_case_keeps_only_its_invariant_share() -> None:
    base = _result("baseline", "baseline", 0.0, 0.0, [True])
    crashed = _result("truncate", "data", 0.0, 0.0, [False], error="ValueError: boom")

    s = score_case(crashed, base, ScoreConfig())

    assert (s.score, s.survival, s.invariants, s.degradation) == (0.0, 0.0, 0.0, 0.0)


def test_category_means_are_weighted_into_the_overall_score_and_the_verdict() -> None:
    results = [
        _result("baseline", "baseline", 0.0, 0.0, [True]),  # 100
        _result("a", "market", 0.0, 0.0, [True, False]),  # 85
        _result("b", "market", 0.0, 0.0, [False]),  # 70
        _result("c", "data", 0.0, 0.0, [True]),  # 100
    ]
    cfg = ScoreConfig(category_weights={"baseline": 1.0, "market": 2.0, "data": 1.0},
                      min_overall=85.0, min_category=80.0)  # fmt: skip

    (score,) = score_results(results, cfg)

    assert score.categories == {"baseline": 100.0, "market": 77.5, "data": 100.0}
    assert score.overall == pytest.approx((100.0 + 2 * 77.5 + 100.0) / 4.0)
    assert score.passed is False  # market 77.5 < 80 although overall 88.75 >= 85


def test_a_strategy_without_baseline_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="baseline"):
        score_results([_result("a", "market", 0.0, 0.0, [True])], ScoreConfig())


def test_a_breached_risk_limit_fails_the_verdict_whatever_the_points() -> None:
    # one position-limit breach out of 10 invariants: 97 points, above every threshold
    breach = [InvariantResult("position_limit", False, "0.05 > 0.02")] + [
        InvariantResult(f"c{i}", True, "") for i in range(9)]  # fmt: skip
    base = _result("baseline", "baseline", 0.0, 0.0, [True])
    hit = CaseResult("s/crash", "s", "crash", "market", {"pnl": 0.0, "max_drawdown": 0.0},
                     tuple(breach), {})  # fmt: skip
    lenient = ScoreConfig(critical_invariants=())

    (strict,) = score_results([base, hit], ScoreConfig())
    (points_only,) = score_results([base, hit], lenient)

    assert strict.overall == pytest.approx(points_only.overall)
    assert strict.categories["market"] == pytest.approx(97.0)
    assert strict.critical == ("s/crash: position_limit",)
    assert strict.passed is False
    assert points_only.passed is True
