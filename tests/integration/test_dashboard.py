"""The paper service over loopback: a real uvicorn server on an ephemeral port.

HTTP is spoken with raw asyncio streams (HTTP/1.0, so bodies end at EOF and SSE frames are
not chunk-encoded). The browser test drives Debian's Chromium through Playwright (skipped
with the reason when either is missing); with ``L2T_WRITE_DOCS_IMG=1`` it refreshes
``docs/img/dashboard.png``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from l2trader.errors import ConfigError
from l2trader.paper.live_metrics import LiveMetrics
from l2trader.paper.service import (
    METRICS_CONTENT_TYPE,
    ServiceHandle,
    _Hub,
    _sse_stream,
    create_app,
    dashboard_html,
    serve,
)
from l2trader.schema import FILL_DTYPE
from l2trader.testing.browser import browser_unavailable_reason, headless_chromium, screenshot

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 10.0
BIDS = [(100.0 - 0.01 * i, 1.0 + i) for i in range(5)]
ASKS = [(100.01 + 0.01 * i, 2.0 + i) for i in range(5)]


@asynccontextmanager
async def _running(metrics: LiveMetrics, **kwargs: Any) -> AsyncIterator[ServiceHandle]:
    handle = await serve(create_app(metrics, **kwargs), "127.0.0.1", 0)
    try:
        yield handle
    finally:
        await handle.stop()


async def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), TIMEOUT_S)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


async def _frames(reader: asyncio.StreamReader) -> AsyncIterator[str]:
    """SSE frames (text between blank lines) of an open HTTP/1.0 response, headers skipped."""
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
    while True:
        frame = await asyncio.wait_for(reader.readuntil(b"\n\n"), TIMEOUT_S)
        yield frame.decode()[:-2]


def _data(frame: str) -> dict[str, Any]:
    assert frame.startswith("data: ")
    return dict(json.loads(frame[len("data: ") :]))


def test_healthz_and_readyz_with_the_default_probe() -> None:
    metrics = LiveMetrics(tick_size=0.01)

    async def run() -> list[tuple[int, dict[str, str], bytes]]:
        async with _running(metrics) as svc:
            health = await _get(svc.port, "/healthz")
            before = await _get(svc.port, "/readyz")
            metrics.on_batch(1, 2, 0, 0, 0, BIDS, ASKS)
            after = await _get(svc.port, "/readyz")
            return [health, before, after]

    health, before, after = asyncio.run(run())

    assert (health[0], health[2]) == (200, b"ok")
    assert before[0] == 503
    assert json.loads(before[2]) == {"ready": False, "reason": "no market data processed yet"}
    assert after[0] == 200
    assert json.loads(after[2]) == {"ready": True, "reason": "1 batches processed"}


def test_readyz_reports_the_reason_of_a_custom_probe() -> None:
    state = {"ok": False}

    def probe() -> tuple[bool, str]:
        return (True, "journal writable") if state["ok"] else (False, "journal not writable")

    async def run() -> list[tuple[int, dict[str, str], bytes]]:
        async with _running(LiveMetrics(tick_size=0.01), ready=probe) as svc:
            down = await _get(svc.port, "/readyz")
            state["ok"] = True
            return [down, await _get(svc.port, "/readyz")]

    down, up = asyncio.run(run())

    assert (down[0], json.loads(down[2])) == (
        503, {"ready": False, "reason": "journal not writable"},
    )  # fmt: skip
    assert (up[0], json.loads(up[2])) == (200, {"ready": True, "reason": "journal writable"})


def test_metrics_and_snapshot_serve_the_live_values() -> None:
    metrics = LiveMetrics(tick_size=0.01)
    metrics.on_batch(1_000, 5, 300_000, 40_000, 2, BIDS, ASKS)
    metrics.on_state(1_000, 10_000.0, 0.25, 9_975.0)
    metrics.on_alert("stale_feed", "no message for 5 s", 2_000)

    async def run() -> tuple[tuple[int, dict[str, str], bytes], ...]:
        async with _running(metrics) as svc:
            return await _get(svc.port, "/metrics"), await _get(svc.port, "/api/snapshot")

    (m_status, m_headers, m_body), (s_status, s_headers, s_body) = asyncio.run(run())

    assert m_status == 200
    assert m_headers["content-type"] == METRICS_CONTENT_TYPE
    text = m_body.decode()
    assert text == metrics.prometheus()
    assert "l2t_events_total 5.0\n" in text
    assert "l2t_equity 10000.0\n" in text
    assert 'l2t_alerts_total{kind="stale_feed"} 1.0\n' in text
    assert s_status == 200
    assert s_headers["content-type"] == "application/json"
    assert json.loads(s_body) == metrics.snapshot()


def test_dashboard_page_is_served_and_needs_nothing_from_the_network() -> None:
    async def run() -> tuple[int, dict[str, str], bytes]:
        async with _running(LiveMetrics(tick_size=0.01)) as svc:
            return await _get(svc.port, "/")

    status, headers, body = asyncio.run(run())

    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body.decode() == dashboard_html()
    page = dashboard_html()
    assert 'id="equity"' in page
    assert 'new EventSource("events")' in page
    assert "http://" not in page
    assert "https://" not in page


def test_event_stream_sends_one_snapshot_per_update() -> None:
    metrics = LiveMetrics(tick_size=0.01)
    metrics.on_state(0, 100.0, 0.0, 100.0)

    async def run() -> list[str]:
        async with _running(metrics, sse_hz=50.0, heartbeat_s=60.0) as svc:
            reader, writer = await asyncio.open_connection("127.0.0.1", svc.port)
            writer.write(b"GET /events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            frames: list[str] = []
            async for frame in _frames(reader):
                frames.append(frame)
                if len(frames) == 5:
                    break
                if frame.startswith("data: "):
                    metrics.on_state(len(frames), 100.0 + len(frames), 0.0, 100.0)
            writer.close()
            await writer.wait_closed()
            return frames

    frames = asyncio.run(run())

    assert frames[0] == "retry: 1000"
    snaps = [_data(f) for f in frames[1:]]
    assert [s["equity"] for s in snaps] == [100.0, 102.0, 103.0, 104.0]
    assert [s["version"] for s in snaps] == [1, 2, 3, 4]
    assert snaps[-1]["equity_series"]["equity"] == [100.0, 102.0, 103.0, 104.0]


def test_event_stream_coalesces_updates_and_sends_heartbeats() -> None:
    metrics = LiveMetrics(tick_size=0.01)
    hub = _Hub(metrics, None)

    async def run() -> list[str]:
        stream = _sse_stream(hub, period_s=0.001, heartbeat_s=0.001)
        frames = [await anext(stream), await anext(stream), await anext(stream)]
        for ts in range(3):
            metrics.on_state(ts, 10.0 + ts, 0.0, 0.0)
        frames.append(await anext(stream))
        hub.closing = True
        frames.extend([frame async for frame in stream])
        return [f.decode() for f in frames]

    frames = asyncio.run(run())

    assert frames[:3] == ["retry: 1000\n\n", frames[1], ": heartbeat\n\n"]
    assert _data(frames[1][:-2])["version"] == 0
    assert len(frames) == 4
    last = _data(frames[3][:-2])
    assert (last["version"], last["equity"]) == (3, 12.0)


def test_stop_ends_open_event_streams() -> None:
    async def run() -> bytes:
        svc = await serve(create_app(LiveMetrics(tick_size=0.01)), "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", svc.port)
        writer.write(b"GET /events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"data: "), TIMEOUT_S)
        await svc.stop()
        rest = await asyncio.wait_for(reader.read(), TIMEOUT_S)
        writer.close()
        await writer.wait_closed()
        assert svc.task.done()
        return rest

    rest = asyncio.run(run())

    assert rest.endswith(b"}\n\n")


def test_busy_port_raises_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def run() -> None:
            await serve(create_app(LiveMetrics(tick_size=0.01)), "127.0.0.1", port)

        with pytest.raises(OSError, match="in use"):
            asyncio.run(run())


# --- browser -----------------------------------------------------------------------------

REASON = browser_unavailable_reason()


class _LiveSession:
    """A server plus a fake session feeding it (seeded random walk), in a background loop."""

    def __init__(self, seed: int = 7) -> None:
        self.metrics = LiveMetrics(tick_size=0.01, max_points=600)
        self.rng = np.random.default_rng(seed)
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.t_ns = 1_790_000_000 * 10**9
        self.equity = 10_000.0
        self.mid = 100.0

    def step(self) -> None:
        """One second of session: a batch, a state, sometimes a fill or an alert."""
        self.t_ns += 10**9
        self.mid = round(self.mid + 0.01 * int(self.rng.integers(-2, 3)), 2)
        self.equity += float(self.rng.normal(0.4, 3.0))
        bids = [
            (round(self.mid - 0.01 * (i + 1), 2), float(self.rng.integers(1, 40))) for i in range(8)
        ]
        asks = [(round(self.mid + 0.01 * i, 2), float(self.rng.integers(1, 40))) for i in range(8)]
        lag, dec = int(self.rng.integers(200_000, 900_000)), int(self.rng.integers(20_000, 90_000))
        self.metrics.on_batch(self.t_ns, int(self.rng.integers(1, 30)), lag, dec, 0, bids, asks)
        self.metrics.on_state(self.t_ns, self.equity, 0.5, self.equity - 0.5 * self.mid)
        if self.rng.random() < 0.15:
            fill = np.zeros(1, dtype=FILL_DTYPE)
            side = int(self.rng.choice([-1, 1]))
            fill[0] = (self.t_ns, self.t_ns, int(self.t_ns // 10**9) % 10_000, side, 1, 0,
                       round(self.mid * 100) - side, 0.5, -0.005)  # fmt: skip
            self.metrics.on_fills(fill)
        if self.rng.random() < 0.03:
            self.metrics.on_alert("stale_feed", "no depth message for 5.0 s", self.t_ns)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for _ in range(300):
            self.step()
        self.metrics.on_alert("resync", "sequence gap 812 -> 815: book resynced", self.t_ns)
        handle = await serve(create_app(self.metrics, sse_hz=8.0), "127.0.0.1", 0)
        self.url = handle.url + "/"
        self._ready.set()
        while not self._stop.is_set():
            self.step()
            await asyncio.sleep(0.2)
        await handle.stop()

    def __enter__(self) -> _LiveSession:
        self._thread.start()
        assert self._ready.wait(TIMEOUT_S), "the dashboard server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT_S)


@contextmanager
def _session() -> Iterator[_LiveSession]:
    with _LiveSession() as live:
        yield live


@pytest.mark.skipif(REASON is not None, reason=f"browser tests: {REASON}")
def test_dashboard_updates_live_in_headless_chromium(tmp_path: Path) -> None:
    write_docs = os.environ.get("L2T_WRITE_DOCS_IMG") == "1"
    out = REPO / "docs" / "img" / "dashboard.png" if write_docs else tmp_path / "dashboard.png"

    with _session() as live, headless_chromium() as chrome:
        page, console, errors = chrome.open_page(live.url, width=1280, height=860)
        page.wait_for_function("() => document.getElementById('equity').textContent !== '\\u2014'")
        seen = [page.text_content("#equity")]
        for _ in range(2):
            page.wait_for_function(
                "(v) => document.getElementById('equity').textContent !== v", arg=seen[-1]
            )
            seen.append(page.text_content("#equity"))
        status = page.text_content("#status")
        fills = page.locator("#fills tr").count()
        book = page.locator("#book tr").count()
        screenshot(page, out)

    assert len(set(seen)) == 3
    assert status == "live"
    assert fills > 0
    assert book == 8
    assert console == []
    assert errors == []
    assert 0 < out.stat().st_size < 300_000


@pytest.mark.parametrize(("sse_hz", "heartbeat_s"), [(0.0, 15.0), (4.0, -1.0)])
def test_bad_stream_settings_raise_config_error(sse_hz: float, heartbeat_s: float) -> None:
    with pytest.raises(ConfigError, match="sse_hz and heartbeat_s must be > 0"):
        create_app(LiveMetrics(tick_size=0.01), sse_hz=sse_hz, heartbeat_s=heartbeat_s)
