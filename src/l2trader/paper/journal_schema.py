"""Table layout of the paper journal (see :mod:`l2trader.paper.journal`) and its checks.

The DDL (one table per C5-C7 dtype, ``meta``, ``checkpoints``, ``events``, ``commits`` and
the triggers that keep it append-only and gapless) and the pure checks ``verify`` runs over
the seqs it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, STATE_DTYPE

__all__ = ["DATA_TABLES", "FILL_KEY", "SEQ_TABLES", "schema", "seq_issues"]

DATA_TABLES: Final = {"intents": ORDER_DTYPE, "order_events": ORDER_EVENT_DTYPE,
                      "fills": FILL_DTYPE, "state": STATE_DTYPE}  # fmt: skip
SEQ_TABLES: Final = ("meta", *DATA_TABLES, "checkpoints", "events")
"""Tables whose rows take journal seqs (besides the ``commits`` markers themselves)."""
FILL_KEY: Final = ", ".join(FILL_DTYPE.names or ())
_NO_CHANGE: Final = "BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END"


def _columns(dtype: np.dtype[Any]) -> str:
    """SQL column list of a record dtype: REAL may hold NULL (= NaN), integers may not."""
    cols = []
    for name in dtype.names or ():
        kind = dtype.fields[name][0].kind  # type: ignore[index]
        cols.append(f"{name} REAL" if kind == "f" else f"{name} INTEGER NOT NULL")
    return ", ".join(cols)


def schema() -> list[str]:
    """The DDL statements of a new journal, in order."""
    counts = ", ".join(f"n_{t} INTEGER NOT NULL" for t in SEQ_TABLES)
    total = " + ".join(f"NEW.n_{t}" for t in SEQ_TABLES)
    stmts = [
        "CREATE TABLE meta (seq INTEGER PRIMARY KEY, session_id TEXT NOT NULL, "
        "created_ns INTEGER NOT NULL, config_json TEXT NOT NULL, config_id TEXT NOT NULL, "
        "code_version TEXT NOT NULL, schema_version INTEGER NOT NULL)",
        "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, covers_seq INTEGER NOT NULL, "
        "ts_recv INTEGER NOT NULL, sha256 TEXT NOT NULL, blob BLOB NOT NULL)",
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, "
        "kind TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL)",
        f"CREATE TABLE commits (seq INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, {counts})",
        "CREATE TRIGGER commits_gapless BEFORE INSERT ON commits WHEN NEW.first_seq != "
        "COALESCE((SELECT MAX(seq) FROM commits), 0) + 1 "
        f"OR NEW.seq != NEW.first_seq + {total} "
        "BEGIN SELECT RAISE(ABORT, 'journal seq not contiguous'); END",
    ]
    for table, dtype in DATA_TABLES.items():
        check = ", CHECK (qty > 0 AND side IN (-1, 1))" if table == "fills" else ""
        stmts.append(f"CREATE TABLE {table} (seq INTEGER PRIMARY KEY, {_columns(dtype)}{check})")
    stmts.append("CREATE INDEX intents_order ON intents (order_id)")
    for table in (*SEQ_TABLES, "commits"):
        stmts.append(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} {_NO_CHANGE}")
        stmts.append(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} {_NO_CHANGE}")
    return stmts


def seq_issues(seqs: Mapping[str, NDArray[np.int64]], commits: NDArray[np.int64]) -> list[str]:
    """Seqs unique and gapless over all tables; each commit holds exactly its counted rows."""
    every = np.concatenate([*seqs.values(), commits[:, 0]])
    issues = []
    if every.size and not np.array_equal(np.sort(every), np.arange(1, every.size + 1)):
        issues.append(f"seqs are not gapless 1..{every.size} (max {every.max()})")
    for k, (table, table_seqs) in enumerate(seqs.items()):
        inside = np.searchsorted(table_seqs, commits[:, 0]) - np.searchsorted(
            table_seqs, commits[:, 1]
        )  # rows with first_seq <= seq < commit seq
        bad = np.flatnonzero(inside != commits[:, 2 + k])
        if bad.size:
            issues.append(f"commit seq {commits[bad[0], 0]}: {table} rows do not match its count")
        if table_seqs.size and (not commits.size or table_seqs[-1] > commits[-1, 0]):
            issues.append(f"{table} rows after the last commit (seq {table_seqs[-1]})")
    return issues
