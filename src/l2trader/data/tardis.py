"""Tardis.dev normalized CSV (``incremental_book_L2``, ``book_snapshot_N``, ``trades``) -> C1.

The file kind is detected from the header. Rows are parsed in blocks of bytes with
``pyarrow.csv`` (explicit column types) and converted with numpy; only a block that fails
to parse is re-read line by line to name the bad lines. Timestamps are µs in the file and
ns in the events (``ts_exch`` = ``timestamp``, ``ts_recv`` = ``local_timestamp``).

One venue message is a run of consecutive rows with equal ``(local_timestamp, timestamp,
is_snapshot)``; for ``trades`` rows with equal ``(local_timestamp, timestamp)`` form one
message, and every ``book_snapshot_N`` row is its own message (CLEAR + SNAPSHOT levels).
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyarrow as pa

from l2trader.data.csv_blocks import (
    CsvBlock,
    Rows,
    RowValidator,
    iter_csv_blocks,
    read_header,
    side_codes,
    split_chunks,
)
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.errors import DataError
from l2trader.schema import (
    EVENT_DTYPE,
    F_LAST,
    F_REPAIRED,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)
from l2trader.units import NS_PER_MICROSECOND, off_grid, to_ticks

__all__ = ["TardisKind", "TardisReader", "detect_kind"]

_BASE = ["exchange", "symbol", "timestamp", "local_timestamp"]
_INCREMENTAL = [*_BASE, "is_snapshot", "side", "price", "amount"]
_TRADES = [*_BASE, "id", "side", "price", "amount"]
_SIDES = pa.dictionary(pa.int32(), pa.string())
_BOOK_SIDES = {"bid": 1, "ask": -1}
_TRADE_SIDES = {"buy": 1, "sell": -1, "unknown": 0}


class TardisKind(StrEnum):
    """Tardis.dev CSV data types this reader understands."""

    INCREMENTAL = "incremental_book_L2"
    SNAPSHOT = "book_snapshot"
    TRADES = "trades"


def detect_kind(header: list[str], source: str = "") -> tuple[TardisKind, int]:
    """Return the file kind and (for ``book_snapshot_N``) the number of levels N.

    Examples
    --------
    >>> detect_kind("exchange,symbol,timestamp,local_timestamp,id,side,price,amount".split(","))
    (<TardisKind.TRADES: 'trades'>, 0)
    """
    if header == _INCREMENTAL:
        return TardisKind.INCREMENTAL, 0
    if header == _TRADES:
        return TardisKind.TRADES, 0
    levels = (len(header) - 4) // 4
    if header[:4] == _BASE and levels > 0 and header[4:] == _snapshot_columns(levels):
        return TardisKind.SNAPSHOT, levels
    raise DataError(f"unsupported Tardis file kind, header {','.join(header)!r}", source=source)


def _snapshot_columns(levels: int) -> list[str]:
    return [
        f"{side}[{i}].{field}"
        for i in range(levels)
        for side in ("asks", "bids")
        for field in ("price", "amount")
    ]


class TardisReader:
    """Stream a Tardis.dev CSV file (plain or ``.gz``) as C1 event chunks.

    Parameters
    ----------
    path
        ``incremental_book_L2``, ``book_snapshot_N`` or ``trades`` CSV file.
    instrument
        Gives the tick size (prices -> ticks); sizes are kept in the file's units.
    policy
        STRICT raises on the first bad row (file:line); REPAIR drops, quarantines and
        flags the neighbouring messages ``F_REPAIRED``.
    chunk_size
        Target events per yielded chunk (a chunk never splits a message).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        instrument: Instrument,
        policy: Policy = Policy.STRICT,
        chunk_size: int = 262_144,
    ) -> None:
        self.path = Path(path)
        self.source = str(self.path)
        self.instrument = instrument
        self.chunk_size = chunk_size
        self.report = ValidationReport(self.source, policy=policy)
        self.kind, self.levels = detect_kind(read_header(self.path), self.source)

    def chunks(self) -> Iterator[np.ndarray]:
        """Yield C1 event chunks in file order; fills :attr:`report` as it goes."""
        columns, types = self._schema()
        block_bytes = min(max(self.chunk_size * 64, 256), 1 << 23)
        state = _StreamState(trades=self.kind is TardisKind.TRADES)
        for block in iter_csv_blocks(self.path, columns, types, block_bytes=block_bytes):
            events = self._convert(block, state, final=False)
            yield from split_chunks(events, self.chunk_size)
        yield from split_chunks(self._convert(None, state, final=True), self.chunk_size)

    def _schema(self) -> tuple[list[str], dict[str, pa.DataType]]:
        ints = {"timestamp": pa.int64(), "local_timestamp": pa.int64()}
        if self.kind is TardisKind.INCREMENTAL:
            book = {"is_snapshot": pa.bool_(), "side": _SIDES}
            return _INCREMENTAL, {**ints, **book, "price": pa.float64(), "amount": pa.float64()}
        if self.kind is TardisKind.TRADES:
            trade = {"id": pa.string(), "side": _SIDES}
            return _TRADES, {**ints, **trade, "price": pa.float64(), "amount": pa.float64()}
        levels = _snapshot_columns(self.levels)
        return [*_BASE, *levels], {**ints, **dict.fromkeys(levels, pa.float64())}

    def _convert(self, block: CsvBlock | None, state: _StreamState, *, final: bool) -> np.ndarray:
        rows = self._rows(block, state) if block is not None else None
        if self.kind is TardisKind.SNAPSHOT:
            events = _snapshot_events(rows, self.levels) if rows else _empty()
        else:
            events = _grouped_events(rows, state, final=final)
        self.report.events_out += len(events)
        return events

    def _rows(self, block: CsvBlock, state: _StreamState) -> Rows:
        """Validated rows of ``block`` (bad rows reported, and dropped under REPAIR)."""
        self.report.rows_in += block.n_lines
        self.report.rows_skipped += block.n_empty
        check = RowValidator(self.report, block)
        ts = check.column_i8("timestamp") * NS_PER_MICROSECOND
        lts = check.column_i8("local_timestamp") * NS_PER_MICROSECOND
        rows: Rows = {"ts_exch": ts, "ts_recv": lts}
        if self.kind is TardisKind.SNAPSHOT:
            self._check_snapshot(check, rows)
        else:
            self._check_levels(check, rows)
        state.max_recv = check.monotonic(lts, state.max_recv)
        kept = check.finish(rows)
        if len(kept["line"]) and state.repair_next:
            kept["repaired"][0] = True
        if check.dropped_head and state.carry is not None:
            state.carry["repaired"][:] = True
        state.repair_next = check.dropped_tail or (state.repair_next and not len(kept["line"]))
        return kept

    def _check_levels(self, check: RowValidator, rows: Rows) -> None:
        table, tick = check.block.table, self.instrument.tick_size
        book = self.kind is TardisKind.INCREMENTAL
        side = side_codes(table.column("side"), _BOOK_SIDES if book else _TRADE_SIDES)
        price = check.column_f8("price")
        amount = check.column_f8("amount")
        check.flag(side == 2, IssueCode.BAD_VALUE, "unknown side")
        check.flag(~np.isfinite(price), IssueCode.BAD_VALUE, "price is missing or not finite")
        check.flag(off_grid(price, tick), IssueCode.OFF_TICK, f"price off the {tick} tick grid")
        check.flag(np.isnan(amount), IssueCode.NAN_QTY, "amount is NaN or missing")
        check.flag(amount < 0, IssueCode.NEGATIVE_QTY, "amount is negative")
        rows.update(side=side, price_ticks=_ticks(price, tick), qty=amount)
        if book:
            rows["snap"] = table.column("is_snapshot").to_numpy(zero_copy_only=False)
            rows["seq"] = np.full(len(price), -1, dtype=np.int64)
        else:
            rows["snap"] = np.zeros(len(price), dtype=np.bool_)
            rows["seq"] = _trade_ids(table.column("id"))

    def _check_snapshot(self, check: RowValidator, rows: Rows) -> None:
        tick = self.instrument.tick_size
        for name in ("asks", "bids"):
            price = np.stack([check.column_f8(f"{name}[{i}].price") for i in range(self.levels)], 1)
            amount = np.stack(
                [check.column_f8(f"{name}[{i}].amount") for i in range(self.levels)], 1
            )
            bad_pair = np.isnan(price) != np.isnan(amount)
            check.flag(bad_pair.any(1), IssueCode.NAN_QTY, f"{name} level without price/amount")
            check.flag(off_grid(price, tick).any(1), IssueCode.OFF_TICK, f"{name} price off grid")
            check.flag((amount < 0).any(1), IssueCode.NEGATIVE_QTY, f"{name} amount negative")
            rows[f"{name}_ticks"] = _ticks(price, tick)
            rows[f"{name}_qty"] = np.where(np.isnan(price), 0.0, amount)


class _StreamState:
    """What one block's conversion leaves to the next one."""

    def __init__(self, *, trades: bool) -> None:
        self.trades = trades
        self.max_recv = np.iinfo(np.int64).min
        self.carry: Rows | None = None
        self.in_snapshot = False
        self.repair_next = False


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=EVENT_DTYPE)


def _ticks(price: np.ndarray, tick_size: float) -> np.ndarray:
    return to_ticks(np.where(np.isfinite(price), price, 0.0), tick_size)


def _trade_ids(ids: pa.ChunkedArray) -> np.ndarray:
    """Trade ``id`` as int64 where it is a decimal integer, else -1."""
    import pyarrow.compute as pc

    text = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    numeric = pc.match_substring_regex(text, r"^-?[0-9]{1,18}$").to_numpy(zero_copy_only=False)
    out = np.full(len(text), -1, dtype=np.int64)
    if numeric.any():
        out[numeric] = pc.cast(text.filter(pa.array(numeric)), pa.int64()).to_numpy()
    return out


def _concat(carry: Rows | None, rows: Rows | None) -> Rows | None:
    if carry is None or rows is None:
        return rows if carry is None else carry
    return {k: np.concatenate([carry[k], rows[k]]) for k in rows}


def _grouped_events(rows: Rows | None, state: _StreamState, *, final: bool) -> np.ndarray:
    """Events of every complete message; the last (maybe open) message is carried over."""
    rows = _concat(state.carry, rows)
    state.carry = None
    if not rows or len(rows["ts_recv"]) == 0:
        return _empty()
    n = len(rows["ts_recv"])
    start = np.ones(n, dtype=np.bool_)
    start[1:] = (
        (rows["ts_recv"][1:] != rows["ts_recv"][:-1])
        | (rows["ts_exch"][1:] != rows["ts_exch"][:-1])
        | (rows["snap"][1:] != rows["snap"][:-1])
    )
    if not final:
        cut = int(np.flatnonzero(start)[-1])
        state.carry = {k: v[cut:] for k, v in rows.items()}
        rows = {k: v[:cut] for k, v in rows.items()}
        start = start[:cut]
    return _build_grouped(rows, start, state) if len(start) else _empty()


def _build_grouped(rows: Rows, start: np.ndarray, state: _StreamState) -> np.ndarray:
    """Rows -> events: BOOK/SNAPSHOT/TRADE rows, a CLEAR before each snapshot run."""
    n = len(start)
    snap = rows["snap"]
    prev_snap = np.empty(n, dtype=np.bool_)
    prev_snap[0] = state.in_snapshot
    prev_snap[1:] = snap[:-1]
    clear_at = np.flatnonzero(start & snap & ~prev_snap)
    state.in_snapshot = bool(snap[-1])
    group = np.cumsum(start) - 1
    repaired = np.bincount(group, weights=rows["repaired"]) > 0
    flags = np.where(repaired[group], F_REPAIRED, 0).astype(np.uint8)
    flags[np.flatnonzero(np.append(start[1:], True))] |= F_LAST
    kind = np.where(snap, KIND_SNAPSHOT, KIND_TRADE if state.trades else KIND_BOOK)
    out = np.zeros(n + len(clear_at), dtype=EVENT_DTYPE)
    pos = np.arange(n) + np.searchsorted(clear_at, np.arange(n), side="right")
    for name in ("ts_exch", "ts_recv", "seq", "price_ticks", "qty", "side"):
        out[name][pos] = rows[name]
    out["kind"][pos] = kind
    out["flags"][pos] = flags
    cpos = clear_at + np.arange(len(clear_at))
    out["ts_exch"][cpos] = rows["ts_exch"][clear_at]
    out["ts_recv"][cpos] = rows["ts_recv"][clear_at]
    out["seq"][cpos] = -1
    out["kind"][cpos] = KIND_CLEAR
    out["flags"][cpos] = flags[clear_at] & F_REPAIRED
    return out


def _snapshot_events(rows: Rows, levels: int) -> np.ndarray:
    """Each ``book_snapshot_N`` row -> CLEAR(both sides) + SNAPSHOT bids then asks."""
    n = len(rows["ts_recv"])
    slots = 1 + 2 * levels
    ticks = np.zeros((n, slots), dtype=np.int64)
    qty = np.zeros((n, slots))
    side = np.zeros((n, slots), dtype=np.int8)
    ticks[:, 1 : 1 + levels], qty[:, 1 : 1 + levels] = rows["bids_ticks"], rows["bids_qty"]
    ticks[:, 1 + levels :], qty[:, 1 + levels :] = rows["asks_ticks"], rows["asks_qty"]
    side[:, 1 : 1 + levels], side[:, 1 + levels :] = 1, -1
    kind = np.full((n, slots), KIND_SNAPSHOT, dtype=np.uint8)
    kind[:, 0] = KIND_CLEAR
    keep = qty > 0
    keep[:, 0] = True
    last = np.zeros((n, slots), dtype=np.bool_)
    last[np.arange(n), slots - 1 - np.argmax(keep[:, ::-1], axis=1)] = True
    flags = np.where(last, F_LAST, 0) | np.where(rows["repaired"][:, None], F_REPAIRED, 0)
    out = np.zeros(int(keep.sum()), dtype=EVENT_DTYPE)
    out["ts_exch"] = np.broadcast_to(rows["ts_exch"][:, None], keep.shape)[keep]
    out["ts_recv"] = np.broadcast_to(rows["ts_recv"][:, None], keep.shape)[keep]
    out["seq"] = -1
    out["price_ticks"], out["qty"], out["side"] = ticks[keep], qty[keep], side[keep]
    out["kind"], out["flags"] = kind[keep], flags[keep]
    return out
