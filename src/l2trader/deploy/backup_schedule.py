"""Backup retention and the in-service backup scheduler (issue 9, item 6).

Retention keeps the newest ``keep_last`` archives plus every archive younger than
``keep_days``; the age of an archive is the UTC second in its name. Files not named like an
archive (``backup-<yyyymmddTHHMMSSZ>-<8 hex>.tar.gz``) are never touched.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     apply_retention(Path(tmp), keep_last=1, keep_days=None, now_ns=0)
[]
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from l2trader.deploy.backup import BackupInfo, create_backup
from l2trader.errors import ConfigError

__all__ = ["BackupScheduler", "BackupSpecLike", "BackupStatus", "apply_retention",
           "list_backups"]  # fmt: skip

logger = logging.getLogger(__name__)

_NAME_RE: Final = re.compile(r"backup-(\d{8}T\d{6}Z)-[0-9a-f]{8}\.tar\.gz")
_NS: Final = 1_000_000_000


def list_backups(dest_dir: Path) -> list[tuple[Path, int]]:
    """Archives in ``dest_dir``, oldest first, each with its name's UTC second (ns)."""
    found = []
    for path in Path(dest_dir).glob("backup-*.tar.gz"):
        match = _NAME_RE.fullmatch(path.name)
        if match and path.is_file():
            stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            found.append((int(stamp.timestamp()) * _NS, path.stat().st_mtime_ns, path))
    return [(path, ts) for ts, _, path in sorted(found)]


def apply_retention(dest_dir: Path, *, keep_last: int, keep_days: float | None,
                    now_ns: int | None = None) -> list[Path]:  # fmt: skip
    """Delete the archives outside the newest ``keep_last`` and older than ``keep_days``.

    ``keep_days`` None keeps only the newest ``keep_last``; ``now_ns`` (ns since the epoch)
    defaults to the wall clock. Returns the deleted paths, oldest first.

    Raises
    ------
    ConfigError
        ``keep_last < 1`` or ``keep_days < 0``.
    """
    if keep_last < 1:
        raise ConfigError(f"apply_retention: keep_last must be >= 1, got {keep_last}")
    if keep_days is not None and not keep_days >= 0:
        raise ConfigError(f"apply_retention: keep_days must be >= 0 or None, got {keep_days}")
    now = time.time_ns() if now_ns is None else int(now_ns)
    cutoff = None if keep_days is None else now - round(keep_days * 86_400 * _NS)
    archives = list_backups(dest_dir)
    older = archives[: max(len(archives) - keep_last, 0)]
    doomed = [path for path, ts in older if cutoff is None or ts < cutoff]
    for path in doomed:
        path.unlink(missing_ok=True)
        logger.info("backup retention: deleted %s", path)
    return doomed


class BackupSpecLike(Protocol):
    """What the scheduler reads of ``l2trader.deploy.settings.BackupSpec``."""

    @property
    def dir(self) -> str: ...  # noqa: D102
    @property
    def every_s(self) -> float | None: ...  # noqa: D102
    @property
    def keep_last(self) -> int: ...  # noqa: D102
    @property
    def keep_days(self) -> float | None: ...  # noqa: D102
    @property
    def registry(self) -> str | None: ...  # noqa: D102


@dataclass(frozen=True)
class BackupStatus:
    """Scheduler outcome counters; times are ns since the epoch (for /metrics and alerts)."""

    successes: int = 0
    failures: int = 0
    last_success_ns: int | None = None
    last_failure_ns: int | None = None
    last_error: str | None = None
    last_archive: Path | None = None
    last_deleted: tuple[Path, ...] = ()


class BackupScheduler:
    """A daemon thread running create_backup + apply_retention every ``every_s`` seconds.

    ``every_s`` defaults to ``spec.every_s`` (None: no thread, :meth:`backup_now` only) and
    ``registry`` to ``spec.registry``; the first scheduled backup runs ``every_s`` after
    start. ``on_result`` receives the new status after each attempt (from that thread).
    """

    def __init__(self, spec: BackupSpecLike, *, journal: Path | None = None,
                 registry: Path | None = None, catalog: Path | None = None,
                 every_s: float | None = None,
                 on_result: Callable[[BackupStatus], None] | None = None) -> None:  # fmt: skip
        self.spec, self.every_s = spec, spec.every_s if every_s is None else every_s
        if self.every_s is not None and not self.every_s > 0:
            raise ConfigError(f"BackupScheduler: every_s must be > 0, got {self.every_s}")
        self.journal, self.catalog = journal, catalog
        self.registry = registry or (Path(spec.registry) if spec.registry else None)
        self._on_result = on_result
        self._run_lock, self._status_lock = threading.Lock(), threading.Lock()
        self._status = BackupStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.every_s is not None:
            self._thread = threading.Thread(target=self._loop, name="l2trader-backup", daemon=True)
            self._thread.start()

    @property
    def status(self) -> BackupStatus:
        """The latest outcome counters."""
        with self._status_lock:
            return self._status

    def backup_now(self) -> BackupInfo:
        """Back up and apply retention now; a failure is recorded, then re-raised."""
        dest = Path(self.spec.dir)
        with self._run_lock:
            try:
                info = create_backup(dest, journal=self.journal, registry=self.registry,
                                     catalog=self.catalog)  # fmt: skip
                deleted = apply_retention(dest, keep_last=self.spec.keep_last,
                                          keep_days=self.spec.keep_days)  # fmt: skip
            except Exception as exc:
                self._record(failures=1, last_failure_ns=time.time_ns(), last_error=repr(exc))
                raise
            self._record(successes=1, last_success_ns=time.time_ns(), last_archive=info.path,
                         last_deleted=tuple(deleted))  # fmt: skip
        return info

    def _record(self, *, successes: int = 0, failures: int = 0, **fields: Any) -> None:
        with self._status_lock:
            old = self._status
            self._status = status = replace(old, successes=old.successes + successes,
                                            failures=old.failures + failures, **fields)  # fmt: skip
        if self._on_result is not None:
            self._on_result(status)

    def _loop(self) -> None:
        every_s = float(self.every_s or 0.0)
        while not self._stop.wait(every_s):
            try:
                self.backup_now()
            except Exception:  # recorded in the status; the schedule goes on
                logger.exception("scheduled backup failed")

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the thread (a backup in progress finishes first); idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> BackupScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
