"""Partitioned Parquet catalog of C1 events: atomic streaming ingest, read by date range.

Layout under ``root``::

    venue=<V>/symbol=<S>/date=<YYYY-MM-DD>/events-<key>.parquet   zstd, EVENT_DTYPE columns
    _quarantine/venue=<V>/symbol=<S>/quarantine-<key>.parquet     source, line, reason, raw
    instruments.json                                              instrument registry
    manifest.json                                                 one entry per ingest

``date`` is the UTC date of ``ts_recv``; ``key`` is derived from the sources' sha256, so
re-ingesting the same files replaces the same files. An ingest writes into
``.staging-<uuid>/`` (the next write removes one left by a killed ingest) and moves the
files into place only after the whole input was
consumed; if anything raises before that the tree is left exactly as it was.

Several files in one partition (e.g. book and trades ingested separately) are read as one
stream merged stably by ``ts_recv``: ties keep file order, files ordered by (first
``ts_recv``, name). Non-overlapping files are streamed one row group at a time; if their
ranges overlap the partition is loaded whole and merged. Only one writer at a time.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from l2trader import __version__
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument, load_instruments, save_instruments
from l2trader.data.manifest import (
    hash_sources,
    ingest_key,
    read_manifest,
    upsert_entry,
    write_json_atomic,
)
from l2trader.data.parquet import (
    QUARANTINE_SCHEMA,
    PartitionFileWriter,
    events_to_table,
    file_stats,
    table_to_events,
    write_quarantine,
)
from l2trader.data.partition import iter_partition, remove_stale, stage_events, whole_batches
from l2trader.data.report import ValidationReport
from l2trader.errors import CatalogError, ConfigError, PartitionNotFoundError

logger = logging.getLogger(__name__)

__all__ = ["Catalog", "IngestResult", "PartitionInfo", "events_to_table", "table_to_events"]


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One ``venue/symbol/date`` partition: its directory, files, rows and ts_recv span (ns)."""

    venue: str
    symbol: str
    date: str
    path: Path
    files: int
    rows: int
    min_ts_recv: int
    max_ts_recv: int


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one :meth:`Catalog.write` did.

    ``partitions`` are the touched partitions after the write (all their files);
    ``per_date`` and ``events`` count this ingest's rows only.
    """

    key: str
    partitions: list[PartitionInfo]
    events: int
    per_date: dict[str, int]
    report: ValidationReport
    elapsed_s: float
    quarantined: int
    files: list[Path]


class Catalog:
    """A partitioned Parquet catalog rooted at ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        """``<root>/manifest.json``."""
        return self.root / "manifest.json"

    @property
    def instruments_path(self) -> Path:
        """``<root>/instruments.json``."""
        return self.root / "instruments.json"

    # ----------------------------------------------------------------------------- writing

    def write(
        self,
        instrument: Instrument,
        chunks: Iterable[np.ndarray],
        *,
        sources: Sequence[str | Path],
        report: ValidationReport,
        progress: Callable[[int], None] | None = None,
    ) -> IngestResult:
        """Stream ``chunks`` (sorted by ``ts_recv``) into the catalog, atomically.

        ``progress(n_events)`` is called after each chunk. ``report.quarantined`` (read
        after the last chunk) goes to the quarantine file. On any exception, including
        KeyboardInterrupt, nothing in the catalog changes.
        """
        t0 = time.perf_counter()
        _check_name(instrument.venue, "venue")
        _check_name(instrument.symbol, "symbol")
        self._check_instrument(instrument)
        if not sources:
            raise CatalogError("Catalog.write: at least one source path is required")
        source_meta = hash_sources(sources)
        key = ingest_key(source_meta)
        created_root = not self.root.exists()
        self._remove_stale_staging()
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        done = False
        try:
            writers = stage_events(staging, chunks, key, progress)
            files = self._commit(staging, instrument, key, writers, report, source_meta)
            done = True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if not done and created_root and not any(self.root.iterdir()):
                self.root.rmdir()
        per_date = {date: w.rows for date, w in writers.items()}
        touched = [
            p for p in self.partitions(instrument.venue, instrument.symbol) if p.date in per_date
        ]
        return IngestResult(
            key=key,
            partitions=touched,
            events=sum(per_date.values()),
            per_date=per_date,
            report=report,
            elapsed_s=time.perf_counter() - t0,
            quarantined=len(report.quarantined),
            files=files,
        )

    def _remove_stale_staging(self) -> None:
        """Delete staging directories left by a killed ingest (one writer at a time)."""
        for stale in sorted(self.root.glob(".staging-*")):
            logger.warning("removing %s left by an interrupted ingest", stale)
            shutil.rmtree(stale, ignore_errors=True)

    def _check_instrument(self, instrument: Instrument) -> None:
        known = self.instruments().get(instrument.key)
        if known is not None and known.tick_size != instrument.tick_size:
            raise CatalogError(
                f"{instrument.key}: tick_size {instrument.tick_size} differs from the catalog's "
                f"{known.tick_size}; prices in ticks would not be comparable"
            )

    def _symbol_dir(self, venue: str, symbol: str) -> Path:
        return self.root / f"venue={venue}" / f"symbol={symbol}"

    def _commit(
        self,
        staging: Path,
        instrument: Instrument,
        key: str,
        writers: dict[str, PartitionFileWriter],
        report: ValidationReport,
        source_meta: list[dict[str, Any]],
    ) -> list[Path]:
        """Move staged files into place, drop stale same-key files, rewrite the JSON files."""
        base = self._symbol_dir(instrument.venue, instrument.symbol)
        quarantine = self.root / "_quarantine" / base.relative_to(self.root)
        quarantine_file = quarantine / f"quarantine-{key}.parquet"
        staged_q = staging / quarantine_file.name
        if report.quarantined:
            write_quarantine(staged_q, report.quarantined)
        files = []
        for date, writer in writers.items():
            dest = base / f"date={date}" / writer.path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(writer.path, dest)
            files.append(dest)
        remove_stale(base, key, set(writers))
        if report.quarantined:
            quarantine.mkdir(parents=True, exist_ok=True)
            os.replace(staged_q, quarantine_file)
        elif quarantine_file.exists():
            quarantine_file.unlink()
        entry = self._manifest_entry(instrument, key, writers, report, source_meta)
        entry["quarantine"] = (
            {
                "path": quarantine_file.relative_to(self.root).as_posix(),
                "rows": len(report.quarantined),
            }
            if report.quarantined
            else None
        )
        write_json_atomic(
            self.manifest_path, upsert_entry(read_manifest(self.manifest_path), entry)
        )
        registry = self.instruments()
        registry[instrument.key] = instrument
        save_instruments(self.instruments_path, registry)
        return files

    def _manifest_entry(
        self,
        instrument: Instrument,
        key: str,
        writers: dict[str, PartitionFileWriter],
        report: ValidationReport,
        source_meta: list[dict[str, Any]],
    ) -> dict[str, Any]:
        base = self._symbol_dir(instrument.venue, instrument.symbol).relative_to(self.root)
        partitions = [
            {
                "date": date,
                "path": (base / f"date={date}" / w.path.name).as_posix(),
                "rows": w.rows,
                "min_ts_recv": w.min_ts_recv,
                "max_ts_recv": w.max_ts_recv,
            }
            for date, w in writers.items()
        ]
        return {
            "key": key,
            "venue": instrument.venue,
            "symbol": instrument.symbol,
            "instrument": instrument.model_dump(mode="json"),
            "sources": source_meta,
            "partitions": partitions,
            "report": report.to_dict(),
            "l2trader_version": __version__,
            "created": datetime.now(UTC).isoformat(),
        }

    # ----------------------------------------------------------------------------- reading

    def partitions(
        self,
        venue: str | None = None,
        symbol: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> list[PartitionInfo]:
        """Partitions present on disk, sorted by venue, symbol and date (footer statistics).

        ``start``/``end`` are inclusive ``YYYY-MM-DD`` UTC dates (None = open).
        """
        lo, hi = _check_date(start, "start"), _check_date(end, "end")
        pattern = (
            f"venue={glob.escape(venue) if venue is not None else '*'}/"
            f"symbol={glob.escape(symbol) if symbol is not None else '*'}/date=*"
        )
        out = []
        for directory in self.root.glob(pattern):
            files = sorted(directory.glob("events-*.parquet"))
            if not files:
                continue
            stats = [file_stats(f) for f in files]
            out.append(
                PartitionInfo(
                    venue=directory.parent.parent.name.split("=", 1)[1],
                    symbol=directory.parent.name.split("=", 1)[1],
                    date=directory.name.split("=", 1)[1],
                    path=directory,
                    files=len(files),
                    rows=sum(s[0] for s in stats),
                    min_ts_recv=min(s[1] for s in stats if s[0]) if any(s[0] for s in stats) else 0,
                    max_ts_recv=max(s[2] for s in stats if s[0]) if any(s[0] for s in stats) else 0,
                )
            )
        out = [p for p in out if (lo is None or p.date >= lo) and (hi is None or p.date <= hi)]
        return sorted(out, key=lambda p: (p.venue, p.symbol, p.date))

    def read(
        self, venue: str, symbol: str, start: str | None = None, end: str | None = None
    ) -> Iterator[np.ndarray]:
        """Yield C1 chunks of ``venue/symbol`` in ``ts_recv`` order, dates ``start..end``.

        ``start``/``end`` are inclusive ``YYYY-MM-DD`` UTC dates (None = open). Chunks are
        row groups (or whole merged partitions) and never split a batch. A venue/symbol
        never ingested raises :class:`PartitionNotFoundError` at the call, naming what
        exists; a date range with no partition (or an empty ingest) yields nothing.
        """
        chosen = self.partitions(venue, symbol, start, end)  # checks the dates first
        if not chosen and not self.partitions(venue, symbol) and not self._ingests(venue, symbol):
            raise PartitionNotFoundError(self._missing(venue, symbol))
        return whole_batches(chunk for p in chosen for chunk in iter_partition(p.path))

    def read_all(
        self, venue: str, symbol: str, start: str | None = None, end: str | None = None
    ) -> np.ndarray:
        """:meth:`read` concatenated into one array."""
        return collect(self.read(venue, symbol, start, end))

    def instruments(self) -> dict[str, Instrument]:
        """The instrument registry (``instruments.json``), keyed ``venue/symbol``."""
        return load_instruments(self.instruments_path)

    def quarantine(self, venue: str, symbol: str) -> pa.Table:
        """All quarantined rows of ``venue/symbol`` (columns source, line, reason, raw)."""
        directory = (
            self.root / "_quarantine" / self._symbol_dir(venue, symbol).relative_to(self.root)
        )
        tables = [pq.read_table(f) for f in sorted(directory.glob("quarantine-*.parquet"))]
        return pa.concat_tables(tables) if tables else QUARANTINE_SCHEMA.empty_table()

    def info(self, venue: str, symbol: str) -> dict[str, Any]:
        """Instrument, partitions and manifest entries (sources, reports) of ``venue/symbol``."""
        parts = self.partitions(venue, symbol)
        ingests = self._ingests(venue, symbol)
        if not parts and not ingests:
            raise PartitionNotFoundError(self._missing(venue, symbol))
        instrument = self.instruments().get(f"{venue}/{symbol}")
        return {
            "venue": venue,
            "symbol": symbol,
            "instrument": instrument.model_dump(mode="json") if instrument else None,
            "events": sum(p.rows for p in parts),
            "partitions": [
                {
                    "date": p.date,
                    "files": p.files,
                    "rows": p.rows,
                    "min_ts_recv": p.min_ts_recv,
                    "max_ts_recv": p.max_ts_recv,
                    "path": p.path.relative_to(self.root).as_posix(),
                }
                for p in parts
            ],
            "ingests": ingests,
        }

    def _ingests(self, venue: str, symbol: str) -> list[dict[str, Any]]:
        manifest = read_manifest(self.manifest_path)
        return [e for e in manifest["ingests"] if (e["venue"], e["symbol"]) == (venue, symbol)]

    def _missing(self, venue: str, symbol: str) -> str:
        held = sorted({f"{p.venue}/{p.symbol}" for p in self.partitions()})
        where = ", ".join(held) if held else "nothing (empty catalog)"
        return f"no partitions for {venue}/{symbol} in {self.root}; the catalog holds: {where}"


# --------------------------------------------------------------------------------- helpers

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_date(value: str | None, name: str) -> str | None:
    """Return a valid ``YYYY-MM-DD`` date (or None); anything else raises ConfigError."""
    if value is None:
        return None
    try:
        ok = bool(_DATE.fullmatch(value)) and str(np.datetime64(value, "D")) == value
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{name}={value!r} is not a date YYYY-MM-DD")
    return value


def _check_name(value: str, what: str) -> None:
    """Venue/symbol names become directory names: refuse separators and dot names."""
    if not value or value.startswith(".") or any(c in value for c in "/\\=\0"):
        raise CatalogError(f"{what}={value!r} cannot be a catalog directory name")
