"""C1 events <-> Arrow/Parquet: exact conversion, partition file writer and reader.

Parquet columns carry the ``EVENT_DTYPE`` field names and types (non-nullable). The
conversion is one vectorised copy per column in each direction (the 48-byte interleaved
record layout cannot be shared with Arrow's columnar buffers); padding bytes are zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from l2trader.data.report import QuarantinedRow
from l2trader.errors import CatalogError
from l2trader.schema import EVENT_DTYPE, F_LAST

__all__ = [
    "EVENT_SCHEMA",
    "QUARANTINE_SCHEMA",
    "PartitionFileWriter",
    "events_to_table",
    "file_stats",
    "iter_file_events",
    "read_file_events",
    "table_to_events",
    "write_quarantine",
]

EVENT_SCHEMA = pa.schema(
    [
        pa.field(name, pa.from_numpy_dtype(EVENT_DTYPE.fields[name][0]), nullable=False)  # type: ignore[index]
        for name in EVENT_DTYPE.names or ()
    ]
)
"""Arrow schema of a partition file: the C1 fields, same names and types."""

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
    ]
)
"""Arrow schema of a quarantine file."""

ROW_GROUP_ROWS = 1 << 20
"""Target rows per Parquet row group (row groups end on an ``F_LAST`` row)."""


def events_to_table(events: np.ndarray) -> pa.Table:
    """C1 array -> Arrow table with :data:`EVENT_SCHEMA` (exact, one copy per column).

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> events_to_table(make_events([(100, 1.5, 1)])).column("qty").to_pylist()
    [1.5]
    """
    if events.dtype != EVENT_DTYPE:
        raise CatalogError(f"events_to_table: expected EVENT_DTYPE, got {events.dtype}")
    arrays = [pa.array(np.ascontiguousarray(events[f.name]), type=f.type) for f in EVENT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def table_to_events(table: pa.Table, *, name: str = "<table>") -> np.ndarray:
    """Arrow table -> C-contiguous C1 array (exact; padding bytes zeroed).

    Raises :class:`CatalogError` naming ``name`` when columns, types or nulls do not match.

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> ev = make_events([(100, 1.5, 1), (99, 2.0, -1)])
    >>> bool((table_to_events(events_to_table(ev)) == ev).all())
    True
    """
    check_schema(table.schema, name)
    out = np.zeros(table.num_rows, dtype=EVENT_DTYPE)
    for f in EVENT_SCHEMA:
        column = table.column(f.name)
        if column.null_count:
            raise CatalogError(f"{name}: column {f.name!r} has {column.null_count} nulls")
        out[f.name] = column.to_numpy()
    return out


def check_schema(schema: pa.Schema, name: str) -> None:
    """Raise :class:`CatalogError` naming ``name`` unless ``schema`` has the C1 columns/types."""
    got = [(f.name, f.type) for f in schema]
    want = [(f.name, f.type) for f in EVENT_SCHEMA]
    if got != want:
        raise CatalogError(
            f"{name}: columns/types {[(n, str(t)) for n, t in got]} do not match "
            f"EVENT_DTYPE {[(n, str(t)) for n, t in want]}"
        )


class PartitionFileWriter:
    """Stream C1 rows of one date partition into a zstd Parquet file.

    Rows are buffered and written in row groups of about ``row_group_rows`` rows that end
    on an ``F_LAST`` row, so a row group never splits a batch.
    """

    def __init__(self, path: Path, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path = path
        self.row_group_rows = row_group_rows
        self.rows = 0
        self.min_ts_recv = 0
        self.max_ts_recv = 0
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None

    def append(self, events: np.ndarray) -> None:
        """Add rows (sorted by ``ts_recv``, all of this partition's date)."""
        if len(events) == 0:
            return
        if self.rows == 0:
            self.min_ts_recv = int(events["ts_recv"][0])
        self.max_ts_recv = int(events["ts_recv"][-1])
        self.rows += len(events)
        self._pending.append(events)
        self._pending_rows += len(events)
        if self._pending_rows >= self.row_group_rows:
            self._flush(final=False)

    def close(self) -> None:
        """Write the remaining rows and close the file."""
        self._flush(final=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def abort(self) -> None:
        """Close the file handle without writing the pending rows (the file is discarded)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _flush(self, *, final: bool) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        closed = np.flatnonzero(data["flags"] & F_LAST)
        cut = len(data) if final or not len(closed) else int(closed[-1]) + 1
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, EVENT_SCHEMA, compression="zstd")
        self._writer.write_table(events_to_table(data[:cut]), row_group_size=max(cut, 1))
        rest = data[cut:]
        self._pending = [rest] if len(rest) else []
        self._pending_rows = len(rest)


def file_stats(path: Path) -> tuple[int, int, int]:
    """``(rows, min ts_recv, max ts_recv)`` of a partition file from its footer."""
    meta = _parquet_file(path).metadata
    col = EVENT_SCHEMA.get_field_index("ts_recv")
    lows, highs = [], []
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.num_rows == 0:
            continue
        stats = group.column(col).statistics
        if stats is None or not stats.has_min_max:
            column = pq.read_table(path, columns=["ts_recv"]).column(0)
            return meta.num_rows, int(pc.min(column).as_py()), int(pc.max(column).as_py())
        lows.append(int(stats.min))
        highs.append(int(stats.max))
    return meta.num_rows, (min(lows) if lows else 0), (max(highs) if highs else 0)


def iter_file_events(path: Path) -> Iterator[np.ndarray]:
    """Yield a partition file's events one row group at a time (checked schema and order)."""
    handle = _parquet_file(path)
    check_schema(handle.schema_arrow, str(path))
    last = np.iinfo(np.int64).min
    for i in range(handle.num_row_groups):
        events = table_to_events(handle.read_row_group(i), name=str(path))
        ts = events["ts_recv"]
        if len(ts) and (ts[0] < last or bool(np.any(ts[1:] < ts[:-1]))):
            raise CatalogError(f"{path}: rows are not sorted by ts_recv")
        if len(ts):
            last = int(ts[-1])
        yield events


def read_file_events(path: Path) -> np.ndarray:
    """A whole partition file as one C1 array."""
    parts = list(iter_file_events(path))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=EVENT_DTYPE)


def write_quarantine(path: Path, rows: list[QuarantinedRow]) -> None:
    """Write quarantined rows (``source, line, reason, raw``) to a zstd Parquet file."""
    table = pa.Table.from_arrays(
        [
            pa.array([r.source for r in rows], type=pa.string()),
            pa.array([r.line for r in rows], type=pa.int64()),
            pa.array([r.reason.value for r in rows], type=pa.string()),
            pa.array([r.raw for r in rows], type=pa.string()),
        ],
        schema=QUARANTINE_SCHEMA,
    )
    pq.write_table(table, path, compression="zstd")


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise CatalogError(f"{path}: not a readable Parquet file ({exc})") from exc
