"""Block-wise CSV parsing for the file readers: vectorized with polars, exact on failure.

A file is read as blocks of whole lines (about ``block_bytes`` each, so memory is bounded
whatever the file size; ``.gz`` is decompressed on the fly). Each block is parsed by
polars with explicit column types (handed on as a pyarrow table); only a block that fails
is re-parsed line by line, so bad lines can be reported by number (1-based, header = line
1) and quarantined.
:class:`RowValidator` turns per-row checks into report issues and keep masks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from l2trader.data.io import open_binary
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.schema import EVENT_DTYPE, F_LAST

__all__ = [
    "CsvBlock",
    "LinePairs",
    "RowValidator",
    "Rows",
    "Slots",
    "assemble_slots",
    "iter_csv_blocks",
    "read_header",
    "side_codes",
    "split_chunks",
]

Rows = dict[str, np.ndarray]
"""Column name -> numpy array of one block's rows (plus ``line`` and ``repaired``)."""


@dataclass
class CsvBlock:
    """Parsed rows of a run of whole lines; ``lines`` are 1-based file line numbers."""

    table: pa.Table
    lines: np.ndarray
    text: bytes
    first_line: int
    bad: list[tuple[int, str]]
    n_lines: int
    n_empty: int

    def raw(self, line: int) -> str:
        """Original text of file line ``line`` (for quarantine)."""
        start = 0
        for _ in range(line - self.first_line):
            start = self.text.index(b"\n", start) + 1
        end = self.text.find(b"\n", start)
        return self.text[start : None if end < 0 else end].decode(errors="replace").rstrip("\r")


def read_header(path: Path) -> list[str]:
    """First line of a CSV file split on commas."""
    with open_binary(path) as raw:
        return raw.readline().decode(errors="replace").strip().split(",")


def iter_csv_blocks(
    path: Path,
    columns: list[str],
    types: dict[str, pa.DataType],
    *,
    block_bytes: int,
    header: bool = True,
) -> Iterator[CsvBlock]:
    """Parse ``path`` in blocks of about ``block_bytes`` bytes of whole lines (bounded memory)."""
    with open_binary(path) as raw:
        line = 1
        if header:
            raw.readline()
            line = 2
        rest = b""
        while True:
            data = raw.read(block_bytes)
            buf = rest + data
            cut = len(buf) if not data else buf.rfind(b"\n") + 1
            text, rest = buf[:cut], buf[cut:]
            if text:
                block = _parse_block(text, line, columns, types)
                line += block.n_lines + block.n_empty
                yield block
            if not data:
                return


def _parse_block(
    text: bytes, first: int, columns: list[str], types: dict[str, pa.DataType]
) -> CsvBlock:
    """Vectorized parse (polars); on any doubt re-parse line by line to locate bad lines.

    The fast path is trusted only when every line has exactly ``len(columns)`` fields
    (comma count) and no integer/boolean/string cell is missing.
    """
    n = text.count(b"\n") + (not text.endswith(b"\n"))
    if text.count(b",") != n * (len(columns) - 1):
        return _parse_slow(text, first, columns, types)
    schema = {k: _polars_type(types.get(k)) for k in columns}
    try:
        frame = pl.read_csv(
            text, has_header=False, schema=schema, columns=[columns.index(k) for k in types]
        )
    except pl.exceptions.PolarsError:
        return _parse_slow(text, first, columns, types)
    strict = [k for k, t in types.items() if not pa.types.is_floating(t)]
    if frame.height != n or frame.select(strict).null_count().sum_horizontal().item():
        return _parse_slow(text, first, columns, types)
    return CsvBlock(frame.to_arrow(), np.arange(first, first + n), text, first, [], n, 0)


def _polars_type(kind: pa.DataType | None) -> Any:
    """Polars dtype for a requested pyarrow column type (unused columns: String)."""
    if kind is None or pa.types.is_string(kind):
        return pl.String
    if pa.types.is_dictionary(kind):
        return pl.Categorical
    if pa.types.is_integer(kind):
        return pl.Int64
    return pl.Boolean if pa.types.is_boolean(kind) else pl.Float64


def _parse_slow(
    text: bytes, first: int, columns: list[str], types: dict[str, pa.DataType]
) -> CsvBlock:
    """Per-line fallback parser: good rows -> table, bad lines -> ``(line, reason)``."""
    values: dict[str, list[object]] = {k: [] for k in types}
    where = [columns.index(k) for k in types]
    good, bad, empty = [], [], 0
    for i, raw in enumerate(text.removesuffix(b"\n").split(b"\n")):
        fields = raw.decode(errors="replace").strip().split(",")
        if fields == [""]:
            empty += 1
            continue
        try:
            if len(fields) != len(columns):
                raise ValueError(f"expected {len(columns)} fields, got {len(fields)}")
            row = [_convert(fields[j], t) for j, t in zip(where, types.values(), strict=True)]
        except ValueError as exc:
            bad.append((first + i, f"unparseable row: {exc}"))
            continue
        for k, v in zip(types, row, strict=True):
            values[k].append(v)
        good.append(first + i)
    arrays = [_to_arrow(values[k], t) for k, t in types.items()]
    table = pa.table(arrays, names=list(types))
    lines = np.asarray(good, dtype=np.int64)
    return CsvBlock(table, lines, text, first, bad, len(good) + len(bad), empty)


def _convert(text: str, kind: pa.DataType) -> object:
    if pa.types.is_integer(kind):
        return int(text)
    if pa.types.is_floating(kind):
        return float(text) if text else None
    if pa.types.is_boolean(kind):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"not a boolean: {text!r}")
        return text.lower() in ("true", "1")
    return text


def _to_arrow(values: list[object], kind: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(kind):
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, kind)


def side_codes(column: pa.ChunkedArray, mapping: dict[str, int]) -> np.ndarray:
    """Map a dictionary-encoded string column to int8 codes; unknown strings -> 2."""
    parts = [np.zeros(0, dtype=np.int8)]
    for chunk in column.chunks:
        table = np.array([mapping.get(v, 2) for v in chunk.dictionary.to_pylist()], np.int8)
        indices = chunk.indices.to_numpy(zero_copy_only=False)
        parts.append(table[indices] if len(table) else np.full(len(chunk), 2, np.int8))
    return np.concatenate(parts)


def split_chunks(events: np.ndarray, chunk_size: int) -> Iterator[np.ndarray]:
    """Split at ``F_LAST`` boundaries into chunks of about ``chunk_size`` events."""
    while len(events) > chunk_size:
        ends = np.flatnonzero(events["flags"][:chunk_size] & F_LAST)
        cut = int(ends[-1]) + 1 if len(ends) else _next_last(events, chunk_size)
        yield np.ascontiguousarray(events[:cut])
        events = events[cut:]
    if len(events):
        yield np.ascontiguousarray(events)


def _next_last(events: np.ndarray, start: int) -> int:
    return start + int(np.argmax(events["flags"][start:] & F_LAST)) + 1


class RowValidator:
    """Collect per-row problems of one block, then report them and keep the good rows.

    Under STRICT the earliest bad line raises (via ``report.add``); under REPAIR every bad
    line is reported and quarantined, dropped, and the kept rows next to it are marked
    ``repaired`` (``dropped_head`` / ``dropped_tail`` tell the caller that a dropped line
    precedes / follows every kept row, so the neighbour is in another block). Issues carry
    ``seq = line + seq_offset`` (-1 when ``seq_offset`` is None).
    """

    def __init__(
        self, report: ValidationReport, block: CsvBlock, seq_offset: int | None = None
    ) -> None:
        self.report = report
        self.block = block
        self.seq_offset = seq_offset
        self.bad = np.zeros(len(block.lines), dtype=np.bool_)
        self._issues: list[tuple[int, IssueCode, str]] = [
            (line, IssueCode.PARSE_ERROR, reason) for line, reason in block.bad
        ]

    def column_i8(self, name: str) -> np.ndarray:
        """An integer column as int64."""
        return np.asarray(self.block.table.column(name).to_numpy(), dtype=np.int64)

    def column_f8(self, name: str) -> np.ndarray:
        """A float column as float64, NaN where missing."""
        column = self.block.table.column(name).combine_chunks().fill_null(np.nan)
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)

    def flag(self, mask: np.ndarray | np.bool_, code: IssueCode, reason: str) -> None:
        """Mark rows where ``mask`` is true as bad with ``code``/``reason`` (first reason wins)."""
        new = np.flatnonzero(np.asarray(mask) & ~self.bad)
        self.bad[new] = True
        self._issues.extend((int(self.block.lines[i]), code, reason) for i in new)

    def monotonic(self, ts: np.ndarray, prev_max: int) -> int:
        """Flag rows whose ``ts`` is below the running max of earlier good rows; new max."""
        good_ts = np.where(self.bad, np.iinfo(np.int64).min, ts)
        running = np.maximum.accumulate(np.concatenate([[prev_max], good_ts]))[:-1]
        self.flag(ts < running, IssueCode.OUT_OF_ORDER_TS, "timestamp goes backwards")
        kept = ts[~self.bad]
        return max(prev_max, int(kept.max())) if len(kept) else prev_max

    def finish(self, rows: Rows) -> Rows:
        """Report the issues in line order and return the kept rows (+ ``line``, ``repaired``)."""
        lines = self.block.lines
        for line, code, reason in sorted(self._issues, key=lambda x: x[0]):
            raw = self.block.raw(line) if self.report.policy is Policy.REPAIR else None
            seq = -1 if self.seq_offset is None else line + self.seq_offset
            self.report.add(line, seq, code, reason, raw=raw)
        keep = ~self.bad
        repaired = np.zeros(len(lines), dtype=np.bool_)
        dropped = np.array(sorted(line for line, _, _ in self._issues), dtype=np.int64)
        kept_lines = lines[keep]
        after = np.searchsorted(kept_lines, dropped)
        self.dropped_head = bool((after == 0).any())
        self.dropped_tail = bool((after == len(kept_lines)).any())
        if len(dropped) and len(kept_lines):
            marks = np.concatenate([after[after < len(kept_lines)], after[after > 0] - 1])
            repaired[np.flatnonzero(keep)[marks]] = True
        out = {k: v[keep] for k, v in rows.items()}
        out["line"], out["repaired"] = lines[keep], repaired[keep]
        return out


class LinePairs:
    """Pair the rows of two line-aligned files (row ``i`` of one belongs to row ``i`` of the other).

    Feed each file's validated rows (with ``line``) and how far it has been read; ``take``
    returns the rows of lines both files have passed. A line dropped from either file drops
    both, and the next pair is marked ``repaired``.
    """

    def __init__(self) -> None:
        self.rows: list[Rows | None] = [None, None]
        self.end = [1, 1]
        self.done = [False, False]
        self._dropped_before = False
        self._next = 1

    def add(self, which: int, parsed: tuple[Rows, int] | None) -> None:
        """Append rows of file ``which`` (0 or 1) read up to line ``parsed[1]``; None = EOF."""
        if parsed is None:
            self.done[which] = True
            return
        old = self.rows[which]
        new = parsed[0]
        self.rows[which] = (
            new if old is None else {k: np.concatenate([old[k], new[k]]) for k in new}
        )
        self.end[which] = parsed[1]

    def take(self) -> tuple[Rows, Rows] | None:
        """Row pairs of every line both files have read, or None."""
        a, b = self.rows
        if a is None or b is None:
            return None
        limit = min(self.end)
        a, self.rows[0] = _split(a, int(np.searchsorted(a["line"], limit)))
        b, self.rows[1] = _split(b, int(np.searchsorted(b["line"], limit)))
        lines, ai, bi = np.intersect1d(
            a["line"], b["line"], assume_unique=True, return_indices=True
        )
        a, b = {k: v[ai] for k, v in a.items()}, {k: v[bi] for k, v in b.items()}
        lost = np.setdiff1d(np.arange(self._next, limit), lines, assume_unique=True)
        self._next = limit
        after = np.searchsorted(lines, lost)
        if len(lines):
            a["repaired"] = a["repaired"] | b["repaired"]
            a["repaired"][after[after < len(lines)]] = True
            a["repaired"][0] |= self._dropped_before
        self._dropped_before = bool((after == len(lines)).any()) or (
            self._dropped_before and not len(lines)
        )
        return (a, b) if len(lines) else None


def _split(rows: Rows, n: int) -> tuple[Rows, Rows]:
    return {k: v[:n] for k, v in rows.items()}, {k: v[n:] for k, v in rows.items()}


Slots = tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]


def assemble_slots(
    blocks: list[Slots], ts: np.ndarray, seq: np.ndarray, flags: np.ndarray
) -> np.ndarray:
    """Flatten per-message slot blocks into C1 events, one batch (``F_LAST``) per message.

    Each block is ``(price_ticks, qty, kind, side, emit)`` broadcastable to ``(n, m)``;
    slots where ``emit`` is false are skipped; ``flags`` (``(n,)``) are OR-ed into every row.
    """
    n = len(ts)
    parts: list[list[np.ndarray]] = [[], [], [], [], []]
    for block in blocks:
        shape = np.broadcast_shapes(np.shape(block[0]), np.shape(block[4]))
        values = (*block[:2], np.full(shape, block[2]), *block[3:])
        for dst, value in zip(parts, values, strict=True):
            dst.append(np.broadcast_to(value, shape).reshape(n, -1))
    price, qty, kind, side, emit = (np.concatenate(p, axis=1) for p in parts)
    emit = emit.astype(np.bool_)
    last = np.zeros_like(emit)
    has = emit.any(1)
    last[np.flatnonzero(has), emit.shape[1] - 1 - np.argmax(emit[has, ::-1], axis=1)] = True
    out = np.zeros(int(emit.sum()), dtype=EVENT_DTYPE)
    out["ts_exch"] = out["ts_recv"] = np.broadcast_to(ts[:, None], emit.shape)[emit]
    out["seq"] = np.broadcast_to(seq[:, None], emit.shape)[emit]
    out["price_ticks"], out["qty"], out["kind"] = price[emit], qty[emit], kind[emit]
    out["side"] = side[emit]
    out["flags"] = (np.where(last, F_LAST, 0) | flags[:, None])[emit]
    return out
