"""The paper-trading loop: feed -> bounded queue -> engine -> journal, on asyncio.

**Tasks.** The *feed task* iterates the :class:`~l2trader.paper.feed.Feed` and puts each
yielded C1 array with its arrival time (monotonic ns) into an ``asyncio.Queue`` of
``queue_size``. Overflow policy: **backpressure** -- when the queue is full the feed task
awaits; the time it was blocked and the deepest queue are measured (:class:`SessionStats`),
and a put blocked longer than ``max_blocked_ms`` raises a ``backpressure`` alert (never
silent; nothing is dropped). The *engine task* takes one arrival (batches sharing one
``ts_recv``) at a time and runs the shared :class:`~l2trader.engine.engine.Engine`: the
same book, venue, latency, fee and risk models and the same ``decide_nb`` strategy as a
backtest. Feed-to-decision latency (arrival -> end of ``engine.run``, ns) goes into a
:class:`LatencyHistogram`.

**Journal before action.** After each arrival the rows the engine recorded since the last
commit (intents, order events, fills, equity rows) are appended in ONE transaction before
the next arrival is fed. The simulated venue only acts on an action when a *later* event
arrives: an intent decided at ``t`` reaches the venue before the first event with
``ts_recv > t + entry + feed_ns``, never within its own arrival. So every intent is
committed before the venue sees it, and every fill and order event is committed before the
next arrival can depend on it. Every ``checkpoint_every`` arrivals (and at the end) the
whole engine state and the feed position go into a checkpoint
(:mod:`l2trader.paper.recovery`).

**End, stop, resume.** A replay feed that ends finishes the engine exactly like a
backtest (last reports delivered, last equity row) and is then ``finished``. A graceful
stop (SIGTERM/SIGINT, :meth:`Session.request_stop`, or the stop file ``paper stop``
writes) cancels every working order through the engine's normal submit path (the cancels
reach the simulated venue with the next event after a resume), commits, and checkpoints
(``stopped``). ``resume=True`` restores the latest checkpoint, checks the rows the engine
regenerates against the journal and skips the events the checkpoint had consumed (replay)
or resyncs the book from a fresh snapshot (Binance).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray

from l2trader.atomic import write_text_atomic
from l2trader.data.catalog import Catalog
from l2trader.engine import state as S
from l2trader.engine.backtest import load_signals
from l2trader.engine.engine import Engine
from l2trader.engine.fees import FeeConfig
from l2trader.engine.portfolio import CASH, FEES, POSITION
from l2trader.errors import JournalError
from l2trader.paper.binance_ws import BinanceDepthClient
from l2trader.paper.config import PaperConfig, resolve_instrument
from l2trader.paper.feed import Feed, FeedAlert, ReplayFeed, split_arrivals, stop_feed
from l2trader.paper.journal import Journal
from l2trader.paper.operator import apply_action
from l2trader.paper.recovery import (
    Position,
    RowCursor,
    cancel_working_orders,
    load_resume_point,
    restore_engine,
    skip_events,
    snapshot_engine,
)
from l2trader.paper.validate import LatencyHistogram, SessionStats

__all__ = ["LiveMetricsSink", "Session", "SessionResult"]

logger = logging.getLogger(__name__)
_STOP: Final = "stop"
"""Queue sentinel that wakes an idle engine task to look at the stop flag."""
_POLL_S: Final = 0.1
_TOP_LEVELS: Final = 10


class LiveMetricsSink(Protocol):
    """What the session calls on a live-metrics object (``paper.live_metrics.LiveMetrics``)."""

    def on_batch(self, ts_ns: int, n_events: int, feed_lag_ns: int, decision_latency_ns: int,
                 queue_depth: int, bids: Sequence[tuple[float, float]],
                 asks: Sequence[tuple[float, float]]) -> None:  # fmt: skip
        """One arrival processed (times ns; book levels ``(price_ticks, qty)``, best first)."""

    def on_state(self, ts_ns: int, equity: float, position: float, cash: float) -> None:
        """One new C7 equity row (quote currency, base units)."""

    def on_fills(self, fills: NDArray[np.void]) -> None:
        """New C6 fills."""

    def on_alert(self, kind: str, message: str, ts_ns: int) -> None:
        """An alert raised by the session or its feed (wall-clock ns)."""


@dataclass(frozen=True)
class SessionResult:
    """How a run ended: ``finished`` (feed over), ``stopped`` (graceful), ``already finished``."""

    status: str
    position: Position
    stats: SessionStats
    latency: dict[str, Any]
    portfolio: dict[str, float]
    last_seq: int


class Session:
    """One paper session of ``config`` (see the module docstring).

    Parameters
    ----------
    config
        The session's configuration.
    resume
        Continue the session in ``config.journal`` from its latest checkpoint.
    source
        Replay these C1 chunks instead of the ``[data]`` catalog range (tests, recorded files).
    feed
        Use this feed instead of the configured one (its events must continue the session).
    metrics
        Live-metrics object called per arrival, equity row, fill and alert.
    on_arrival
        Called with the number of arrivals processed after each committed arrival.
    """

    def __init__(self, config: PaperConfig, *, resume: bool = False,
                 source: NDArray[np.void] | Iterable[NDArray[np.void]] | None = None,
                 feed: Feed | None = None, metrics: LiveMetricsSink | None = None,
                 on_arrival: Callable[[int], None] | None = None) -> None:  # fmt: skip
        self.config = config
        self.instrument = resolve_instrument(config.data)
        self.metrics, self.on_arrival = metrics, on_arrival
        self.stats = SessionStats()
        self.latency = LatencyHistogram()
        self.engine = self.new_engine()
        self.journal = Journal(config.journal_path, config_json=config.to_json(),
                               config_id=config.id)  # fmt: skip
        try:
            self.pos, self.cursor = self._open(resume)
        except BaseException:
            self.journal.close()
            raise
        self.feed = feed if feed is not None else self._feed(source)
        self._stop = False
        self._queue: asyncio.Queue[Any] | None = None
        self._feed_error: BaseException | None = None

    def new_engine(self) -> Engine:
        """A fresh engine of the session's config (strategy, signals, fees, venue model)."""
        cfg = self.config
        fees = cfg.engine.fees or FeeConfig.from_instrument(self.instrument)
        signals = load_signals(cfg.signal.path) if cfg.signal.path else None
        spec = cfg.strategy
        return Engine(cfg.engine, tick_size=self.instrument.tick_size, strategy=spec.kind,
                      taker=spec.taker, market_maker=spec.market_maker, signals=signals,
                      fees=fees)  # fmt: skip

    def _open(self, resume: bool) -> tuple[Position, RowCursor]:
        if not resume:
            if self.journal.holds_session:
                raise JournalError(f"{self.journal.path} already holds a session: "
                                   "resume it (paper resume) or use a new journal")  # fmt: skip
            return Position(), RowCursor()
        ckpt, at, after = load_resume_point(self.journal)
        pos = Position()
        if ckpt is not None:
            keep_book = self.config.feed.kind == "replay"
            pos = restore_engine(self.engine, ckpt, at, keep_book=keep_book)
        pos.stopped = False
        return pos, RowCursor.resumed(at, after)

    def _feed(self, source: NDArray[np.void] | Iterable[NDArray[np.void]] | None) -> Feed:
        cfg, d = self.config, self.config.data
        if cfg.feed.kind == "binance":
            ws, rest = cfg.feed.urls(d.symbol)
            return BinanceDepthClient(ws, rest, symbol=d.symbol, instrument=self.instrument,
                                      market=cfg.feed.market, on_alert=self._feed_alert,
                                      stale_after_s=cfg.feed.stale_after_s)  # fmt: skip
        if source is None:
            source = Catalog(d.catalog).read(d.venue, d.symbol, d.start, d.end)
        chunks = [source] if isinstance(source, np.ndarray) else source
        return ReplayFeed(skip_events(chunks, self.pos.events), speed=cfg.feed.speed)

    # ------------------------------------------------------------------------------ run

    def operate(self, action: str, reason: str) -> bool:
        """Apply an operator action between arrivals (:mod:`l2trader.paper.operator`)."""
        return apply_action(self.engine, self.journal, self.feed, action, reason, self._commit)

    def request_stop(self) -> None:
        """Ask for a graceful stop after the current arrival (safe from signal handlers)."""
        self._stop = True
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_STOP)

    async def run(self, *, handle_signals: bool = False) -> SessionResult:
        """Run until the feed ends or a stop is requested; return how it ended."""
        if self.pos.finished:
            result = self._result("already finished")
            self.journal.close()
            return result
        self.config.stop_path.unlink(missing_ok=True)
        write_text_atomic(self.config.pid_path, f"{os.getpid()}\n")
        try:
            ended = await self._loop(handle_signals)
        except BaseException:
            self.journal.close()  # every commit is in; the session can be resumed
            self.config.pid_path.unlink(missing_ok=True)
            raise
        return self._close(ended)

    async def _loop(self, handle_signals: bool) -> bool:
        """Feed and engine tasks until the feed ends (True) or a stop (False)."""
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        producer = loop.create_task(self._produce(self._queue))
        producer.add_done_callback(self._feed_done)
        helpers = [producer, loop.create_task(self._watch())]
        try:
            ended = await self._consume(self._queue)
        finally:
            stop_feed(self.feed)
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        if self._feed_error is not None:
            raise self._feed_error
        return ended

    def _feed_done(self, task: asyncio.Task[None]) -> None:
        """A feed that fails ends the session with its error (never a silent hang)."""
        if not task.cancelled() and task.exception() is not None:
            self._feed_error = task.exception()
            self.request_stop()

    async def _produce(self, queue: asyncio.Queue[Any]) -> None:
        limit = int(self.config.max_blocked_ms * 1e6)
        async for rows in self.feed:
            t = time.monotonic_ns()
            if queue.full():
                await queue.put((t, rows))
                self._blocked(time.monotonic_ns() - t, limit)
            else:
                queue.put_nowait((t, rows))
            self.stats.queue_max_depth = max(self.stats.queue_max_depth, queue.qsize())
        await queue.put(None)

    def _blocked(self, ns: int, limit: int) -> None:
        s = self.stats
        s.blocked_puts += 1
        s.blocked_ns += ns
        s.blocked_max_ns = max(s.blocked_max_ns, ns)
        if ns > limit:
            self._alert("backpressure", f"feed blocked {ns / 1e6:.1f} ms on a full queue "
                        f"({self.config.queue_size} arrivals)")  # fmt: skip

    async def _watch(self) -> None:
        """Poll the stop file and rewrite the status file while running."""
        while not self._stop:
            if self.config.stop_path.exists():
                self.request_stop()
            self._write_status("running")
            await asyncio.sleep(_POLL_S)

    async def _consume(self, queue: asyncio.Queue[Any]) -> bool:
        """Process arrivals until the feed ends (True) or a stop is requested (False)."""
        while not self._stop:
            item = await queue.get()
            if item is None:
                return True
            if item is _STOP:
                continue
            t, rows = item
            if rows["ts_recv"][0] == rows["ts_recv"][-1]:
                self._process(t, rows, queue.qsize())
            else:
                for part in split_arrivals(rows):
                    self._process(t, part, queue.qsize())
        return False

    def _process(self, arrival_ns: int, rows: NDArray[np.void], depth: int) -> None:
        """One arrival: engine, latency, journal commit, checkpoint, metrics."""
        self.engine.run(rows)
        latency = time.monotonic_ns() - arrival_ns
        self.latency.add(latency)
        pos = self.pos
        pos.events += rows.size
        pos.arrivals += 1
        pos.started = True
        self.stats.arrivals += 1
        self.stats.events += rows.size
        new = self._commit()
        if pos.arrivals % self.config.checkpoint_every == 0 and self.cursor.caught_up:
            self._checkpoint()
        if self.metrics is not None:
            self._publish(rows, latency, depth, new)
        if self.on_arrival is not None:
            self.on_arrival(pos.arrivals)

    def _commit(self) -> dict[str, NDArray[np.void]]:
        """Journal new rows; live feeds (no replay on resume) checkpoint in the same txn."""
        new = self.cursor.new_rows(self.engine)
        if new:
            live = self.config.feed.kind != "replay"
            ts = int(self.engine.trader.est[S.ES_LAST_TS])
            ckpt = (snapshot_engine(self.engine, self.pos, with_book=False), ts) if live else None
            self.stats.checkpoints += live
            self.journal.append(**new, checkpoint=ckpt)
            self.cursor.committed(new)
            self.stats.commits += 1
        return new

    def _checkpoint(self) -> None:
        ts = int(self.engine.trader.est[S.ES_LAST_TS])
        self.journal.checkpoint(snapshot_engine(self.engine, self.pos), ts_recv=ts)
        self.stats.checkpoints += 1

    def _publish(self, rows: NDArray[np.void], latency: int, depth: int,
                 new: dict[str, NDArray[np.void]]) -> None:  # fmt: skip
        assert self.metrics is not None
        ts, exch = int(rows["ts_recv"][-1]), int(rows["ts_exch"][-1])
        bids, asks = self.engine.book.top(_TOP_LEVELS)
        lag = ts - exch if exch >= 0 else 0
        self.metrics.on_batch(ts, int(rows.size), lag, latency, depth, bids, asks)
        for r in new.get("state", ()):
            self.metrics.on_state(int(r["ts_recv"]), float(r["equity"]), float(r["position"]),
                                  float(r["cash"]))  # fmt: skip
        if "fills" in new:
            self.metrics.on_fills(new["fills"])

    # ------------------------------------------------------------------------------ end

    def _close(self, ended: bool) -> SessionResult:
        try:
            if ended:
                self.engine.finish()
                self.pos.finished = True
            else:
                cancel_working_orders(self.engine)
                self.pos.stopped = True
            self._commit()
            self._checkpoint()
            status = "finished" if ended else "stopped"
            self._write_status(status)
            result = self._result(status)
        finally:
            self.journal.close()
            self.config.pid_path.unlink(missing_ok=True)
        return result

    def _result(self, status: str) -> SessionResult:
        pf = self.engine.trader.pf
        portfolio = {"position": float(pf[POSITION]), "cash": float(pf[CASH]),
                     "fees": float(pf[FEES])}  # fmt: skip
        return SessionResult(status, self.pos, self.stats, self.latency.to_dict(), portfolio,
                             self.journal.last_seq)  # fmt: skip

    # ------------------------------------------------------------------------------ alerts

    def _alert(self, kind: str, message: str) -> None:
        ts = time.time_ns()
        self.stats.alerts.append({"kind": kind, "ts_ns": ts, "message": message})
        logger.warning("paper alert %s: %s", kind, message)
        if self.metrics is not None:
            self.metrics.on_alert(kind, message, ts)

    def _feed_alert(self, alert: FeedAlert) -> None:
        self._alert(alert.kind, alert.message)

    def _write_status(self, state: str) -> None:
        est = self.engine.trader.est
        status = {
            "state": state,
            "pid": os.getpid(),
            "config_id": self.config.id,
            "position": asdict(self.pos),
            "stats": asdict(self.stats),
            "latency": self.latency.to_dict(),
            "last_ts_recv": int(est[S.ES_LAST_TS]),
            "portfolio": self.engine.trader.pf[:3].tolist(),
            "written_ns": time.time_ns(),
        }
        write_text_atomic(self.config.status_path, json.dumps(status, default=float))  # fmt: skip
