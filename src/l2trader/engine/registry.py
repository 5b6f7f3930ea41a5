"""SQLite run registry (contract C9): one row per backtest/stress/paper run, WAL mode.

Layout convention: the registry is ``<root>/registry.sqlite`` and each run writes its
directory ``<root>/<run_id>/`` (see :mod:`l2trader.engine.run_dir`). Every write is one
``BEGIN IMMEDIATE`` transaction; in WAL mode readers on other connections see the last
committed state and are never blocked by an open writer.
"""

from __future__ import annotations

import builtins
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final

from l2trader.errors import ArtifactError, ConfigError

__all__ = [
    "DEFAULT_RUNS_ROOT",
    "REGISTRY_FILE",
    "RUN_STATUSES",
    "RunRecord",
    "RunRegistry",
    "new_run_id",
    "registry_path",
]

DEFAULT_RUNS_ROOT: Final = Path("runs")
"""Default root of run directories and the registry (relative to the working directory)."""

REGISTRY_FILE: Final = "registry.sqlite"
"""File name of the registry under a runs root."""

RUN_STATUSES: Final = ("running", "finished", "failed")
"""Allowed ``status`` values; :meth:`RunRegistry.finish` sets one of the last two."""

_ISSUED: Final[set[str]] = set()
"""Run ids handed out by :func:`new_run_id` in this process (a few bytes per run)."""

_SCHEMA_VERSION: Final = 1
_COLUMNS: Final = (
    "run_id",
    "started_ns",
    "finished_ns",
    "kind",
    "config_json",
    "config_id",
    "code_version",
    "data_fingerprint",
    "status",
    "report_path",
    "run_dir",
)
_CREATE: Final = (
    """CREATE TABLE IF NOT EXISTS runs (
    run_id           TEXT PRIMARY KEY,
    started_ns       INTEGER NOT NULL,
    finished_ns      INTEGER,
    kind             TEXT NOT NULL,
    config_json      TEXT NOT NULL,
    config_id        TEXT NOT NULL,
    code_version     TEXT NOT NULL,
    data_fingerprint TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    report_path      TEXT,
    run_dir          TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS runs_kind_started ON runs (kind, started_ns)",
    "CREATE INDEX IF NOT EXISTS runs_started ON runs (started_ns)",
)


def registry_path(root: Path) -> Path:
    """``<root>/registry.sqlite``.

    Examples
    --------
    >>> registry_path(Path("runs")).as_posix()
    'runs/registry.sqlite'
    """
    return Path(root) / REGISTRY_FILE


def new_run_id(now_ns: int | None = None) -> str:
    """A run id ``YYYYMMDD-HHMMSS-<6 hex>``: UTC second of ``now_ns`` (ns) + 24 random bits.

    Ids sort by time to the second; within one second their order is random. Ids are
    unique within a process (a repeated suffix is redrawn); across processes a collision
    is unlikely (24 bits per second) and the registry's primary key refuses one.

    Examples
    --------
    >>> new_run_id(1_700_000_000_123_456_789)[:16]
    '20231114-221320-'
    >>> len(new_run_id())
    22
    """
    ns = time.time_ns() if now_ns is None else int(now_ns)
    stamp = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).strftime("%Y%m%d-%H%M%S")
    while True:
        run_id = f"{stamp}-{secrets.token_hex(3)}"
        if run_id not in _ISSUED:
            _ISSUED.add(run_id)
            return run_id


@dataclass(frozen=True)
class RunRecord:
    """One row of the ``runs`` table. Times are ns since the epoch (UTC)."""

    run_id: str
    started_ns: int
    finished_ns: int | None
    kind: str
    config_json: str
    config_id: str
    code_version: str
    data_fingerprint: str
    status: str
    report_path: str | None
    run_dir: str

    @property
    def duration_s(self) -> float | None:
        """Wall time of a finished/failed run in seconds; None while running."""
        if self.finished_ns is None:
            return None
        return (self.finished_ns - self.started_ns) / 1e9


class RunRegistry:
    """The run registry at ``path`` (file and table created if missing; WAL journal).

    Use as a context manager or call :meth:`close`. One instance per thread.

    Raises
    ------
    ArtifactError
        The file cannot be opened as SQLite or WAL mode cannot be enabled.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise ArtifactError(f"{self.path}: cannot open the run registry ({exc})") from exc
        try:
            self._setup()
        except sqlite3.Error as exc:
            self._conn.close()
            raise ArtifactError(f"{self.path}: not a usable run registry ({exc})") from exc
        except ArtifactError:
            self._conn.close()
            raise

    def _setup(self) -> None:
        """Enable WAL; create the schema only if missing, so opening never waits on a writer."""
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ArtifactError(f"{self.path}: cannot enable WAL mode (journal_mode={mode})")
        if self._schema_version() == _SCHEMA_VERSION:
            return
        with self._write():
            version = self._schema_version()
            if version == 0:
                for statement in _CREATE:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            elif version != _SCHEMA_VERSION:
                raise ArtifactError(
                    f"{self.path}: registry schema version {version}, expected {_SCHEMA_VERSION}"
                )

    def _schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction; rolled back on any exception."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # ------------------------------------------------------------------------------- writes

    def start(
        self,
        *,
        run_id: str,
        kind: str,
        config_json: str,
        config_id: str,
        code_version: str,
        data_fingerprint: str,
        run_dir: str,
        started_ns: int,
    ) -> None:
        """Insert a run with status ``running`` (ArtifactError if ``run_id`` exists)."""
        row = (run_id, int(started_ns), None, kind, config_json, config_id, code_version,
               data_fingerprint, "running", None, str(run_dir))  # fmt: skip
        try:
            with self._write():
                self._conn.execute(
                    f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * 11)})",
                    row,
                )
        except sqlite3.IntegrityError as exc:
            raise ArtifactError(f"{self.path}: run_id {run_id!r} already registered") from exc

    def finish(self, run_id: str, *, status: str, finished_ns: int) -> None:
        """Mark a running run ``finished`` or ``failed`` at ``finished_ns`` (ns).

        Raises
        ------
        ConfigError
            ``status`` is not ``finished``/``failed``.
        ArtifactError
            The run is unknown, already ended, or ``finished_ns`` precedes its start.
        """
        if status not in RUN_STATUSES[1:]:
            raise ConfigError(f"finish: status={status!r} must be 'finished' or 'failed'")
        with self._write():
            record = self._get(run_id)
            if record.status != "running":
                raise ArtifactError(f"run {run_id!r} already ended with status {record.status!r}")
            if finished_ns < record.started_ns:
                raise ArtifactError(
                    f"run {run_id!r}: finished_ns={finished_ns} is before "
                    f"started_ns={record.started_ns}"
                )
            self._conn.execute(
                "UPDATE runs SET status = ?, finished_ns = ? WHERE run_id = ?",
                (status, int(finished_ns), run_id),
            )

    def set_report(self, run_id: str, report_path: str) -> None:
        """Record the report file of a run (ArtifactError if the run is unknown)."""
        with self._write():
            self._get(run_id)
            self._conn.execute(
                "UPDATE runs SET report_path = ? WHERE run_id = ?", (str(report_path), run_id)
            )

    # -------------------------------------------------------------------------------- reads

    def get(self, run_id: str) -> RunRecord:
        """The record of ``run_id`` (ArtifactError naming the id and the file if unknown)."""
        return self._get(run_id)

    def _get(self, run_id: str) -> RunRecord:
        row = self._conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise ArtifactError(f"{self.path}: unknown run_id {run_id!r}")
        return RunRecord(*row)

    def list(self, *, kind: str | None = None, limit: int = 50) -> builtins.list[RunRecord]:
        """Up to ``limit`` runs (of ``kind`` if given), newest ``started_ns`` first."""
        if limit < 0:
            raise ConfigError(f"list: limit={limit} must be >= 0")
        where, params = ("WHERE kind = ?", [kind]) if kind is not None else ("", [])
        rows = self._conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM runs {where} "
            "ORDER BY started_ns DESC, run_id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [RunRecord(*row) for row in rows]

    # ---------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> RunRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
