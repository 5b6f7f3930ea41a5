"""Date partitions of the catalog: staging a sorted C1 stream by UTC date, reading one back.

Used by :mod:`l2trader.data.catalog`; see its docstring for the layout and merge rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from l2trader.data.parquet import (
    PartitionFileWriter,
    file_stats,
    iter_file_events,
    read_file_events,
)
from l2trader.errors import CatalogError
from l2trader.schema import EVENT_DTYPE, F_LAST
from l2trader.units import NS_PER_DAY

__all__ = [
    "check_chunk",
    "iter_partition",
    "remove_stale",
    "split_by_date",
    "stage_events",
    "whole_batches",
]


def stage_events(
    staging: Path,
    chunks: Iterable[np.ndarray],
    key: str,
    progress: Callable[[int], None] | None,
) -> dict[str, PartitionFileWriter]:
    """Write the chunks into ``staging/date=<D>/events-<key>.parquet``, one date at a time."""
    writers: dict[str, PartitionFileWriter] = {}
    last_ts = np.iinfo(np.int64).min
    seen = 0
    try:
        for chunk in chunks:
            check_chunk(chunk, last_ts, seen)
            for date, part in split_by_date(chunk):
                if date not in writers:
                    for open_writer in writers.values():
                        open_writer.close()
                    (staging / f"date={date}").mkdir()
                    path = staging / f"date={date}" / f"events-{key}.parquet"
                    writers[date] = PartitionFileWriter(path)
                writers[date].append(part)
            if len(chunk):
                last_ts = int(chunk["ts_recv"][-1])
            seen += len(chunk)
            if progress is not None:
                progress(len(chunk))
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    return writers


def check_chunk(chunk: np.ndarray, last_ts: int, seen: int) -> None:
    """Raise CatalogError unless ``chunk`` is C1 and continues the ``ts_recv`` order."""
    if not isinstance(chunk, np.ndarray) or chunk.dtype != EVENT_DTYPE:
        raise CatalogError(f"Catalog.write: chunks must be EVENT_DTYPE arrays, got {chunk!r:.80}")
    ts = chunk["ts_recv"]
    back = np.flatnonzero(ts < np.concatenate(([last_ts], ts[:-1])))
    if len(back):
        raise CatalogError(
            f"Catalog.write: ts_recv goes backwards at event {seen + int(back[0])}; "
            "validate/repair the stream before writing"
        )


def split_by_date(chunk: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """``(YYYY-MM-DD, rows)`` runs of a ts_recv-sorted chunk, by UTC date."""
    if len(chunk) == 0:
        return
    day = chunk["ts_recv"] // NS_PER_DAY
    starts = [0, *(np.flatnonzero(day[1:] != day[:-1]) + 1).tolist()]
    ends = [*starts[1:], len(chunk)]
    for lo, hi in zip(starts, ends, strict=True):
        yield str(np.datetime64(int(day[lo]), "D")), chunk[lo:hi]


def remove_stale(base: Path, key: str, dates: set[str]) -> None:
    """Delete ``events-<key>`` files of earlier ingests on dates this ingest did not write."""
    for path in base.glob(f"date=*/events-{key}.parquet"):
        if path.parent.name.split("=", 1)[1] not in dates:
            path.unlink()
            if not any(path.parent.iterdir()):
                path.parent.rmdir()


def iter_partition(directory: Path) -> Iterator[np.ndarray]:
    """A partition's events in merged ``ts_recv`` order (row groups, or one merged array)."""
    files = sorted(
        ((file_stats(f), f) for f in directory.glob("events-*.parquet")),
        key=lambda item: (item[0][1], item[1].name),
    )
    files = [(s, f) for s, f in files if s[0]]
    running_max = np.iinfo(np.int64).min
    overlap = False
    for (_, low, high), _ in files:
        overlap = overlap or low < running_max
        running_max = max(running_max, high)
    if not overlap:
        for _, path in files:
            yield from iter_file_events(path)
        return
    merged = np.concatenate([read_file_events(path) for _, path in files])
    yield np.ascontiguousarray(merged[np.argsort(merged["ts_recv"], kind="stable")])


def whole_batches(chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Re-cut chunks so none ends inside a batch (rows after the last F_LAST carry over)."""
    tail: np.ndarray | None = None
    for chunk in chunks:
        if tail is not None:
            chunk, tail = np.concatenate([tail, chunk]), None
        closed = np.flatnonzero(chunk["flags"] & F_LAST)
        cut = int(closed[-1]) + 1 if len(closed) else 0
        if cut < len(chunk):
            tail = chunk[cut:]
        if cut:
            yield chunk[:cut]
    if tail is not None:
        yield tail
