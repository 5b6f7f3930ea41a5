"""Backup while another process writes; restore a crashed paper session and resume it (issue 9).

1. A separate Python process appends to a journal in a loop while this process takes online
   backups: each restored copy passes ``Journal.verify`` and is a committed prefix.
2. A paper session on a synthetic stream crashes after arrival k; its journal is backed up,
   deleted (with its WAL), restored, and ``Session(resume=True)`` ends with exactly the rows
   and portfolio of an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from l2trader.deploy.backup import create_backup, restore_backup, verify_backup
from l2trader.paper.config import PaperConfig
from l2trader.paper.journal import Journal
from l2trader.paper.session import Session, SessionResult
from l2trader.paper.validate import first_difference
from l2trader.testing import realistic_events

TABLES = ("intents", "order_events", "fills", "state")
MM = {"inventory_unit_qty": 1.0, "max_inventory": 5.0, "min_half_spread_ticks": 1.0,
      "sizing": {"qty": 1.0, "lot_size": 1.0}}  # fmt: skip
HANG_GUARD_S = 120.0  # never a performance assertion

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    import numpy as np
    from l2trader.paper.journal import Journal
    from l2trader.schema import ORDER_DTYPE, STATE_DTYPE
    path, ready, stop = (Path(a) for a in sys.argv[1:4])
    with Journal(path) as journal:
        i = 0
        while not stop.exists():
            intent = np.zeros(1, ORDER_DTYPE)
            intent["order_id"], intent["action"], intent["side"], intent["qty"] = i + 1, 1, 1, 1.0
            state = np.zeros(1, STATE_DTYPE)
            state["ts_recv"] = i
            journal.append(intents=intent, state=state)
            i += 1
            if i == 50:
                ready.touch()
    print(i)
""")


def test_backups_under_a_writer_process_are_committed_prefixes(tmp_path: Path) -> None:
    path, ready, stop = tmp_path / "live.sqlite", tmp_path / "ready", tmp_path / "stop"
    Journal(path, session_id="live").close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(ready), str(stop)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        while not ready.exists():
            assert proc.poll() is None, "writer died"
            _settle(proc)
        archives = [create_backup(tmp_path / "bk", journal=path, registry=None, catalog=None)
                    for _ in range(5)]  # fmt: skip
    finally:
        stop.touch()
        out, _ = proc.communicate(timeout=HANG_GUARD_S)
    written = int(out)

    counts = []
    for k, info in enumerate(archives):
        target = tmp_path / f"restored-{k}.sqlite"
        result = restore_backup(info.path, journal=target, registry=None)
        assert result.journal_report is not None
        with Journal(target) as journal:
            rows = journal.read_all()
        assert np.array_equal(rows.state["ts_recv"], np.arange(rows.state.size))
        assert np.array_equal(rows.intents["order_id"], np.arange(1, rows.intents.size + 1))
        assert result.journal_report.last_seq == rows.last_seq
        counts.append(rows.intents.size)
    assert counts[0] >= 50
    assert counts == sorted(counts)
    assert counts[-1] <= written


def _settle(proc: subprocess.Popen[str]) -> None:
    """Give the writer a moment (bounded; no timing assertion)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.01)


def _config(tmp: Path) -> PaperConfig:
    return PaperConfig(
        journal=str(tmp / "j.sqlite"),
        data={"catalog": str(tmp / "no-catalog"), "venue": "synthetic", "symbol": "SYN"},
        strategy={"kind": "market_maker", "market_maker": MM},
        engine={"grid_ns": 100_000_000, "latency": {"entry_ns": 1_000_000,
                                                    "response_ns": 1_000_000}},
        checkpoint_every=50,
    )  # fmt: skip


def _events() -> np.ndarray:
    ev = realistic_events(np.random.default_rng(11), 8_000)
    for f in ("ts_recv", "ts_exch"):
        ev[f] = ev[f][0] + (ev[f] - ev[f][0]) * 2000
    return ev


class Crash(Exception):
    pass


def _crash_at(k: int) -> Any:
    def hook(n: int) -> None:
        if n == k:
            raise Crash(n)

    return hook


def _run(cfg: PaperConfig, events: np.ndarray, **kw: Any) -> SessionResult:
    return asyncio.run(Session(cfg, source=events, **kw).run())


def _rows(path: Path) -> dict[str, np.ndarray]:
    with Journal(path) as journal:
        assert journal.verify().ok
        rows = journal.read_all()
    return {t: getattr(rows, t) for t in TABLES}


def test_backup_delete_restore_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    events = _events()
    reference_cfg = _config(tmp_path / "reference")
    reference = _run(reference_cfg, events)
    cfg = _config(tmp_path / "crashed")
    with pytest.raises(Crash):
        _run(cfg, events, on_arrival=_crash_at(120))
    info = create_backup(tmp_path / "bk", journal=cfg.journal_path, registry=None, catalog=None)
    for suffix in ("", "-wal", "-shm"):
        Path(str(cfg.journal_path) + suffix).unlink(missing_ok=True)

    verify_backup(info.path)
    restore_backup(info.path, journal=cfg.journal_path, registry=None)
    resumed = _run(cfg, events, resume=True)

    ref_rows, rows = _rows(reference_cfg.journal_path), _rows(cfg.journal_path)
    assert all(first_difference(rows[t], ref_rows[t]) is None for t in TABLES)
    assert ref_rows["fills"].size > 0
    assert resumed.portfolio == reference.portfolio
    assert resumed.position.events == events.size
