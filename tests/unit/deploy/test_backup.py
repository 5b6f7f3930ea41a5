"""Backup archives, verify, restore, retention and the scheduler (issue 9, item 6)."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from l2trader.cli.deploy_backup_cmd import backup, restore
from l2trader.deploy import backup as backup_mod
from l2trader.deploy.backup import create_backup, restore_backup, verify_backup
from l2trader.deploy.backup_schedule import (
    BackupScheduler,
    BackupStatus,
    apply_retention,
    list_backups,
)
from l2trader.deploy.settings import BackupSpec
from l2trader.errors import CatalogError, ConfigError, DataError, JournalCorruptError, JournalError
from l2trader.paper.journal import Journal, JournalRows
from l2trader.schema import ORDER_DTYPE, STATE_DTYPE

S = 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14T22:13:20Z
DAY = 86_400 * S


def _intents(ids: list[int]) -> np.ndarray:
    out = np.zeros(len(ids), ORDER_DTYPE)
    out["order_id"] = ids
    out["ts_recv"] = [i * S for i in ids]
    out["action"], out["side"], out["order_type"], out["tif"] = 1, 1, 1, 1
    out["price_ticks"] = 1000
    out["qty"] = 2.0
    return out


def _state(ts: list[int]) -> np.ndarray:
    out = np.zeros(len(ts), STATE_DTYPE)
    out["ts_recv"] = ts
    out["mid"] = 100.0
    out["position"], out["cash"], out["equity"] = 1.0, -99.0, 1.0
    return out


def _write_journal(path: Path, n: int) -> None:
    with Journal(path, session_id="sess", config_id="cfg") as journal:
        for i in range(n):
            journal.append(intents=_intents([i + 1]), state=_state([i * S]))
        journal.checkpoint(b"engine-state", ts_recv=n * S)


def _same_rows(a: JournalRows, b: JournalRows) -> bool:
    pairs = [(a.intents, b.intents), (a.order_events, b.order_events), (a.fills, b.fills),
             (a.state, b.state)]  # fmt: skip
    arrays_equal = all(x.tobytes() == y.tobytes() for x, y in pairs)
    return arrays_equal and a.last_seq == b.last_seq and np.array_equal(a.state_seq, b.state_seq)


def _write_registry(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_ns INTEGER)")
    conn.executemany("INSERT INTO runs VALUES (?, ?)", [("r1", 1), ("r2", 2)])
    conn.commit()
    conn.close()


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    journal, registry = tmp_path / "j.sqlite", tmp_path / "registry.sqlite"
    catalog = tmp_path / "cat"
    _write_journal(journal, 5)
    _write_registry(registry)
    (catalog / "venue=X/symbol=Y/date=2024-01-01").mkdir(parents=True)
    (catalog / "venue=X/symbol=Y/date=2024-01-01/events-a.parquet").write_bytes(b"p" * 10)
    (catalog / ".staging-123").mkdir()
    (catalog / ".staging-123/partial.parquet").write_bytes(b"x")
    (catalog / "manifest.json").write_text('{"ingests": []}')
    return {"journal": journal, "registry": registry, "catalog": catalog}


def test_archive_holds_checked_copies_and_a_catalog_listing(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    info = create_backup(tmp_path / "bk", **sources, now_ns=T0)

    assert info.path.name.startswith("backup-20231114T221320Z-")
    assert info.path.name.endswith(".tar.gz")
    assert len(info.path.name) == len("backup-20231114T221320Z-12345678.tar.gz")
    with tarfile.open(info.path, "r:gz") as tar:
        names = tar.getnames()
        doc = json.loads(tar.extractfile("backup.json").read())  # type: ignore[union-attr]
        listing = json.loads(tar.extractfile("catalog/listing.json").read())  # type: ignore[union-attr]
    assert names == ["backup.json", "journal.sqlite", "registry.sqlite", "catalog/manifest.json",
                     "catalog/listing.json"]  # fmt: skip
    assert doc["created_ns"] == T0
    assert doc["format"] == 1
    roles = {m["role"]: m for m in doc["members"]}
    assert roles["journal"]["source"] == str(sources["journal"].resolve())
    assert roles["journal"]["integrity_check"] == "ok"
    assert roles["registry"]["integrity_check"] == "ok"
    assert roles["catalog_manifest"]["size"] == len('{"ingests": []}')
    assert [f["path"] for f in listing["files"]] == [
        "manifest.json",
        "venue=X/symbol=Y/date=2024-01-01/events-a.parquet",
    ]
    assert listing["files"][1]["size"] == 10
    assert verify_backup(info.path) == info
    assert not [p for p in (tmp_path / "bk").iterdir() if p.name.startswith(".")]


def test_round_trip_restores_the_journal_rows_and_registry(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    with Journal(sources["journal"]) as journal:
        before = journal.read_all()
    info = create_backup(tmp_path / "bk", **sources, now_ns=T0)
    sources["journal"].unlink()
    sources["registry"].unlink()

    result = restore_backup(info.path, journal=sources["journal"], registry=sources["registry"])

    assert result.kept == {}
    assert result.journal_report is not None
    assert result.journal_report.ok
    with Journal(sources["journal"], session_id="sess") as journal:
        assert _same_rows(journal.read_all(), before)
        assert journal.verify().counts["intents"] == 5
        assert journal.latest_checkpoint().blob == b"engine-state"  # type: ignore[union-attr]
    conn = sqlite3.connect(sources["registry"])
    assert conn.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall() == [("r1",), ("r2",)]
    conn.close()


def test_restore_refuses_an_existing_journal_without_force(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    info = create_backup(tmp_path / "bk", journal=sources["journal"], registry=None, catalog=None)
    original = sources["journal"].read_bytes()

    with pytest.raises(JournalError, match="exists; pass force"):
        restore_backup(info.path, journal=sources["journal"], registry=None)

    assert sources["journal"].read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_forced_restore_keeps_the_old_journal_and_drops_stale_wal(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    path = sources["journal"]
    info = create_backup(tmp_path / "bk", journal=path, registry=None, catalog=None)
    with Journal(path) as journal:  # three more commits after the backup
        for i in range(3):
            journal.append(intents=_intents([100 + i]))
        newer = journal.last_seq

    result = restore_backup(info.path, journal=path, registry=None, force=True)

    kept = result.kept["journal"]
    assert kept.name.startswith("j.sqlite.pre-restore-")
    with Journal(kept) as old, Journal(path) as new:
        assert old.last_seq == newer
        assert new.verify().counts["intents"] == 5
    wal = tmp_path / "j.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_restore_after_deleting_only_the_main_file_ignores_its_stale_wal(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    path = sources["journal"]
    info = create_backup(tmp_path / "bk", journal=path, registry=None, catalog=None)
    path.unlink()
    (tmp_path / "j.sqlite-wal").write_bytes(b"stale wal bytes")
    (tmp_path / "j.sqlite-shm").write_bytes(b"stale shm")

    restore_backup(info.path, journal=path, registry=None)

    with Journal(path) as journal:
        assert journal.verify().counts["intents"] == 5


def _rewrite_member(archive: Path, name: str, edit) -> None:  # type: ignore[no-untyped-def]
    with tarfile.open(archive, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in members:
            data = edit(data) if member.name == name else data
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


def _flip_byte(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]


def test_a_corrupted_journal_copy_is_detected(tmp_path: Path, sources: dict[str, Path]) -> None:
    info = create_backup(tmp_path / "bk", **sources, now_ns=T0)
    _rewrite_member(info.path, "journal.sqlite", _flip_byte)

    with pytest.raises(JournalCorruptError) as caught:
        verify_backup(info.path)

    assert len(caught.value.issues) == 1
    assert caught.value.issues[0].startswith("journal.sqlite: ")
    with pytest.raises(JournalCorruptError):
        restore_backup(info.path, journal=tmp_path / "new.sqlite", registry=None)
    assert not (tmp_path / "new.sqlite").exists()


def test_a_corrupted_manifest_copy_is_a_data_error(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    info = create_backup(tmp_path / "bk", **sources, now_ns=T0)
    _rewrite_member(info.path, "catalog/manifest.json", lambda d: d + b" ")

    with pytest.raises(DataError, match=r"catalog/manifest.json: 16 bytes"):
        verify_backup(info.path)


def test_a_journal_copy_failing_integrity_check_is_detected(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    info = create_backup(tmp_path / "bk", journal=sources["journal"], registry=None, catalog=None)
    with tarfile.open(info.path, "r:gz") as tar:
        copy = bytearray(tar.extractfile("journal.sqlite").read())  # type: ignore[union-attr]
        doc = json.loads(tar.extractfile("backup.json").read())  # type: ignore[union-attr]
    page = int.from_bytes(copy[16:18], "big")
    copy[page * 2 : page * 3] = b"\x0d" * page  # garbage b-tree page
    doc["members"][0]["sha256"] = hashlib.sha256(bytes(copy)).hexdigest()
    _rewrite_member(info.path, "journal.sqlite", lambda _: bytes(copy))
    _rewrite_member(info.path, "backup.json", lambda _: json.dumps(doc).encode())

    with pytest.raises(JournalCorruptError, match=r"journal\.sqlite: integrity_check"):
        verify_backup(info.path)


@pytest.mark.parametrize("payload", [b"", b"not a gzip file", b"\x1f\x8b\x08\x00truncated"])
def test_an_unreadable_archive_is_a_data_error(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "backup-20231114T221320Z-00000000.tar.gz"
    path.write_bytes(payload)

    with pytest.raises(DataError, match="unreadable backup archive"):
        verify_backup(path)


def test_an_archive_without_backup_json_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "x.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("journal.sqlite"), io.BytesIO(b""))

    with pytest.raises(DataError, match="not a backup archive"):
        verify_backup(path)


def test_a_failure_mid_write_leaves_no_archive(
    tmp_path: Path, sources: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = tarfile.TarFile.addfile

    def failing_addfile(self, tarinfo, fileobj=None):  # type: ignore[no-untyped-def]
        calls.append(tarinfo.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, tarinfo, fileobj)

    monkeypatch.setattr(tarfile.TarFile, "addfile", failing_addfile)
    dest = tmp_path / "bk"

    with pytest.raises(OSError, match="No space left"):
        create_backup(dest, **sources, now_ns=T0)

    assert calls == ["backup.json", "journal.sqlite", "registry.sqlite"]
    assert list(dest.iterdir()) == []


def test_missing_or_invalid_sources_raise_typed_errors(tmp_path: Path) -> None:
    (tmp_path / "text.sqlite").write_text("not sqlite at all, definitely not")
    with pytest.raises(ConfigError, match="all None"):
        create_backup(tmp_path, journal=None, registry=None, catalog=None)
    with pytest.raises(JournalError, match="journal database not found"):
        create_backup(tmp_path, journal=tmp_path / "none.sqlite", registry=None, catalog=None)
    with pytest.raises(JournalError, match="cannot back up the registry"):
        create_backup(tmp_path, journal=None, registry=tmp_path / "text.sqlite", catalog=None)
    with pytest.raises(CatalogError, match="catalog directory not found"):
        create_backup(tmp_path, journal=None, registry=None, catalog=tmp_path / "nocat")
    with pytest.raises(ConfigError, match="journal and/or registry"):
        restore_backup(tmp_path / "a.tar.gz", journal=None, registry=None)
    assert not list(tmp_path.glob("backup-*"))


def test_restore_refuses_a_role_the_archive_lacks(tmp_path: Path, sources: dict[str, Path]) -> None:
    info = create_backup(tmp_path / "bk", journal=None, registry=None, catalog=sources["catalog"])

    with pytest.raises(JournalError, match="holds no journal"):
        restore_backup(info.path, journal=tmp_path / "new.sqlite", registry=None)
    assert not (tmp_path / "new.sqlite").exists()


def _archives(dest: Path, days: list[float]) -> list[Path]:
    """Empty archives named at T0 + day offsets, plus foreign files."""
    dest.mkdir()
    paths = []
    for k, day in enumerate(days):
        path = dest / backup_mod.archive_name(T0 + round(day * DAY))
        path.write_bytes(bytes([k]))
        paths.append(path)
    (dest / "notes.txt").write_text("keep me")
    (dest / "backup-old-format.tar.gz").write_text("foreign")
    return paths


def test_retention_keeps_the_newest_and_the_young(tmp_path: Path) -> None:
    paths = _archives(tmp_path / "bk", [0, 1, 2, 10, 20, 29.5])
    now = T0 + 30 * DAY

    deleted = apply_retention(tmp_path / "bk", keep_last=2, keep_days=15.0, now_ns=now)

    assert deleted == paths[:4]
    assert [p for p, _ in list_backups(tmp_path / "bk")] == paths[4:]
    assert (tmp_path / "bk/notes.txt").exists()
    assert (tmp_path / "bk/backup-old-format.tar.gz").exists()


def test_retention_never_deletes_the_newest_keep_last_even_if_old(tmp_path: Path) -> None:
    paths = _archives(tmp_path / "bk", [0, 1, 2])

    deleted = apply_retention(tmp_path / "bk", keep_last=2, keep_days=0.5, now_ns=T0 + 100 * DAY)

    assert deleted == paths[:1]


def test_retention_without_keep_days_keeps_exactly_keep_last(tmp_path: Path) -> None:
    paths = _archives(tmp_path / "bk", [3, 1, 2, 0])

    deleted = apply_retention(tmp_path / "bk", keep_last=1, keep_days=None, now_ns=T0)

    assert deleted == [paths[3], paths[1], paths[2]]
    assert list_backups(tmp_path / "bk") == [(paths[0], T0 + 3 * DAY)]


def test_retention_rejects_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keep_last"):
        apply_retention(tmp_path, keep_last=0, keep_days=None, now_ns=T0)
    with pytest.raises(ConfigError, match="keep_days"):
        apply_retention(tmp_path, keep_last=1, keep_days=-1.0, now_ns=T0)


def _spec(dir: str, every_s: float | None = 0.01, registry: str | None = None) -> BackupSpec:
    return BackupSpec(dir=dir, every_s=every_s, keep_last=2, keep_days=None, registry=registry)


def test_scheduler_backs_up_repeatedly_and_applies_retention(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    seen: list[BackupStatus] = []
    third = threading.Event()

    def on_result(status: BackupStatus) -> None:
        seen.append(status)
        if status.successes >= 3:
            third.set()

    spec = _spec(dir=str(tmp_path / "bk"), registry=str(sources["registry"]))
    with BackupScheduler(spec, journal=sources["journal"], on_result=on_result) as scheduler:
        assert third.wait(60.0)
    status = scheduler.status

    assert status.failures == 0
    assert status.successes >= 3
    assert [s.successes for s in seen[:3]] == [1, 2, 3]
    assert len(list_backups(tmp_path / "bk")) == 2
    assert status.last_archive is not None
    assert verify_backup(status.last_archive).member("registry") is not None


def test_scheduler_records_a_failure_and_backup_now_raises(tmp_path: Path) -> None:
    spec = _spec(dir=str(tmp_path / "bk"), every_s=None)
    scheduler = BackupScheduler(spec, journal=tmp_path / "missing.sqlite")

    with pytest.raises(JournalError):
        scheduler.backup_now()
    scheduler.close()

    assert scheduler.status.failures == 1
    assert scheduler.status.successes == 0
    assert "missing.sqlite" in (scheduler.status.last_error or "")


def test_scheduler_rejects_a_non_positive_period(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="every_s"):
        BackupScheduler(_spec(dir=str(tmp_path)), every_s=0.0)


def test_backup_is_a_committed_prefix_under_a_concurrent_writer(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    Journal(path, session_id="live").close()
    started, stop = threading.Event(), threading.Event()
    written: list[int] = []

    def writer() -> None:
        with Journal(path) as journal:
            i = 0
            while not stop.is_set():
                journal.append(intents=_intents([i + 1]), state=_state([i]))
                i += 1
                written.append(i)
                if i == 20:
                    started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert started.wait(60.0)
    archives = [create_backup(tmp_path / "bk", journal=path, registry=None, catalog=None)
                for _ in range(3)]  # fmt: skip
    stop.set()
    thread.join()

    counts = []
    for k, info in enumerate(archives):
        target = tmp_path / f"restored-{k}.sqlite"
        restore_backup(info.path, journal=target, registry=None)
        with Journal(target) as journal:
            rows = journal.read_all()
            counts.append(len(rows.intents))
            assert np.array_equal(rows.state["ts_recv"], np.arange(len(rows.state)))
            assert np.array_equal(rows.intents["order_id"], np.arange(1, len(rows.intents) + 1))
    assert 20 <= counts[0] <= counts[1] <= counts[2] <= len(written)


SETTINGS = """
[paper]
journal = "j.sqlite"
[paper.data]
catalog = "cat"
venue = "binance-futures"
symbol = "BTCUSDT"
[paper.strategy]
kind = "market_maker"
[backup]
dir = "bk"
registry = "registry.sqlite"
keep_last = 1
keep_days = 1e-9
"""


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("backup")(backup)
    app.command("restore")(restore)
    return app


def test_cli_backs_up_from_a_settings_file_and_restores(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    (tmp_path / "deploy.toml").write_text(SETTINGS)
    runner, app = CliRunner(), _cli()

    first = runner.invoke(app, ["backup", str(tmp_path / "deploy.toml")])
    second = runner.invoke(app, ["backup", str(tmp_path / "deploy.toml")])
    archives = [p for p, _ in list_backups(tmp_path / "bk")]
    refused = runner.invoke(
        app, ["restore", str(archives[0]), "--journal", str(tmp_path / "j.sqlite")]
    )
    forced = runner.invoke(
        app, ["restore", str(archives[0]), "--journal", str(tmp_path / "j.sqlite"), "--force"]
    )

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "retention: deleted" in second.output
    assert len(archives) == 1
    info = verify_backup(archives[0])
    assert sorted(m.role for m in info.members) == [
        "catalog_listing",
        "catalog_manifest",
        "journal",
        "registry",
    ]
    assert refused.exit_code == 1
    assert forced.exit_code == 0, forced.output
    assert "journal verified: last_seq=" in forced.output
    assert len(list(tmp_path.glob("j.sqlite.pre-restore-*"))) == 1


def test_cli_backup_needs_a_destination(tmp_path: Path, sources: dict[str, Path]) -> None:
    result = CliRunner().invoke(_cli(), ["backup", "--journal", str(sources["journal"])])

    assert result.exit_code == 2
    assert not list(tmp_path.rglob("backup-*.tar.gz"))


@pytest.mark.parametrize(
    ("header", "message"),
    [(b"[]", "malformed"), (b"{not json", "malformed"), (b'{"format": 2}', "malformed")],
)
def test_a_bad_backup_json_is_a_data_error(
    tmp_path: Path, sources: dict[str, Path], header: bytes, message: str
) -> None:
    info = create_backup(tmp_path / "bk", journal=sources["journal"], registry=None, catalog=None)
    _rewrite_member(info.path, "backup.json", lambda _: header)

    with pytest.raises(DataError, match=message):
        verify_backup(info.path)


def test_an_unknown_format_version_is_a_data_error(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    info = create_backup(tmp_path / "bk", journal=sources["journal"], registry=None, catalog=None)

    def bump(data: bytes) -> bytes:
        return data.replace(b'"format": 1', b'"format": 2')

    _rewrite_member(info.path, "backup.json", bump)

    with pytest.raises(DataError, match="backup format 2, expected 1"):
        verify_backup(info.path)
