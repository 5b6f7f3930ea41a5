"""Deployment bundles (issue 9, item 2): reproducible bytes, verification, safe extraction."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from l2trader.deploy import package
from l2trader.deploy.package import (
    BundleError,
    build_bundle,
    build_wheel,
    extract_bundle,
    find_project_root,
    lock_requirements,
    read_bundle_json,
    verify_bundle,
)
from l2trader.deploy.settings import load_settings
from l2trader.engine.config import EngineConfig, StrategySpec
from l2trader.version import code_version

BACKTEST_NS = 1_700_000_000_123_456_789
STRESS_NS = 1_700_000_500_987_654_321  # the newest evidence: the bundle's created_ns


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """l2trader's wheel, built once for the module from the checkout."""
    root = find_project_root()
    assert root is not None
    return build_wheel(root, tmp_path_factory.mktemp("wheel"))


def write_inputs(root: Path) -> Path:
    """A deploy settings file with relative paths, a model, a signal file and two reports."""
    (root / "bt").mkdir(parents=True)
    (root / "stress").mkdir()
    (root / "bt" / "report.json").write_text(json.dumps({"created_ns": BACKTEST_NS}))
    (root / "bt" / "report.html").write_text("<html>backtest</html>")
    (root / "stress" / "stress_report.json").write_text(json.dumps({"created_ns": STRESS_NS}))
    (root / "model.json").write_text('{"model": 1}')
    (root / "signals.parquet").write_bytes(b"PAR1 signal")
    path = root / "deploy.toml"
    path.write_text(
        """name = "unit"
model = "model.json"
[paper]
journal = "state/journal.sqlite"
[paper.data]
catalog = "cat"
venue = "binance-futures"
symbol = "BTCUSDT"
[paper.strategy]
kind = "market_maker"
[paper.signal]
path = "signals.parquet"
[paper.service]
port = 8799
[evidence]
backtest = "bt/report.json"
stress = "stress/stress_report.json"
[backup]
dir = "backups"
"""
    )
    return path


@pytest.fixture
def built(tmp_path: Path, wheel: Path) -> package.BundleInfo:
    return build_bundle(write_inputs(tmp_path / "in"), tmp_path / "dist", wheel=wheel)


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def retar(src: Path, dst: Path, edit: Callable[[dict[str, bytes]], None]) -> Path:
    """Copy of the bundle ``src`` at ``dst`` with its members edited (plain tarfile)."""
    files = members(src)
    edit(files)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dst, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dst


def test_same_inputs_give_the_same_bytes_despite_mtimes_and_cwd(
    tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_inputs(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    first = build_bundle(settings, tmp_path / "dist1", wheel=wheel)
    for path in (tmp_path / "in").rglob("*"):
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    second = build_bundle(settings, tmp_path / "dist2", wheel=wheel)

    assert first.path.name == second.path.name
    assert first.sha256 == second.sha256
    assert hashlib.sha256(second.path.read_bytes()).hexdigest() == first.sha256
    assert first.path.read_bytes() == second.path.read_bytes()


def test_bundle_layout_name_and_tar_metadata(built: package.BundleInfo) -> None:
    sid = StrategySpec(kind="market_maker").strategy_id(EngineConfig())
    stem = f"l2trader-unit-{code_version()}-{sid[:12]}"

    with tarfile.open(built.path, "r:gz") as tar:
        infos = tar.getmembers()

    assert built.path.name == f"{stem}.tar.gz"
    assert [m.name for m in infos] == sorted(f"{stem}/{f}" for f in built.files)
    assert set(built.files) == {
        "MANIFEST.sha256", "bundle.json", "config/deploy.toml", "model/model.json",
        "model/signals.parquet", "requirements.lock", "scripts/healthcheck.sh",
        "scripts/install.sh", "scripts/start.sh", "scripts/stop.sh",
        "systemd/l2trader-unit.service", "validation/backtest_report.html",
        "validation/backtest_report.json", "validation/stress_report.json",
        "wheels/l2trader-0.1.0-py3-none-any.whl",
    }  # fmt: skip
    assert {m.mtime for m in infos} == {STRESS_NS // 1_000_000_000}
    assert {(m.uid, m.gid, m.uname, m.gname) for m in infos} == {(0, 0, "", "")}
    modes = {m.name.split("/", 1)[1]: m.mode for m in infos}
    assert {k for k, v in modes.items() if v == 0o755} == {
        "scripts/healthcheck.sh", "scripts/install.sh", "scripts/start.sh", "scripts/stop.sh"
    }  # fmt: skip
    assert set(modes.values()) == {0o644, 0o755}
    head = built.path.read_bytes()[:10]
    assert head[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert head[3] & 0x08 == 0  # no FNAME field


def test_bundle_json_dates_from_the_evidence_not_the_clock(built: package.BundleInfo) -> None:
    stem = built.stem
    files = members(built.path)
    meta = json.loads(files[f"{stem}/bundle.json"])
    sid = StrategySpec(kind="market_maker").strategy_id(EngineConfig())

    assert meta == {
        "format": 1, "name": "unit", "code_version": code_version(), "strategy_id": sid,
        "config_id": hashlib.sha256(files[f"{stem}/config/deploy.toml"]).hexdigest(),
        "created_ns": STRESS_NS, "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "files": 14,
    }  # fmt: skip
    assert built.bundle == meta
    assert read_bundle_json(built.path) == meta


def test_manifest_lists_every_other_file_with_its_sha256(built: package.BundleInfo) -> None:
    files = {k.split("/", 1)[1]: v for k, v in members(built.path).items()}

    lines = files.pop("MANIFEST.sha256").decode().splitlines()

    assert lines == [f"{hashlib.sha256(files[p]).hexdigest()}  {p}" for p in sorted(files)]


def test_requirements_lock_pins_installed_versions(built: package.BundleInfo) -> None:
    text = members(built.path)[f"{built.stem}/requirements.lock"].decode()
    pins = text.splitlines()
    names = [p.split("==")[0] for p in pins]

    assert f"numpy=={importlib.metadata.version('numpy')}" in pins
    assert f"pydantic-settings=={importlib.metadata.version('pydantic-settings')}" in pins
    assert names == sorted(names)
    assert all(n == n.lower() and "_" not in n for n in names)
    assert "l2trader" not in names
    assert "pytest" not in names  # the dev extra is not a runtime dependency


def test_lock_requirements_respects_markers_and_extras() -> None:
    requires = ["numpy>=2", "pytest>=8; extra == 'dev'", "not-a-real-dist; python_version < '3'"]

    pins = lock_requirements(requires=requires)

    assert pins == [f"numpy=={importlib.metadata.version('numpy')}"]


def test_lock_requirements_names_a_missing_distribution() -> None:
    with pytest.raises(BundleError, match=r"not-a-real-dist-xyz .*not installed"):
        lock_requirements(requires=["not-a-real-dist-xyz>=1"])


def test_config_paths_are_rewritten_bundle_relative(
    built: package.BundleInfo, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"

    root = extract_bundle(built.path, tmp_path / "x")
    text = (root / "config" / "deploy.toml").read_text()
    deployed = load_settings(root / "config" / "deploy.toml", env={})

    assert 'model = "../model/model.json"' in text
    assert deployed.model == str(root / "model" / "model.json")
    assert deployed.paper.signal.path == str(root / "model" / "signals.parquet")
    assert deployed.evidence.backtest == str(root / "validation" / "backtest_report.json")
    assert deployed.evidence.stress == str(root / "validation" / "stress_report.json")
    assert deployed.evidence.paper is None
    assert deployed.paper.data.catalog == str(inputs / "cat")
    assert deployed.paper.journal == str(inputs / "state" / "journal.sqlite")
    assert deployed.backup.dir == str(inputs / "backups")
    assert (root / "model" / "signals.parquet").read_bytes() == b"PAR1 signal"


def test_no_secret_from_the_environment_reaches_the_bundle(
    tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("L2TRADER_WEBHOOK_TOKEN", "tok-9f3e-secret")
    monkeypatch.setenv("L2TRADER_NAME", "from-env")

    info = build_bundle(write_inputs(tmp_path / "in"), tmp_path / "dist", wheel=wheel)

    assert info.bundle["name"] == "unit"  # the bundle is the file's, not the environment's
    assert all(b"tok-9f3e-secret" not in data for data in members(info.path).values())


def test_verify_accepts_the_built_bundle(built: package.BundleInfo) -> None:
    report = verify_bundle(built.path)

    assert report.ok
    assert (report.files, report.problems, report.stem) == (14, (), built.stem)
    assert str(report) == f"{built.path.name}: ok (14 files verified)"


def test_verify_detects_a_modified_file(built: package.BundleInfo, tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files[f"{built.stem}/scripts/start.sh"] += b"rm -rf /\n"

    bad = retar(built.path, tmp_path / "bad" / built.path.name, edit)

    report = verify_bundle(bad)

    assert not report.ok
    assert [(p.path, p.kind) for p in report.problems] == [("scripts/start.sh", "modified")]


def test_verify_detects_a_missing_file(built: package.BundleInfo, tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        del files[f"{built.stem}/validation/stress_report.json"]

    report = verify_bundle(retar(built.path, tmp_path / "bad" / built.path.name, edit))

    assert [(p.path, p.kind) for p in report.problems] == [
        ("validation/stress_report.json", "missing")
    ]


def test_verify_detects_an_extra_file(built: package.BundleInfo, tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files[f"{built.stem}/scripts/backdoor.sh"] = b"#!/bin/sh\n"

    report = verify_bundle(retar(built.path, tmp_path / "bad" / built.path.name, edit))

    assert [(p.path, p.kind) for p in report.problems] == [("scripts/backdoor.sh", "extra")]


def test_verify_detects_an_inconsistent_bundle_json(
    built: package.BundleInfo, tmp_path: Path
) -> None:
    def edit(files: dict[str, bytes]) -> None:
        key = f"{built.stem}/bundle.json"
        meta = json.loads(files[key])
        meta["files"] = 99
        files[key] = json.dumps(meta).encode()
        manifest = f"{built.stem}/MANIFEST.sha256"
        lines = [
            f"{hashlib.sha256(files[key]).hexdigest()}  bundle.json" if line.endswith("bundle.json")
            else line for line in files[manifest].decode().splitlines()
        ]  # fmt: skip
        files[manifest] = ("\n".join(lines) + "\n").encode()

    report = verify_bundle(retar(built.path, tmp_path / "bad" / built.path.name, edit))

    assert [(p.path, p.kind, p.detail) for p in report.problems] == [
        ("bundle.json", "bundle_json", "files 99 but the manifest lists 14")
    ]


def test_verify_reports_corrupt_bytes_as_an_archive_problem(
    built: package.BundleInfo, tmp_path: Path
) -> None:
    data = bytearray(built.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / built.path.name
    bad.write_bytes(bytes(data))

    report = verify_bundle(bad)

    assert not report.ok
    assert {p.kind for p in report.problems} <= {"archive", "modified"}
    with pytest.raises(BundleError, match="does not verify"):
        extract_bundle(bad, tmp_path / "x")


@pytest.mark.parametrize(
    ("name", "kind"),
    [("../escape.txt", tarfile.REGTYPE), ("/tmp/abs.txt", tarfile.REGTYPE),
     ("{stem}/scripts/link.sh", tarfile.SYMTYPE)],
)  # fmt: skip
def test_extract_refuses_unsafe_members(
    built: package.BundleInfo, tmp_path: Path, name: str, kind: bytes
) -> None:
    bad = tmp_path / "bad" / built.path.name
    retar(built.path, bad, lambda files: None)
    with tarfile.open(bad, "r:gz") as tar:
        good = [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(bad, "w:gz") as tar:
        for member, data in good:
            tar.addfile(member, io.BytesIO(data))
        evil = tarfile.TarInfo(name.format(stem=built.stem))
        evil.type, evil.size, evil.linkname = kind, 0, "/etc/passwd"
        tar.addfile(evil, io.BytesIO(b""))
    dest = tmp_path / "deep" / "dest"

    with pytest.raises(BundleError, match=r"does not verify.*unsafe"):
        extract_bundle(bad, dest)

    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not dest.exists() or not any(dest.iterdir())


def test_extract_writes_verified_files_with_modes(
    built: package.BundleInfo, tmp_path: Path
) -> None:
    root = extract_bundle(built.path, tmp_path / "x")

    assert root == tmp_path / "x" / built.stem
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == list(
        built.files
    )
    assert (root / "scripts" / "start.sh").stat().st_mode & 0o777 == 0o755
    assert (root / "bundle.json").stat().st_mode & 0o777 == 0o644
    assert read_bundle_json(root) == built.bundle
    with pytest.raises(BundleError, match="already exists"):
        extract_bundle(built.path, tmp_path / "x")


def test_read_bundle_json_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"cannot read bundle\.json"):
        read_bundle_json(tmp_path)


def test_missing_evidence_file_is_a_typed_error(tmp_path: Path, wheel: Path) -> None:
    settings = write_inputs(tmp_path / "in")
    (tmp_path / "in" / "stress" / "stress_report.json").unlink()

    with pytest.raises(BundleError, match=r"evidence\.stress: cannot read"):
        build_bundle(settings, tmp_path / "dist", wheel=wheel)


def test_no_wheel_and_no_project_root_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package, "find_project_root", lambda: None)

    with pytest.raises(BundleError, match="pass --wheel"):
        build_bundle(write_inputs(tmp_path / "in"), tmp_path / "dist")

    assert issubclass(BundleError, ValueError)  # a ConfigError


def test_build_wheel_is_reproducible(tmp_path: Path, wheel: Path) -> None:
    root = find_project_root()
    assert root is not None

    first = build_wheel(root, tmp_path / "one")
    second = build_wheel(root, tmp_path / "two")

    assert first.name == second.name == wheel.name == "l2trader-0.1.0-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()


def test_systemd_unit_runs_start_sh_and_stops_with_sigterm(built: package.BundleInfo) -> None:
    unit = members(built.path)[f"{built.stem}/systemd/l2trader-unit.service"].decode()

    for line in ("Type=simple", f"ExecStart=/opt/l2trader/{built.stem}/scripts/start.sh",
                 "Restart=on-failure", "KillSignal=SIGTERM", "TimeoutStopSec=60",
                 "EnvironmentFile=-/etc/l2trader/unit.env"):  # fmt: skip
        assert line in unit.splitlines()
    assert "TOKEN=" not in unit.replace("L2TRADER_WEBHOOK_TOKEN=...", "")


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def health_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _fake_venv(root: Path) -> None:
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "venv" / "bin" / "python").symlink_to(sys.executable)


def test_healthcheck_script_reads_the_service_file(
    built: package.BundleInfo, tmp_path: Path, health_server: int
) -> None:
    root = extract_bundle(built.path, tmp_path / "x")
    script = root / "scripts" / "healthcheck.sh"
    no_venv = subprocess.run(["sh", str(script)], capture_output=True, check=False)
    _fake_venv(root)
    service = tmp_path / "in" / "state" / "journal.sqlite.service.json"
    service.parent.mkdir(parents=True)

    down = subprocess.run(["sh", str(script)], capture_output=True, check=False)  # port 8799
    service.write_text(json.dumps({"url": f"http://127.0.0.1:{health_server}", "pid": 1}))
    up = subprocess.run(["sh", str(script)], capture_output=True, check=False)
    _Health.status = 503
    try:
        failing = subprocess.run(["sh", str(script)], capture_output=True, check=False)
    finally:
        _Health.status = 200

    assert (no_venv.returncode, down.returncode, up.returncode, failing.returncode) == (1, 1, 0, 1)


def test_stop_script_sigterms_the_pid_and_waits(built: package.BundleInfo, tmp_path: Path) -> None:
    root = extract_bundle(built.path, tmp_path / "x")
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    reaper = threading.Thread(target=victim.wait, daemon=True)  # no zombie for kill -0 to see
    reaper.start()
    pid_file = tmp_path / "service.pid"
    pid_file.write_text(f"{victim.pid}\n")
    env = {**os.environ, "PID_FILE": str(pid_file), "STOP_TIMEOUT_S": "30"}
    try:
        done = subprocess.run(["sh", str(root / "scripts" / "stop.sh")], env=env,
                              capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
        reaper.join(timeout=30)
        code = victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    absent = subprocess.run(["sh", str(root / "scripts" / "stop.sh")], capture_output=True,
                            text=True, check=False)  # fmt: skip

    assert (done.returncode, code) == (0, -signal.SIGTERM)
    assert done.stdout.strip() == f"stopped pid {victim.pid}"
    assert absent.returncode == 0
    assert "not running" in absent.stdout


def test_a_bundle_retarred_by_hand_with_directory_entries_still_verifies(
    built: package.BundleInfo, tmp_path: Path
) -> None:
    root = extract_bundle(built.path, tmp_path / "x")
    again = tmp_path / "again" / built.path.name
    again.parent.mkdir()
    with tarfile.open(again, "w:gz") as tar:
        tar.add(root, arcname=built.stem)  # directories first, real owners and mtimes

    report = verify_bundle(again)

    assert report.ok, str(report)
    assert extract_bundle(again, tmp_path / "y") == tmp_path / "y" / built.stem
