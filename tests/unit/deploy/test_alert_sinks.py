"""Alert sinks and dispatcher against real loopback HTTP receivers (issue 9, item 5)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from l2trader.deploy.alert_sinks import (
    AlertDeliveryError,
    AlertDispatcher,
    FileSink,
    LogSink,
    SinkCounters,
    WebhookSink,
)
from l2trader.deploy.alerts import AlertEvent
from l2trader.deploy.settings import WebhookSpec
from l2trader.errors import ConfigError

TOKEN = "s3cr3t-T0KEN-do-not-log"


def make_event(seq: int = 1, *, rule: str = "dd", state: str = "firing") -> AlertEvent:
    return AlertEvent(
        rule=rule,
        state=state,  # type: ignore[arg-type]
        severity="critical",
        metric="drawdown",
        value=150.0,
        threshold=100.0,
        op=">",
        ts_ns=1_700_000_000_000_000_000 + seq,
        message=f"[CRITICAL] {rule}: drawdown = 150 > 100 for 0 s",
        response="halt",
        fingerprint="0123456789abcdef",
        seq=seq,
    )


@dataclass
class Receiver:
    """Loopback webhook receiver: records requests, answers from a status script."""

    statuses: list[int] = field(default_factory=list)  # popped per request; 200 when empty
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    block: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with rx.lock:
                rx.requests.append((self.path, dict(self.headers.items()), body))
                status = rx.statuses.pop(0) if rx.statuses else 200
            if rx.block is not None:
                rx.order.append("handler-entered")
                rx.entered.set()
                rx.block.wait()
                rx.order.append("handler-released")
            auth = self.headers.get("Authorization", "")
            self.send_response(status, f"reason {auth}")  # echoes the token back on purpose
            if status in (301, 302, 307):
                self.send_header("Location", rx.url + "/redirected")
            self.send_header("Content-Length", str(len(auth)))
            self.end_headers()
            self.wfile.write(auth.encode())

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
    rx.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield rx
    if rx.block is not None:
        rx.block.set()
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec(url: str, *, retries: int = 3, timeout_s: float = 30.0) -> WebhookSpec:
    return WebhookSpec(url=url + "/hook", timeout_s=timeout_s, retries=retries, backoff_s=0.5)


class RecordingSink:
    def __init__(self, name: str = "rec", fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.events: list[AlertEvent] = []
        self.received = threading.Semaphore(0)  # released once per delivered event

    def send(self, event: AlertEvent) -> None:
        if self.fail:
            raise RuntimeError("sink down")
        self.events.append(event)
        self.received.release()

    def wait_for(self, n: int) -> bool:
        return all(self.received.acquire(timeout=30) for _ in range(n))


def test_webhook_posts_json_body_with_bearer_token(receiver: Receiver) -> None:
    sink = WebhookSink(spec(receiver.url), TOKEN)
    event = make_event(7)

    sink.send(event)

    assert len(receiver.requests) == 1
    path, headers, body = receiver.requests[0]
    assert path == "/hook"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "rule": "dd",
        "state": "firing",
        "severity": "critical",
        "metric": "drawdown",
        "value": 150.0,
        "threshold": 100.0,
        "op": ">",
        "ts_ns": 1_700_000_000_000_000_007,
        "message": "[CRITICAL] dd: drawdown = 150 > 100 for 0 s",
        "response": "halt",
        "fingerprint": "0123456789abcdef",
        "seq": 7,
    }
    assert AlertEvent.from_dict(json.loads(body)) == event
    assert (sink.delivered, sink.failed, sink.attempts, sink.retries) == (1, 0, 1, 0)


def test_webhook_without_token_sends_no_authorization(receiver: Receiver) -> None:
    sink = WebhookSink(spec(receiver.url), None)

    sink.send(make_event())

    assert "Authorization" not in receiver.requests[0][1]


def test_webhook_fails_twice_then_delivers_after_two_retries(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    sleeps: list[float] = []
    sink = WebhookSink(spec(receiver.url, retries=3), TOKEN, sleep=sleeps.append)

    sink.send(make_event())

    assert len(receiver.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert (sink.delivered, sink.failed, sink.attempts, sink.retries) == (1, 0, 3, 2)


def test_webhook_gives_up_after_retries_without_leaking_token(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.statuses = [500, 500, 500]
    sleeps: list[float] = []
    sink = WebhookSink(spec(receiver.url, retries=2), TOKEN, sleep=sleeps.append)

    with pytest.raises(
        AlertDeliveryError, match=r"not delivered after 3 attempts: HTTP 500"
    ) as err:
        sink.send(make_event())

    assert sleeps == [0.5, 1.0]
    assert (sink.delivered, sink.failed, sink.attempts, sink.retries) == (0, 1, 3, 2)
    assert TOKEN not in str(err.value)
    assert TOKEN not in repr(sink)
    assert TOKEN not in caplog.text


def test_webhook_refuses_redirects(receiver: Receiver) -> None:
    receiver.statuses = [302]
    sink = WebhookSink(spec(receiver.url, retries=0), TOKEN)

    with pytest.raises(AlertDeliveryError, match="HTTP 302"):
        sink.send(make_event())

    assert [path for path, _, _ in receiver.requests] == ["/hook"]


def test_webhook_connection_refused_is_a_delivery_error() -> None:
    port = closed_port()
    sink = WebhookSink(spec(f"http://127.0.0.1:{port}", retries=1), TOKEN, sleep=lambda s: None)

    with pytest.raises(AlertDeliveryError, match="after 2 attempts"):
        sink.send(make_event())

    assert (sink.failed, sink.attempts) == (1, 2)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x", "http:///nohost"])
def test_webhook_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="http"):
        WebhookSink(WebhookSpec(url=url), TOKEN)


def test_file_sink_appends_json_lines_that_parse(tmp_path: Path) -> None:
    path = tmp_path / "alerts" / "alerts.jsonl"
    events = [make_event(1), make_event(2, state="resolved"), make_event(3, rule="stale")]

    FileSink(path).send(events[0])
    sink = FileSink(path)  # a second instance appends
    for event in events[1:]:
        sink.send(event)

    lines = path.read_text().splitlines()
    assert [AlertEvent.from_dict(json.loads(line)) for line in lines] == events


def test_log_sink_logs_message_with_alert_extra(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="l2trader.alerts")

    LogSink().send(make_event(1))
    LogSink().send(make_event(2, state="resolved"))

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.CRITICAL, "[CRITICAL] dd: drawdown = 150 > 100 for 0 s"),
        (logging.INFO, "[CRITICAL] dd: drawdown = 150 > 100 for 0 s"),
    ]
    assert caplog.records[0].alert == make_event(1).to_dict()  # type: ignore[attr-defined]
    assert json.loads(json.dumps(caplog.records[1].alert))["state"] == "resolved"  # type: ignore[attr-defined]


def test_slow_sink_does_not_delay_submit_nor_other_sinks(receiver: Receiver) -> None:
    receiver.block = threading.Event()
    other = RecordingSink()
    dispatcher = AlertDispatcher([WebhookSink(spec(receiver.url), TOKEN), other], queue_size=10)

    dispatcher.submit(make_event(1))
    assert receiver.entered.wait(30)  # the webhook lane is now stuck in the receiver
    dispatcher.submit(make_event(2))
    receiver.order.append("submit-returned")
    assert other.wait_for(2)  # the other sink got both events meanwhile
    receiver.order.append("other-sink-done")
    receiver.block.set()
    drained = dispatcher.close(timeout=30)

    assert drained
    assert receiver.order == [
        "handler-entered",
        "submit-returned",
        "other-sink-done",
        "handler-released",
        "handler-entered",
        "handler-released",
    ]
    assert [json.loads(body)["seq"] for _, _, body in receiver.requests] == [1, 2]
    assert dispatcher.counters() == [
        SinkCounters("webhook:127.0.0.1:" + receiver.url.rsplit(":", 1)[1], 2, 0, 0),
        SinkCounters("rec", 2, 0, 0),
    ]


def test_queue_overflow_is_counted_and_logged_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered, release = threading.Event(), threading.Event()
    journaled: list[int] = []

    def journal(event: AlertEvent) -> None:
        journaled.append(event.seq)
        entered.set()
        release.wait()

    sink = RecordingSink()
    dispatcher = AlertDispatcher([sink], queue_size=2, journal=journal, sink_queue_size=10)
    dispatcher.submit(make_event(1))
    assert entered.wait(30)  # the dispatcher thread holds event 1: the queue is empty

    for seq in range(2, 7):  # 2 and 3 fit, 4, 5 and 6 overflow
        dispatcher.submit(make_event(seq))
    dropped = dispatcher.dropped
    release.set()
    drained = dispatcher.close(timeout=30)

    assert drained
    assert dropped == 3
    assert journaled == [1, 2, 3]
    assert [e.seq for e in sink.events] == [1, 2, 3]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "alert queue full: dropping alerts (first: dd seq 4)"
    ]


def test_full_sink_lane_counts_drops_for_that_sink_only() -> None:
    entered, release = threading.Event(), threading.Event()

    class BlockingSink(RecordingSink):
        def send(self, event: AlertEvent) -> None:
            entered.set()
            release.wait()
            super().send(event)

    slow, fast = BlockingSink("slow"), RecordingSink("fast")
    dispatcher = AlertDispatcher([slow, fast], queue_size=10, sink_queue_size=1)
    dispatcher.submit(make_event(1))
    assert entered.wait(30)  # the slow lane holds event 1; its queue (size 1) is empty

    assert fast.wait_for(1)
    for seq in (2, 3, 4):
        dispatcher.submit(make_event(seq))
        assert fast.wait_for(1)  # one at a time: the fast lane (size 1) never overflows
    release.set()
    drained = dispatcher.close(timeout=30)

    assert drained
    assert dispatcher.dropped == 0
    assert [e.seq for e in fast.events] == [1, 2, 3, 4]
    assert [e.seq for e in slow.events] == [1, 2]
    assert dispatcher.counters() == [SinkCounters("slow", 2, 0, 2), SinkCounters("fast", 4, 0, 0)]


def test_journal_runs_before_sinks_and_failures_are_isolated() -> None:
    journaled: list[int] = []
    seen_journaled: list[list[int]] = []

    class CheckingSink(RecordingSink):
        def send(self, event: AlertEvent) -> None:
            seen_journaled.append(list(journaled))
            super().send(event)

    def journal(event: AlertEvent) -> None:
        journaled.append(event.seq)
        if event.seq == 2:
            raise OSError("journal disk full")

    broken, checking = RecordingSink("broken", fail=True), CheckingSink("checking")
    dispatcher = AlertDispatcher([broken, checking], queue_size=10, journal=journal)

    for seq in (1, 2):
        dispatcher.submit(make_event(seq))
    drained = dispatcher.close(timeout=30)

    assert drained
    assert seen_journaled[0][:1] == [1]
    assert 2 in seen_journaled[1]
    assert [e.seq for e in checking.events] == [1, 2]
    assert (dispatcher.journaled, dispatcher.journal_failed) == (1, 1)
    assert dispatcher.counters() == [
        SinkCounters("broken", 0, 2, 0),
        SinkCounters("checking", 2, 0, 0),
    ]


def test_submit_after_close_counts_a_drop_and_duplicate_names_get_suffixes() -> None:
    dispatcher = AlertDispatcher([RecordingSink("a"), RecordingSink("a")], queue_size=1)
    assert dispatcher.close(timeout=30)

    dispatcher.submit(make_event(1))

    assert dispatcher.dropped == 1
    assert [c.name for c in dispatcher.counters()] == ["a", "a#2"]
    assert dispatcher.close(timeout=30)  # closing twice is harmless


def test_dispatcher_rejects_empty_queue() -> None:
    with pytest.raises(ConfigError, match="queue_size"):
        AlertDispatcher([], queue_size=0)
