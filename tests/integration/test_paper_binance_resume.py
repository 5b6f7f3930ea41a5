"""SIGKILL ``paper start`` on the live Binance feed, then ``resume``: restored, resynced, exact.

The venue is :class:`BinanceReplayServer` replaying the real cryptofeed USD-M capture
(SUSHIUSDT among 4 symbols, ~30 s recorded) at 3x in a thread of the test process, so it
keeps running while the session is dead, as a real venue would. The session (market maker,
1-lot quotes, a checkpoint every 5 arrivals) runs as a ``l2trader paper start`` subprocess;
it is frozen with SIGSTOP once the journal is in the wanted state, checked again, and
killed with SIGKILL (so the kill point is known exactly). Then ``Session(resume=True)``
runs in-process against the same venue to the end of the replay and stops gracefully.

Proved after resume: the journal verifies; the rows before the kill are a prefix of the
final journal and every fill is unique (none lost or doubled); position, cash, fees and
working orders are the checkpoint's (restored, not reset) and the position equals the
journal's fills; the book was not kept but resynced from one fresh (live) REST snapshot;
the final book equals the :class:`BinanceDepthReader` oracle's on the same capture.

Kill points: right after a checkpoint, and at the first moment 3 fills are journaled. A live
session checkpoints in the same transaction as every commit (it cannot replay the events
after a checkpoint), so no journaled row is ever newer than its latest checkpoint.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument, save_instruments
from l2trader.engine import state as S
from l2trader.engine.portfolio import CASH, FEES, POSITION
from l2trader.paper.binance_ws import BinanceDepthClient
from l2trader.paper.blob import unpack_arrays
from l2trader.paper.config import PaperConfig
from l2trader.paper.journal import Journal
from l2trader.paper.session import Session, SessionResult
from l2trader.paper.validate import first_difference
from l2trader.paper.warmup import warm_up
from l2trader.testing import ReferenceBook
from l2trader.testing.binance_server import (
    BinanceReplayServer,
    Capture,
    ServerStats,
    load_capture,
)

CF = "cryptofeed-ws-captures"
FILES = ("BINANCE_FUTURES.ws.1.0", "BINANCE_FUTURES.http.0.0")
VENUE, SYMBOL = "binance-futures", "SUSHIUSDT"
SPEED = 3.0  # the ~30 s capture in ~10 s of wall time
MM = {"inventory_unit_qty": 1.0, "max_inventory": 10.0, "min_half_spread_ticks": 1.0,
      "sizing": {"qty": 1.0, "lot_size": 1.0}}  # fmt: skip
TABLES = ("intents", "order_events", "fills", "state")
TOP = 20  # book levels compared with the oracle
REPO = Path(__file__).resolve().parents[2]
CLI = "from l2trader.cli.main import main; main()"
HANG_GUARD_S = 60.0  # never a performance assertion

Rows = dict[str, NDArray[np.void]]


@dataclass(frozen=True)
class Venue:
    """The capture the venue replays, the instrument, and the reader oracle's C1 rows."""

    capture: Capture
    instrument: Instrument
    expected: NDArray[np.void]


class Probe(NamedTuple):
    """What a journal holds: fills, latest checkpoint seq, data rows and fills after it."""

    fills: int
    checkpoint_seq: int
    rows_after: int
    fills_after: int


def _instrument(http: Path) -> Instrument:
    """Tick size = the smallest price step in the recorded REST snapshot; 1-unit lots."""
    for line in http.read_text().splitlines():
        if f"symbol={SYMBOL}&" in line:
            body = json.loads(line.split(": ", 1)[1])
            prices = sorted({Decimal(p) for p, _ in body["bids"] + body["asks"]})
            tick = min(b - a for a, b in itertools.pairwise(prices))
            return Instrument(venue=VENUE, symbol=SYMBOL, tick_size=float(tick), lot_size=1.0,
                              kind="linear", quote_currency="USDT")  # fmt: skip
    raise AssertionError(SYMBOL)


@pytest.fixture(scope="module")
def venue(shared_data: Path) -> Venue:
    ws, http = (shared_data / CF / f for f in FILES)
    inst = _instrument(http)
    reader = BinanceDepthReader([ws], instrument=inst, snapshot_paths=[http], symbol=SYMBOL)
    return Venue(load_capture([ws], [http]), inst, collect(reader.chunks()))


@contextmanager
def _loopback(capture: Capture) -> Iterator[BinanceReplayServer]:
    """A replay server running on its own event loop in a daemon thread."""
    loop = asyncio.new_event_loop()
    ready, box = threading.Event(), []
    done = asyncio.Event()

    async def serve() -> None:
        async with BinanceReplayServer(capture, speed=SPEED) as server:
            box.append(server)
            ready.set()
            await done.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(HANG_GUARD_S)
    try:
        yield box[0]
    finally:
        loop.call_soon_threadsafe(done.set)
        thread.join(HANG_GUARD_S)
        loop.close()


def _config(tmp: Path, inst: Instrument, ws_url: str, rest_url: str) -> PaperConfig:
    (tmp / "cat").mkdir()
    save_instruments(tmp / "cat" / "instruments.json", {inst.key: inst})
    return PaperConfig(
        journal=str(tmp / "journal.sqlite"),
        data={"catalog": str(tmp / "cat"), "venue": VENUE, "symbol": SYMBOL},
        strategy={"kind": "market_maker", "market_maker": MM},
        feed={"kind": "binance", "market": "futures", "ws_url": ws_url, "rest_url": rest_url},
        checkpoint_every=5,
    )  # fmt: skip


def _probe(path: Path) -> Probe:
    """Read the journal read-only (a live writer may hold it)."""
    if not path.exists():
        return Probe(0, 0, 0, 0)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        one: Callable[[str], int] = lambda q: int(con.execute(q).fetchone()[0])  # noqa: E731
        ckpt = one("SELECT COALESCE(MAX(seq), 0) FROM checkpoints")
        after = sum(one(f"SELECT COUNT(*) FROM {t} WHERE seq > {ckpt}") for t in TABLES)
        fills_after = one(f"SELECT COUNT(*) FROM fills WHERE seq > {ckpt}")
        return Probe(one("SELECT COUNT(*) FROM fills"), ckpt, after, fills_after)
    except sqlite3.Error:
        return Probe(0, 0, 0, 0)  # schema not created yet
    finally:
        con.close()


def _kill_when(config: Path, journal: Path, want: Callable[[Probe], bool]) -> Probe:
    """Run ``paper start``; once its journal shows ``want``, SIGSTOP, re-check, SIGKILL."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    args = [sys.executable, "-c", CLI, "paper", "start", str(config)]
    err = config.with_suffix(".stderr")
    with (
        err.open("wb") as sink,
        subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sink) as child,
    ):
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            assert child.poll() is None, err.read_text()
            assert time.monotonic() < deadline, (
                f"journal never reached the kill point: {_probe(journal)}"
            )
            if want(_probe(journal)):
                child.send_signal(signal.SIGSTOP)
                os.waitpid(child.pid, os.WUNTRACED)  # frozen: the journal cannot move on
                probe = _probe(journal)
                if want(probe):
                    break
                child.send_signal(signal.SIGCONT)
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=HANG_GUARD_S) == -signal.SIGKILL
    return probe


def _rows(path: Path) -> Rows:
    with Journal(path) as j:
        assert j.verify().ok
        rows = j.read_all()
    return {t: getattr(rows, t) for t in TABLES}


def _checkpoint_arrays(path: Path) -> dict[str, NDArray[Any]]:
    with Journal(path) as j:
        ckpt = j.latest_checkpoint()
    assert ckpt is not None
    return unpack_arrays(ckpt.blob)


async def _run_to_the_end(session: Session, server: BinanceReplayServer, sent0: int
                          ) -> SessionResult:  # fmt: skip
    """Run until the venue finished, every frame since ``sent0`` was processed; then stop."""
    task = asyncio.create_task(session.run())
    client = session.feed
    assert isinstance(client, BinanceDepthClient)

    async def settled() -> None:
        while not (server.finished.is_set() and client.synced
                   and client.stats.messages == server.stats.sent - sent0
                   and session.stats.events == client.stats.events
                   ) and not task.done():  # fmt: skip
            await asyncio.sleep(0.01)

    await asyncio.wait_for(settled(), HANG_GUARD_S)
    session.request_stop()
    return await asyncio.wait_for(task, HANG_GUARD_S)


def _wait_for_the_dead_connection(server: BinanceReplayServer) -> int:
    """Wait until the venue sends to nobody (the killed client is gone); frames sent so far."""
    unsent, deadline = server.stats.unsent, time.monotonic() + HANG_GUARD_S
    while server.stats.unsent == unsent and not server.finished.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.002)
    assert not server.finished.is_set(), "the replay ended before the resume"
    return server.stats.sent


def _signed_position(fills: NDArray[np.void]) -> float:
    """Position from fills, base units (exact for 1-lot fills)."""
    return float(np.sum(fills["side"].astype(np.float64) * fills["qty"]))


def _oracle_top(expected: NDArray[np.void]) -> tuple[list[tuple[int, float]], ...]:
    book = ReferenceBook()
    book.apply_all(expected)
    return book.top(TOP)


@dataclass
class Killed:
    """A session killed at ``probe`` and restored from its journal (not yet running)."""

    probe: Probe
    before: Rows
    checkpoint: dict[str, NDArray[Any]]
    session: Session
    restored_pf: NDArray[np.float64]
    """``(position, cash, fees)`` of the restored engine (base units, quote currency)."""
    restored_orders: int
    restored_book: tuple[list[tuple[int, float]], list[tuple[int, float]]]
    server: BinanceReplayServer
    sent0: int
    """Frames the venue had sent when the killed client was gone."""


@dataclass
class Outcome:
    """How the resumed session ended, its journal, and the venue's counters."""

    result: SessionResult
    after: Rows
    venue: ServerStats
    """The venue's counters at the end; ``sent`` = frames sent after the kill (to the resume)."""


@pytest.fixture(scope="module")
def compiled(venue: Venue, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compile (and cache on disk) the engine kernels before a child has to run them."""
    cfg = _config(tmp_path_factory.mktemp("warm"), venue.instrument, "ws://x", "http://x")
    session = Session(cfg)  # connects to nothing: only its engine factory is used
    session.journal.close()
    warm_up(session.new_engine)


@contextmanager
def _killed(tmp: Path, venue: Venue, want: Callable[[Probe], bool]) -> Iterator[Killed]:
    """Start, SIGKILL once the journal shows ``want``, restore a resumed session."""
    with _loopback(venue.capture) as server:
        cfg = _config(tmp, venue.instrument, server.ws_url, server.rest_url(SYMBOL, "futures"))
        (tmp / "paper.json").write_text(cfg.to_json())
        probe = _kill_when(tmp / "paper.json", cfg.journal_path, want)
        sent0 = _wait_for_the_dead_connection(server)
        before, ckpt = _rows(cfg.journal_path), _checkpoint_arrays(cfg.journal_path)
        session = Session(PaperConfig.from_json(cfg.to_json()), resume=True)
        engine = session.engine
        pf, orders = engine.trader.pf[:3].copy(), int(engine.trader.est[S.ES_N_SV])
        try:
            yield Killed(probe, before, ckpt, session, pf, orders, engine.book.top(1),
                         server, sent0)  # fmt: skip
        finally:
            session.journal.close()


def _resume(k: Killed) -> Outcome:
    """Run the resumed session to the end of the replay; stop it gracefully."""
    result = asyncio.run(_run_to_the_end(k.session, k.server, k.sent0))
    stats = replace(k.server.stats, sent=k.server.stats.sent - k.sent0)
    return Outcome(result, _rows(k.session.config.journal_path), stats)


def _assert_restored(k: Killed) -> None:
    """Position, cash, fees and working orders are the checkpoint's and the journal's.

    The engine applies a fill to the portfolio when its report arrives (its ``ts_recv``).
    """
    pf = k.checkpoint["trader_pf"]
    assert k.restored_pf.tolist() == pf[[POSITION, CASH, FEES]].tolist()
    assert k.restored_orders == int(k.checkpoint["trader_est"][S.ES_N_SV]) > 0
    # the journal's fills delivered by the checkpoint's engine time; a fill still travelling
    # back from the venue (ts_recv later) is in the restored records and delivered on resume
    now = int(k.checkpoint["trader_est"][S.ES_LAST_TS])
    fills = k.before["fills"]
    assert k.restored_pf[POSITION] == _signed_position(fills[fills["ts_recv"] <= now])
    assert k.restored_pf[CASH] != 0.0  # (the kill points have fills) not a fresh portfolio


def _assert_nothing_lost_or_doubled(k: Killed, out: Outcome) -> None:
    for t in TABLES:
        n = k.before[t].size
        assert first_difference(out.after[t][:n], k.before[t]) is None, t
    fills = out.after["fills"]
    assert np.unique(fills).size == fills.size
    assert np.unique(fills[["order_id", "ts_exch", "ts_recv"]]).size == fills.size
    assert out.result.portfolio["position"] == _signed_position(fills)


def _assert_open_orders_carried_on(k: Killed, out: Outcome) -> None:
    """Every order working at the kill gets an order event later than the checkpoint."""
    sv = k.checkpoint["trader_sv"][: int(k.checkpoint["trader_est"][S.ES_N_SV])]
    now = int(k.checkpoint["trader_est"][S.ES_LAST_TS])
    events = out.after["order_events"]  # reports after the checkpoint's time: some were
    later = events[events["ts_recv"] > now]  # journaled before the kill, still travelling
    assert set(sv["order_id"].tolist()) <= set(later["order_id"].tolist())
    assert out.after["intents"].size > k.before["intents"].size  # it went on trading


def _assert_resynced_to_the_oracle_book(k: Killed, out: Outcome, venue: Venue) -> None:
    client = k.session.feed
    assert isinstance(client, BinanceDepthClient)
    assert k.restored_book == ([], [])  # the checkpoint's book was not kept
    assert (client.stats.snapshots, client.stats.gaps, client.stats.resyncs) == (1, 0, 0)
    assert (out.venue.rest_recorded, out.venue.rest_live) == (1, 1)  # a fresh snapshot
    assert client.stats.messages == out.venue.sent
    assert client.report.ok
    bids, asks = k.session.engine.book.top(TOP)
    assert (bids, asks) == _oracle_top(venue.expected)
    assert len(bids) == len(asks) == TOP


def _assert_resumed_exactly(k: Killed, venue: Venue) -> None:
    _assert_restored(k)
    out = _resume(k)
    assert out.result.status == "stopped"
    _assert_nothing_lost_or_doubled(k, out)
    _assert_open_orders_carried_on(k, out)
    _assert_resynced_to_the_oracle_book(k, out, venue)


@pytest.mark.shared_data
def test_sigkill_at_a_checkpoint_then_resume_restores_resyncs_and_continues(
    tmp_path: Path, venue: Venue, compiled: None
) -> None:
    # Arrange + Act: SIGKILL once 2 fills are in and the journal's last commit is a checkpoint
    with _killed(tmp_path, venue, lambda p: p.fills >= 2 and p.rows_after == 0) as k:
        # Assert
        assert k.probe.rows_after == 0
        _assert_resumed_exactly(k, venue)


@pytest.mark.shared_data
def test_sigkill_after_more_fills_leaves_no_row_newer_than_a_checkpoint(
    tmp_path: Path, venue: Venue, compiled: None
) -> None:
    # Arrange + Act: SIGKILL at the first moment 3 fills are journaled, whatever else is in.
    # A live session checkpoints in the same transaction as every commit, so no journaled
    # row (no fill) is newer than the latest checkpoint, and resume restores them all.
    with _killed(tmp_path, venue, lambda p: p.fills >= 3) as k:
        # Assert
        assert k.probe.rows_after == 0
        assert k.probe.fills_after == 0
        _assert_resumed_exactly(k, venue)
