"""SQLite run registry: lifecycle, ordering, WAL mode, concurrent readers (issue 4)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from l2trader.engine.registry import (
    DEFAULT_RUNS_ROOT,
    RunRecord,
    RunRegistry,
    new_run_id,
    registry_path,
)
from l2trader.errors import ArtifactError, ConfigError

S = 1_000_000_000


def _start(registry: RunRegistry, run_id: str, started_ns: int, kind: str = "backtest") -> None:
    registry.start(
        run_id=run_id,
        kind=kind,
        config_json='{"x": 1}',
        config_id="c" * 64,
        code_version="0.1.0+abc",
        data_fingerprint="f" * 64,
        run_dir=f"runs/{run_id}",
        started_ns=started_ns,
    )


@pytest.fixture
def registry(tmp_path: Path) -> Any:
    with RunRegistry(registry_path(tmp_path)) as reg:
        yield reg


def test_registry_path_convention() -> None:
    assert Path("runs") == DEFAULT_RUNS_ROOT
    assert registry_path(Path("/a/b")) == Path("/a/b/registry.sqlite")


def test_new_run_id_format_time_order_and_uniqueness() -> None:
    ids = [new_run_id(1_700_000_000 * S) for _ in range(2000)]
    later = new_run_id(1_700_000_001 * S)

    assert all(re.fullmatch(r"20231114-221320-[0-9a-f]{6}", i) for i in ids)
    assert len(set(ids)) == 2000
    assert later.startswith("20231114-221321-")
    assert max(ids) < later
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", new_run_id())


def test_start_then_get_gives_a_running_record(registry: RunRegistry) -> None:
    _start(registry, "r1", 5 * S)

    record = registry.get("r1")

    assert record == RunRecord(
        run_id="r1",
        started_ns=5 * S,
        finished_ns=None,
        kind="backtest",
        config_json='{"x": 1}',
        config_id="c" * 64,
        code_version="0.1.0+abc",
        data_fingerprint="f" * 64,
        status="running",
        report_path=None,
        run_dir="runs/r1",
    )
    assert record.duration_s is None


def test_finish_and_set_report(registry: RunRegistry) -> None:
    _start(registry, "r1", 5 * S)
    _start(registry, "r2", 6 * S)

    registry.finish("r1", status="finished", finished_ns=7 * S + 500_000_000)
    registry.finish("r2", status="failed", finished_ns=6 * S)
    registry.set_report("r1", "runs/r1/report.json")

    r1, r2 = registry.get("r1"), registry.get("r2")
    assert (r1.status, r1.finished_ns, r1.duration_s, r1.report_path) == (
        "finished", 7_500_000_000, 2.5, "runs/r1/report.json",
    )  # fmt: skip
    assert (r2.status, r2.finished_ns, r2.duration_s, r2.report_path) == (
        "failed", 6 * S, 0.0, None,
    )  # fmt: skip


def test_list_is_newest_first_with_kind_and_limit(registry: RunRegistry) -> None:
    _start(registry, "b", 2 * S)
    _start(registry, "a", 3 * S, kind="stress")
    _start(registry, "c", 1 * S)
    _start(registry, "d", 4 * S)

    all_ids = [r.run_id for r in registry.list()]
    backtests = [r.run_id for r in registry.list(kind="backtest")]
    top2 = [r.run_id for r in registry.list(limit=2)]

    assert all_ids == ["d", "a", "b", "c"]
    assert backtests == ["d", "b", "c"]
    assert top2 == ["d", "a"]
    assert registry.list(kind="paper") == []
    assert registry.list(limit=0) == []


def test_duplicate_run_id_is_refused(registry: RunRegistry) -> None:
    _start(registry, "r1", 1 * S)

    with pytest.raises(ArtifactError, match="'r1' already registered"):
        _start(registry, "r1", 2 * S)

    assert registry.get("r1").started_ns == 1 * S


def test_unknown_run_is_an_artifact_error(registry: RunRegistry) -> None:
    with pytest.raises(ArtifactError, match="unknown run_id 'nope'"):
        registry.get("nope")
    with pytest.raises(ArtifactError, match="unknown run_id 'nope'"):
        registry.finish("nope", status="finished", finished_ns=1)
    with pytest.raises(ArtifactError, match="unknown run_id 'nope'"):
        registry.set_report("nope", "x")


def test_finish_refuses_bad_status_second_finish_and_time_travel(registry: RunRegistry) -> None:
    _start(registry, "r1", 5 * S)

    with pytest.raises(ConfigError, match="status='done'"):
        registry.finish("r1", status="done", finished_ns=6 * S)
    with pytest.raises(ArtifactError, match="before started_ns"):
        registry.finish("r1", status="finished", finished_ns=4 * S)
    registry.finish("r1", status="failed", finished_ns=6 * S)
    with pytest.raises(ArtifactError, match="already ended with status 'failed'"):
        registry.finish("r1", status="finished", finished_ns=7 * S)

    assert registry.get("r1").status == "failed"


def test_negative_limit_is_a_config_error(registry: RunRegistry) -> None:
    with pytest.raises(ConfigError, match="limit=-1"):
        registry.list(limit=-1)


def test_wal_mode_is_active(tmp_path: Path) -> None:
    path = registry_path(tmp_path)
    RunRegistry(path).close()

    conn = sqlite3.connect(path)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()

    assert mode == "wal"


def test_rows_persist_after_reopening(tmp_path: Path) -> None:
    path = registry_path(tmp_path / "nested" / "root")
    with RunRegistry(path) as reg:
        _start(reg, "r1", 1 * S)
        reg.finish("r1", status="finished", finished_ns=2 * S)

    with RunRegistry(path) as reopened:
        record = reopened.get("r1")

    assert (record.status, record.finished_ns) == ("finished", 2 * S)


def test_reader_sees_committed_rows_while_a_writer_transaction_is_open(tmp_path: Path) -> None:
    path = registry_path(tmp_path)
    with RunRegistry(path) as reg:
        _start(reg, "committed", 1 * S)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO runs VALUES ('pending', 2000000000, NULL, 'backtest', '{}', 'c', 'v', 'f', "
        "'running', NULL, 'runs/pending')"
    )

    with RunRegistry(path) as reader:
        during = [r.run_id for r in reader.list()]
        writer.execute("COMMIT")
        after = [r.run_id for r in reader.list()]
    writer.close()

    assert during == ["committed"]
    assert after == ["pending", "committed"]


def test_two_registries_on_one_file_see_each_others_commits(tmp_path: Path) -> None:
    path = registry_path(tmp_path)
    with RunRegistry(path) as writer, RunRegistry(path) as reader:
        _start(writer, "r1", 1 * S)
        seen_running = reader.get("r1").status
        writer.finish("r1", status="finished", finished_ns=3 * S)
        seen_finished = reader.get("r1").status

    assert (seen_running, seen_finished) == ("running", "finished")


def test_a_file_that_is_not_sqlite_is_an_artifact_error(tmp_path: Path) -> None:
    path = registry_path(tmp_path)
    path.write_bytes(b"this is not a database, just text" * 100)

    with pytest.raises(ArtifactError, match=r"registry\.sqlite"):
        RunRegistry(path)
