"""Databento DBN files (MBP-1, MBP-10; shared decoding for MBO) -> C1 events.

Files are read in blocks of bytes with ``databento_dbn.DBNDecoder`` (zstd or plain, any
DBN version; several zstd frames are fine), and the records of the file's schema are
viewed as numpy arrays (:data:`MBO_DTYPE`, :data:`MBP1_DTYPE`, :data:`MBP10_DTYPE`).
"line" in issues is the 1-based record number after the metadata header.

One venue message is the run of records up to and including a record with the DBN
``F_LAST`` flag (bit 128). All its rows carry ``ts_recv`` of that closing record (the
moment the book is consistent; DBN records of one event can differ in ``ts_recv``),
``ts_exch`` = the row's own record ``ts_event``. ``seq`` is -1: the DBN ``sequence`` is the
venue packet sequence, shared by the several events of one packet and not monotonic in
snapshots, so it cannot be C1's per-message sequence; issues still name it.

MBP-1 / MBP-10: each record carries the top N levels after it. The reader emits only the
changed levels (deletes of levels gone from the top N, then new or resized levels), so
the event book equals the record's top-N view after every record; the first record is a
CLEAR (both sides) + SNAPSHOT run. Trade records (action ``T``) also emit a TRADE row
(side = aggressor: ``B`` buy +1, ``A`` sell -1, ``N`` 0). Crossed top of book after an
``F_LAST`` record: strict raises; repair hides the levels of the side opposite the
record's side (bid when ``N``) at or through its best, counted as ``crossed_book``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import databento_dbn as dbn
import numpy as np

from l2trader.data.csv_blocks import split_chunks
from l2trader.data.databento_kernels import mbp_rows_nb
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy, ValidationReport
from l2trader.errors import ConfigError, DataError
from l2trader.schema import EVENT_DTYPE, F_LAST, F_REPAIRED, KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE

__all__ = ["MBO_DTYPE", "MBP1_DTYPE", "MBP10_DTYPE", "DatabentoMbpReader", "DbnReaderBase"]

DBN_F_LAST: Final = 128
"""DBN record flag: last record of a venue event."""
DBN_F_SNAPSHOT: Final = 32
"""DBN record flag: the record belongs to a book snapshot."""
UNDEF_PRICE: Final = np.iinfo(np.int64).max
PRICE_SCALE: Final = 1_000_000_000  # DBN prices are int64 units of 1e-9

_HEADER = [("length", "u1"), ("rtype", "u1"), ("publisher_id", "u2"), ("instrument_id", "u4")]
_LEVEL_FIELDS = [("bid_px", "i8"), ("ask_px", "i8"), ("bid_sz", "u4"), ("ask_sz", "u4")]
_LEVEL = np.dtype([*_LEVEL_FIELDS, ("bid_ct", "u4"), ("ask_ct", "u4")])
_MBO_BODY = [("ts_event", "u8"), ("order_id", "u8"), ("price", "i8"), ("size", "u4")]
_MBO_BODY += [("flags", "u1"), ("channel_id", "u1"), ("action", "S1"), ("side", "S1")]
_MBO_BODY += [("ts_recv", "u8"), ("ts_in_delta", "i4"), ("sequence", "u4")]
MBO_DTYPE: Final = np.dtype([*_HEADER, *_MBO_BODY])
"""DBN MBO record (56 bytes), the layout of ``databento_dbn.MBOMsg``."""
_MBP_BODY = [("ts_event", "u8"), ("price", "i8"), ("size", "u4"), ("action", "S1")]
_MBP_BODY += [("side", "S1"), ("flags", "u1"), ("depth", "u1"), ("ts_recv", "u8")]
_MBP_BODY += [("ts_in_delta", "i4"), ("sequence", "u4")]
MBP1_DTYPE: Final = np.dtype([*_HEADER, *_MBP_BODY, ("levels", _LEVEL, (1,))])
"""DBN MBP-1 record (80 bytes); ``levels`` holds ``bid_px_00 ... ask_ct_00``."""
MBP10_DTYPE: Final = np.dtype([*_HEADER, *_MBP_BODY, ("levels", _LEVEL, (10,))])
"""DBN MBP-10 record (368 bytes); ``levels[i]`` holds ``bid_px_0i ... ask_ct_0i``."""

_KERNEL_ROWS: Final = {"rec": "i8", "price_ticks": "i8", "qty": "f8", "kind": "u1", "side": "i1"}
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def tick_units(tick_size: float) -> int:
    """DBN price units (1e-9) per tick; the tick must be a whole number of units.

    Examples
    --------
    >>> tick_units(0.25)
    250000000
    """
    units = round(tick_size * PRICE_SCALE)
    if units < 1 or abs(tick_size * PRICE_SCALE - units) > 1e-6 * units:
        raise ConfigError(f"Databento: tick_size {tick_size} is not a multiple of 1e-9")
    return units


def side_codes(side: np.ndarray) -> np.ndarray:
    """DBN side bytes (``B``/``A``/``N``) -> C1 side (+1 / -1 / 0); other bytes -> 0."""
    return np.select([side == b"B", side == b"A"], [1, -1], 0).astype(np.int8)


class DbnReaderBase:
    """Decoding, symbol selection, common checks and row assembly of the DBN readers.

    Subclasses set ``schemas`` / ``dtype`` / ``actions`` and implement :meth:`_events`.
    ``stats`` counts what is not an issue: ``records``, ``other_instrument`` and
    ``other_record`` (skipped), per-action counts (``action_X``) and reader specifics.
    """

    schemas: tuple[str, ...] = ()
    dtype: np.dtype = MBO_DTYPE
    actions: tuple[bytes, ...] = ()

    def __init__(
        self,
        path: str | Path,
        *,
        instrument: Instrument,
        symbol: str | None = None,
        policy: Policy = Policy.STRICT,
        chunk_size: int = 262_144,
        block_bytes: int = 1 << 20,
    ) -> None:
        self.path = Path(path)
        self.source = str(self.path)
        self.instrument = instrument
        self.symbol = symbol
        self.units = tick_units(instrument.tick_size)
        self.chunk_size = chunk_size
        self.block_bytes = block_bytes
        self.report = ValidationReport(self.source, policy=policy)
        self.stats: Counter[str] = Counter()
        self.instrument_ids: frozenset[int] = frozenset()
        self._max_ts = 0
        self._repaired_lines: set[int] = set()

    def chunks(self) -> Iterator[np.ndarray]:
        """Yield C1 event chunks in file order; fills :attr:`report` and :attr:`stats`."""
        self.report.reset()
        self.stats.clear()
        self._max_ts = 0
        self._repaired_lines = set()
        self._reset()
        for recs, lines, final in self._closed_blocks():
            events = self._events(recs, lines, final=final)
            self.report.events_out += len(events)
            yield from split_chunks(events, self.chunk_size)

    def _reset(self) -> None:
        """Forget the book state (subclasses)."""

    def _events(self, recs: np.ndarray, lines: np.ndarray, *, final: bool) -> np.ndarray:
        raise NotImplementedError

    def _closed_blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        """Checked records in blocks that end with a DBN ``F_LAST`` record (or at EOF)."""
        tail = (np.zeros(0, self.dtype), np.zeros(0, np.int64))
        for recs, lines in self._record_blocks():
            recs, lines = np.concatenate([tail[0], recs]), np.concatenate([tail[1], lines])
            ends = np.flatnonzero(recs["flags"] & DBN_F_LAST)
            cut = int(ends[-1]) + 1 if len(ends) else 0
            tail = (recs[cut:], lines[cut:])
            if cut:
                yield recs[:cut], lines[:cut], False
        yield tail[0], tail[1], True

    def _record_blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Records of the selected instrument (checked), with their 1-based numbers."""
        decoder: Any = None
        number = 0
        with self.path.open("rb") as fh:
            while block := fh.read(self.block_bytes):
                if decoder is None:
                    zstd = block.startswith(_ZSTD_MAGIC)
                    codec: Any = dbn.Compression.ZSTD if zstd else dbn.Compression.NONE
                    decoder = dbn.DBNDecoder(compression=codec)
                try:
                    items = decoder.write_and_decode(block)
                except Exception as exc:  # the decoder raises plain ValueError/DBNError
                    raise DataError(f"DBN decode failed: {exc}", source=self.source) from exc
                recs, lines, number = self._select(items, number)
                if len(recs):
                    yield self._checked(recs, lines)
        if decoder is None:
            raise DataError("empty DBN file", source=self.source)

    def _select(self, items: list[Any], number: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Keep records of the schema and selected instrument; count the others."""
        kept: list[bytes] = []
        lines: list[int] = []
        for item in items:
            if isinstance(item, dbn.Metadata):
                self._use_metadata(item)
                continue
            number += 1
            self.stats["records"] += 1
            self.report.rows_in += 1
            raw = bytes(item)
            if len(raw) != self.dtype.itemsize or item.instrument_id not in self.instrument_ids:
                why = "other_record" if len(raw) != self.dtype.itemsize else "other_instrument"
                self.stats[why] += 1
                self.report.rows_skipped += 1
                continue
            kept.append(raw)
            lines.append(number)
        recs = np.frombuffer(b"".join(kept), dtype=self.dtype)
        return recs, np.asarray(lines, dtype=np.int64), number

    def _use_metadata(self, meta: Any) -> None:
        schema = str(meta.schema)
        if schema not in self.schemas:
            wanted = "/".join(self.schemas)
            raise DataError(f"DBN schema is {schema!r}, reader: {wanted}", source=self.source)
        self.instrument_ids = instrument_ids(meta, self.symbol, self.source)

    def _checked(self, recs: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the common and schema checks; in repair mode drop the bad records."""
        ts = recs["ts_recv"].astype(np.int64)
        running = np.maximum.accumulate(np.concatenate([[self._max_ts], ts]))[:-1]
        self._max_ts = int(max(self._max_ts, ts.max()))
        checks = [
            (ts < running, IssueCode.OUT_OF_ORDER_TS, "ts_recv goes backwards"),
            (~np.isin(recs["action"], self.actions), IssueCode.BAD_VALUE, "unknown action"),
            *self._schema_checks(recs),
        ]
        bad = np.zeros(len(recs), dtype=np.bool_)
        for mask, code, message in checks:
            bad |= mask
            for i in np.flatnonzero(mask):
                self.report.add(int(lines[i]), int(recs["sequence"][i]), code, message, "")
        if not bad.any():
            return recs, lines
        return self._drop(recs, lines, bad)

    def _drop(
        self, recs: np.ndarray, lines: np.ndarray, bad: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Repair: drop ``bad`` records; a dropped ``F_LAST`` moves to the kept record before."""
        recs = recs.copy()
        for i in np.flatnonzero(bad & ((recs["flags"] & DBN_F_LAST) != 0)):
            before = np.flatnonzero(~bad[:i])
            if len(before):
                recs["flags"][before[-1]] |= DBN_F_LAST
        self.stats["dropped_records"] += int(bad.sum())
        kept = np.flatnonzero(~bad)
        after = np.searchsorted(kept, np.flatnonzero(bad))  # the next kept record's batch
        self._repaired_lines.update(lines[kept[after[after < len(kept)]]].tolist())
        return recs[~bad], lines[~bad]

    def _schema_checks(self, recs: np.ndarray) -> list[tuple[np.ndarray, IssueCode, str]]:
        return []

    def _off_grid(self, price: np.ndarray, defined: np.ndarray) -> np.ndarray:
        return np.asarray(defined & (price != UNDEF_PRICE) & (price % self.units != 0))

    def _assemble(self, recs: np.ndarray, rows: dict[str, np.ndarray]) -> np.ndarray:
        """C1 events of ``rows`` (``rec``, ``close``: record indexes; level/trade fields)."""
        out = np.zeros(len(rows["rec"]), dtype=EVENT_DTYPE)
        rec, close = rows["rec"], rows["close"]
        out["ts_exch"] = recs["ts_event"][rec].astype(np.int64)
        out["ts_recv"] = recs["ts_recv"][close].astype(np.int64)
        out["seq"] = -1  # DBN ``sequence`` is shared by the events of a packet (module doc)
        for name in ("price_ticks", "qty", "kind", "side", "flags"):
            out[name] = rows[name]
        return out


def instrument_ids(meta: Any, symbol: str | None, source: str) -> frozenset[int]:
    """Instrument ids of ``symbol`` (raw symbol or numeric id) from DBN metadata mappings."""
    mappings: dict[str, list[dict[str, Any]]] = meta.mappings
    if symbol is None:
        if len(mappings) != 1:
            raise ConfigError(f"{source}: symbol= is required, file has {sorted(mappings)}")
        symbol = next(iter(mappings))
    if symbol in mappings:
        return frozenset(int(m["symbol"]) for m in mappings[symbol] if m["symbol"].isdigit())
    if symbol.isdigit():
        return frozenset({int(symbol)})
    raise ConfigError(f"{source}: symbol {symbol!r} not in the file, which has {sorted(mappings)}")


class DatabentoMbpReader(DbnReaderBase):
    """Stream a Databento MBP-1 or MBP-10 file as C1 event chunks (module docstring).

    Parameters
    ----------
    path
        ``.dbn`` or ``.dbn.zst`` file of schema ``mbp-1`` or ``mbp-10``.
    instrument
        Gives the tick size (DBN prices -> ticks; off-grid prices are issues).
    symbol
        Raw symbol (e.g. ``ESU4``) or instrument id to keep; default: the file's only one.
    policy
        STRICT raises on the first bad record; REPAIR drops it (flagging the next batch
        ``F_REPAIRED``) and hides crossed levels.
    chunk_size, block_bytes
        Target events per chunk; compressed bytes read per block.
    """

    schemas = ("mbp-1", "mbp-10")
    dtype = MBP1_DTYPE
    actions = (b"A", b"C", b"M", b"T", b"F", b"R")

    def __init__(self, path: str | Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.dtype = MBP10_DTYPE if ".mbp-10" in self.path.name else MBP1_DTYPE
        self._reset()

    @property
    def depth(self) -> int:
        """Levels per side in a record (1 or 10)."""
        return int(self.dtype["levels"].shape[0])

    def _use_metadata(self, meta: Any) -> None:
        schema = str(meta.schema)
        if schema in self.schemas and schema != ("mbp-10" if self.depth == 10 else "mbp-1"):
            self.dtype = MBP10_DTYPE if schema == "mbp-10" else MBP1_DTYPE
            self._reset()
        super()._use_metadata(meta)

    def _reset(self) -> None:
        self._prev_px = np.zeros((2, self.depth), np.int64)
        self._prev_sz = np.zeros((2, self.depth), np.float64)
        self._started = False

    def _schema_checks(self, recs: np.ndarray) -> list[tuple[np.ndarray, IssueCode, str]]:
        lv = recs["levels"]
        level_px = np.concatenate([lv["bid_px"], lv["ask_px"]], axis=1)
        level_sz = np.concatenate([lv["bid_sz"], lv["ask_sz"]], axis=1)
        bid_ok = (lv["bid_sz"] > 0) & (lv["bid_px"] != UNDEF_PRICE)
        ask_ok = (lv["ask_sz"] > 0) & (lv["ask_px"] != UNDEF_PRICE)
        unsorted = (np.diff(lv["bid_px"], axis=1) >= 0) & bid_ok[:, 1:]
        unsorted |= (np.diff(lv["ask_px"], axis=1) <= 0) & ask_ok[:, 1:]
        trade, undef = recs["action"] == b"T", (level_px == UNDEF_PRICE) & (level_sz > 0)
        off_grid = self._off_grid(level_px, level_sz > 0).any(axis=1)
        return [
            (self._off_grid(recs["price"], trade), IssueCode.OFF_TICK, "trade price off grid"),
            (off_grid, IssueCode.OFF_TICK, "level price off the tick grid"),
            (undef.any(axis=1), IssueCode.BAD_VALUE, "level has a size but no price"),
            (unsorted.any(axis=1), IssueCode.BAD_VALUE, "levels not sorted best first"),
        ]

    def _events(self, recs: np.ndarray, lines: np.ndarray, *, final: bool) -> np.ndarray:
        if not len(recs):
            return np.zeros(0, EVENT_DTYPE)
        recs = self._close_tail(recs, lines, final=final)
        px, sz = self._levels(recs, lines)
        n, cap = len(recs), len(recs) * (1 + 4 * self.depth)
        out = {k: np.zeros(cap, t) for k, t in _KERNEL_ROWS.items()}
        trade = recs["action"] == b"T"
        m = mbp_rows_nb(
            px, sz, trade, recs["price"] // self.units, recs["size"].astype(np.float64),
            side_codes(recs["side"]), self._prev_px, self._prev_sz,
            out["rec"], out["price_ticks"], out["qty"], out["kind"], out["side"],
        )  # fmt: skip
        rows = {key: value[:m] for key, value in out.items()}
        self.stats.update(Counter(f"action_{a.decode()}" for a in recs["action"].tolist()))
        self.stats["trades"] += int(trade.sum())
        return self._assemble(recs, self._batch(recs, lines, rows, n))

    def _close_tail(self, recs: np.ndarray, lines: np.ndarray, *, final: bool) -> np.ndarray:
        """At EOF, an unclosed last event is an issue; repair closes it."""
        if final and not recs["flags"][-1] & DBN_F_LAST:
            message = "file ends inside an event (no F_LAST record)"
            code, seq = IssueCode.UNCLOSED_BATCH, int(recs["sequence"][-1])
            self.report.add(int(lines[-1]), seq, code, message)
            recs = recs.copy()
            recs["flags"][-1] |= DBN_F_LAST
            self._repaired_lines.add(int(lines[-1]))
        return recs

    def _levels(self, recs: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n, 2, N)`` level ticks and sizes; repair hides crossed levels at F_LAST records."""
        lv = recs["levels"]
        sz = np.stack([lv["bid_sz"], lv["ask_sz"]], axis=1).astype(np.float64)
        raw = np.stack([lv["bid_px"], lv["ask_px"]], axis=1)
        sz[raw == UNDEF_PRICE] = 0.0
        px = np.where(sz > 0, raw // self.units, 0)
        best_bid, best_ask = px[:, 0, 0], px[:, 1, 0]
        both = (sz[:, 0, 0] > 0) & (sz[:, 1, 0] > 0)
        crossed = both & (best_bid >= best_ask) & ((recs["flags"] & DBN_F_LAST) != 0)
        for i in np.flatnonzero(crossed):
            locked = best_bid[i] == best_ask[i]
            code = IssueCode.LOCKED_BOOK if locked else IssueCode.CROSSED_BOOK
            message = f"best bid {best_bid[i]} >= best ask {best_ask[i]} (ticks) after F_LAST"
            self.report.add(int(lines[i]), int(recs["sequence"][i]), code, message)
            self._repaired_lines.add(int(lines[i]))
            if recs["side"][i] == b"A":
                sz[i, 0][px[i, 0] >= best_ask[i]] = 0.0
            else:
                sz[i, 1][px[i, 1] <= best_bid[i]] = 0.0
        return px, sz

    def _batch(
        self, recs: np.ndarray, lines: np.ndarray, rows: dict[str, np.ndarray], n: int
    ) -> dict[str, np.ndarray]:
        """Add ``close``/``flags`` (F_LAST per event) and the first record's CLEAR+SNAPSHOT."""
        ends = np.flatnonzero(recs["flags"] & DBN_F_LAST)
        event = np.searchsorted(ends, np.arange(n))
        rows["close"] = ends[event[rows["rec"]]]
        repaired = np.isin(lines, list(self._repaired_lines))
        event_repaired = np.bincount(event, weights=repaired, minlength=len(ends)) > 0
        rows["flags"] = np.where(event_repaired[event[rows["rec"]]], F_REPAIRED, 0).astype(np.uint8)
        last = np.r_[rows["close"][1:] != rows["close"][:-1], True] if len(rows["rec"]) else []
        rows["flags"][np.asarray(last, dtype=np.bool_)] |= F_LAST
        if not self._started:
            self._started = True
            rows["kind"][(rows["rec"] == 0) & (rows["kind"] != KIND_TRADE)] = KIND_SNAPSHOT
            clear = {"rec": 0, "close": ends[0], "price_ticks": 0, "qty": 0.0}
            clear |= {"kind": KIND_CLEAR, "side": 0, "flags": 0}
            rows = {k: np.r_[np.asarray([clear[k]], v.dtype), v] for k, v in rows.items()}
        return rows
