"""Where alerts go: log, JSON-lines file, HTTP webhook, behind a non-blocking dispatcher.

A sink is anything with a ``name`` and ``send(event)``; ``send`` may block and may raise.
:class:`AlertDispatcher` keeps sinks off the caller's thread: ``submit`` only does a
``put_nowait`` on a bounded queue; a dispatcher thread journals each event and then hands it
to one lane (thread + bounded queue) per sink, so a slow or failing sink never delays the
caller nor the other sinks. Every overflow is counted and logged once per burst.

The webhook token is a secret: it is sent only as ``Authorization: Bearer <token>``, redirects
are refused (so it cannot leak to another host), and it is scrubbed from every error message.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from l2trader.errors import AlertDeliveryError, ConfigError

if TYPE_CHECKING:
    from l2trader.deploy.alerts import AlertEvent
    from l2trader.deploy.settings import WebhookSpec

__all__ = [
    "AlertDeliveryError",
    "AlertDispatcher",
    "AlertSink",
    "FileSink",
    "LogSink",
    "SinkCounters",
    "WebhookSink",
]

logger = logging.getLogger(__name__)

_LEVELS: Final = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class AlertSink(Protocol):
    """Destination of alert events."""

    @property
    def name(self) -> str:
        """Short label for logs and ``/metrics`` (e.g. ``"log"``, ``"webhook:host:port"``)."""
        ...

    def send(self, event: AlertEvent) -> None:
        """Deliver one event; may block, may raise."""
        ...


def _event_json(event: AlertEvent) -> str:
    return json.dumps(event.to_dict(), sort_keys=True, separators=(",", ":"))


class LogSink:
    """Log each event through :mod:`logging` with its fields in ``extra={"alert": {...}}``.

    Firing events log at the rule's severity (info/warning/critical), resolved ones at INFO.
    """

    def __init__(self, logger_name: str = "l2trader.alerts") -> None:
        self._logger = logging.getLogger(logger_name)

    @property
    def name(self) -> str:
        """``"log"``."""
        return "log"

    def send(self, event: AlertEvent) -> None:
        """Log ``event.message`` with the event as a JSON-safe dict under ``alert``."""
        level = _LEVELS.get(event.severity, logging.WARNING)
        if event.state == "resolved":
            level = logging.INFO
        self._logger.log(level, "%s", event.message, extra={"alert": event.to_dict()})


class FileSink:
    """Append each event as one JSON line to ``path``, flushed and fsync'd."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``"file"``."""
        return "file"

    def send(self, event: AlertEvent) -> None:
        """Append ``event`` as a JSON line and fsync it."""
        line = _event_json(event) + "\n"
        with self._lock, self._path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would forward the Authorization header to the new host."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class WebhookSink:
    """POST each event as JSON to ``spec.url``, retried with exponential backoff.

    Attempt ``k`` (0-based) that fails is followed by ``sleep(spec.backoff_s * 2**k)``, for at
    most ``spec.retries`` retries. Counters: ``delivered``, ``failed`` (events given up),
    ``attempts`` and ``retries`` (requests).

    Parameters
    ----------
    spec
        URL (http or https), timeout, retries and backoff.
    token
        Bearer token, sent as ``Authorization: Bearer <token>`` when set; never logged.
    sleep
        Backoff sleep, seconds (``time.sleep``; injectable for tests).
    """

    def __init__(
        self,
        spec: WebhookSpec,
        token: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(spec.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"alerts.webhooks.url must be http(s)://host/..., got {parts.scheme!r}"
            )
        self._spec = spec
        self._token = token or None
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._label = f"webhook:{parts.hostname}:{parts.port or ''}".rstrip(":")
        self.delivered = 0
        self.failed = 0
        self.attempts = 0
        self.retries = 0

    @property
    def name(self) -> str:
        """``"webhook:<host>:<port>"`` (no path, query or credentials)."""
        return self._label

    def __repr__(self) -> str:
        return f"WebhookSink({self._label!r}, token={'set' if self._token else 'unset'})"

    def send(self, event: AlertEvent) -> None:
        """POST ``event``; raise :class:`AlertDeliveryError` once every retry has failed."""
        body = _event_json(event).encode()
        last = ""
        for k in range(self._spec.retries + 1):
            if k:
                self.retries += 1
                self._sleep(self._spec.backoff_s * 2 ** (k - 1))
            self.attempts += 1
            error = self._post(body)
            if error is None:
                self.delivered += 1
                return
            last = error
        self.failed += 1
        raise AlertDeliveryError(
            f"{self._label}: alert {event.rule} seq {event.seq} not delivered after "
            f"{self._spec.retries + 1} attempts: {last}"
        )

    def _post(self, body: bytes) -> str | None:
        """One POST; None on a 2xx answer, else the (token-free) reason."""
        headers = {"Content-Type": "application/json", "User-Agent": "l2trader-alerts"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self._spec.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self._spec.timeout_s) as response:
                response.read()
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return self._scrub(f"HTTP {exc.code}")
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
            return self._scrub(f"{type(exc).__name__}: {exc}")
        return None if 200 <= status < 300 else f"HTTP {status}"

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


@dataclass(frozen=True, slots=True)
class SinkCounters:
    """Per-sink delivery counters (events): delivered, failed, dropped on a full lane."""

    name: str
    sent: int
    failed: int
    dropped: int


class _DropLog:
    """Count drops; log the first drop of each burst (a burst ends at the next accepted put)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.dropped = 0
        self._in_burst = 0
        self._lock = threading.Lock()

    def drop(self, event: AlertEvent) -> None:
        with self._lock:
            self.dropped += 1
            self._in_burst += 1
            first = self._in_burst == 1
        if first:
            logger.warning(
                "%s full: dropping alerts (first: %s seq %d)", self.what, event.rule, event.seq
            )

    def offer(self, q: queue.Queue[AlertEvent | None], event: AlertEvent) -> None:
        """``put_nowait`` ``event`` on ``q``; a full queue counts a drop."""
        try:
            q.put_nowait(event)
        except queue.Full:
            self.drop(event)
        else:
            self._accepted()

    def _accepted(self) -> None:
        with self._lock:
            burst, self._in_burst = self._in_burst, 0
        if burst:
            logger.warning("%s accepting again after dropping %d alert(s)", self.what, burst)


class _SinkLane:
    """One sink with its own bounded queue and thread."""

    def __init__(self, sink: AlertSink, name: str, queue_size: int) -> None:
        self.sink = sink
        self.name = name
        self.sent = 0
        self.failed = 0
        self.drops = _DropLog(f"alert sink {name} queue")
        self.queue: queue.Queue[AlertEvent | None] = queue.Queue(maxsize=queue_size)
        self.thread = threading.Thread(target=self._run, name=f"alert-sink-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (event := self.queue.get()) is not None:
            try:
                self.sink.send(event)
            except Exception as exc:
                self.failed += 1
                logger.warning(
                    "alert sink %s failed on %s seq %d: %s", self.name, event.rule, event.seq, exc
                )
            else:
                self.sent += 1

    def counters(self) -> SinkCounters:
        return SinkCounters(self.name, self.sent, self.failed, self.drops.dropped)


def _lane_names(sinks: Sequence[AlertSink]) -> list[str]:
    """Sink names, with ``#2``, ``#3``... appended to repeated ones."""
    seen: dict[str, int] = {}
    names = []
    for sink in sinks:
        seen[sink.name] = seen.get(sink.name, 0) + 1
        names.append(sink.name if seen[sink.name] == 1 else f"{sink.name}#{seen[sink.name]}")
    return names


class AlertDispatcher:
    """Deliver alerts to sinks on background threads; ``submit`` never blocks.

    Parameters
    ----------
    sinks
        Destinations; each gets its own lane (a thread and a bounded queue).
    queue_size
        Capacity of the submit queue (events).
    journal
        Called with each event on the dispatcher thread before any sink sees it.
    sink_queue_size
        Capacity of each sink lane (events); ``queue_size`` when None. A lane that is full
        (its sink is slow or down) drops the event for that sink only, counted and logged.

    Examples
    --------
    >>> d = AlertDispatcher([], queue_size=10)
    >>> d.close(timeout=5.0), d.dropped
    (True, 0)
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        *,
        queue_size: int = 1000,
        journal: Callable[[AlertEvent], None] | None = None,
        sink_queue_size: int | None = None,
    ) -> None:
        lane_size = queue_size if sink_queue_size is None else sink_queue_size
        if min(queue_size, lane_size) < 1:
            raise ConfigError(f"alerts.queue_size must be >= 1, got {queue_size}, {lane_size}")
        self._journal = journal
        self.journaled = 0
        self.journal_failed = 0
        self._drops = _DropLog("alert queue")
        self._queue: queue.Queue[AlertEvent | None] = queue.Queue(maxsize=queue_size)
        self._lanes = [
            _SinkLane(sink, name, lane_size)
            for sink, name in zip(sinks, _lane_names(sinks), strict=True)
        ]
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="alert-dispatcher", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Events refused by :meth:`submit` (full queue or closed dispatcher)."""
        return self._drops.dropped

    def counters(self) -> list[SinkCounters]:
        """Delivery counters of each sink, in sink order."""
        return [lane.counters() for lane in self._lanes]

    def submit(self, event: AlertEvent) -> None:
        """Queue ``event`` without blocking; a full queue counts (and logs) a drop."""
        with self._close_lock:  # held only around put_nowait: never blocks for long
            if self._closed:
                self._drops.drop(event)
            else:
                self._drops.offer(self._queue, event)

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued, stop the threads; True if all finished within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._close_lock:
            first, self._closed = not self._closed, True
        if first:
            try:
                self._queue.put(None, timeout=max(timeout, 0.0))
            except queue.Full:
                logger.error("alert queue still full after %.1f s: not drained", timeout)
                return False
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        for lane in self._lanes:
            lane.thread.join(max(deadline - time.monotonic(), 0.0))
        alive = [
            t.name for t in [self._thread, *(lane.thread for lane in self._lanes)] if t.is_alive()
        ]
        if alive:
            logger.error("alert threads still running after %.1f s: %s", timeout, alive)
        return not alive

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            self._journal_event(event)
            for lane in self._lanes:
                lane.drops.offer(lane.queue, event)
        for lane in self._lanes:
            lane.queue.put(None)  # blocks until the lane has room: close() bounds the wait

    def _journal_event(self, event: AlertEvent) -> None:
        if self._journal is None:
            return
        try:
            self._journal(event)
        except Exception:
            self.journal_failed += 1
            logger.exception("journaling alert %s seq %d failed", event.rule, event.seq)
        else:
            self.journaled += 1
