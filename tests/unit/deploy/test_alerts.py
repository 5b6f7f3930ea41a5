"""Alert rule evaluation (dedup, pending, resolve, NaN) and the manager (issue 9, item 5)."""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.deploy.alerts import (
    METRICS,
    AlertEvaluator,
    AlertEvent,
    AlertInputs,
    AlertManager,
    rule_fingerprint,
)
from l2trader.deploy.settings import AlertRuleSpec, AlertsSpec, WebhookSpec
from l2trader.errors import ConfigError

S = 1_000_000_000
T0 = 1_700_000_000 * S
TOKEN = "tok-9f8e7d-never-in-logs"


def dd_rule(**kw: object) -> AlertRuleSpec:
    base: dict[str, object] = {"name": "drawdown", "metric": "drawdown", "threshold": 100.0}
    return AlertRuleSpec(**(base | kw))


def at(seconds: float, **values: float) -> AlertInputs:
    return AlertInputs(ts_ns=T0 + int(seconds * S), **values)


def test_metrics_are_the_input_fields() -> None:
    assert METRICS == (
        "drawdown",
        "feed_stale_s",
        "latency_p99_ms",
        "error_rate",
        "kill_switch",
        "disk_free_gib",
        "queue_overflows",
    )


def test_condition_true_for_five_evaluations_fires_once() -> None:
    evaluator = AlertEvaluator([dd_rule(severity="critical", response="halt")])

    batches = [evaluator.evaluate(at(i, drawdown=150.0 + i)) for i in range(5)]

    assert [len(b) for b in batches] == [1, 0, 0, 0, 0]
    assert batches[0][0] == AlertEvent(
        rule="drawdown",
        state="firing",
        severity="critical",
        metric="drawdown",
        value=150.0,
        threshold=100.0,
        op=">",
        ts_ns=T0,
        message="[CRITICAL] drawdown: drawdown = 150 > 100 for 0 s",
        response="halt",
        fingerprint=rule_fingerprint(dd_rule()),
        seq=1,
    )
    assert evaluator.active() == batches[0]
    assert evaluator.fired_counts() == {"drawdown": 1}


def test_resolve_emits_one_resolved_event_with_message() -> None:
    evaluator = AlertEvaluator([dd_rule()])
    evaluator.evaluate(at(0, drawdown=150.0))

    resolved = evaluator.evaluate(at(3, drawdown=40.0))
    again = evaluator.evaluate(at(4, drawdown=30.0))

    assert [(e.state, e.value, e.ts_ns, e.seq) for e in resolved] == [
        ("resolved", 40.0, T0 + 3 * S, 2)
    ]
    assert resolved[0].message == "[RESOLVED] drawdown: drawdown = 40 (no longer > 100)"
    assert again == []
    assert evaluator.active() == []


def test_for_s_keeps_rule_pending_until_condition_held_long_enough() -> None:
    evaluator = AlertEvaluator([dd_rule(metric="feed_stale_s", threshold=5.0, for_s=2.0)])

    states = [
        [e.state for e in evaluator.evaluate(at(t, feed_stale_s=v))]
        for t, v in [(0, 6), (1, 7), (1.5, 1), (2, 8), (3.5, 9), (4, 10), (5, 11)]
    ]

    # pending from t=0, interrupted at 1.5, pending again from t=2, fires at t=4 (held 2 s)
    assert states == [[], [], [], [], [], ["firing"], []]
    assert evaluator.active()[0].message == ("[WARNING] drawdown: feed_stale_s = 10 > 5 for 2 s")


def test_nan_never_fires_never_resolves_and_restarts_pending() -> None:
    evaluator = AlertEvaluator([dd_rule(for_s=1.0)])

    unknown = [evaluator.evaluate(at(t)) for t in range(5)]
    evaluator.evaluate(at(5, drawdown=200.0))  # pending from t=5
    evaluator.evaluate(at(6, drawdown=math.nan))  # unknown: pending restarts
    not_yet = evaluator.evaluate(at(7, drawdown=200.0))
    fired = evaluator.evaluate(at(8, drawdown=200.0))
    still = evaluator.evaluate(at(9, drawdown=math.nan))

    assert unknown == [[], [], [], [], []]
    assert not_yet == []
    assert [e.state for e in fired] == ["firing"]
    assert still == []
    assert [e.rule for e in evaluator.active()] == ["drawdown"]


@pytest.mark.parametrize(
    ("op", "value", "fires"),
    [(">", 1.0, False), (">=", 1.0, True), ("<", 1.0, False), ("<=", 1.0, True), ("<", 0.5, True)],
)
def test_operators_compare_value_to_threshold(op: str, value: float, fires: bool) -> None:
    evaluator = AlertEvaluator([dd_rule(metric="kill_switch", op=op, threshold=1.0)])

    events = evaluator.evaluate(at(0, kill_switch=value))

    assert [e.state for e in events] == (["firing"] if fires else [])


def test_seq_is_monotonic_across_rules_and_fingerprint_is_stable() -> None:
    rules = [dd_rule(), dd_rule(name="disk", metric="disk_free_gib", op="<", threshold=1.0)]
    evaluator = AlertEvaluator(rules)

    first = evaluator.evaluate(at(0, drawdown=500.0, disk_free_gib=0.5))
    second = evaluator.evaluate(at(1, drawdown=0.0, disk_free_gib=0.5))
    third = evaluator.evaluate(at(2, drawdown=0.0, disk_free_gib=9.0))

    assert [(e.rule, e.state, e.seq) for e in first + second + third] == [
        ("drawdown", "firing", 1),
        ("disk", "firing", 2),
        ("drawdown", "resolved", 3),
        ("disk", "resolved", 4),
    ]
    assert first[0].fingerprint == second[0].fingerprint == rule_fingerprint(rules[0])
    assert rule_fingerprint(rules[0]) != rule_fingerprint(rules[1])
    assert AlertEvaluator(rules).evaluate(at(0, drawdown=500.0))[0].fingerprint == (
        first[0].fingerprint
    )


def test_duplicate_rule_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"duplicate rule names \['drawdown'\]"):
        AlertEvaluator([dd_rule(), dd_rule(threshold=5.0)])


def test_event_dict_round_trips_and_non_finite_becomes_null() -> None:
    evaluator = AlertEvaluator([dd_rule(metric="feed_stale_s", threshold=5.0)])
    event = evaluator.evaluate(at(0, feed_stale_s=math.inf))[0]

    data = json.loads(json.dumps(event.to_dict(), allow_nan=False))

    assert data["value"] is None
    assert event.message == "[WARNING] drawdown: feed_stale_s = inf > 5 for 0 s"
    assert AlertEvent.from_dict(data).value != AlertEvent.from_dict(data).value  # NaN


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=40))
def test_firings_match_rising_edges_and_alternate_with_resolves(holds: list[bool]) -> None:
    evaluator = AlertEvaluator([dd_rule()])

    states = [
        e.state
        for i, h in enumerate(holds)
        for e in evaluator.evaluate(at(i, drawdown=150.0 if h else 50.0))
    ]

    edges = sum(1 for i, h in enumerate(holds) if h and (i == 0 or not holds[i - 1]))
    assert states.count("firing") == edges
    assert states == ["firing", "resolved"] * (len(states) // 2) + ["firing"] * (len(states) % 2)


class Recorder:
    def __init__(self) -> None:
        self.name = "recorder"
        self.events: list[AlertEvent] = []

    def send(self, event: AlertEvent) -> None:
        self.events.append(event)


def test_manager_responds_once_per_firing_on_caller_thread(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    journaled: list[AlertEvent] = []
    spec = AlertsSpec(
        rules=(dd_rule(response="halt"), dd_rule(name="info", metric="error_rate", threshold=1.0)),
        log=False,
        file=str(tmp_path / "alerts.jsonl"),
    )
    manager = AlertManager(
        spec,
        journal=journaled.append,
        respond=lambda r, e: calls.append((r, e.seq, threading.get_ident())),
    )

    for t in range(5):
        manager.evaluate(at(t, drawdown=150.0, error_rate=3.0))
    manager.evaluate(at(5, drawdown=10.0, error_rate=3.0))
    manager.evaluate(at(6, drawdown=150.0, error_rate=3.0))
    assert manager.close(timeout=30)

    me = threading.get_ident()
    assert calls == [("halt", 1, me), ("halt", 4, me)]
    assert [(e.rule, e.state) for e in journaled] == [
        ("drawdown", "firing"),
        ("info", "firing"),
        ("drawdown", "resolved"),
        ("drawdown", "firing"),
    ]
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [AlertEvent.from_dict(json.loads(line)) for line in lines] == journaled
    assert manager.fired_counts() == {"drawdown": 2, "info": 1}
    assert [e.seq for e in manager.active()] == [4, 2]  # rule order


def test_manager_requires_a_responder_for_rules_with_responses() -> None:
    spec = AlertsSpec(rules=(dd_rule(response="flatten"),), log=False)

    with pytest.raises(ConfigError, match=r"\['drawdown'\] have an automatic response"):
        AlertManager(spec)


def test_failing_response_is_raised_after_all_events_are_dispatched() -> None:
    rules = (
        dd_rule(response="halt"),
        dd_rule(name="stale", metric="feed_stale_s", threshold=5.0, response="restart_feed"),
    )
    calls: list[str] = []

    def respond(response: str, event: AlertEvent) -> None:
        calls.append(response)
        if response == "halt":
            raise RuntimeError("risk manager unavailable")

    recorder = Recorder()
    manager = AlertManager(AlertsSpec(rules=rules, log=False), respond=respond, sinks=[recorder])

    with pytest.raises(RuntimeError, match="risk manager unavailable"):
        manager.evaluate(at(0, drawdown=150.0, feed_stale_s=9.0))
    assert manager.close(timeout=30)

    assert calls == ["halt", "restart_feed"]
    assert [e.rule for e in recorder.events] == ["drawdown", "stale"]


def test_token_never_appears_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = AlertsSpec(
        rules=(dd_rule(),),
        log=True,
        webhooks=(WebhookSpec(url=f"http://127.0.0.1:{port}/hook", retries=1, backoff_s=0.0),),
    )
    manager = AlertManager(spec, TOKEN)

    manager.evaluate(at(0, drawdown=150.0))
    assert manager.close(timeout=30)

    webhook = manager.dispatcher.counters()[1]
    assert (webhook.sent, webhook.failed) == (0, 1)
    assert "not delivered after 2 attempts" in caplog.text
    assert "[WARNING] drawdown: drawdown = 150 > 100 for 0 s" in caplog.text
    assert TOKEN not in caplog.text
    assert all(TOKEN not in repr(r.__dict__) for r in caplog.records)
