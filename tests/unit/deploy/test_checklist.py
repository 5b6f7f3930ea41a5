"""The deployment checklist (issue 9, item 7): what the tool ticks, what stays manual."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from l2trader.deploy.checklist import ChecklistItem, build_checklist, render_checklist
from l2trader.deploy.package import build_bundle
from l2trader.deploy.settings import DeploySettings, load_settings
from l2trader.paper.journal import Journal

BASE = """name = "chk"
[paper]
journal = "state/journal.sqlite"
[paper.data]
catalog = "cat"
venue = "binance-futures"
symbol = "BTCUSDT"
[paper.strategy]
kind = "market_maker"
[backup]
dir = "backups"
"""


def settings_of(root: Path, extra: str = "", env: dict[str, str] | None = None) -> DeploySettings:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "deploy.toml"
    path.write_text(BASE + extra)
    return load_settings(path, env=env or {})


def by_text(items: list[ChecklistItem], start: str) -> ChecklistItem:
    found = [i for i in items if i.text.startswith(start)]
    assert len(found) == 1, start
    return found[0]


def fake_wheel(root: Path) -> Path:
    """A tiny stand-in wheel: enough METADATA for the lock (numpy only)."""
    path = root / "l2trader-0.1.0-py3-none-any.whl"
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("l2trader-0.1.0.dist-info/METADATA",
                    "Metadata-Version: 2.3\nName: l2trader\nVersion: 0.1.0\n"
                    "Requires-Dist: numpy>=2\n")  # fmt: skip
    return path


@dataclass(frozen=True)
class _Item:
    group: str
    name: str
    passed: bool
    value: str


@dataclass(frozen=True)
class _Readiness:
    score: float
    ready: bool
    min_score: float
    items: tuple[_Item, ...]


def test_without_inputs_everything_is_manual_in_phase_order() -> None:
    items = build_checklist(None, None)

    assert [i.phase for i in items] == sorted(
        (i.phase for i in items), key=["pre", "during", "post"].index
    )
    assert {i.status for i in items} == {"manual"}
    assert {i.phase for i in items} == {"pre", "during", "post"}
    assert sum(i.verifiable for i in items) == 10
    assert by_text(items, "bundle verified").detail == "no bundle given (--bundle)"


def test_defaults_tick_settings_secrets_backups_sinks_and_fail_the_kill_switch(
    tmp_path: Path,
) -> None:
    settings = settings_of(tmp_path)

    items = build_checklist(settings, None)

    assert by_text(items, "settings valid").status == "ok"
    assert by_text(items, "secrets set").status == "ok"
    assert by_text(items, "backups scheduled").status == "ok"
    assert by_text(items, "alert sinks").detail == "log"
    kill = by_text(items, "kill switch armed")
    assert (kill.phase, kill.status, kill.detail) == ("during", "fail", "both limits are inf")
    assert by_text(items, "journal verified").status == "manual"
    assert by_text(items, "backup taken").status == "manual"
    assert by_text(items, "readiness score").status == "manual"


def test_kill_switch_armed_by_a_finite_drawdown(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, "[paper.engine.risk]\nmax_drawdown = 250.0\n")

    item = by_text(build_checklist(settings, None), "kill switch armed")

    assert (item.status, item.detail) == ("ok", "max_drawdown 250")


def test_webhook_without_token_fails_and_with_token_passes(tmp_path: Path) -> None:
    hook = '[[alerts.webhooks]]\nurl = "http://127.0.0.1:9/alerts"\n'

    without = by_text(build_checklist(settings_of(tmp_path / "a", hook), None), "secrets set")
    env = {"L2TRADER_WEBHOOK_TOKEN": "t0k"}
    with_token = by_text(build_checklist(settings_of(tmp_path / "b", hook, env), None), "secrets")

    assert (without.status, with_token.status) == ("fail", "ok")
    assert "t0k" not in with_token.detail


def test_backup_dir_blocked_by_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("x")
    settings = settings_of(tmp_path, "")
    blocked = settings.model_copy(
        update={
            "backup": settings.backup.model_copy(update={"dir": str(tmp_path / "blocker" / "b")})
        }
    )

    item = by_text(build_checklist(blocked, None), "backups scheduled")

    assert item.status == "fail"
    assert "is not a directory" in item.detail


def test_unscheduled_backups_and_no_sink_fail(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, "[alerts]\nlog = false\n")
    no_schedule = settings.model_copy(
        update={"backup": settings.backup.model_copy(update={"every_s": None})}
    )

    items = build_checklist(no_schedule, None)

    assert by_text(items, "backups scheduled").status == "fail"
    assert by_text(items, "alert sinks").detail == "no sink: alerts would go nowhere"


def test_settings_error_fails_the_settings_item() -> None:
    item = by_text(build_checklist(None, None, settings_error="bad key"), "settings valid")

    assert (item.status, item.detail) == ("fail", "bad key")


def test_readiness_report_ticks_score_and_evidence() -> None:
    good = _Readiness(92.0, True, 80.0, (_Item("evidence", "backtest", True, "ok"),))
    stale = _Readiness(
        70.0, False, 80.0,
        (_Item("evidence", "backtest", True, "ok"), _Item("evidence", "stress", False, "stale")),
    )  # fmt: skip

    ok_items = build_checklist(None, None, good)
    bad_items = build_checklist(None, None, stale)

    assert by_text(ok_items, "readiness score").status == "ok"
    assert by_text(ok_items, "readiness score").detail == "score 92.0 (min 80.0)"
    assert by_text(ok_items, "validation evidence").status == "ok"
    assert by_text(bad_items, "readiness score").status == "fail"
    assert by_text(bad_items, "validation evidence").detail == "stress: stale"


def test_bundle_is_verified(tmp_path: Path) -> None:
    settings = settings_of(tmp_path / "in")
    info = build_bundle(tmp_path / "in" / "deploy.toml", tmp_path / "dist",
                        wheel=fake_wheel(tmp_path / "w"))  # fmt: skip
    corrupt = tmp_path / "corrupt" / info.path.name
    corrupt.parent.mkdir()
    corrupt.write_bytes(info.path.read_bytes()[:-100])

    good = by_text(build_checklist(settings, info.path), "bundle verified")
    bad = by_text(build_checklist(settings, corrupt), "bundle verified")

    assert (good.status, bad.status) == ("ok", "fail")
    assert good.detail == f"{info.path.name}: ok (9 files verified)"


def test_journal_verified_and_backup_taken_after_the_stop(tmp_path: Path) -> None:
    settings = settings_of(tmp_path)
    with Journal(settings.paper.journal_path) as journal:
        journal.record_event("operator", "halt", "applied", {})
    before = build_checklist(settings, None)
    backups = Path(settings.backup.dir)
    backups.mkdir()
    archive = backups / "backup-20260101T000000Z-0123abcd.tar.gz"
    archive.write_bytes(b"x")
    later = settings.paper.journal_path.stat().st_mtime_ns + 1_000_000_000
    os.utime(archive, ns=(later, later))

    after = build_checklist(settings, None)

    assert by_text(before, "journal verified").status == "ok"
    assert by_text(before, "backup taken").status == "fail"
    assert by_text(after, "backup taken").status == "ok"


def test_a_file_that_is_not_a_journal_fails(tmp_path: Path) -> None:
    settings = settings_of(tmp_path)
    settings.paper.journal_path.parent.mkdir(parents=True)
    settings.paper.journal_path.write_bytes(b"not sqlite at all" * 100)

    item = by_text(build_checklist(settings, None), "journal verified")

    assert item.status == "fail"


def test_render_counts_statuses(tmp_path: Path) -> None:
    items = build_checklist(settings_of(tmp_path), None)

    table = render_checklist(items)

    assert str(table.title) == "deployment checklist: 4 ok, 1 failing, 14 manual"
    assert table.row_count == len(items) == 19


@pytest.mark.parametrize("phase", ["pre", "during", "post"])
def test_each_phase_has_operator_items(phase: str) -> None:
    items = [i for i in build_checklist(None, None) if i.phase == phase]

    assert any(not i.verifiable for i in items)
