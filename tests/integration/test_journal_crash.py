"""kill -9 a journaling process at random moments; resume; nothing lost or doubled (issue 7).

The driver plays a tiny paper session: per batch ``b`` it sends seeded intents, gets
ACCEPTED events and 0-3 fills per order, updates position/cash/fees from the fills and
appends intents, events, fills and one state row in one transaction; before every
``CKPT_EVERY``-th batch it checkpoints its state. On start it recovers from the journal
(latest checkpoint + replay of the fills after it) and continues. The test SIGKILLs it at
random points (3 per seed, 3 seeds), checks each time that the journal is a commit-exact
prefix of an uninterrupted run's, then resumes to the end and compares every row.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from l2trader.paper.journal import Journal, pack_arrays, unpack_arrays
from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, STATE_DTYPE

S = 1_000_000_000
TICK = 0.01
N_BATCHES = 50
CKPT_EVERY = 5
KILLS_PER_SEED = 3
PACE_S = 0.0015  # the killed driver's pause per batch: 3 kills (<= 7 batches read + a <= 10 ms
# sleep each) stay well inside the 50 batches (measured flaky unpaced: a quiet machine wrote
# all 50 before the third kill)


@dataclass
class Sim:
    """The driver's mutable state (what a paper session would checkpoint)."""

    position: float = 0.0
    cash: float = 0.0
    fees: float = 0.0
    next_id: int = 1
    next_batch: int = 0
    ckpt_batch: int = 0


def make_batch(seed: int, b: int, first_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intents, ACCEPTED events and fills of batch ``b`` (a function of seed, b, first_id)."""
    rng = np.random.default_rng([seed, b])
    k = int(rng.integers(1, 6))
    intents = np.zeros(k, ORDER_DTYPE)
    intents["ts_recv"] = b * S
    intents["order_id"] = np.arange(first_id, first_id + k)
    intents["action"], intents["order_type"], intents["tif"] = 1, 1, 1
    intents["side"] = rng.choice([-1, 1], k)
    intents["price_ticks"] = 10_000 + rng.integers(-5, 6, k)
    intents["qty"] = rng.integers(1, 20, k) / 4
    events = np.zeros(k, ORDER_EVENT_DTYPE)
    events["ts_exch"] = events["ts_recv"] = b * S + 1000
    events["order_id"], events["status"] = intents["order_id"], 1
    events["leaves_qty"] = intents["qty"]
    n_fills = rng.integers(0, 4, k)
    fills = np.zeros(int(n_fills.sum()), FILL_DTYPE)
    rows = np.repeat(np.arange(k), n_fills)
    fills["order_id"], fills["side"] = intents["order_id"][rows], intents["side"][rows]
    fills["ts_exch"] = b * S + 2000 + np.arange(fills.size)
    fills["ts_recv"] = fills["ts_exch"] + 500
    fills["liquidity"], fills["price_ticks"] = 1, intents["price_ticks"][rows]
    fills["qty"] = intents["qty"][rows] / np.maximum(n_fills[rows], 1)
    fills["fee"] = fills["qty"] * fills["price_ticks"] * TICK * 1e-4
    return intents, events, fills


def apply_fills(sim: Sim, fills: np.ndarray) -> None:
    for fill in fills:
        signed = float(fill["side"]) * float(fill["qty"])
        sim.position += signed
        sim.cash -= signed * float(fill["price_ticks"]) * TICK + float(fill["fee"])
        sim.fees += float(fill["fee"])


def recover(journal: Journal) -> Sim:
    """Latest checkpoint + replay of the rows after it (one state row per batch)."""
    sim, since = Sim(), 0
    ckpt = journal.latest_checkpoint()
    if ckpt is not None:
        arrays = unpack_arrays(ckpt.blob)
        sim.position, sim.cash, sim.fees = (float(x) for x in arrays["pf"])
        sim.next_id, sim.next_batch = (int(x) for x in arrays["ids"])
        sim.ckpt_batch, since = sim.next_batch, ckpt.seq
    rows = journal.read_since(since)
    apply_fills(sim, rows.fills)
    if rows.intents.size:
        sim.next_id = int(rows.intents["order_id"].max()) + 1
    sim.next_batch += rows.state.size
    return sim


def drive(
    path: Path, seed: int, n_batches: int, *, report: bool = False, kind: type[Journal] = Journal
) -> None:
    """Resume the session journaled at ``path`` and run it to ``n_batches`` batches."""
    with kind(path, session_id=f"crash-{seed}", config_id="crash-test") as journal:
        sim = recover(journal)
        for b in range(sim.next_batch, n_batches):
            if report:  # paced like arrivals: a kill lands before the run ends (>= 1.5 ms/batch)
                time.sleep(PACE_S)
            if b % CKPT_EVERY == 0 and b > sim.ckpt_batch:
                state = {"pf": np.array([sim.position, sim.cash, sim.fees]),
                         "ids": np.array([sim.next_id, b])}  # fmt: skip
                journal.checkpoint(pack_arrays(state), ts_recv=b * S)
                sim.ckpt_batch = b
            intents, events, fills = make_batch(seed, b, sim.next_id)
            sim.next_id += intents.size
            apply_fills(sim, fills)
            state_row = np.zeros(1, STATE_DTYPE)
            mid = 10_000 * TICK
            state_row[0] = (b * S, mid, sim.position, sim.cash, sim.fees,
                            sim.cash + sim.position * mid)  # fmt: skip
            journal.append(intents=intents, order_events=events, fills=fills, state=state_row)
            if report:
                print(b, flush=True)


DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tests.integration.test_journal_crash import drive
    drive(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), report=True)
    """
)


STALL_DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from l2trader.paper.journal import Journal
    from tests.integration.test_journal_crash import S, drive

    class StallingJournal(Journal):
        # Stalls inside the transaction of batch argv[4]: its rows plus 20,000 filler rows
        # are inserted (a 10-page cache spills them to the WAL), COMMIT never comes.
        def _commit(self, rows):
            seq = super()._commit(rows)
            if "state" in rows and rows["state"][0][0] == int(sys.argv[4]) * S:
                self._conn.execute("PRAGMA cache_size = 10")
                super()._commit({"state": [rows["state"][0]] * 20_000})
                print("STALLED", flush=True)
                time.sleep(120)
            return seq

    drive(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), kind=StallingJournal)
    """
)


def frames_after_last_commit(wal: Path) -> int:
    """WAL frames written after the last commit frame (of the current WAL generation)."""
    data = wal.read_bytes()
    page, salt = int.from_bytes(data[8:12], "big"), data[16:24]
    offset, pending = 32, 0
    while offset + 24 + page <= len(data) and data[offset + 8 : offset + 16] == salt:
        is_commit = int.from_bytes(data[offset + 4 : offset + 8], "big") != 0
        pending = 0 if is_commit else pending + 1
        offset += 24 + page
    return pending


def dump(path: Path, upto: int | None = None) -> dict[str, Any]:
    """Every row of the journal with seq <= ``upto`` as plain Python values (no wall times)."""
    with Journal(path) as journal:
        rows, meta = journal.read_all(), journal.meta
    limit = rows.last_seq if upto is None else upto
    out: dict[str, Any] = {"meta": (meta.session_id, meta.config_id, meta.schema_version)}
    for table in ("intents", "order_events", "fills", "state"):
        keep = getattr(rows, f"{table}_seq") <= limit
        out[table] = getattr(rows, table)[keep].tolist()
        out[f"{table}_seq"] = getattr(rows, f"{table}_seq")[keep].tolist()
    con = sqlite3.connect(path)
    out["commits"] = con.execute("SELECT * FROM commits WHERE seq <= ?", (limit,)).fetchall()
    ckpts = con.execute(
        "SELECT seq, covers_seq, ts_recv, blob FROM checkpoints WHERE seq <= ?", (limit,)
    ).fetchall()
    con.close()
    out["checkpoints"] = [
        (s, c, t, {k: v.tolist() for k, v in unpack_arrays(blob).items()})
        for s, c, t, blob in ckpts
    ]
    return out


def kill_at_random(path: Path, seed: int, rng: np.random.Generator, repo: Path) -> None:
    """Start the driver, let it commit a few batches, SIGKILL it a random moment later."""
    with subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(path), str(seed), str(N_BATCHES)],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    ) as child:
        assert child.stdout is not None
        for _ in range(int(rng.integers(1, 8))):
            assert child.stdout.readline() != ""  # one more committed batch
        time.sleep(float(rng.uniform(0.0, 0.01)))
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_kill_9_at_random_points_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, seed: int
) -> None:
    reference_path, path = tmp_path / "reference.sqlite", tmp_path / "crashed.sqlite"
    drive(reference_path, seed, N_BATCHES)
    reference = dump(reference_path)
    commit_seqs = {row[0] for row in reference["commits"]}
    repo = Path(__file__).resolve().parents[2]
    rng = np.random.default_rng(seed)
    recovered_batches = []

    for _ in range(KILLS_PER_SEED):
        kill_at_random(path, seed, rng, repo)
        with Journal(path) as journal:
            report = journal.verify()
            batches = recover(journal).next_batch
        recovered_batches.append(batches)
        assert report.last_seq in commit_seqs  # ends exactly on a commit of the full run
        assert report.counts["state"] == batches  # one state row per complete batch
        assert dump(path) == dump(reference_path, upto=report.last_seq)  # a prefix, no partial
    drive(path, seed, N_BATCHES)  # resume to the end in-process

    with Journal(path) as journal:
        final_report = journal.verify()
    assert recovered_batches == sorted(recovered_batches)
    assert 0 < recovered_batches[-1] < N_BATCHES
    assert final_report.counts["state"] == N_BATCHES
    assert dump(path) == reference


def test_kill_9_inside_an_open_transaction_loses_exactly_that_batch(tmp_path: Path) -> None:
    seed, stall_batch = 44, 7
    reference_path, path = tmp_path / "reference.sqlite", tmp_path / "crashed.sqlite"
    drive(reference_path, seed, N_BATCHES)
    repo = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        [sys.executable, "-c", STALL_DRIVER, str(path), str(seed), "20", str(stall_batch)],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "STALLED"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    torn = frames_after_last_commit(Path(f"{path}-wal"))

    with Journal(path) as journal:
        report = journal.verify()
        recovered = recover(journal)
    drive(path, seed, N_BATCHES)

    assert torn > 10  # the WAL holds pages of the cut transaction
    assert recovered.next_batch == stall_batch  # batches 0..6 complete, batch 7 absent
    assert report.counts["state"] == stall_batch
    assert dump(path, upto=report.last_seq) == dump(reference_path, upto=report.last_seq)
    assert dump(path) == dump(reference_path)
