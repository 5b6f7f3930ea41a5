"""HTTP service of a paper session: health, readiness, Prometheus metrics and a live dashboard.

:func:`create_app` builds a Starlette app over one :class:`LiveMetrics`; :func:`serve` runs it
with uvicorn as a task of the caller's asyncio loop (the loop that also runs the session, so
the metrics are read and written from one thread). Routes:

============== ===============================================================================
``/healthz``   liveness: 200 ``ok`` while the process serves requests
``/readyz``    readiness: 200 or 503, JSON ``{"ready": bool, "reason": str}``
``/metrics``   Prometheus text exposition (:meth:`LiveMetrics.prometheus`)
``/api/snapshot`` JSON of :meth:`LiveMetrics.snapshot`
``/events``    server-sent events: one ``data: <snapshot JSON>`` per update, at most ``sse_hz``
               per second, a ``: heartbeat`` comment after ``heartbeat_s`` without one
``/``          the dashboard page (``dashboard.html``, no external resources)
============== ===============================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Final

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from l2trader.errors import ConfigError
from l2trader.paper.live_metrics import LiveMetrics

__all__ = [
    "METRICS_CONTENT_TYPE",
    "ReadyCheck",
    "ServiceHandle",
    "create_app",
    "dashboard_html",
    "serve",
]

ReadyCheck = Callable[[], tuple[bool, str]]
"""Readiness probe: ``(ready, reason)``; the reason is shown by ``/readyz`` either way."""
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
"""Content type of ``/metrics``: the classic text format, read by every Prometheus version."""
_SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def dashboard_html() -> str:
    """The dashboard page, read from the package data (ships in the wheel)."""
    return (importlib.resources.files("l2trader.paper") / "dashboard.html").read_text("utf-8")


class _Hub:
    """Shared state and handlers of the app: metrics, a JSON cache by version, a closing flag."""

    def __init__(
        self,
        metrics: LiveMetrics,
        ready: ReadyCheck | None,
        sse_hz: float = 4.0,
        heartbeat_s: float = 15.0,
    ) -> None:
        if not sse_hz > 0.0 or not heartbeat_s > 0.0:
            raise ConfigError(
                f"create_app: sse_hz and heartbeat_s must be > 0, got {sse_hz}, {heartbeat_s}"
            )
        self.metrics = metrics
        self.ready = ready or self._has_data
        self.period_s = 1.0 / sse_hz
        self.heartbeat_s = heartbeat_s
        self.closing = False
        self.page = dashboard_html()
        self._cached_version = -1
        self._cached_json = b""

    def _has_data(self) -> tuple[bool, str]:
        if self.metrics.batches == 0:
            return False, "no market data processed yet"
        return True, f"{self.metrics.batches} batches processed"

    def snapshot_json(self) -> bytes:
        """The snapshot as JSON bytes, encoded once per metrics version."""
        if self.metrics.version != self._cached_version:
            self._cached_json = orjson.dumps(self.metrics.snapshot())
            self._cached_version = self.metrics.version
        return self._cached_json

    async def healthz(self, request: Request) -> Response:
        """``/healthz``: 200 ``ok``."""
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        """``/readyz``: 200 or 503 with the probe's reason."""
        ok, reason = self.ready()
        return JSONResponse({"ready": ok, "reason": reason}, status_code=200 if ok else 503)

    async def prometheus(self, request: Request) -> Response:
        """``/metrics``: Prometheus text format."""
        return Response(self.metrics.prometheus(), media_type=METRICS_CONTENT_TYPE)

    async def snapshot(self, request: Request) -> Response:
        """``/api/snapshot``: the snapshot JSON."""
        return Response(self.snapshot_json(), media_type="application/json")

    async def events(self, request: Request) -> Response:
        """``/events``: the SSE stream of snapshots."""
        stream = _sse_stream(self, self.period_s, self.heartbeat_s)
        return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)

    async def dashboard(self, request: Request) -> Response:
        """``/``: the dashboard page."""
        return HTMLResponse(self.page)


async def _sse_stream(hub: _Hub, period_s: float, heartbeat_s: float) -> AsyncIterator[bytes]:
    """Yield SSE frames: the snapshot when the metrics moved, heartbeats between, until closing."""
    sent_version = -1
    idle_s = 0.0
    yield b"retry: 1000\n\n"
    while not hub.closing:
        if hub.metrics.version != sent_version:
            sent_version = hub.metrics.version
            yield b"data: " + hub.snapshot_json() + b"\n\n"
            idle_s = 0.0
        elif idle_s >= heartbeat_s:
            yield b": heartbeat\n\n"
            idle_s = 0.0
        await asyncio.sleep(period_s)
        idle_s += period_s


def create_app(
    metrics: LiveMetrics,
    *,
    ready: ReadyCheck | None = None,
    sse_hz: float = 4.0,
    heartbeat_s: float = 15.0,
) -> Starlette:
    """The service app over ``metrics`` (routes in the module docstring).

    Parameters
    ----------
    metrics
        The session's live metrics (read on every request).
    ready
        Readiness probe; None means "ready once a batch was processed".
    sse_hz
        Largest rate of ``/events`` updates per client (updates per second).
    heartbeat_s
        Seconds without an update after which ``/events`` sends a comment line.

    Raises
    ------
    ConfigError
        When ``sse_hz`` or ``heartbeat_s`` is not > 0.
    """
    hub = _Hub(metrics, ready, sse_hz, heartbeat_s)
    routes = [
        Route("/healthz", hub.healthz),
        Route("/readyz", hub.readyz),
        Route("/metrics", hub.prometheus),
        Route("/api/snapshot", hub.snapshot),
        Route("/events", hub.events),
        Route("/", hub.dashboard),
    ]
    app = Starlette(routes=routes)
    app.state.hub = hub
    return app


class ServiceHandle:
    """A running server (see :func:`serve`): its bound address and a way to stop it."""

    def __init__(
        self, server: uvicorn.Server, task: asyncio.Task[None], app: Starlette, host: str, port: int
    ) -> None:
        self.server = server
        self.task = task
        self.app = app
        self.host = host
        self.port = port
        """The bound TCP port (the ephemeral one when :func:`serve` got ``port=0``)."""

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8050``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self, timeout_s: float = 5.0) -> None:
        """End open event streams, stop the server and wait (at most ``timeout_s`` s) for it."""
        self.app.state.hub.closing = True
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout_s)
        except TimeoutError:
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def __aenter__(self) -> ServiceHandle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process (the paper session)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> ServiceHandle:
    """Start ``app`` on ``host:port`` as a task of the running loop; return once it listens.

    ``port=0`` binds an ephemeral port (read it from :attr:`ServiceHandle.port`). The socket
    is bound here, so a busy port raises :class:`OSError` in the caller (uvicorn would exit).
    Uvicorn's logging config and signal handlers are left alone.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    bound_host, bound_port = sock.getsockname()[:2]
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"l2t-service:{bound_port}")
    while not server.started:
        if task.done():
            task.result()  # re-raise the startup error
            raise RuntimeError("the HTTP service stopped during startup")
        await asyncio.sleep(0.01)
    return ServiceHandle(server, task, app, str(bound_host), int(bound_port))
