"""Issue 9 end to end: package -> verify -> install into a fresh venv -> run the service on
loopback -> /healthz, /readyz -> /metrics parsed by prometheus-client -> a forced drawdown
alert reaches a loopback webhook and its automatic response halts trading -> SIGTERM shuts
down cleanly -> backup -> delete the journal -> restore -> the resumed service has the same
state.

The fresh venv installs the bundle's pinned ``requirements.lock`` from the package index
(pip's cache makes it quick on a machine that installed the project) and the bundle's wheel.
The data is a seeded synthetic stream (no shared data needed), replayed at recorded speed so
the session is still running while the test looks at it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from l2trader.data.catalog import Catalog
from l2trader.data.instruments import lookup
from l2trader.data.report import ValidationReport
from l2trader.deploy.backup import create_backup, restore_backup
from l2trader.deploy.package import build_bundle, extract_bundle, verify_bundle
from l2trader.engine.config import StrategySpec
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.paper.journal import Journal
from l2trader.testing import realistic_events
from l2trader.version import code_version

TOKEN = "s3cr3t-webhook-token-e2e"
GUARD_S = 600.0  # hang guard for installs and startups, never a performance assertion
MM = MarketMakerConfig.model_validate(
    {"inventory_unit_qty": 1.0, "max_inventory": 5.0, "min_half_spread_ticks": 1.0,
     "sizing": {"qty": 1.0, "lot_size": 1.0}}
)  # fmt: skip


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", _Receiver.received
    server.shutdown()
    server.server_close()


def _catalog(root: Path) -> Path:
    """60k seeded synthetic events, one message per 10 ms (10 minutes of market)."""
    inst = lookup("synthetic", "SYN")
    ev = realistic_events(np.random.default_rng(3), 60_000, start_ticks=10_000,
                          message_ns=10_000_000)  # fmt: skip
    np.save(root / "events.npy", ev)
    Catalog(root / "cat").write(inst, [ev], sources=[root / "events.npy"],
                                report=ValidationReport("e2e"))  # fmt: skip
    return root / "cat"


def _settings(tmp: Path, url: str) -> Path:
    """A deploy settings file: the market maker, one forced-drawdown rule that halts."""
    spec = StrategySpec(kind="market_maker", market_maker=MM)
    from l2trader.engine.config import EngineConfig

    sid = spec.strategy_id(EngineConfig())
    evidence = {}
    for kind in ("backtest", "stress", "paper"):
        doc: dict[str, Any] = {
            "run_id": kind, "config_id": "c", "code_version": code_version(), "strategy_id": sid,
            "created_ns": 1_800_000_000_000_000_000, "data_fingerprint": "f", "metrics": {},
            "artifacts": [], "passed": True, "checks": [], "score_0_100": 90.0,
            "parity": {"identical": True},
        }  # fmt: skip
        path = tmp / f"{kind}_report.json"
        path.write_text(json.dumps(doc))
        evidence[kind] = str(path)
    mm = json.dumps(MM.model_dump(mode="json"))
    text = f"""
name = "e2e"
[paper]
journal = "{tmp / "state" / "journal.sqlite"}"
checkpoint_every = 50
[paper.data]
catalog = "{_catalog(tmp)}"
venue = "synthetic"
symbol = "SYN"
[paper.strategy]
kind = "market_maker"
[paper.feed]
speed = 1.0
[paper.service]
port = 0
[evidence]
backtest = "{evidence["backtest"]}"
stress = "{evidence["stress"]}"
paper = "{evidence["paper"]}"
[backup]
dir = "{tmp / "backups"}"
[alerts]
eval_every_s = 0.2
log = true
[[alerts.rules]]
name = "drawdown"
metric = "drawdown"
op = ">"
threshold = 0.0
for_s = 2.0
severity = "critical"
response = "halt"
[[alerts.webhooks]]
url = "{url}"
retries = 2
backoff_s = 0.1
"""
    path = tmp / "deploy.toml"
    path.write_text(text + "\n[paper.strategy.market_maker]\n" + _toml_table(json.loads(mm)))
    return path


def _toml_table(d: dict[str, Any], prefix: str = "paper.strategy.market_maker") -> str:
    flat = [f"{k} = {_toml_scalar(v)}" for k, v in d.items() if not isinstance(v, dict)]
    nested = [f"\n[{prefix}.{k}]\n" + _toml_table(v, f"{prefix}.{k}")
              for k, v in d.items() if isinstance(v, dict)]  # fmt: skip
    return "\n".join(flat) + "\n" + "".join(nested)


def _toml_scalar(v: Any) -> str:
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return json.dumps(v)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait(predicate: Any, what: str, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert proc.poll() is None, f"service died while waiting for {what}"
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _start(venv: Path, bundle: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("L2TRADER_", "PYTHON"))}
    env["L2TRADER_WEBHOOK_TOKEN"] = TOKEN
    with log.open("wb") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(venv / "bin" / "l2trader"), "deploy", "run", str(bundle)],
                                stdout=subprocess.DEVNULL, stderr=err, env=env,
                                cwd=bundle)  # fmt: skip


def _service_url(journal: Path) -> str | None:
    path = journal.with_name(journal.name + ".service.json")
    if not path.is_file():
        return None
    return str(json.loads(path.read_text())["url"])


def _metrics(url: str) -> dict[str, float]:
    status, body = _get(url + "/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if not sample.labels:
                out[sample.name] = sample.value
    return out


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=GUARD_S)


@pytest.mark.slow
def test_package_install_run_alert_halt_stop_backup_restore_resume(
    tmp_path: Path, webhook: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]
) -> None:
    url, received = webhook
    settings = _settings(tmp_path, url)
    journal = tmp_path / "state" / "journal.sqlite"

    # package -> verify -> extract -> install into a fresh venv
    info = build_bundle(settings, tmp_path / "dist")
    assert verify_bundle(info.path).ok
    bundle = extract_bundle(info.path, tmp_path / "install")
    venv = bundle / "venv"
    subprocess.run(["sh", str(bundle / "scripts" / "install.sh")], cwd=bundle, check=True,
                   timeout=GUARD_S, capture_output=True)  # fmt: skip
    assert (venv / "bin" / "l2trader").is_file()

    # run the service on loopback: health, readiness, metrics
    log = tmp_path / "service.log"
    proc = _start(venv, bundle, log)
    base = _wait(lambda: _service_url(journal), "the service file", proc)
    assert _get(base + "/healthz") == (200, b"ok")
    _wait(lambda: _get(base + "/readyz")[0] == 200, "readiness", proc)
    metrics = _wait(lambda: (m := _metrics(base)).get("l2t_events_total", 0) > 0 and m,
                    "events in /metrics", proc)  # fmt: skip
    assert metrics["l2t_halted"] == 0.0

    # the forced drawdown fires, the webhook gets it, the response halts trading
    _wait(lambda: received, "the webhook alert", proc)
    headers, body = received[0]
    assert (body["rule"], body["state"], body["response"]) == ("drawdown", "firing", "halt")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    _wait(lambda: _get(base + "/readyz")[0] == 503, "readiness to drop", proc)
    assert b"not risk not halted" in _get(base + "/readyz")[1]
    assert _metrics(base)["l2t_halted"] == 1.0

    # SIGTERM: clean shutdown, structured logs, no secret
    assert _stop(proc) == 0
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert any(x["msg"] == "service stopped" for x in lines)
    assert TOKEN not in log.read_text()
    with Journal(journal) as j:
        before = j.read_all()
        events = j.read_events()
        assert j.verify().ok
    assert ("alert", "drawdown", "firing") in [(e["kind"], e["name"], e["state"]) for e in events]
    assert ("operator", "halt", "applied") in [(e["kind"], e["name"], e["state"]) for e in events]

    # backup -> delete the journal -> restore -> resume with the same state
    archive = create_backup(tmp_path / "bk", journal=journal, registry=None, catalog=None)
    for suffix in ("", "-wal", "-shm"):
        Path(str(journal) + suffix).unlink(missing_ok=True)
    restore_backup(archive.path, journal=journal, registry=None)
    with Journal(journal) as j:
        after = j.read_all()
    for table in ("intents", "order_events", "fills", "state"):
        assert np.array_equal(getattr(after, table), getattr(before, table)), table
    proc = _start(venv, bundle, tmp_path / "service2.log")
    base = _wait(lambda: _service_url(journal), "the resumed service", proc)
    snap = _wait(lambda: (s := json.loads(_get(base + "/api/snapshot")[1] or b"{}"))
                 .get("position") is not None and s, "a state row after resume", proc)  # fmt: skip
    status, reason = _get(base + "/readyz")
    assert status == 503
    assert b"risk not halted" in reason  # the halt survived the restore
    position = float(np.sum(before.fills["side"] * before.fills["qty"]))
    assert snap["position"] == pytest.approx(position, abs=1e-9)
    assert _stop(proc) == 0
