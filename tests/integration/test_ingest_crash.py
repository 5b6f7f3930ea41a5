"""kill -9 in the middle of an ingest: committed data is untouched, the next write cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from l2trader.data.catalog import Catalog
from l2trader.data.instruments import Instrument
from l2trader.data.report import ValidationReport
from l2trader.testing import make_events, tree_snapshot

INSTRUMENT = Instrument(venue="test", symbol="XYZ", tick_size=0.01)
DAY_NS = 86_400 * 10**9


def _events(day: int, n: int) -> np.ndarray:
    ev = make_events([(1000 + i % 7, 1.0 + i, 1 if i % 2 else -1) for i in range(n)], batch=False)
    ev["ts_recv"] = ev["ts_exch"] = day * DAY_NS + np.arange(n)
    ev["side"] = np.where(ev["price_ticks"] < 1004, 1, -1)
    return ev


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tests.integration.test_ingest_crash import INSTRUMENT, _events
    from l2trader.data.catalog import Catalog
    from l2trader.data.report import ValidationReport

    def chunks():
        yield _events(20000, 500)
        print("STAGED", flush=True)
        time.sleep(120)  # killed here, mid-ingest
        yield _events(20001, 500)

    source = Path(sys.argv[2])
    Catalog(sys.argv[1]).write(INSTRUMENT, chunks(), sources=[source], report=ValidationReport("x"))
    """
)


def test_kill_9_mid_ingest_leaves_committed_data_intact(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    before_events = _events(19999, 300)
    Catalog(root).write(INSTRUMENT, [before_events], sources=[first], report=ValidationReport("a"))
    before = tree_snapshot(root, skip_prefixes=(".staging-",))

    repo = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(second)],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "STAGED"
        assert any(root.glob(".staging-*"))  # mid-ingest: rows staged, nothing committed
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    assert tree_snapshot(root, skip_prefixes=(".staging-",)) == before
    stored = Catalog(root).read_all("test", "XYZ")
    assert stored.tobytes() == before_events.tobytes()
    Catalog(root).write(
        INSTRUMENT, [_events(20002, 10)], sources=[second], report=ValidationReport("b")
    )
    assert not list(root.glob(".staging-*"))
    assert len(Catalog(root).read_all("test", "XYZ")) == 310
