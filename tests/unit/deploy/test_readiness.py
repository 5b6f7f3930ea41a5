"""Deployment readiness (issue 9, item 1): a ready case and one test per refusal."""

from __future__ import annotations

import io
import json
import time
import zipfile
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from l2trader.deploy.readiness import (
    GIB,
    NS_PER_DAY,
    ReadinessReport,
    SystemProbe,
    check_readiness,
    render_table,
)
from l2trader.deploy.settings import DeploySettings, load_settings
from l2trader.engine.config import strategy_id
from l2trader.signals.artifact import ModelArtifact, save_model
from l2trader.signals.threshold import ThresholdConfig, ThresholdModel
from l2trader.version import code_version

NOW = 1_750_000_000 * 10**9
CREATED = NOW - NS_PER_DAY  # evidence written a day ago
RISK = {"max_position": 1.0, "max_order_qty": 0.5, "max_order_notional": 50_000.0,
        "max_drawdown": 500.0, "max_daily_loss": 300.0}  # fmt: skip
PINS = {"numpy": "2.1.0", "rich": "13.9.4"}


def _probe(**kw: Any) -> SystemProbe:
    base: dict[str, Any] = {"cores": 8, "memory_bytes": 16 * GIB, "free_disk_bytes": 100 * GIB,
                            "python": "3.11.9", "versions": dict(PINS), "now_ns": NOW}  # fmt: skip
    base.update(kw)
    return SystemProbe(**base)


def _paper(tmp: Path, **risk: float) -> dict[str, Any]:
    return {
        "journal": str(tmp / "journal" / "j.sqlite"),
        "data": {"catalog": str(tmp / "no-catalog"), "venue": "synthetic", "symbol": "SYN"},
        "strategy": {"kind": "market_maker"},
        "engine": {"initial_cash": 10_000.0, "risk": {**RISK, **risk}},
        "signal": {"path": str(tmp / "signal.parquet")},
    }


def _model(path: Path) -> str:
    model = ThresholdModel(ThresholdConfig(features=("imbalance_l1",)))
    model.thresholds = np.array([0.5])
    save_model(path, ModelArtifact(model, 1_000_000_000, "label", "cfg", "event", "SYN", {}))
    return str(path)


def _evidence(kind: str, settings: DeploySettings, **kw: Any) -> dict[str, Any]:
    paper = settings.paper
    doc: dict[str, Any] = {
        "run_id": f"{kind}-run", "config_id": "c" * 64, "code_version": code_version(),
        "strategy_id": strategy_id(paper.strategy.kind, paper.strategy.params(), paper.engine),
        "created_ns": CREATED, "data_fingerprint": "f", "metrics": {}, "artifacts": [],
        "passed": True,
        "checks": [{"name": "sharpe", "value": 2.0, "threshold": 1.0, "op": ">=", "passed": True}],
    }  # fmt: skip
    if kind == "stress":
        doc["score_0_100"] = 85.0
    if kind == "paper":
        doc["parity"] = {"identical": True, "tables": {}}
    doc.update(kw)
    return doc


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture
def settings(tmp_path: Path) -> DeploySettings:
    """Valid settings whose model, signal file and three evidence files all pass."""
    (tmp_path / "signal.parquet").write_bytes(b"PAR1")
    evidence = {k: str(tmp_path / f"{k}_report.json") for k in ("backtest", "stress", "paper")}
    overrides = {"name": "demo", "paper": _paper(tmp_path), "evidence": evidence,
                 "model": _model(tmp_path / "model.json")}  # fmt: skip
    cfg = load_settings(None, overrides=overrides, env={})
    for kind, path in evidence.items():
        _write(Path(path), _evidence(kind, cfg))
    return cfg


def _check(settings: DeploySettings, **kw: Any) -> ReadinessReport:
    kw.setdefault("probe", _probe())
    return check_readiness(settings, now_ns=kw.pop("now_ns", NOW), **kw)


def _failing(report: ReadinessReport) -> dict[str, str]:
    return {f"{i.group}.{i.name}": i.value for i in report.failing}


def _rewrite(settings: DeploySettings, kind: str, **kw: Any) -> None:
    path = Path(getattr(settings.evidence, kind))
    _write(path, {**json.loads(path.read_text()), **kw})


def test_valid_settings_and_evidence_score_100_and_are_ready(settings: DeploySettings) -> None:
    report = _check(settings)
    assert (report.score, report.ready, _failing(report)) == (100.0, True, {})
    assert len(report.items) == 14
    assert sum(i.weight for i in report.items) == 100
    assert json.loads(json.dumps(report.to_dict()))["score"] == 100.0
    console = Console(width=250, file=io.StringIO(), record=True)
    console.print(render_table(report))
    assert "deployment readiness 100.0/100: READY (min 80)" in console.export_text()


def test_missing_evidence_is_refused_with_its_fix(settings: DeploySettings) -> None:
    Path(str(settings.evidence.stress)).unlink()
    report = _check(settings)
    (item,) = report.failing
    assert (report.score, report.ready) == (88.0, False)
    assert (item.name, item.critical) == ("stress", True)
    assert item.value.startswith("missing: ")
    assert "re-run `l2trader stress ...` for this config" in item.fix


def test_unconfigured_and_unparsable_evidence_are_refused(tmp_path: Path) -> None:
    overrides = {"paper": _paper(tmp_path), "evidence": {"backtest": str(tmp_path / "b.json")}}
    (tmp_path / "signal.parquet").write_bytes(b"")
    (tmp_path / "b.json").write_text("{not json")
    report = _check(load_settings(None, overrides=overrides, env={}))
    failing = _failing(report)
    assert (report.score, report.ready) == (64.0, False)
    assert failing["evidence.backtest"].startswith("b.json is not valid JSON")
    assert failing["evidence.stress"] == failing["evidence.paper"] == "not configured"


def test_stale_evidence_is_refused(settings: DeploySettings) -> None:
    now = CREATED + int(7.5 * NS_PER_DAY)  # max_age_days = 7
    report = _check(settings, now_ns=now)
    assert (report.score, report.ready) == (64.0, False)
    assert _failing(report) == {
        f"evidence.{k}": "stale: 7.5 days old > max_age_days 7"
        for k in ("backtest", "stress", "paper")
    }


def test_evidence_with_a_failed_check_is_refused(settings: DeploySettings) -> None:
    checks = [{"name": "sharpe", "passed": True}, {"name": "max_drawdown", "passed": False}]
    _rewrite(settings, "backtest", passed=False, checks=checks)
    report = _check(settings)
    (item,) = report.failing
    assert (report.score, report.ready) == (88.0, False)
    assert item.value == "passed is False; failed checks: max_drawdown"
    assert item.fix.startswith("the strategy fails its backtest validation")


def test_stress_score_below_the_minimum_is_refused(settings: DeploySettings) -> None:
    _rewrite(settings, "stress", score_0_100=69.5)
    report = _check(settings)
    assert (report.score, report.ready) == (88.0, False)
    assert _failing(report) == {"evidence.stress": "score_0_100 69.5 < min_stress_score 70"}


def test_paper_evidence_without_parity_is_refused(settings: DeploySettings) -> None:
    _rewrite(settings, "paper", parity={"identical": False})
    report = _check(settings)
    assert (report.score, report.ready) == (88.0, False)
    assert _failing(report) == {"evidence.paper": "paper/backtest parity is not identical"}


def test_evidence_for_another_strategy_id_is_refused(settings: DeploySettings) -> None:
    _rewrite(settings, "paper", strategy_id="0" * 64)
    report = _check(settings)
    sid = report.strategy_id[:12]
    assert (report.score, report.ready) == (88.0, False)
    assert _failing(report) == {
        "evidence.paper": f"strategy_id 000000000000 is not this config's {sid}"
    }


def test_changed_risk_limits_orphan_all_evidence(settings: DeploySettings, tmp_path: Path) -> None:
    paper = {
        **_paper(tmp_path),
        "engine": {"initial_cash": 10_000.0, "risk": {**RISK, "max_position": 2.0}},
    }
    moved = load_settings(None, overrides={**settings.model_dump(), "paper": paper}, env={})
    report = _check(moved)
    assert (report.score, report.ready) == (64.0, False)
    assert sorted(_failing(report)) == ["evidence.backtest", "evidence.paper", "evidence.stress"]


def test_evidence_for_another_code_version_is_refused(settings: DeploySettings) -> None:
    _rewrite(settings, "backtest", code_version="0.1.0+000000000000")
    report = _check(settings)
    assert (report.score, report.ready) == (88.0, False)
    running = code_version()
    assert _failing(report) == {
        "evidence.backtest": f"code_version '0.1.0+000000000000' is not the running {running!r}"
    }


def test_a_small_machine_is_refused_by_the_score(settings: DeploySettings) -> None:
    probe = _probe(cores=1, memory_bytes=2 * GIB, free_disk_bytes=GIB // 2)
    report = _check(settings, probe=probe)
    assert (report.score, report.ready) == (79.0, False)
    assert _failing(report) == {"system.cpu_cores": "1", "system.memory": "2.0 GiB",
                                "system.free_disk": "0.5 GiB free"}  # fmt: skip


def _bundle(tmp: Path, python: str = "3.11", created_ns: int = CREATED) -> Path:
    root = tmp / "bundle"
    root.mkdir()
    _write(root / "bundle.json", {"format": 1, "python": python, "created_ns": created_ns})
    (root / "requirements.lock").write_text("".join(f"{n}=={v}\n" for n, v in PINS.items()))
    return root


def test_a_bundle_whose_lock_matches_is_ready(settings: DeploySettings, tmp_path: Path) -> None:
    report = _check(settings, bundle_dir=_bundle(tmp_path))
    deps = next(i for i in report.items if i.name == "dependencies")
    assert (report.score, report.ready, deps.value) == (100.0, True, "2 pins match")


def test_dependency_mismatch_and_python_are_listed(
    settings: DeploySettings, tmp_path: Path
) -> None:
    probe = _probe(python="3.12.1", versions={"numpy": "2.2.0"})
    report = _check(settings, bundle_dir=_bundle(tmp_path), probe=probe)
    assert (report.score, report.ready) == (90.0, True)  # non-critical: only the score drops
    assert _failing(report) == {
        "system.python": "3.12",
        "system.dependencies": "numpy==2.1.0 (installed 2.2.0); rich==13.9.4 (installed none)",
    }


def test_a_clock_before_the_bundle_is_refused(settings: DeploySettings, tmp_path: Path) -> None:
    probe = _probe(clock_resolution_ns=15_625_000, monotonic_advancing=False)
    report = _check(settings, bundle_dir=_bundle(tmp_path, created_ns=NOW + 1), probe=probe)
    assert (report.score, report.ready) == (95.0, True)
    assert _failing(report) == {
        "system.clock": "wall clock is before the bundle's created_ns; monotonic clock does not "
        "advance; clock resolution 15625000 ns > 1 ms"
    }


def test_a_corrupted_model_artifact_is_refused(settings: DeploySettings) -> None:
    path = Path(str(settings.model))
    doc = json.loads(path.read_text())
    doc["payload"]["model"]["beta"] = 1.0
    path.write_text(json.dumps(doc))
    report = _check(settings)
    assert (report.score, report.ready) == (92.0, False)
    assert "checksum mismatch" in _failing(report)["strategy.model"]


def test_a_missing_signal_file_is_refused(settings: DeploySettings) -> None:
    Path(str(settings.paper.signal.path)).unlink()
    report = _check(settings)
    assert (report.score, report.ready) == (96.0, False)
    assert _failing(report)["strategy.signal"].startswith("missing: ")


@pytest.mark.parametrize(
    ("risk", "problem"),
    [
        ({"max_position": float("inf")}, "max_position=inf (must be finite and > 0)"),
        ({"max_order_notional": float("inf")}, "max_order_notional=inf (must be finite)"),
        (
            {"max_drawdown": 20_000.0},
            "max_drawdown=20000.0 (must be finite, > 0 and <= initial_cash 10000)",
        ),
    ],
)
def test_unsafe_risk_limits_are_refused(
    tmp_path: Path, risk: dict[str, float], problem: str
) -> None:
    (tmp_path / "signal.parquet").write_bytes(b"")
    cfg = load_settings(None, overrides={"paper": _paper(tmp_path, **risk)}, env={})
    for kind in ("backtest", "stress", "paper"):
        _write(tmp_path / f"{kind}.json", _evidence(kind, cfg))
    evidence = {k: str(tmp_path / f"{k}.json") for k in ("backtest", "stress", "paper")}
    report = _check(
        load_settings(
            None, overrides={"paper": _paper(tmp_path, **risk), "evidence": evidence}, env={}
        )
    )
    assert (report.score, report.ready) == (92.0, False)
    assert _failing(report) == {"strategy.risk_limits": problem}


def test_an_unwritable_journal_directory_is_refused(
    settings: DeploySettings, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    paper = {**settings.paper.model_dump(mode="json"), "journal": str(blocker / "sub" / "j.sqlite")}
    moved = load_settings(None, overrides={**settings.model_dump(), "paper": paper}, env={})
    report = _check(moved)
    assert report.ready is False
    assert "strategy.journal" in _failing(report)


def test_the_default_probe_measures_this_machine(tmp_path: Path) -> None:
    probe = SystemProbe.read(tmp_path / "not" / "yet")
    assert probe.cores >= 1
    assert probe.memory_bytes > 0
    assert probe.free_disk_bytes > 0
    assert probe.python.count(".") == 2
    assert "numpy" in probe.versions
    assert probe.monotonic_advancing is True


def test_cli_check_of_a_settings_file_exits_1_and_writes_json(tmp_path: Path) -> None:
    from l2trader.cli.deploy_check_cmd import check

    (tmp_path / "signal.parquet").write_bytes(b"")
    paper = _paper(tmp_path)
    toml = "\n".join([
        'name = "demo"', "[paper]", f"journal = {json.dumps(paper['journal'])}",
        "[paper.data]", f"catalog = {json.dumps(paper['data']['catalog'])}",
        'venue = "synthetic"', 'symbol = "SYN"', "[paper.strategy]", 'kind = "market_maker"',
    ])  # fmt: skip
    (tmp_path / "deploy.toml").write_text(toml)
    app = typer.Typer()
    app.command()(check)
    result = CliRunner().invoke(
        app, [str(tmp_path / "deploy.toml"), "--json", str(tmp_path / "r.json")]
    )
    doc = json.loads((tmp_path / "r.json").read_text())
    failing = {i["name"] for i in doc["items"] if not i["passed"]}
    assert (result.exit_code, doc["ready"]) == (1, False)
    assert {"risk_limits", "backtest", "stress", "paper"} <= failing
    assert "NOT READY" in result.output


def test_cli_check_of_a_bundle_reads_its_lock_and_evidence(
    settings: DeploySettings, tmp_path: Path
) -> None:
    from l2trader.cli.deploy_check_cmd import readiness_of
    from l2trader.deploy.package import build_bundle
    from l2trader.deploy.settings import settings_to_toml

    for kind in ("backtest", "stress", "paper"):  # fresh by the real clock the CLI reads
        _rewrite(settings, kind, created_ns=time.time_ns() - 3_600 * 10**9)
    (tmp_path / "deploy.toml").write_text(settings_to_toml(settings))
    wheel = tmp_path / "l2trader-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:  # a stand-in wheel: the installed metadata only
        zf.writestr(
            "l2trader-0.1.0.dist-info/METADATA",
            distribution("l2trader").read_text("METADATA") or "",
        )
    bundle = build_bundle(tmp_path / "deploy.toml", tmp_path / "out", wheel=wheel)
    report = readiness_of(bundle.path)
    items = {i.name: i for i in report.items}
    assert [n for n in ("python", "dependencies", "model", "signal") if not items[n].passed] == []
    assert items["dependencies"].value.endswith(" pins match")
    assert [k for k in ("backtest", "stress", "paper") if not items[k].passed] == []
    assert items["paper"].value.endswith("validation/paper_report.json: passing")
