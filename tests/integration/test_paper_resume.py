"""SIGKILL ``paper start`` / ``paper resume`` at random points; the resumed session is exact.

Data: the first ~60k events of the real Binance USD-M capture in a catalog, replayed at a
real-time speed factor (~3 s of wall time) with the market maker and a checkpoint every 20
arrivals. For each seed the CLI runs as a subprocess (``sys.executable``), is killed with
SIGKILL a random moment after its first data commit, resumed (``paper resume``, again a
subprocess) and killed again, then resumed to the end. After each kill: ``Journal.verify``
passes and every table is a prefix of an uninterrupted run's. At the end every row (no fill
lost or doubled) and the final portfolio equal the uninterrupted run's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.catalog import Catalog
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.report import ValidationReport
from l2trader.paper.config import PaperConfig
from l2trader.paper.journal import Journal
from l2trader.paper.session import Session, SessionResult
from l2trader.paper.validate import first_difference
from l2trader.schema import F_LAST

CAPTURE = "hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
TABLES = ("intents", "order_events", "fills", "state")
REPO = Path(__file__).resolve().parents[2]
CLI = "from l2trader.cli.paper_cmd import app; app()"
MM = {"inventory_unit_qty": 0.002, "max_inventory": 0.02, "min_half_spread_ticks": 1.0,
      "sizing": {"qty": 0.002, "lot_size": 0.001}}  # fmt: skip
HANG_GUARD_S = 120.0  # never a performance assertion


@pytest.fixture(scope="module")
def catalog(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A catalog of the first ~60k events; returns it and the speed replaying them in ~3 s."""
    inst = lookup("binance-futures", "BTCUSDT")
    ev = collect(BinanceDepthReader([shared_data / CAPTURE], instrument=inst).chunks())[:60_000]
    ev = ev[: int(np.flatnonzero(ev["flags"] & F_LAST)[-1]) + 1]
    root = tmp_path_factory.mktemp("catalog")
    np.save(root / "events.npy", ev)
    Catalog(root / "cat").write(inst, [ev], sources=[root / "events.npy"],
                                report=ValidationReport("test"))  # fmt: skip
    span_s = (int(ev["ts_recv"][-1]) - int(ev["ts_recv"][0])) / 1e9
    return root / "cat", span_s / 3.0


def _config(tmp: Path, catalog: tuple[Path, float]) -> PaperConfig:
    return PaperConfig(
        journal=str(tmp / "journal.sqlite"),
        data={"catalog": str(catalog[0]), "venue": "binance-futures", "symbol": "BTCUSDT"},
        strategy={"kind": "market_maker", "market_maker": MM},
        feed={"speed": catalog[1]},
        checkpoint_every=20,
    )


def _rows(path: Path) -> dict[str, np.ndarray]:
    with Journal(path) as j:
        report = j.verify()
        rows = j.read_all()
    assert report.ok
    return {t: getattr(rows, t) for t in TABLES}


def _last_seq(path: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return int(con.execute("SELECT COALESCE(MAX(seq), 0) FROM commits").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _kill_later(args: list[str], journal: Path, rng: np.random.Generator, max_s: float) -> None:
    """Run the CLI; once it commits new rows, SIGKILL it a random moment later."""
    before = max(_last_seq(journal), 2)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as child:  # fmt: skip
        deadline = time.monotonic() + HANG_GUARD_S
        while _last_seq(journal) <= before and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, max_s)))
        child.send_signal(signal.SIGKILL)
        code = child.wait(timeout=HANG_GUARD_S)
        assert code == -signal.SIGKILL, child.stderr.read() if child.stderr else code


def _assert_prefix(rows: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    for t in TABLES:
        assert rows[t].size <= ref[t].size, t
        assert first_difference(rows[t], ref[t][: rows[t].size]) is None, t


@pytest.fixture(scope="module")
def reference(catalog: tuple[Path, float], tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[dict[str, np.ndarray], SessionResult]:  # fmt: skip
    cfg = _config(tmp_path_factory.mktemp("reference"), catalog)
    cfg = PaperConfig(**{**cfg.model_dump(), "feed": {"speed": None}})
    result = asyncio.run(Session(cfg).run())
    return _rows(cfg.journal_path), result


@pytest.mark.shared_data
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, catalog: tuple[Path, float], reference: tuple[Any, SessionResult], seed: int
) -> None:
    ref_rows, ref = reference
    cfg = _config(tmp_path, catalog)
    config_path = tmp_path / "paper.json"
    config_path.write_text(cfg.to_json())
    rng = np.random.default_rng(seed)
    journal = cfg.journal_path

    _kill_later(["start", str(config_path)], journal, rng, 1.5)
    after_first = _rows(journal)
    _kill_later(["resume", "--journal", str(journal)], journal, rng, 0.8)
    after_second = _rows(journal)
    final = asyncio.run(Session(PaperConfig.from_json(cfg.to_json()), resume=True).run())
    rows = _rows(journal)

    _assert_prefix(after_first, ref_rows)
    _assert_prefix(after_second, ref_rows)
    assert 0 < after_first["intents"].size <= after_second["intents"].size
    assert after_second["state"].size < ref_rows["state"].size  # killed before the end
    for t in TABLES:
        assert first_difference(rows[t], ref_rows[t]) is None, t
    assert final.status == "finished"
    assert final.portfolio == ref.portfolio
    assert final.position.events == ref.position.events
