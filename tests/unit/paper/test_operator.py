"""Operator actions: journaled before and after, applied through the engine's risk state."""

from __future__ import annotations

from pathlib import Path

import pytest

from l2trader.engine.config import EngineConfig
from l2trader.engine.engine import Engine
from l2trader.errors import ConfigError
from l2trader.paper.journal import Journal
from l2trader.paper.operator import apply_action


class _Feed:
    def __init__(self) -> None:
        self.restarts = 0

    def restart(self) -> bool:
        self.restarts += 1
        return True


def _engine() -> Engine:
    return Engine(EngineConfig(), tick_size=0.5, strategy="market_maker")


def test_halt_then_flatten_are_journaled_and_upgrade_the_halt(tmp_path: Path) -> None:
    engine, commits = _engine(), []
    with Journal(tmp_path / "j.sqlite", session_id="s") as journal:
        first = apply_action(engine, journal, None, "halt", "rule dd", lambda: commits.append(1))
        again = apply_action(engine, journal, None, "halt", "rule dd", lambda: commits.append(1))
        flat = apply_action(engine, journal, None, "flatten", "rule x", lambda: commits.append(1))
        events = journal.read_events("operator")

    assert (first, again, flat) == (True, False, True)
    assert engine.halted
    assert engine.counters()["operator_halt"] == 2
    assert len(commits) == 3
    assert [(e["name"], e["state"]) for e in events] == [
        ("halt", "requested"), ("halt", "applied"), ("halt", "requested"), ("halt", "noop"),
        ("flatten", "requested"), ("flatten", "applied")]  # fmt: skip
    assert events[0]["detail"] == {"position": 0.0, "reason": "rule dd"}
    assert events[1]["detail"]["halted"] is True


def test_restart_feed_calls_the_feed_and_a_replay_feed_is_a_noop(tmp_path: Path) -> None:
    engine, feed = _engine(), _Feed()
    with Journal(tmp_path / "j.sqlite", session_id="s") as journal:
        live = apply_action(engine, journal, feed, "restart_feed", "stale", lambda: None)
        replay = apply_action(engine, journal, object(), "restart_feed", "stale", lambda: None)
        states = [e["state"] for e in journal.read_events("operator")]

    assert (live, replay, feed.restarts) == (True, False, 1)
    assert states == ["requested", "applied", "requested", "noop"]
    assert not engine.halted


def test_cancel_all_without_working_orders_changes_nothing(tmp_path: Path) -> None:
    engine = _engine()
    with Journal(tmp_path / "j.sqlite", session_id="s") as journal:
        assert apply_action(engine, journal, None, "cancel_all", "manual", lambda: None) is False


def test_unknown_action_is_refused_before_anything_is_journaled(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite", session_id="s") as journal:
        with pytest.raises(ConfigError, match="must be one of"):
            apply_action(_engine(), journal, None, "reboot", "x", lambda: None)
        assert journal.read_events() == []
