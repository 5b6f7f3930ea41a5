"""Paper-trading journal: SQLite in WAL mode, append-only, one gapless ``seq`` (contract C9).

Tables ``intents``, ``order_events`` (C5), ``fills`` (C6) and ``state`` (C7) hold one column
per dtype field plus ``seq INTEGER PRIMARY KEY``; ``meta`` (session, config, versions) and
``checkpoints`` (engine snapshots) and ``events`` (alerts fired/resolved, operator actions
such as an alert's automatic halt; one JSON ``detail`` each) share the seq space, and each
transaction ends with a ``commits`` row counting its rows per table, so seqs are gapless
over the whole journal (meta is seq 1, its commit seq 2, ...). Within one append: intents,
order events, fills, state. No UPDATE/DELETE path exists and triggers abort any.
Recovery = the latest checkpoint + :meth:`Journal.read_since` its seq.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from l2trader.schema import STATE_DTYPE
>>> tmp = tempfile.TemporaryDirectory()
>>> with Journal(Path(tmp.name) / "paper.sqlite", session_id="s1") as journal:
...     journal.append(state=np.zeros(1, STATE_DTYPE))
...     journal.verify().counts["state"]
4
1
>>> tmp.cleanup()
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.report import json_nulls
from l2trader.errors import InvalidValueError, JournalCorruptError, JournalError
from l2trader.paper.blob import pack_arrays, unpack_arrays
from l2trader.paper.journal_schema import (
    DATA_TABLES,
    FILL_KEY,
    SEQ_TABLES,
    schema,
    seq_issues,
)
from l2trader.version import code_version as current_code_version

__all__ = ["SCHEMA_VERSION", "Checkpoint", "Journal", "JournalCorruptError", "JournalError",
           "JournalMeta", "JournalReport", "JournalRows", "pack_arrays",
           "unpack_arrays"]  # fmt: skip

SCHEMA_VERSION: Final = 2
"""Layout version stored in ``meta`` and ``PRAGMA user_version``."""

_META_COLS: Final = (
    "session_id", "created_ns", "config_json", "config_id", "code_version", "schema_version",
)  # fmt: skip


@dataclass(frozen=True)
class JournalMeta:
    """The session a journal belongs to (``created_ns``: ns since the epoch, UTC)."""

    session_id: str
    created_ns: int
    config_json: str
    config_id: str
    code_version: str
    schema_version: int


@dataclass(frozen=True)
class Checkpoint:
    """An opaque engine snapshot; ``covers_seq`` = last journal seq reflected in it."""

    seq: int
    covers_seq: int
    ts_recv: int
    blob: bytes


@dataclass(frozen=True)
class JournalRows:
    """Journal rows after some seq: C5-C7 arrays and the seq of each row (int64)."""

    intents: NDArray[np.void]
    order_events: NDArray[np.void]
    fills: NDArray[np.void]
    state: NDArray[np.void]
    intents_seq: NDArray[np.int64]
    order_events_seq: NDArray[np.int64]
    fills_seq: NDArray[np.int64]
    state_seq: NDArray[np.int64]
    last_seq: int
    """Journal position the read reflects (the last commit's seq; 0 for an empty journal)."""


@dataclass(frozen=True)
class JournalReport:
    """Outcome of :meth:`Journal.verify`: row counts per table and the problems found."""

    path: str
    last_seq: int
    commits: int
    counts: dict[str, int]
    issues: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no issue was found."""
        return not self.issues


class Journal:
    """The append-only journal of one paper session at ``path`` (created if missing).

    WAL: readers on other connections see the last commit and never block the writer.
    ``synchronous=FULL`` fsyncs the WAL at each commit, so a commit survives a power loss or
    OS crash too (NORMAL survives kill -9 only): an intent is committed before its order is
    sent, and losing it would leave a live order the journal does not know.
    ``session_id``, ``config_json``, ``config_id``, ``code_version`` go to ``meta`` when the
    journal is created; on reopen a given ``session_id`` or non-empty ``config_id`` must match
    (JournalError, as for a file that is not a journal).
    """

    def __init__(self, path: Path, *, session_id: str | None = None, config_json: str = "{}",
                 config_id: str = "", code_version: str = "") -> None:  # fmt: skip
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            self._setup()
            new = (session_id or secrets.token_hex(8), time.time_ns(), config_json, config_id,
                   code_version or current_code_version(), SCHEMA_VERSION)  # fmt: skip
            self.meta = self._meta(new)
            self._check_session(session_id, config_id)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise JournalError(f"{self.path}: not a usable journal ({exc})") from exc
        except JournalError:
            self._conn.close()
            raise

    def _setup(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"{self.path}: cannot enable WAL mode (journal_mode={mode})")
        self._conn.execute("PRAGMA synchronous=FULL")
        version_sql = "PRAGMA user_version"
        if self._conn.execute(version_sql).fetchone()[0] == SCHEMA_VERSION:
            return
        with self._txn("BEGIN IMMEDIATE"):
            version = int(self._conn.execute(version_sql).fetchone()[0])
            if version == 0:
                for statement in schema():
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path}: journal schema version {version}, expected {SCHEMA_VERSION}"
                )

    def _meta(self, new: tuple[Any, ...]) -> JournalMeta:
        """The stored meta row; written first (seq 1) if the journal has none yet."""
        query = f"SELECT {', '.join(_META_COLS)} FROM meta ORDER BY seq LIMIT 1"
        row = self._conn.execute(query).fetchone()
        if row is None:
            with self._txn("BEGIN IMMEDIATE"):
                row = self._conn.execute(query).fetchone()
                if row is None:
                    self._commit({"meta": [new]})
                    row = new
        return JournalMeta(*row)

    def _check_session(self, session_id: str | None, config_id: str) -> None:
        pairs = (("session_id", session_id, self.meta.session_id),
                 ("config_id", config_id or None, self.meta.config_id))  # fmt: skip
        for key, given, stored in pairs:
            if given is not None and given != stored:
                raise JournalError(f"{self.path}: {key}={given!r} but the journal has {stored!r}")

    @contextmanager
    def _txn(self, begin: str) -> Iterator[None]:
        """One transaction; rolled back on any exception."""
        self._conn.execute(begin)
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _commit(self, rows: Mapping[str, list[tuple[Any, ...]]]) -> int:
        """Insert ``rows`` per table with fresh seqs plus the commit marker; return its seq."""
        seq = first = self.last_seq + 1
        for table, table_rows in rows.items():
            if table == "checkpoints":  # covers every row inserted before it (None: fill in)
                table_rows = [(seq - 1 if r[0] is None else r[0], *r[1:]) for r in table_rows]
            marks = ", ".join("?" * (len(table_rows[0]) + 1)) if table_rows else ""
            self._conn.executemany(
                f"INSERT INTO {table} VALUES ({marks})",
                [(seq + i, *row) for i, row in enumerate(table_rows)],
            )
            seq += len(table_rows)
        counts = [len(rows.get(table, ())) for table in SEQ_TABLES]
        marks = ", ".join("?" * (len(counts) + 2))
        self._conn.execute(f"INSERT INTO commits VALUES ({marks})", (seq, first, *counts))
        return seq

    def append(self, *, intents: NDArray[np.void] | None = None,
               order_events: NDArray[np.void] | None = None,
               fills: NDArray[np.void] | None = None,
               state: NDArray[np.void] | None = None,
               checkpoint: tuple[bytes, int] | None = None) -> int:  # fmt: skip
        """Write the given C5-C7 rows in one transaction (all or nothing); return its seq.

        Nothing is written (and the current :attr:`last_seq` returned) when all are empty.
        ``checkpoint`` = ``(engine_state, ts_recv)`` is stored in the same transaction, after
        the rows, covering them (a live session: no row is ever newer than its checkpoint).

        Raises
        ------
        InvalidValueError
            An array does not have its contract dtype.
        JournalError
            A row was refused (e.g. a fill with ``qty <= 0``); nothing was written.
        """
        given = {"intents": intents, "order_events": order_events, "fills": fills,
                 "state": state}  # fmt: skip
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for table, arr in given.items():
            if arr is None:
                continue
            if arr.dtype != DATA_TABLES[table]:
                raise InvalidValueError(
                    f"append: {table} must have dtype {DATA_TABLES[table]}, got {arr.dtype}",
                    source=str(self.path),
                )
            if arr.size:
                rows[table] = arr.tolist()
        if rows and checkpoint is not None:
            rows["checkpoints"] = [_checkpoint_row(*checkpoint)]
        return self._write(rows) if rows else self.last_seq

    def checkpoint(self, engine_state: bytes, *, ts_recv: int = -1) -> int:
        """Store an engine snapshot covering every seq committed so far; return its seq.

        ``engine_state`` is opaque (see :func:`pack_arrays`); ``ts_recv`` (ns) is the engine
        time it reflects, -1 if unknown.
        """
        return self._write({"checkpoints": [_checkpoint_row(engine_state, ts_recv)]})

    def record_event(self, kind: str, name: str, state: str, detail: Mapping[str, Any],
                     *, ts_ns: int | None = None) -> int:  # fmt: skip
        """Commit one ``events`` row (e.g. ``"alert", rule, "firing", {...}``); return its seq.

        ``detail`` is stored as JSON (non-finite floats as null); ``ts_ns`` defaults to now.
        """
        ts = time.time_ns() if ts_ns is None else int(ts_ns)
        text = json.dumps(json_nulls(dict(detail)), sort_keys=True, default=str)
        return self._write({"events": [(ts, str(kind), str(name), str(state), text)]})

    def read_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The ``events`` rows in seq order (``detail`` parsed), optionally of one ``kind``."""
        query = "SELECT seq, ts_ns, kind, name, state, detail FROM events"
        args: tuple[str, ...] = ()
        if kind is not None:
            query, args = query + " WHERE kind = ?", (kind,)
        rows = self._conn.execute(query + " ORDER BY seq", args).fetchall()
        keys = ("seq", "ts_ns", "kind", "name", "state")
        return [{**dict(zip(keys, r[:5], strict=True)), "detail": json.loads(r[5])} for r in rows]

    def _write(self, rows: Mapping[str, list[tuple[Any, ...]]]) -> int:
        try:
            with self._txn("BEGIN IMMEDIATE"):
                return self._commit(rows)
        except sqlite3.IntegrityError as exc:
            raise JournalError(f"{self.path}: append refused, nothing written ({exc})") from exc

    @property
    def holds_session(self) -> bool:
        """True once anything beyond the ``meta`` row (seq 1) and its commit was written."""
        return self.last_seq > 2

    @property
    def last_seq(self) -> int:
        """Seq of the last committed transaction (0 for an empty journal)."""
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM commits").fetchone()
        return int(row[0])

    def read_all(self) -> JournalRows:
        """Every C5-C7 row of the journal (one consistent snapshot)."""
        return self.read_since(0)

    def read_since(self, seq: int) -> JournalRows:
        """The C5-C7 rows with seq > ``seq``, in seq order (one consistent snapshot)."""
        with self._txn("BEGIN"):
            parts = {t: self._read_table(t, dtype, int(seq)) for t, dtype in DATA_TABLES.items()}
            last = self.last_seq
        (oi, si), (oe, se), (of, sf), (os, ss) = parts.values()
        return JournalRows(oi, oe, of, os, si, se, sf, ss, last_seq=last)

    def _read_table(self, table: str, dtype: np.dtype[Any],
                    after: int) -> tuple[NDArray[np.void], NDArray[np.int64]]:  # fmt: skip
        names = dtype.names or ()
        rows = self._conn.execute(
            f"SELECT seq, {', '.join(names)} FROM {table} WHERE seq > ? ORDER BY seq", (after,)
        ).fetchall()
        out = np.zeros(len(rows), dtype)
        if not rows:
            return out, np.zeros(0, np.int64)
        columns = list(zip(*rows, strict=True))
        for name, column in zip(names, columns[1:], strict=True):
            out[name] = np.array(column, dtype=dtype[name])  # NULL -> NaN for REAL
        return out, np.array(columns[0], dtype=np.int64)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint, or None (JournalCorruptError if its blob fails its sha256)."""
        row = self._conn.execute(
            "SELECT seq, covers_seq, ts_recv, sha256, blob FROM checkpoints "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        seq, covers, ts_recv, digest, blob = row
        if hashlib.sha256(blob).hexdigest() != digest:
            raise JournalCorruptError(f"{self.path}: checkpoint seq {seq} fails its sha256")
        return Checkpoint(int(seq), int(covers), int(ts_recv), bytes(blob))

    def verify(self, *, raise_on_error: bool = True) -> JournalReport:
        """Check the journal; return the report (JournalCorruptError on a problem).

        Checks: seqs gapless over all tables, each commit holds exactly its counted rows,
        one meta row, no duplicated fill row, fills and order events follow an intent of
        their order (fills: a NEW of the same side).
        """
        with self._txn("BEGIN"):
            seqs = {t: self._ints(f"SELECT seq FROM {t} ORDER BY seq").reshape(-1)
                    for t in SEQ_TABLES}  # fmt: skip
            counts = ", ".join(f"n_{t}" for t in SEQ_TABLES)
            commits = self._ints(f"SELECT seq, first_seq, {counts} FROM commits ORDER BY seq")
            commits = commits.reshape(-1, len(SEQ_TABLES) + 2)
            issues = seq_issues(seqs, commits) + self._row_issues()
        if len(seqs["meta"]) != 1:
            issues.append(f"expected 1 meta row, found {len(seqs['meta'])}")
        last = int(commits[-1, 0]) if len(commits) else 0
        report = JournalReport(str(self.path), last, len(commits),
                               {t: len(s) for t, s in seqs.items()}, tuple(issues))  # fmt: skip
        if issues and raise_on_error:
            raise JournalCorruptError(f"{self.path}: corrupt journal: {'; '.join(issues[:5])}",
                                      report.issues)  # fmt: skip
        return report

    def _ints(self, query: str) -> NDArray[np.int64]:
        return np.array(self._conn.execute(query).fetchall(), dtype=np.int64)

    def _row_issues(self) -> list[str]:
        """Orphan fills/order events and duplicated fills (at most 5 of each kind)."""
        issues = []
        for table, match in (("fills", "AND i.action = 1 AND i.side = t.side"),
                             ("order_events", "")):  # fmt: skip
            orphans = self._conn.execute(
                f"SELECT t.seq, t.order_id FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM "
                f"intents i WHERE i.order_id = t.order_id AND i.seq < t.seq {match}) "
                "ORDER BY t.seq LIMIT 5"
            ).fetchall()
            issues += [f"{table} seq {s}: no earlier intent for order {o}" for s, o in orphans]
        dupes = self._conn.execute(
            f"SELECT order_id, ts_exch, COUNT(*) FROM fills GROUP BY {FILL_KEY} "
            "HAVING COUNT(*) > 1 LIMIT 5"
        ).fetchall()
        issues += [f"fill of order {o} at ts_exch {t} stored {n} times" for o, t, n in dupes]
        return issues

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()


def _checkpoint_row(engine_state: bytes, ts_recv: int) -> tuple[Any, ...]:
    """A ``checkpoints`` row; ``covers_seq`` None = every row inserted before it (_commit)."""
    blob = bytes(engine_state)
    return (None, int(ts_recv), hashlib.sha256(blob).hexdigest(), blob)
