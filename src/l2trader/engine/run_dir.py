"""Backtest run directory: one Parquet file per record array (C5-C7, C4) plus ``run.json``.

Layout of ``<root>/<run_id>/``::

    orders.parquet        ORDER_DTYPE columns        every intent the strategy sent
    order_events.parquet  ORDER_EVENT_DTYPE columns  accepts, rejects, cancels, fills ...
    fills.parquet         FILL_DTYPE columns
    equity.parquet        STATE_DTYPE columns        the fixed-grid state samples
    signals.parquet       SIGNAL_DTYPE columns       may have zero rows
    run.json              metadata (config, ids, seed, ``summary`` ...)

Each Parquet file has the dtype's field names and numpy types as non-nullable columns,
zstd level 3, no timestamps, so the same :class:`RunData` always gives byte-identical files
(with the same pyarrow version: its ``created_by`` string is in the footer).

``run.json`` is written with sorted keys, indent 2 and a trailing newline. JSON has no
NaN or infinity: every non-finite float in the metadata is written as ``null`` (and so
reads back as ``None``); tuples read back as lists, numpy scalars as Python numbers and
dict keys as strings.

A directory is written atomically: into a hidden sibling ``.<name>.tmp-<hex>`` that is
renamed into place once complete. An exception removes the temp directory; a killed
process can leave one behind (never a half-written run directory). One writer per run
directory: the existence check and the rename are not one atomic step.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from l2trader.errors import ArtifactError
from l2trader.schema import (
    FILL_DTYPE,
    ORDER_DTYPE,
    ORDER_EVENT_DTYPE,
    SIGNAL_DTYPE,
    STATE_DTYPE,
    Liquidity,
    OrderStatus,
)

__all__ = [
    "RUN_DTYPES",
    "RUN_FILES",
    "RUN_JSON",
    "RunData",
    "meta_to_json",
    "read_meta",
    "read_run",
    "run_row_counts",
    "run_summary",
    "write_run",
]

RUN_FILES: Final = ("orders", "order_events", "fills", "equity", "signals")
"""Record arrays of a run, in write order; each is stored as ``<name>.parquet``."""

RUN_DTYPES: Final[dict[str, np.dtype[np.void]]] = {
    "orders": ORDER_DTYPE,
    "order_events": ORDER_EVENT_DTYPE,
    "fills": FILL_DTYPE,
    "equity": STATE_DTYPE,
    "signals": SIGNAL_DTYPE,
}
"""The dtype each run array must have exactly."""

RUN_JSON: Final = "run.json"
"""Name of the metadata file in a run directory."""

_COMPRESSION: Final = "zstd"
_COMPRESSION_LEVEL: Final = 3


@dataclass(frozen=True)
class RunData:
    """Everything a backtest run writes: five record arrays and the ``run.json`` metadata.

    ``orders`` holds every intent the strategy sent (rejected ones too), ``equity`` the C7
    state on the fixed grid, ``signals`` the C4 series (possibly empty). ``meta`` is the
    ``run.json`` content: config, ``config_id``, ``code_version``, ``data_fingerprint``,
    seed and a ``summary`` dict (see :func:`run_summary`).
    """

    orders: NDArray[np.void]
    order_events: NDArray[np.void]
    fills: NDArray[np.void]
    equity: NDArray[np.void]
    signals: NDArray[np.void]
    meta: dict[str, Any]

    def array(self, name: str) -> NDArray[np.void]:
        """The record array called ``name`` (one of :data:`RUN_FILES`)."""
        arrays: dict[str, NDArray[np.void]] = {
            "orders": self.orders,
            "order_events": self.order_events,
            "fills": self.fills,
            "equity": self.equity,
            "signals": self.signals,
        }
        return arrays[name]


def _schema(dtype: np.dtype[np.void]) -> pa.Schema:
    """Arrow schema with the dtype's field names and types, non-nullable."""
    return pa.schema(
        [
            pa.field(name, pa.from_numpy_dtype(dtype.fields[name][0]), nullable=False)  # type: ignore[index]
            for name in dtype.names or ()
        ]
    )


def _check_arrays(data: RunData) -> None:
    """Raise :class:`ArtifactError` unless every array is 1-D with its exact dtype."""
    for name in RUN_FILES:
        arr = data.array(name)
        if not isinstance(arr, np.ndarray) or arr.dtype != RUN_DTYPES[name] or arr.ndim != 1:
            got = getattr(arr, "dtype", type(arr).__name__)
            raise ArtifactError(
                f"RunData.{name}: expected a 1-D array of {RUN_DTYPES[name]}, got {got} "
                f"with ndim={getattr(arr, 'ndim', '?')}"
            )
    if not isinstance(data.meta, dict):
        raise ArtifactError(f"RunData.meta: expected a dict, got {type(data.meta).__name__}")


def _to_table(arr: NDArray[np.void], schema: pa.Schema) -> pa.Table:
    columns = [pa.array(np.ascontiguousarray(arr[f.name]), type=f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _json_safe(value: Any, where: str) -> Any:
    """A copy of ``value`` with NaN/inf as None, numpy scalars as Python values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int):
        return value
    raise ArtifactError(f"{where}: {type(value).__name__} value {value!r} is not JSON-serialisable")


def meta_to_json(meta: dict[str, Any]) -> str:
    """Canonical ``run.json`` text: sorted keys, indent 2, NaN/inf as null, final newline.

    Examples
    --------
    >>> print(meta_to_json({"b": float("nan"), "a": (1, 2.5)}), end="")
    {
      "a": [
        1,
        2.5
      ],
      "b": null
    }
    """
    safe = _json_safe(meta, "run.json")
    return json.dumps(safe, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_run(directory: Path, data: RunData) -> Path:
    """Write ``data`` as a run directory at ``directory`` (must not exist), atomically.

    Writes ``<name>.parquet`` for each of :data:`RUN_FILES` and ``run.json`` into a hidden
    sibling temp directory, then renames it to ``directory``. Same ``data`` -> same bytes.

    Returns
    -------
    Path
        ``directory``.

    Raises
    ------
    ArtifactError
        ``directory`` exists, an array has the wrong dtype/shape, or ``meta`` holds a value
        JSON cannot represent.
    """
    directory = Path(directory)
    _check_arrays(data)
    meta_text = meta_to_json(data.meta)
    if directory.exists():
        raise ArtifactError(f"{directory}: run directory already exists; refusing to overwrite")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp-{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
    try:
        for name in RUN_FILES:
            _write_parquet(tmp / f"{name}.parquet", data.array(name), RUN_DTYPES[name])
        (tmp / RUN_JSON).write_text(meta_text, encoding="utf-8")
        if directory.exists():
            raise ArtifactError(f"{directory}: appeared while writing; refusing to overwrite")
        os.rename(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _write_parquet(path: Path, arr: NDArray[np.void], dtype: np.dtype[np.void]) -> None:
    """One record array as a deterministic zstd Parquet file."""
    pq.write_table(
        _to_table(arr, _schema(dtype)),
        path,
        compression=_COMPRESSION,
        compression_level=_COMPRESSION_LEVEL,
        store_schema=True,
    )


def read_run(directory: Path) -> RunData:
    """Read a run directory written by :func:`write_run`.

    Raises
    ------
    ArtifactError
        The directory, a Parquet file or ``run.json`` is missing or unreadable, or a file's
        columns/types do not match its dtype. The message names the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: run directory does not exist")
    arrays = {
        name: _read_parquet(directory / f"{name}.parquet", RUN_DTYPES[name]) for name in RUN_FILES
    }
    return RunData(meta=read_meta(directory), **arrays)


def _read_parquet(path: Path, dtype: np.dtype[np.void]) -> NDArray[np.void]:
    """A Parquet file back into a zero-padded record array of ``dtype`` (exact)."""
    if not path.is_file():
        raise ArtifactError(f"{path}: missing run file")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactError(f"{path}: unreadable Parquet file ({exc})") from exc
    want = _schema(dtype)
    got = [(f.name, f.type) for f in table.schema]
    if got != [(f.name, f.type) for f in want]:
        raise ArtifactError(
            f"{path}: columns {[(n, str(t)) for n, t in got]} do not match "
            f"{[(f.name, str(f.type)) for f in want]}"
        )
    out = np.zeros(table.num_rows, dtype=dtype)
    for f in want:
        column = table.column(f.name)
        if column.null_count:
            raise ArtifactError(f"{path}: column {f.name!r} has {column.null_count} nulls")
        out[f.name] = column.to_numpy()
    return out


def read_meta(directory: Path) -> dict[str, Any]:
    """The ``run.json`` dict of a run directory (ArtifactError naming the file if bad)."""
    path = Path(directory) / RUN_JSON
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: missing run file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def run_row_counts(directory: Path) -> dict[str, int]:
    """Rows of each run file, from the Parquet footers (no data read).

    Raises
    ------
    ArtifactError
        A file is missing or its footer is unreadable; the message names the file.
    """
    counts = {}
    for name in RUN_FILES:
        path = Path(directory) / f"{name}.parquet"
        if not path.is_file():
            raise ArtifactError(f"{path}: missing run file")
        try:
            counts[name] = int(pq.read_metadata(path).num_rows)
        except (OSError, pa.ArrowException) as exc:
            raise ArtifactError(f"{path}: unreadable Parquet file ({exc})") from exc
    return counts


def run_summary(data: RunData) -> dict[str, float | int]:
    """Headline numbers of a run, pure numpy.

    ``n_orders`` counts every intent row (NEW, CANCEL, MODIFY; rejected ones too),
    ``n_rejects`` the REJECTED order events. ``final_equity`` is the last equity sample
    (quote; NaN if there is none), ``total_fees`` the sum of fill fees (quote, negative =
    rebates), ``traded_qty`` the summed fill size (base units). ``max_abs_position`` and
    ``final_position`` (base units) come from the fills in order, starting flat, so a peak
    between two grid samples still counts.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.zeros(0, ORDER_EVENT_DTYPE)
    >>> fills = np.zeros(2, FILL_DTYPE)
    >>> fills["side"], fills["qty"], fills["liquidity"] = [1, -1], [2.0, 0.5], [1, 2]
    >>> s = run_summary(RunData(np.zeros(0, ORDER_DTYPE), e, fills,
    ...                         np.zeros(0, STATE_DTYPE), np.zeros(0, SIGNAL_DTYPE), {}))
    >>> s["n_fills"], s["traded_qty"], s["max_abs_position"], s["final_position"]
    (2, 2.5, 2.0, 1.5)
    """
    fills = data.fills
    signed = np.cumsum(fills["side"].astype(np.float64) * fills["qty"])
    liquidity = fills["liquidity"]
    equity = data.equity["equity"]
    return {
        "n_orders": len(data.orders),
        "n_fills": len(fills),
        "n_rejects": int(np.count_nonzero(data.order_events["status"] == OrderStatus.REJECTED)),
        "n_maker_fills": int(np.count_nonzero(liquidity == Liquidity.MAKER)),
        "n_taker_fills": int(np.count_nonzero(liquidity == Liquidity.TAKER)),
        "final_equity": float(equity[-1]) if len(equity) else math.nan,
        "total_fees": float(np.sum(fills["fee"])),
        "traded_qty": float(np.sum(fills["qty"])),
        "max_abs_position": float(np.max(np.abs(signed), initial=0.0)),
        "final_position": float(signed[-1]) if len(signed) else 0.0,
    }
