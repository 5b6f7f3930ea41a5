"""Deployment readiness: is this machine, this strategy and its validation evidence fit to go live.

:func:`check_readiness` runs three groups of checks and returns a :class:`ReadinessReport`:

- ``system``: CPU cores, memory, free disk of the journal's directory, Python version (the
  bundle's ``major.minor``; >= 3.11 without a bundle), installed dependency versions against the
  bundle's ``requirements.lock``, clock sanity (wall clock after the bundle's and every piece of
  evidence's ``created_ns``, monotonic clock advancing, resolution <= 1 ms);
- ``strategy``: config valid, model artifact checksum, signal file, risk limits, journal
  directory writable;
- ``evidence``: the backtest analysis, stress and paper reports, each present, valid JSON, for
  this ``strategy_id`` and ``code_version``, at most ``evidence.max_age_days`` old and passing
  (checked by :mod:`l2trader.deploy.evidence_checks`).

Weights sum to 100, so the score (``100 * passed weight / total weight``) is the sum of the
passed weights; ``*`` marks the critical items. ``ready`` needs ``score >= readiness.min_score``
and no failing critical item. system: cpu_cores 7, memory 7, free_disk 7, python 5,
dependencies 5, clock 5; strategy: config 4, model 8*, signal 4*, risk_limits 8*, journal 4*;
evidence: backtest 12*, stress 12*, paper 12*. A small machine (cores, memory and disk short:
79) is refused by the score; a broken model, signal file or journal directory, unsafe risk
limits or any evidence failure (the service could not start, or would trade unvalidated) is
refused by itself.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import psutil
from rich.table import Table
from rich.text import Text

from l2trader.deploy.evidence_checks import (
    KINDS,
    NS_PER_DAY,
    Expectation,
    JsonDoc,
    created_ns_of,
    evidence_path,
    evidence_verdict,
    read_json_doc,
)
from l2trader.deploy.settings import DeploySettings
from l2trader.engine.config import EngineConfig, strategy_id
from l2trader.errors import ArtifactError
from l2trader.signals.artifact import load_model
from l2trader.version import code_version

__all__ = ["CRITICAL", "GIB", "KINDS", "NS_PER_DAY", "WEIGHTS", "CheckItem", "ReadinessReport",
           "SystemProbe", "canonical_name", "check_readiness", "render_table"]  # fmt: skip

WEIGHTS: Final[dict[str, float]] = {
    "system.cpu_cores": 7, "system.memory": 7, "system.free_disk": 7, "system.python": 5,
    "system.dependencies": 5, "system.clock": 5, "strategy.config": 4, "strategy.model": 8,
    "strategy.signal": 4, "strategy.risk_limits": 8, "strategy.journal": 4,
    "evidence.backtest": 12, "evidence.stress": 12, "evidence.paper": 12,
}  # fmt: skip
CRITICAL: Final = frozenset(
    {"strategy.model", "strategy.signal", "strategy.risk_limits", "strategy.journal",
     "evidence.backtest", "evidence.stress", "evidence.paper"}
)  # fmt: skip
GIB: Final = 1024**3
MAX_CLOCK_RESOLUTION_NS: Final = 1_000_000


@dataclass(frozen=True)
class CheckItem:
    """One readiness item: what was found (``value``), what is needed (``expected``), the fix."""

    group: str
    name: str
    passed: bool
    weight: float
    value: str
    expected: str
    fix: str
    critical: bool = False


@dataclass(frozen=True)
class ReadinessReport:
    """Every item, the score (0-100) and the verdict."""

    items: tuple[CheckItem, ...]
    min_score: float
    strategy_id: str
    code_version: str
    now_ns: int

    @property
    def score(self) -> float:
        """``100 * sum(passed weights) / sum(weights)``."""
        total = sum(i.weight for i in self.items)
        return 100.0 * sum(i.weight for i in self.items if i.passed) / total if total else 0.0

    @property
    def failing(self) -> tuple[CheckItem, ...]:
        """The items that did not pass."""
        return tuple(i for i in self.items if not i.passed)

    @property
    def ready(self) -> bool:
        """``score >= min_score`` and no critical item fails."""
        return self.score >= self.min_score and not any(i.critical for i in self.failing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"score": self.score, "ready": self.ready, "min_score": self.min_score,
                "strategy_id": self.strategy_id, "code_version": self.code_version,
                "now_ns": self.now_ns, "items": [asdict(i) for i in self.items]}  # fmt: skip


@dataclass(frozen=True)
class SystemProbe:
    """What the machine offers; :meth:`read` measures it, tests build small fake ones."""

    cores: int
    memory_bytes: int
    free_disk_bytes: int
    python: str
    """``"3.11.9"`` (only major.minor is compared)."""
    versions: dict[str, str]
    """Installed distributions: canonical name -> version."""
    now_ns: int
    """Wall clock, ns since the epoch."""
    monotonic_advancing: bool = True
    clock_resolution_ns: int = 1
    """Coarsest resolution of the wall and monotonic clocks, ns."""

    @classmethod
    def read(cls, disk_path: Path) -> SystemProbe:
        """Measure this machine; free disk is that of ``disk_path`` (or its nearest parent)."""
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
        t0 = time.monotonic_ns()
        time.sleep(0.001)
        res = max(time.get_clock_info(c).resolution for c in ("time", "monotonic"))
        return cls(
            cores=cores,
            memory_bytes=int(psutil.virtual_memory().total),
            free_disk_bytes=int(shutil.disk_usage(_existing(disk_path)).free),
            python=".".join(str(v) for v in sys.version_info[:3]),
            versions={
                canonical_name(d.name): d.version for d in importlib.metadata.distributions()
            },
            now_ns=time.time_ns(),
            monotonic_advancing=time.monotonic_ns() > t0,
            clock_resolution_ns=round(res * 1e9),
        )


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name (``Typing_Extensions`` -> ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (a file, if a file blocks the path)."""
    path = path.absolute()
    return next((p for p in (path, *path.parents) if p.exists()), Path.cwd())


def _item(group: str, name: str, ok: bool, value: str, expected: str, fix: str) -> CheckItem:
    key = f"{group}.{name}"
    fix = "" if ok else fix
    return CheckItem(group, name, ok, WEIGHTS[key], value, expected, fix, key in CRITICAL)


def _resources(settings: DeploySettings, probe: SystemProbe) -> list[CheckItem]:
    spec, where = settings.readiness, _existing(Path(settings.paper.journal).parent)
    mem, disk = probe.memory_bytes / GIB, probe.free_disk_bytes / GIB
    return [
        _item("system", "cpu_cores", probe.cores >= spec.min_cores, str(probe.cores),
              f">= {spec.min_cores}", f"run on a machine with >= {spec.min_cores} cores"),
        _item("system", "memory", mem >= spec.min_memory_gib, f"{mem:.1f} GiB",
              f">= {spec.min_memory_gib:g} GiB",
              f"run on a machine with >= {spec.min_memory_gib:g} GiB of memory"),
        _item("system", "free_disk", disk >= spec.min_free_disk_gib, f"{disk:.1f} GiB free",
              f">= {spec.min_free_disk_gib:g} GiB", f"free space under {where} or move "
              "paper.journal to a larger disk"),
    ]  # fmt: skip


def _python_item(probe: SystemProbe, bundle: JsonDoc | None) -> CheckItem:
    have = tuple(int(v) for v in probe.python.split(".")[:2])
    shown = ".".join(map(str, have))
    if bundle is None:
        return _item("system", "python", have >= (3, 11), shown, ">= 3.11", "install Python 3.11+")
    want = str(bundle.data.get("python", bundle.error or "unknown"))
    return _item("system", "python", shown == want, shown, f"== {want} (bundle.json)",
                 f"run under Python {want}, the version the bundle was validated with")  # fmt: skip


def _dependency_item(probe: SystemProbe, bundle_dir: Path | None) -> CheckItem:
    lock = bundle_dir / "requirements.lock" if bundle_dir is not None else None
    if lock is None or not lock.is_file():
        return _item("system", "dependencies", True, "no requirements.lock: not checked",
                     "installed == lock", "")  # fmt: skip
    lines = [r.split("#")[0].split(";")[0].strip() for r in lock.read_text().splitlines()]
    pairs = (line.partition("==") for line in lines if line)
    pins = {canonical_name(n.strip()): v.strip() or "?" for n, _, v in pairs}
    wrong = [f"{n}=={v} (installed {probe.versions.get(n, 'none')})"
             for n, v in sorted(pins.items()) if probe.versions.get(n) != v]  # fmt: skip
    value = "; ".join(wrong) if wrong else f"{len(pins)} pins match"
    return _item("system", "dependencies", not wrong, value, "installed == requirements.lock",
                 "install the pinned versions: `pip install -r requirements.lock` (the bundle's "
                 "scripts/install.sh does it in a fresh venv)")  # fmt: skip


def _clock_item(probe: SystemProbe, now_ns: int, stamps: dict[str, int | None]) -> CheckItem:
    problems = [f"wall clock is before the {what}'s created_ns"
                for what, ns in stamps.items() if ns is not None and now_ns < ns]  # fmt: skip
    if not probe.monotonic_advancing:
        problems.append("monotonic clock does not advance")
    if probe.clock_resolution_ns > MAX_CLOCK_RESOLUTION_NS:
        problems.append(f"clock resolution {probe.clock_resolution_ns} ns > 1 ms")
    return _item("system", "clock", not problems, "; ".join(problems) or "ok",
                 "after the bundle and evidence, monotonic, resolution <= 1 ms",
                 "synchronise the clock (NTP/chrony: `timedatectl set-ntp true`) and use a "
                 "high-resolution clock source")  # fmt: skip


def _model_item(model: str | None) -> CheckItem:
    ok, value = True, "none configured"
    if model is not None:
        try:
            value = f"{Path(model).name}: {load_model(Path(model)).model.name}, checksum ok"
        except ArtifactError as exc:
            ok, value = False, str(exc)
    return _item("strategy", "model", ok, value, "artifact checksum ok", "restore the model "
                 "artifact (from the bundle, or `l2trader fit` and re-package)")  # fmt: skip


def _signal_item(path: str | None) -> CheckItem:
    ok = path is None or Path(path).is_file()
    value = "none configured" if path is None else (path if ok else f"missing: {path}")
    return _item("strategy", "signal", ok, value, "file present if configured",
                 "restore the signal file or fix paper.signal.path")  # fmt: skip


def _risk_problems(engine: EngineConfig) -> list[str]:
    risk, cash = engine.risk, engine.initial_cash
    problems = [f"{n}={getattr(risk, n)} (must be finite)"
                for n in ("max_order_qty", "max_order_notional")
                if not math.isfinite(getattr(risk, n))]  # fmt: skip
    if not (math.isfinite(risk.max_position) and risk.max_position > 0):
        problems.insert(0, f"max_position={risk.max_position} (must be finite and > 0)")
    for name in ("max_drawdown", "max_daily_loss"):
        value = getattr(risk, name)
        if not (math.isfinite(value) and 0 < value <= cash):
            problems.append(f"{name}={value} (must be finite, > 0 and <= initial_cash {cash:g})")
    return problems


def _risk_item(engine: EngineConfig) -> CheckItem:
    problems = _risk_problems(engine)
    return _item("strategy", "risk_limits", not problems, "; ".join(problems) or "set and sane",
                 "finite position, order size and loss limits; losses <= initial_cash",
                 "set [paper.engine.risk] max_position, max_order_qty, max_order_notional, "
                 "max_drawdown and max_daily_loss (and engine.initial_cash), then re-run the "
                 "evidence: the limits are part of strategy_id")  # fmt: skip


def _journal_item(journal: Path) -> CheckItem:
    where, error = _existing(journal.parent), ""
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        error = f"{where} not writable: {exc}"
    value = error or f"{where} writable"
    return _item("strategy", "journal", not error, value, "journal directory writable",
                 f"make {where} a directory writable by the service user, or move "
                 "paper.journal")  # fmt: skip


def _strategy_items(settings: DeploySettings) -> list[CheckItem]:
    paper = settings.paper
    config = f"{settings.name}: {paper.strategy.kind}, paper config {paper.id[:12]}"
    return [
        _item("strategy", "config", True, config, "parses and validates", ""),
        _model_item(settings.model),
        _signal_item(paper.signal.path),
        _risk_item(paper.engine),
        _journal_item(Path(paper.journal)),
    ]


def _evidence_item(kind: str, doc: JsonDoc, expect: Expectation) -> CheckItem:
    verdict = evidence_verdict(kind, doc, expect)
    return _item("evidence", kind, verdict.passed, verdict.value, verdict.expected, verdict.fix)


def check_readiness(
    settings: DeploySettings,
    *,
    bundle_dir: Path | None = None,
    now_ns: int | None = None,
    probe: SystemProbe | None = None,
) -> ReadinessReport:
    """Every readiness item of ``settings`` (and of the extracted bundle at ``bundle_dir``).

    ``now_ns`` (wall clock, ns; default the probe's) dates the evidence; ``probe`` (default
    :meth:`SystemProbe.read` of the journal's directory) describes the machine.
    """
    paper = settings.paper
    probe = probe if probe is not None else SystemProbe.read(Path(paper.journal).parent)
    now = now_ns if now_ns is not None else probe.now_ns
    sid = strategy_id(paper.strategy.kind, paper.strategy.params(), paper.engine)
    expect = Expectation(sid, code_version(), now, settings.evidence)
    bundle = read_json_doc(bundle_dir / "bundle.json") if bundle_dir is not None else None
    docs = {k: read_json_doc(evidence_path(k, settings.evidence, bundle_dir)) for k in KINDS}
    stamps = {f"{k} evidence": created_ns_of(d) for k, d in docs.items()}
    stamps["bundle"] = created_ns_of(bundle) if bundle is not None else None
    items = [
        *_resources(settings, probe),
        _python_item(probe, bundle),
        _dependency_item(probe, bundle_dir),
        _clock_item(probe, now, stamps),
        *_strategy_items(settings),
        *(_evidence_item(k, docs[k], expect) for k in KINDS),
    ]
    return ReadinessReport(
        tuple(items), settings.readiness.min_score, sid, expect.code_version, now
    )


def render_table(report: ReadinessReport) -> Table:
    """A rich table of every item; the title carries the score and the verdict."""
    verdict = "READY" if report.ready else "NOT READY"
    table = Table(title=f"deployment readiness {report.score:.1f}/100: {verdict} "
                        f"(min {report.min_score:g})")  # fmt: skip
    for column in ("group", "item", "status", "weight", "value", "expected", "fix"):
        table.add_column(column, overflow="fold")
    for i in report.items:
        status = ("[green]pass" if i.passed
                  else "[bold red]FAIL (critical)" if i.critical else "[yellow]fail")  # fmt: skip
        table.add_row(i.group, i.name, status, f"{i.weight:g}", Text(i.value),
                      Text(i.expected), Text(i.fix))  # fmt: skip
    return table
