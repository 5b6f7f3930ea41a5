"""The stress report: a JSON object (C9 StressReport) and one self-contained HTML page.

JSON keys: the C9 Report keys (``run_id``, ``config_id``, ``code_version``,
``data_fingerprint``, ``metrics`` (the first strategy's baseline metrics), ``checks``
(score thresholds), ``artifacts``), ``score_0_100`` and ``scenarios[{name, category,
metrics_delta{}, score}]``, ``passed``, ``strategy_id`` of the first strategy (the one under
test), ``created_ns`` (wall clock, ns), and ``strategies[]``
with the same fields for every strategy plus its category scores, verdict and invariant
violations (``case``, ``invariant``, ``evidence``) and the system stresses' machine-dependent
``measurements`` (slowdown under CPU contention, memory cap, RSS slope; not scored). NaN is
written as null.

The HTML page (inline CSS, PNGs as base64 data URIs, no script, no external reference)
shows per strategy: the score table, a scenario x metric heatmap of the deltas vs the
baseline (each column coloured by its own largest absolute delta, red = worse, values
printed), the
equity of every scenario against the baseline, and the violations with their evidence.
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, Final

import numpy as np

from l2trader.analysis.html import format_value
from l2trader.analysis.plots import plots_unavailable
from l2trader.analysis.report import json_nulls
from l2trader.atomic import write_text_atomic
from l2trader.stress.runner import CaseResult
from l2trader.stress.score import ScoreConfig, StrategyScore
from l2trader.version import code_version

__all__ = ["HEATMAP_METRICS", "build_report", "render_html", "write_report"]

HEATMAP_METRICS: Final = ("pnl", "max_drawdown", "sharpe", "fills", "max_abs_position", "fees")
_WORSE_WHEN_UP: Final = frozenset({"max_drawdown", "max_abs_position", "fees"})
_CSS: Final = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-family: monospace; } th { background: #f3f3f3; }
.pass { color: #1a7f1a; font-weight: bold; } .fail { color: #b31b1b; font-weight: bold; }
.note { color: #666; font-size: 0.85em; } img { max-width: 100%; }
"""


def _strategy_entry(
    score: StrategyScore, results: Sequence[CaseResult], cfg: ScoreConfig, strategy_id: str
) -> dict[str, Any]:
    mine = [r for r in results if r.strategy == score.strategy]
    base = next(r for r in mine if r.category == "baseline")
    checks = [{"name": "overall", "value": score.overall, "threshold": cfg.min_overall,
               "op": ">=", "passed": score.overall >= cfg.min_overall}]  # fmt: skip
    checks += [{"name": f"category.{k}", "value": v, "threshold": cfg.min_category, "op": ">=",
                "passed": v >= cfg.min_category} for k, v in score.categories.items()]  # fmt: skip
    checks.append({"name": "critical_invariants", "value": len(score.critical), "threshold": 0,
                   "op": "==", "passed": not score.critical})  # fmt: skip
    violations = [{"case": r.case_id, "invariant": i.name, "evidence": i.evidence}
                  for r in mine for i in r.invariants if i.passed is False]  # fmt: skip
    return {
        "strategy": score.strategy, "strategy_id": strategy_id,
        "score_0_100": score.overall, "passed": score.passed,
        "categories": score.categories, "metrics": base.metrics, "checks": checks,
        "scenarios": [{"name": c.scenario, "category": c.category, "metrics_delta": c.metrics_delta,
                       "score": c.score, "survival": c.survival, "invariants": c.invariants,
                       "degradation": c.degradation} for c in score.cases],
        "violations": violations, "critical": list(score.critical),
        "measurements": [{"case": r.case_id, **r.measurements} for r in mine if r.measurements],
    }  # fmt: skip


def build_report(
    results: Sequence[CaseResult], scores: Sequence[StrategyScore], cfg: ScoreConfig, *,
    run_id: str, config_id: str, data_fingerprint: str,
    strategy_ids: Mapping[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The StressReport object (module docstring); the first strategy is the one under test.

    ``strategy_ids`` maps a strategy's name to its ``engine.config.strategy_id`` (evidence
    that deployment readiness matches to the deployed strategy).
    """
    ids = strategy_ids or {}
    entries = [_strategy_entry(s, results, cfg, ids.get(s.strategy, "")) for s in scores]
    head = entries[0] if entries else {}
    report: dict[str, Any] = json_nulls({
        "run_id": run_id, "config_id": config_id, "code_version": code_version(),
        "created_ns": time.time_ns(), "strategy_id": head.get("strategy_id", ""),
        "passed": bool(head.get("passed", False)),
        "data_fingerprint": data_fingerprint, "metrics": head.get("metrics", {}),
        "checks": head.get("checks", []), "artifacts": ["stress_report.json", "stress_report.html"],
        "score_0_100": head.get("score_0_100", math.nan), "scenarios": head.get("scenarios", []),
        "score_config": cfg.model_dump(mode="json"), "strategies": entries,
    })  # fmt: skip
    return report


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _heatmap(entry: dict[str, Any]) -> str:
    """Scenario x metric deltas (vs baseline), each column scaled to its largest |delta|."""
    import matplotlib.pyplot as plt

    rows = entry["scenarios"]
    cols = [*HEATMAP_METRICS, "score"]
    vals = np.array([[_num(r["metrics_delta"].get(m)) if m != "score" else _num(r["score"])
                      for m in cols] for r in rows])  # fmt: skip
    finite = np.where(np.isfinite(vals), np.abs(vals), 0.0)
    scale = finite.max(axis=0) if vals.size else np.ones(len(cols))
    scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    shown = vals / scale
    worse_up = [j for j, m in enumerate(cols) if m in _WORSE_WHEN_UP]
    shown[:, worse_up] *= -1.0  # red = worse: more drawdown, position or fees
    shown[:, -1] = vals[:, -1] / 100.0 * 2.0 - 1.0  # score 0..100 -> -1..1
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
    ax.imshow(np.nan_to_num(shown), cmap="RdYlGn", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows])
    for (i, j), v in np.ndenumerate(vals):
        ax.text(j, i, format_value(float(v)), ha="center", va="center", fontsize=7)
    ax.set_title(f"{entry['strategy']}: metric change vs baseline (score in the last column)")
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) else math.nan


def _equity_grid(strategy: str, results: Sequence[CaseResult]) -> str:
    """One small panel per scenario: its equity (blue) over the baseline's (grey), quote."""
    import matplotlib.pyplot as plt

    mine = [r for r in results if r.strategy == strategy]
    base = next(r for r in mine if r.category == "baseline")
    n = len(mine)
    ncol = 4
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.2 * nrow), squeeze=False)
    for ax, r in zip(axes.flat, mine, strict=False):
        t0 = base.equity_ts[0] if base.equity_ts else 0
        ax.plot((np.array(base.equity_ts) - t0) / 1e9, base.equity, color="0.6", lw=1)
        ax.plot((np.array(r.equity_ts) - t0) / 1e9, r.equity, color="tab:blue", lw=1)
        ax.set_title(r.scenario, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="note">none</p>'
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_td(r.get(c, "")) for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _td(v: Any) -> str:
    if v is None:
        v = math.nan
    num = isinstance(v, int | float) and not isinstance(v, bool)
    return f"<td{' class=num' if num else ''}>{escape(format_value(v))}</td>"


def _section(entry: dict[str, Any], results: Sequence[CaseResult], plots: bool) -> str:
    verdict = "pass" if entry["passed"] else "fail"
    parts = [f"<h2>{escape(entry['strategy'])}: {format_value(entry['score_0_100'])} / 100 "
             f"<span class={verdict}>{verdict.upper()}</span></h2>",
             _table([{"category": k, "score": v} for k, v in entry["categories"].items()]),
             _table([{k: s[k] for k in ("name", "category", "score", "survival", "invariants",
                                        "degradation")} for s in entry["scenarios"]])]  # fmt: skip
    if plots:
        parts.append(f'<img alt="heatmap" src="data:image/png;base64,{_heatmap(entry)}">')
        eq = _equity_grid(entry["strategy"], results)
        parts.append(f'<img alt="equity vs baseline" src="data:image/png;base64,{eq}">')
    parts.append("<h3>Invariant violations</h3>" + _table(entry["violations"]))
    for row in entry.get("measurements", []):
        rows = [{"measurement": k, "value": v} for k, v in row.items() if k != "case"]
        parts.append(f"<h3>System measurements: {escape(str(row['case']))}</h3>"
                     '<p class="note">machine-dependent; not part of the score</p>'
                     + _table(rows))  # fmt: skip
    return "".join(parts)


def render_html(report: dict[str, Any], results: Sequence[CaseResult]) -> str:
    """The page of the module docstring (figures left out, with a note, without matplotlib)."""
    reason = plots_unavailable()
    if reason is None:
        import matplotlib

        matplotlib.use("Agg")
    note = f'<p class="note">{escape(reason)}</p>' if reason else ""
    body = "".join(_section(e, results, reason is None) for e in report["strategies"])
    head = (f"<h1>Stress report {escape(report['run_id'])}</h1><p class=note>config "
            f"{escape(report['config_id'])}, code {escape(report['code_version'])}, data "
            f"{escape(report['data_fingerprint'])}</p>")  # fmt: skip
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Stress report</title>"
            f"<style>{_CSS}</style></head><body>{head}{note}{body}</body></html>")  # fmt: skip


def write_report(
    report: dict[str, Any], results: Sequence[CaseResult], out_dir: Path
) -> tuple[Path, Path]:
    """Write ``stress_report.json`` and ``stress_report.html`` into ``out_dir`` (atomically)."""
    paths = (out_dir / "stress_report.json", out_dir / "stress_report.html")
    texts = (json.dumps(report, indent=2, allow_nan=False), render_html(report, results))
    for path, text in zip(paths, texts, strict=True):
        write_text_atomic(path, text)
    return paths
