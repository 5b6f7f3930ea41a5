"""``l2trader deploy package|verify|checklist`` through the CLI (issue 9, items 2 and 7)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from l2trader.cli.deploy_cmd import app
from l2trader.deploy.package import build_wheel, find_project_root

runner = CliRunner()
CREATED_NS = 1_750_000_000_000_000_000


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = find_project_root()
    assert root is not None
    return build_wheel(root, tmp_path_factory.mktemp("wheel"))


def _settings(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "report.json").write_text(json.dumps({"created_ns": CREATED_NS, "passed": True}))
    path = root / "deploy.toml"
    path.write_text(
        """name = "cli"
[paper]
journal = "state/journal.sqlite"
[paper.data]
catalog = "cat"
venue = "binance-futures"
symbol = "BTCUSDT"
[paper.strategy]
kind = "market_maker"
[paper.engine.risk]
max_drawdown = 100.0
[evidence]
backtest = "report.json"
"""
    )
    return path


def _package(settings: Path, out: Path, wheel: Path) -> Path:
    result = runner.invoke(app, ["package", str(settings), "--out", str(out),
                                 "--wheel", str(wheel)])  # fmt: skip
    assert result.exit_code == 0, result.output
    (bundle,) = out.glob("*.tar.gz")
    assert f"sha256 {hashlib.sha256(bundle.read_bytes()).hexdigest()}" in result.output
    return bundle


def test_package_twice_gives_identical_bytes(tmp_path: Path, wheel: Path) -> None:
    settings = _settings(tmp_path / "in")

    first = _package(settings, tmp_path / "a", wheel)
    second = _package(settings, tmp_path / "b", wheel)

    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()


def test_verify_ok_then_tampered_exits_1(tmp_path: Path, wheel: Path) -> None:
    bundle = _package(_settings(tmp_path / "in"), tmp_path / "dist", wheel)
    tampered = tmp_path / "bad" / bundle.name
    tampered.parent.mkdir()
    with tarfile.open(bundle, "r:gz") as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith("config/deploy.toml"):
                data = data.replace(b"max_drawdown = 100.0", b"max_drawdown = inf")
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))

    ok = runner.invoke(app, ["verify", str(bundle)])
    bad = runner.invoke(app, ["verify", str(tampered)])

    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    assert "ok (10 files verified)" in ok.output
    assert bad.exit_code == 1
    assert "config/deploy.toml" in bad.output
    assert "modified" in bad.output
    assert "bundle does NOT verify" in bad.output


def test_checklist_from_a_bundle_ticks_what_it_can(tmp_path: Path, wheel: Path) -> None:
    bundle = _package(_settings(tmp_path / "in"), tmp_path / "dist", wheel)

    result = runner.invoke(app, ["checklist", "--bundle", str(bundle)], terminal_width=200)

    out = result.output
    assert "deployment checklist" in out
    assert "bundle verified" in out
    assert "readiness score:" in out
    assert "kill switch armed" in out
    assert "max_drawdown 100" in out
    assert result.exit_code == 1  # stress and paper evidence are missing: readiness fails


def test_checklist_without_inputs_is_all_manual(tmp_path: Path) -> None:
    result = runner.invoke(app, ["checklist"], terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "0 ok, 0 failing, 19 manual" in result.output


def test_checklist_reports_invalid_settings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nunknown_key = 1\n')

    result = runner.invoke(app, ["checklist", "--settings", str(bad)], terminal_width=200)

    assert result.exit_code == 1
    assert "FAIL" in result.output
