"""The dashboard of a REAL paper session in headless Chromium.

``l2trader paper start CONFIG --service`` runs in a child process on a seeded synthetic
catalog replayed at recorded speed (10 ms per message); the browser watches equity move and
the live validation panel (the analyzer's metrics and checks) fill in; SIGTERM then stops the
session gracefully. With ``L2T_WRITE_DOCS_IMG=1`` it refreshes ``docs/img/dashboard.png``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from l2trader.data.catalog import Catalog
from l2trader.data.instruments import lookup
from l2trader.data.report import ValidationReport
from l2trader.paper.journal import Journal
from l2trader.testing import realistic_events
from l2trader.testing.browser import browser_unavailable_reason, headless_chromium, screenshot

REPO = Path(__file__).resolve().parents[2]
GUARD_S = 300.0  # hang guard (a cold numba compile included), never a performance assertion
REASON = browser_unavailable_reason()
CLI = "from l2trader.cli.main import main; main()"


def _config(tmp: Path) -> Path:
    inst = lookup("synthetic", "SYN")
    ev = realistic_events(np.random.default_rng(11), 60_000, start_ticks=10_000,
                          message_ns=10_000_000)  # fmt: skip
    np.save(tmp / "events.npy", ev)
    Catalog(tmp / "cat").write(inst, [ev], sources=[tmp / "events.npy"],
                               report=ValidationReport("dashboard"))  # fmt: skip
    path = tmp / "paper.toml"
    path.write_text(f"""
journal = "{tmp / "journal.sqlite"}"
validate_every_s = 0.5
[data]
catalog = "{tmp / "cat"}"
venue = "synthetic"
symbol = "SYN"
[engine]
initial_cash = 10000.0
[strategy]
kind = "market_maker"
[strategy.market_maker]
inventory_unit_qty = 1.0
max_inventory = 5.0
[strategy.market_maker.sizing]
qty = 1.0
lot_size = 1.0
[feed]
speed = 1.0
[service]
port = 0
""")
    return path


def _url(proc: subprocess.Popen[str]) -> str:
    """The service URL the child prints (read on a thread: never blocks past the guard)."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True).start()
    while True:
        line = lines.get(timeout=GUARD_S)
        if line.startswith("service: "):
            return line.split()[1]


def _watch(url: str, out: Path) -> tuple[str | None, int, list[str], list[str]]:
    """Open the dashboard; wait for equity to move and the validation checks to render."""
    with headless_chromium() as chrome:
        page, console, errors = chrome.open_page(url, width=1280, height=1100)
        timeout = GUARD_S * 1000
        page.wait_for_function("() => document.getElementById('equity').textContent "
                               "!== '\\u2014'", timeout=timeout)  # fmt: skip
        first = page.text_content("#equity")
        page.wait_for_function("(v) => document.getElementById('equity').textContent "
                               "!== v", arg=first, timeout=timeout)  # fmt: skip
        page.wait_for_function("() => document.querySelectorAll('#v-checks tr').length "
                               "> 0", timeout=timeout)  # fmt: skip
        if os.environ.get("L2T_WRITE_DOCS_IMG") == "1":
            page.wait_for_timeout(30_000)  # a longer equity curve for the docs picture
        verdict = page.text_content("#v-verdict")
        metrics = page.locator("#v-metrics dt").count()
        screenshot(page, out)
    return verdict, metrics, console, errors


@pytest.mark.skipif(REASON is not None, reason=f"browser tests: {REASON}")
def test_dashboard_of_a_real_session_shows_live_equity_and_validation(tmp_path: Path) -> None:
    write_docs = os.environ.get("L2T_WRITE_DOCS_IMG") == "1"
    out = REPO / "docs" / "img" / "dashboard.png" if write_docs else tmp_path / "dashboard.png"
    env = {**os.environ, "COLUMNS": "200"}
    with subprocess.Popen(
        [sys.executable, "-c", CLI, "paper", "start", str(_config(tmp_path)), "--service"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    ) as proc:
        try:
            verdict, metrics, console, errors = _watch(_url(proc), out)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=GUARD_S)
            stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0, stderr
    assert verdict in ("PASS", "FAIL")
    assert metrics >= 10
    assert console == []
    assert errors == []
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert journal.verify().ok
        assert journal.read_all().state.size > 0
