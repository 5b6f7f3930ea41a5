"""Evidence checks for deployment readiness: the backtest, stress and paper reports.

Each report is read leniently (:func:`read_json_doc`: missing, invalid JSON or not an object
is a reason, not an exception) and must be for this ``strategy_id`` and ``code_version``, at
most ``evidence.max_age_days`` old (by its ``created_ns``) and passing (``passed`` true; every
``checks`` row passing, or for stress ``score_0_100 >= min_stress_score``; for paper an
identical backtest parity when reported). :func:`evidence_verdict` turns one report into the
fields of a readiness item; :mod:`l2trader.deploy.readiness` weighs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from l2trader.deploy.settings import EvidenceSpec

__all__ = ["KINDS", "NS_PER_DAY", "EvidenceVerdict", "Expectation", "JsonDoc", "created_ns_of",
           "evidence_path", "evidence_verdict", "read_json_doc"]  # fmt: skip

NS_PER_DAY: Final = 86_400 * 10**9
KINDS: Final = ("backtest", "stress", "paper")
_RERUN: Final = {
    "backtest": "re-run `l2trader backtest CONFIG` and `l2trader analyze RUN` for this config "
    "and code version, then point evidence.backtest at the new report.json",
    "stress": "re-run `l2trader stress ...` for this config and code version, then point "
    "evidence.stress at the new stress_report.json",
    "paper": "re-run `l2trader paper start` and `l2trader paper report` for this config and "
    "code version, then point evidence.paper at the new paper_report.json",
}


@dataclass(frozen=True)
class JsonDoc:
    """A JSON file read leniently: its object, or why there is none."""

    path: Path | None
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Expectation:
    """What every piece of evidence must match (``now_ns``: wall clock, ns since the epoch)."""

    strategy_id: str
    code_version: str
    now_ns: int
    spec: EvidenceSpec


@dataclass(frozen=True)
class EvidenceVerdict:
    """One report's readiness fields: passed, what was found, what is needed, the fix."""

    passed: bool
    value: str
    expected: str
    fix: str


def read_json_doc(path: Path | None) -> JsonDoc:
    """The JSON object at ``path``, or a :class:`JsonDoc` whose ``error`` says why not."""
    if path is None:
        return JsonDoc(None, error="not configured")
    if not path.is_file():
        return JsonDoc(path, error=f"missing: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return JsonDoc(path, error=f"{path.name} is not valid JSON ({exc})")
    if not isinstance(data, dict):
        return JsonDoc(path, error=f"{path.name} is not a JSON object")
    return JsonDoc(path, data)


def created_ns_of(doc: JsonDoc) -> int | None:
    """The document's integer ``created_ns`` (ns since the epoch), else None."""
    value = doc.data.get("created_ns")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def evidence_path(kind: str, spec: EvidenceSpec, bundle_dir: Path | None) -> Path | None:
    """The configured report of ``kind``, else the bundle's ``validation/{kind}_report.json``."""
    configured: str | None = getattr(spec, kind)
    if configured is not None:
        return Path(configured)
    default = bundle_dir / f"validation/{kind}_report.json" if bundle_dir is not None else None
    return default if default is not None and default.is_file() else None


def _failed_checks(doc: dict[str, Any]) -> list[str]:
    rows = doc.get("checks") or []
    return [str(r.get("name")) if isinstance(r, dict) else repr(r)
            for r in rows if not (isinstance(r, dict) and r.get("passed") is True)]  # fmt: skip


def _passing_problems(kind: str, doc: dict[str, Any], spec: EvidenceSpec) -> list[str]:
    problems = [] if doc.get("passed") is True else [f"passed is {doc.get('passed')!r}"]
    if kind == "stress":
        score = doc.get("score_0_100")
        if not (isinstance(score, int | float) and score >= spec.min_stress_score):
            problems.append(f"score_0_100 {score} < min_stress_score {spec.min_stress_score:g}")
    elif failed := _failed_checks(doc):
        problems.append(f"failed checks: {', '.join(failed)}")
    parity = doc.get("parity")
    if (
        kind == "paper"
        and parity is not None
        and not (isinstance(parity, dict) and parity.get("identical") is True)
    ):
        problems.append("paper/backtest parity is not identical")
    return problems


def _identity_problems(doc: JsonDoc, expect: Expectation) -> list[str]:
    problems = []
    sid, version = str(doc.data.get("strategy_id")), doc.data.get("code_version")
    if sid != expect.strategy_id:
        problems.append(f"strategy_id {sid[:12]} is not this config's {expect.strategy_id[:12]}")
    if version != expect.code_version:
        problems.append(f"code_version {version!r} is not the running {expect.code_version!r}")
    created = created_ns_of(doc)
    if created is None:
        problems.append("created_ns missing")
    elif (age := (expect.now_ns - created) / NS_PER_DAY) > expect.spec.max_age_days:
        problems.append(f"stale: {age:.1f} days old > max_age_days {expect.spec.max_age_days:g}")
    elif age < 0:
        problems.append(f"created {-age:.2f} days in the future (clock skew)")
    return problems


def evidence_verdict(kind: str, doc: JsonDoc, expect: Expectation) -> EvidenceVerdict:
    """Check one report of ``kind`` (``"backtest"``, ``"stress"`` or ``"paper"``)."""
    expected = (f"strategy_id {expect.strategy_id[:12]}, this code_version, "
                f"<= {expect.spec.max_age_days:g} days old, passing")  # fmt: skip
    if doc.error:
        fix = f"{_RERUN[kind]} (or set evidence.{kind} to its path)"
        return EvidenceVerdict(False, doc.error, expected, fix)
    stale = _identity_problems(doc, expect)
    failing = _passing_problems(kind, doc.data, expect.spec)
    fixes = [_RERUN[kind]] if stale else []
    if failing:
        fixes.insert(0, f"the strategy fails its {kind} validation: change the strategy or "
                        f"config until it passes, then {_RERUN[kind]}")  # fmt: skip
    value = "; ".join(stale + failing) or f"{doc.path}: passing"
    return EvidenceVerdict(not fixes, value, expected, fixes[0] if fixes else "")
