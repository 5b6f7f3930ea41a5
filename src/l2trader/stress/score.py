"""Scores 0-100 per stress case, per category and overall, with pass/fail thresholds.

Per case (weights from :class:`ScoreConfig`, default 40 / 30 / 30)::

    score = survival_points * S + invariant_points * I + degradation_points * D

- ``S`` (survival): 1 if the case ran to the end, else 0 (and ``D = 0``);
- ``I`` (invariants): passed / applicable invariants (checks that do not apply are not
  counted; no applicable check gives ``I = 1``);
- ``D`` (degradation vs the same strategy's unstressed baseline on the same data), with
  ``f(x) = exp(-max(x, 0) / loss_scale)`` (``loss_scale`` in quote currency: 1 for no
  extra loss, 0.37 for one ``loss_scale`` of extra loss, tending to 0)::

      D = (f(pnl_baseline - pnl) + f(max_drawdown - max_drawdown_baseline)) / 2

  A NaN metric counts as the worst case (``f = 0``). The baseline case itself has ``D = 1``.

A category score is the mean of its cases' scores (categories: ``baseline``, ``market``,
``data``, ``edge``, ``system``); the overall score is the mean of the category scores
weighted by ``category_weights`` (categories without cases are left out and the weights
renormalised). A strategy passes when ``overall >= min_overall``, every category score
``>= min_category`` **and** no case violated a critical invariant (``critical_invariants``:
the desk's position and drawdown limits, the kill switch then flat, conservation of events).
A breached risk limit is a failure whatever the points: a strategy that breaches its
position limit in every case still loses only a few invariant points per case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError
from l2trader.stress.runner import CaseResult

__all__ = [
    "CaseScore",
    "ScoreConfig",
    "StrategyScore",
    "degradation",
    "score_case",
    "score_results",
]

NonNeg = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
_DEFAULT_WEIGHTS = {"baseline": 0.1, "market": 0.3, "data": 0.2, "edge": 0.2, "system": 0.2}


class ScoreConfig(FrozenConfig):
    """Points, the loss scale (quote), category weights and pass thresholds (0-100)."""

    survival_points: NonNeg = 40.0
    invariant_points: NonNeg = 30.0
    degradation_points: NonNeg = 30.0
    loss_scale: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = 10.0
    category_weights: dict[str, NonNeg] = Field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    min_overall: NonNeg = 90.0
    min_category: NonNeg = 80.0
    critical_invariants: tuple[str, ...] = (
        "position_limit", "drawdown_limit", "kill_switch", "conservation",
    )  # fmt: skip
    """Invariants whose violation in any case fails the strategy's verdict."""


@dataclass(frozen=True)
class CaseScore:
    """One case's score and its parts; ``metrics_delta`` = stressed - baseline per metric."""

    case_id: str
    scenario: str
    category: str
    score: float
    survival: float
    invariants: float
    degradation: float
    metrics_delta: dict[str, float]


@dataclass(frozen=True)
class StrategyScore:
    """Every case score of one strategy, the category scores, the overall score, the verdict."""

    strategy: str
    cases: tuple[CaseScore, ...]
    categories: dict[str, float]
    overall: float
    passed: bool
    critical: tuple[str, ...] = ()
    """``case_id: invariant`` of every critical invariant violated (any fails the verdict)."""


def _f(extra_loss: float, scale: float) -> float:
    if math.isnan(extra_loss):
        return 0.0
    return math.exp(-max(extra_loss, 0.0) / scale)


def degradation(metrics: Mapping[str, float], baseline: Mapping[str, float], scale: float) -> float:
    """``D`` of the module docstring (0..1).

    Examples
    --------
    >>> round(degradation({"pnl": -10.0, "max_drawdown": 12.0},
    ...                   {"pnl": 0.0, "max_drawdown": 2.0}, 10.0), 6)
    0.367879
    """
    pnl = baseline["pnl"] - metrics["pnl"]
    dd = metrics["max_drawdown"] - baseline["max_drawdown"]
    return (_f(pnl, scale) + _f(dd, scale)) / 2.0


def score_case(result: CaseResult, baseline: CaseResult | None, cfg: ScoreConfig) -> CaseScore:
    """Score one case against its strategy's baseline (None: the case is the baseline)."""
    survived = result.error is None
    applicable = [i.passed for i in result.invariants if i.passed is not None]
    share = sum(applicable) / len(applicable) if applicable else 1.0
    delta: dict[str, float] = {}
    d = 0.0
    if survived:
        ref = baseline if baseline is not None and baseline.error is None else None
        base_metrics = ref.metrics if ref is not None else result.metrics
        delta = {k: result.metrics[k] - base_metrics[k] for k in result.metrics}
        d = degradation(result.metrics, base_metrics, cfg.loss_scale) if ref is not None else 1.0
    total = (cfg.survival_points * survived + cfg.invariant_points * share
             + cfg.degradation_points * d)  # fmt: skip
    return CaseScore(result.case_id, result.scenario, result.category, total, float(survived),
                     share, d, delta)  # fmt: skip


def _weighted(categories: Mapping[str, float], weights: Mapping[str, float]) -> float:
    used = {c: weights.get(c, 0.0) for c in categories}
    total = sum(used.values())
    if total <= 0.0:
        return sum(categories.values()) / len(categories) if categories else math.nan
    return sum(categories[c] * w for c, w in used.items()) / total


def score_results(results: Sequence[CaseResult], cfg: ScoreConfig) -> list[StrategyScore]:
    """Score every strategy in ``results`` (order of first appearance).

    Raises
    ------
    ConfigError
        A strategy has no baseline case.
    """
    out = []
    for name in dict.fromkeys(r.strategy for r in results):
        mine = [r for r in results if r.strategy == name]
        base = next((r for r in mine if r.category == "baseline"), None)
        if base is None:
            raise ConfigError(f"strategy {name!r}: no baseline case to compare with")
        cases = tuple(score_case(r, None if r is base else base, cfg) for r in mine)
        cats: dict[str, list[float]] = {}
        for c in cases:
            cats.setdefault(c.category, []).append(c.score)
        categories = {k: sum(v) / len(v) for k, v in cats.items()}
        overall = _weighted(categories, cfg.category_weights)
        critical = tuple(f"{r.case_id}: {i.name}" for r in mine for i in r.invariants
                         if i.passed is False and i.name in cfg.critical_invariants)  # fmt: skip
        passed = (overall >= cfg.min_overall and not critical
                  and all(v >= cfg.min_category for v in categories.values()))  # fmt: skip
        out.append(StrategyScore(name, cases, categories, overall, passed, critical))
    return out
