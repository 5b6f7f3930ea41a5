"""Real-time C1 feeds for paper trading: the :class:`Feed` protocol and :class:`ReplayFeed`.

A feed is an async iterable of C1 ``EVENT_DTYPE`` arrays. Every yielded array holds one or
more **whole** ``F_LAST`` batches, in ``ts_recv`` order; a consumer may apply it to a book
as soon as it arrives. Each feed counts what happened in :class:`FeedStats` and reports
abnormal conditions as :class:`FeedAlert` records (data, never only a log line).

:class:`ReplayFeed` replays recorded events (an array, any chunk iterable, or a catalog
range) with their true inter-event timing divided by ``speed``. Rows are yielded unchanged
(recorded ``ts_recv``) unless ``restamp`` asks for the wall-clock receive time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from l2trader.data.catalog import Catalog
from l2trader.data.partition import whole_batches
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.errors import ConfigError
from l2trader.schema import EVENT_DTYPE, F_LAST

__all__ = ["Feed", "FeedAlert", "FeedStats", "ReplayFeed", "split_arrivals", "stop_feed"]

Clock = Callable[[], int]
Sleep = Callable[[float], Awaitable[None]]
_YIELD_EVERY = 1024  # as-fast-as-possible replay hands control back every this many arrivals


@dataclass(slots=True)
class FeedStats:
    """Counters of one feed (all start at 0; ``last_msg_ns`` is wall-clock ns, -1 = none)."""

    messages: int = 0
    """Venue messages received (websocket frames; for a replay: arrivals yielded)."""
    batches: int = 0
    """``F_LAST`` batches yielded."""
    events: int = 0
    """C1 rows yielded."""
    gaps: int = 0
    """Sequence gaps detected (the book lost sync)."""
    resyncs: int = 0
    """Snapshots fetched to resynchronise after the book had been in sync (gap, reconnect)."""
    snapshots: int = 0
    """REST snapshots received (the first sync included)."""
    disconnects: int = 0
    """Connections lost or refused."""
    reconnects: int = 0
    """Connections opened after the first one."""
    stale_alerts: int = 0
    """Stale-feed episodes (no message for ``stale_after_s``)."""
    last_msg_ns: int = -1
    """Wall-clock time of the last message received, ns since the epoch."""

    def count(self, rows: np.ndarray) -> None:
        """Add a yielded array to ``batches`` and ``events``."""
        self.events += len(rows)
        self.batches += int(np.count_nonzero(rows["flags"] & F_LAST))


@dataclass(frozen=True, slots=True)
class FeedAlert:
    """An abnormal feed condition, e.g. ``kind="stale_feed"`` after ``silent_s`` seconds."""

    kind: str
    ts_ns: int
    """Wall-clock time the alert was raised, ns since the epoch."""
    message: str
    silent_s: float = 0.0


class Feed(Protocol):
    """An async iterable of C1 arrays made of whole ``F_LAST`` batches, with counters."""

    stats: FeedStats

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        """Yield C1 arrays (whole batches, ``ts_recv`` non-decreasing) until the feed ends."""
        ...


def split_arrivals(chunk: np.ndarray) -> Iterator[np.ndarray]:
    """Cut a chunk of whole batches into arrivals: consecutive batches sharing ``ts_recv``.

    Rows after the last ``F_LAST`` are not yielded (the caller decides what they are).

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> a = np.concatenate([make_events([(1, 1.0, 1)], ts_recv=t) for t in (5, 5, 7)])
    >>> [len(x) for x in split_arrivals(a)]
    [2, 1]
    """
    ends = np.flatnonzero(chunk["flags"] & F_LAST)
    if not len(ends):
        return
    ts = chunk["ts_recv"][ends]
    keep = np.append(ts[1:] != ts[:-1], True)
    start = 0
    for end in ends[keep].tolist():
        yield chunk[start : end + 1]
        start = end + 1


class ReplayFeed:
    """Replay recorded C1 events in real time scaled by ``speed`` (a :class:`Feed`).

    Parameters
    ----------
    source
        One event array, or an iterable of chunks in ``ts_recv`` order (e.g.
        ``Catalog.read(...)``); chunks may split batches, they are re-cut.
    speed
        1.0 = recorded timing, 10.0 = ten times faster, None or ``math.inf`` = as fast as
        possible. Arrival ``i`` is due ``(ts_recv[i] - ts_recv[0]) / speed`` after the first.
    clock, sleep
        Monotonic ns clock and async sleep (s); injectable for tests.
    restamp
        Overwrite ``ts_recv`` with the wall-clock ns at emission (default: keep recorded).
    policy
        ``STRICT`` raises on rows after the last ``F_LAST`` (``InvalidValueError``) or on
        ``ts_recv`` going backwards (``OutOfOrderError``); ``REPAIR`` drops the unclosed
        rows and replays a backwards arrival at once, counting both in ``report``.

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> feed = ReplayFeed(make_events([(100, 1.0, 1)], ts_recv=7), speed=None)
    >>> async def first() -> int:
    ...     async for rows in feed:
    ...         return int(rows["ts_recv"][0])
    ...     return -1
    >>> asyncio.run(first())
    7
    """

    def __init__(
        self,
        source: np.ndarray | Iterable[np.ndarray],
        *,
        speed: float | None = 1.0,
        clock: Clock = time.monotonic_ns,
        sleep: Sleep = asyncio.sleep,
        restamp: bool = False,
        policy: Policy = Policy.STRICT,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ConfigError(f"ReplayFeed: speed must be > 0 or None, got {speed}")
        if isinstance(source, np.ndarray) and source.dtype != EVENT_DTYPE:
            raise ConfigError(f"ReplayFeed: expected EVENT_DTYPE rows, got {source.dtype}")
        self.source = [source] if isinstance(source, np.ndarray) else source
        self.speed = math.inf if speed is None else float(speed)
        self.clock = clock
        self.sleep = sleep
        self.restamp = restamp
        self.report = ValidationReport("replay", Policy(policy))
        self.stats = FeedStats()

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog,
        venue: str,
        symbol: str,
        start: str | None = None,
        end: str | None = None,
        **kwargs: object,
    ) -> ReplayFeed:
        """Replay ``venue/symbol`` of ``catalog`` for UTC dates ``start..end`` (streamed).

        ``kwargs`` go to the constructor (``speed``, ``clock``, ``sleep``, ...).
        """
        return cls(catalog.read(venue, symbol, start, end), **kwargs)  # type: ignore[arg-type]

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        """Yield one array per arrival (batches sharing ``ts_recv``) when it is due."""
        t0 = ts0 = prev = -1
        for rows in self._arrivals():
            ts = int(rows["ts_recv"][0])
            if t0 < 0:
                t0, ts0, prev = self.clock(), ts, ts
            prev = self._check_order(rows, ts, prev)
            await self._wait(t0 + (prev - ts0) / self.speed)
            out = self._stamped(rows)
            self.stats.messages += 1
            self.stats.last_msg_ns = time.time_ns()
            self.stats.count(out)
            yield out

    def _arrivals(self) -> Iterator[np.ndarray]:
        """Whole-batch arrivals; one arrival cut by a chunk boundary is joined again."""
        held: np.ndarray | None = None
        for chunk in whole_batches(self.source):
            for rows in self._closed(chunk):
                if held is not None and rows["ts_recv"][0] == held["ts_recv"][-1]:
                    held = np.concatenate([held, rows])
                    continue
                if held is not None:
                    yield held
                held = rows
        if held is not None:
            yield held

    def _closed(self, chunk: np.ndarray) -> Iterator[np.ndarray]:
        if not chunk["flags"][-1] & F_LAST:
            first = chunk[0]
            msg = f"{len(chunk)} rows after the last F_LAST batch are not a closed batch"
            self.report.add(-1, int(first["seq"]), IssueCode.UNCLOSED_BATCH, msg)
        return split_arrivals(chunk)

    def _check_order(self, rows: np.ndarray, ts: int, prev: int) -> int:
        """Latest ``ts_recv`` seen; a backwards arrival is an issue (repair: replay at once)."""
        if ts >= prev:
            return ts
        msg = f"ts_recv {ts} ns goes back from {prev} ns"
        self.report.add(-1, int(rows["seq"][0]), IssueCode.OUT_OF_ORDER_TS, msg)
        return prev

    async def _wait(self, due_ns: float) -> None:
        if math.isinf(self.speed):
            if self.stats.messages % _YIELD_EVERY == _YIELD_EVERY - 1:
                await self.sleep(0.0)
            return
        delay = (due_ns - self.clock()) / 1e9
        if delay > 0:
            await self.sleep(delay)

    def _stamped(self, rows: np.ndarray) -> np.ndarray:
        if not self.restamp:
            return rows
        out = rows.copy()
        out["ts_recv"] = time.time_ns()
        return out


def stop_feed(feed: object) -> None:
    """Call ``feed.stop()`` if the feed has one (a loop that already closed is fine)."""
    stop = getattr(feed, "stop", None)
    if callable(stop):
        with contextlib.suppress(RuntimeError):
            stop()
