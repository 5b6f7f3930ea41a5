"""Restore of a backup archive (issue 9, item 6): the journal and/or the run registry.

Restore verifies the archive first (:func:`~l2trader.deploy.backup_archive.extract_verified`),
copies each database into a hidden temp file beside its target, fsyncs it, checks a restored
journal with ``Journal.verify()`` and renames the copies into place; an existing target is set
aside as ``<name>.pre-restore-<stamp>`` (with its WAL). A target with a live session (its
``<name>.pid`` names a running process) is refused.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psutil

from l2trader.deploy.backup_archive import (
    SQLITE_MEMBERS,
    BackupInfo,
    extract_verified,
    fsync_dir,
    stamp_utc,
)
from l2trader.errors import ConfigError, JournalError
from l2trader.paper.journal import Journal, JournalReport

__all__ = ["RestoreResult", "restore_backup"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    """What :func:`restore_backup` did: restored files and set-aside old files per role."""

    info: BackupInfo
    restored: dict[str, Path]
    kept: dict[str, Path]
    journal_report: JournalReport | None


def _side_files(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _set_aside(target: Path, now_ns: int) -> Path:
    """Fold the WAL into ``target`` and rename it (and any WAL) ``<name>.pre-restore-<ts>``."""
    kept = target.with_name(f"{target.name}.pre-restore-{stamp_utc(now_ns)}")
    while kept.exists():
        kept = target.with_name(f"{kept.name}-{secrets.token_hex(2)}")
    try:
        with closing(sqlite3.connect(target, timeout=10.0)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.DatabaseError as exc:
        logger.warning("%s: WAL checkpoint before restore failed (%s)", target, exc)
    for side, kept_side in zip(_side_files(target), _side_files(kept), strict=True):
        if side.exists():
            os.replace(side, kept_side)
    os.replace(target, kept)
    return kept


def _check_targets(targets: dict[str, Path], force: bool) -> None:
    for role, target in targets.items():
        pid_file = target.with_name(target.name + ".pid")
        pid = pid_file.read_text().strip() if pid_file.is_file() else ""
        if pid.isdigit() and psutil.pid_exists(int(pid)):
            raise JournalError(f"{target}: a session (pid {pid}) is running on it; stop it first")
        if target.exists() and not force:
            raise JournalError(f"{target}: the {role} exists; pass force to replace it "
                               f"(it is kept as {target.name}.pre-restore-<stamp>)")  # fmt: skip


def _stage_restore(src: Path, target: Path) -> Path:
    """Copy ``src`` to a hidden temp file beside ``target`` and fsync it."""
    tmp = target.with_name(f".{target.name}.restore-{secrets.token_hex(4)}")
    shutil.copyfile(src, tmp)
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    return tmp


def _install(staged: dict[str, Path], targets: dict[str, Path]) -> dict[str, Path]:
    """Set old targets aside, drop stale WAL files, rename the staged copies into place."""
    now, kept = time.time_ns(), {}
    for role, target in targets.items():
        if target.exists():
            kept[role] = _set_aside(target, now)
        for side in _side_files(target):
            side.unlink(missing_ok=True)
        os.replace(staged[role], target)
        fsync_dir(target.parent)
    return kept


def restore_backup(archive: Path, *, journal: Path | None, registry: Path | None,
                   force: bool = False) -> RestoreResult:  # fmt: skip
    """Verify ``archive`` and restore its journal and/or registry copies to the given paths.

    Raises
    ------
    ConfigError
        Both targets are None.
    JournalError
        A target exists and not ``force``, a session runs on it, or the archive lacks it.
    JournalCorruptError, DataError
        The archive fails :func:`~l2trader.deploy.backup_archive.verify_backup`, or the
        restored journal fails verify().
    """
    pairs = (("journal", journal), ("registry", registry))
    targets = {role: Path(p).absolute() for role, p in pairs if p is not None}
    if not targets:
        raise ConfigError("restore_backup: give journal and/or registry")
    _check_targets(targets, force)
    first = next(iter(targets.values())).parent
    first.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    try:
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=first) as tmp:
            info = extract_verified(Path(archive), Path(tmp))
            for role, target in targets.items():
                if info.member(role) is None:
                    raise JournalError(f"{archive}: the backup holds no {role}")
                target.parent.mkdir(parents=True, exist_ok=True)
                staged[role] = _stage_restore(Path(tmp) / SQLITE_MEMBERS[role], target)
        report = None
        if "journal" in staged:
            with Journal(staged["journal"]) as restored:
                report = restored.verify()
        kept = _install(staged, targets)
    finally:
        for path in staged.values():
            for leftover in (path, *_side_files(path)):
                leftover.unlink(missing_ok=True)
    return RestoreResult(info, targets, kept, report)
