"""Engine snapshots for journal checkpoints, exact restore, and the journal row cursor.

**What a checkpoint holds** (:func:`snapshot_engine`, packed with
:func:`~l2trader.paper.blob.pack_arrays`): every array of the engine's state (the book
``ist, fst, q, ovf_px, ovf_qty``; the trader ``ot_i, ot_f, pend, pend_at, sv, est, efl,
pf, rst, feat, out``; the scratch arrays) and the session position ``pos`` (events
consumed, arrivals processed, started, finished, stopped). The C5-C7 record buffers are
**not** copied: the journal holds every row up to the checkpoint (a checkpoint is taken
only right after a commit, so the record counts in ``est`` equal the journal's row counts
at ``covers_seq``), and :func:`restore_engine` refills the buffers from those rows. A
checkpoint therefore stays the size of the engine state, not of the session's history.

**After the checkpoint** the resumed engine regenerates the rows the journal already holds
(the batches committed between the checkpoint and the crash). :class:`RowCursor` compares
each such row with the journal (it must be equal: the engine is deterministic given the
same events) and appends only rows the journal does not have, so nothing is lost or
doubled. A mismatch raises :class:`~l2trader.errors.JournalCorruptError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from l2trader.book.book import OrderBook
from l2trader.engine import loop_kernels as lk
from l2trader.engine import state as S
from l2trader.engine.engine import Engine
from l2trader.engine.strategy import MAX_ACTIONS
from l2trader.engine.venue_kernels import ACT_CANCEL
from l2trader.errors import JournalCorruptError, JournalError
from l2trader.paper.blob import pack_arrays, unpack_arrays
from l2trader.paper.journal import Checkpoint, Journal, JournalRows
from l2trader.paper.validate import first_difference

__all__ = [
    "TABLES",
    "Position",
    "RowCursor",
    "cancel_working_orders",
    "checkpoint_position",
    "engine_rows",
    "load_resume_point",
    "restore_engine",
    "skip_events",
    "snapshot_engine",
]

TABLES: Final = ("intents", "order_events", "fills", "state")
"""Journal tables, in append order; engine record buffers are ``orders, order_events,
fills, equity`` with counts in ``est[ES_N_ORD, ES_N_OEV, ES_N_FILL, ES_N_EQ]``."""
_COUNT_SLOTS: Final = (S.ES_N_ORD, S.ES_N_OEV, S.ES_N_FILL, S.ES_N_EQ)
_BOOK: Final = ("ist", "fst", "q", "ovf_px", "ovf_qty")


@dataclass
class Position:
    """Where a session is: feed rows consumed, arrivals processed, lifecycle flags."""

    events: int = 0
    arrivals: int = 0
    started: bool = False
    finished: bool = False
    stopped: bool = False

    def array(self) -> NDArray[np.int64]:
        """The five fields as int64 (checkpoint ``pos``)."""
        flags = (self.started, self.finished, self.stopped)
        return np.array([self.events, self.arrivals, *map(int, flags)], np.int64)

    @classmethod
    def of(cls, arr: NDArray[Any]) -> Position:
        """Inverse of :meth:`array`."""
        e, a, s, f, t = (int(x) for x in arr)
        return cls(e, a, bool(s), bool(f), bool(t))


def engine_rows(engine: Engine) -> dict[str, NDArray[np.void]]:
    """Views of the engine's recorded C5-C7 rows per journal table (no copy)."""
    est, rec = engine.trader.est, engine.rec
    triples = zip(TABLES, rec, _COUNT_SLOTS, strict=True)
    return {t: buf[: int(est[slot])] for t, buf, slot in triples}


def snapshot_engine(engine: Engine, pos: Position, *, with_book: bool = True) -> bytes:
    """Checkpoint blob: every engine state array (not the record buffers) and ``pos``.

    ``with_book=False`` leaves the book out (a live feed resyncs it on resume).
    """
    arrays: dict[str, NDArray[Any]] = (
        {f"book_{n}": getattr(engine.book, n) for n in _BOOK} if with_book else {}
    )
    arrays.update({f"trader_{n}": a for n, a in zip(S.Trader._fields, engine.trader, strict=True)})
    arrays.update({f"scratch_{n}": a for n, a in zip(S.Scratch._fields, engine.scratch,
                                                      strict=True)})  # fmt: skip
    arrays["pos"] = pos.array()
    return pack_arrays(arrays)


def checkpoint_position(ckpt: Checkpoint | None) -> Position:
    """The session position stored in ``ckpt`` (a fresh one for None)."""
    return Position() if ckpt is None else Position.of(unpack_arrays(ckpt.blob)["pos"])


def restore_engine(engine: Engine, ckpt: Checkpoint, rows: JournalRows, *,
                   keep_book: bool = True) -> Position:  # fmt: skip
    """Put the state of ``ckpt`` into a freshly built ``engine``; return the session position.

    ``rows`` are the journal rows with seq <= ``ckpt.seq`` (they refill the record buffers).
    ``keep_book=False`` leaves an empty book (a live feed resyncs it from a snapshot).

    Raises
    ------
    JournalError
        The snapshot does not fit this engine (another config).
    JournalCorruptError
        The journal's row counts at the checkpoint differ from the snapshot's.
    """
    arrays = unpack_arrays(ckpt.blob)
    trader = S.Trader(*(_fit(arrays, f"trader_{n}", a) for n, a in
                        zip(S.Trader._fields, engine.trader, strict=True)))  # fmt: skip
    engine.scratch = S.Scratch(*(_fit(arrays, f"scratch_{n}", a, same_shape=False) for n, a in
                                 zip(S.Scratch._fields, engine.scratch, strict=True)))  # fmt: skip
    engine.trader = trader
    engine.book = OrderBook(max_window=engine.book.max_window)
    if keep_book:
        for n in _BOOK:
            setattr(engine.book, n, np.array(arrays[f"book_{n}"]))
    engine.rec = _records(engine.rec, trader.est, rows)
    return Position.of(arrays["pos"])


def _fit(arrays: dict[str, NDArray[Any]], key: str, like: NDArray[Any], *,
         same_shape: bool = True) -> NDArray[Any]:  # fmt: skip
    """``arrays[key]`` as a writable array of ``like``'s dtype (and shape when required)."""
    if key not in arrays:
        raise JournalError(f"checkpoint has no array {key!r} (written by another code version)")
    arr = np.array(arrays[key])
    if arr.dtype == like.dtype:
        arr = arr.view(like.dtype)  # np.load drops a record dtype's align flag: restore it
    if arr.dtype != like.dtype or (same_shape and arr.shape != like.shape):
        raise JournalError(
            f"checkpoint array {key!r} is {arr.dtype}{arr.shape}, the engine needs "
            f"{like.dtype}{like.shape}: the session was started with another config"
        )
    return arr


def _records(rec: S.Records, est: NDArray[np.int64], rows: JournalRows) -> S.Records:
    """Record buffers holding the journal's rows (their count must match ``est``)."""
    out = []
    for table, buf, slot in zip(TABLES, rec, _COUNT_SLOTS, strict=True):
        have, need = getattr(rows, table), int(est[slot])
        if have.size != need:
            raise JournalCorruptError(
                f"journal holds {have.size} {table} rows at the checkpoint, its engine "
                f"snapshot counts {need}"
            )
        grown = np.zeros(max(buf.size, 2 * need + 4096), buf.dtype)
        grown[:need] = have
        out.append(grown)
    return S.Records(*out)


@dataclass
class RowCursor:
    """Which engine rows the journal has: compare regenerated ones, hand out new ones.

    ``journaled[t]``: rows of table ``t`` in the journal; ``checked[t]``: rows of ``t`` the
    engine has produced and that were verified (or appended); ``pending[t]``: the journal's
    rows ``checked[t]..journaled[t]`` the resumed engine has still to regenerate.
    """

    journaled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    pending: dict[str, NDArray[np.void]] = field(default_factory=dict)

    @classmethod
    def resumed(cls, at_ckpt: JournalRows, after: JournalRows) -> RowCursor:
        """Cursor of an engine restored at a checkpoint (``at_ckpt`` rows), journal ``after``."""
        checked = {t: int(getattr(at_ckpt, t).size) for t in TABLES}
        pending = {t: getattr(after, t) for t in TABLES}
        journaled = {t: checked[t] + int(pending[t].size) for t in TABLES}
        return cls(journaled, checked, pending)

    @property
    def caught_up(self) -> bool:
        """True once every journaled row has been regenerated and checked."""
        return all(self.checked[t] >= self.journaled[t] for t in TABLES)

    def new_rows(self, engine: Engine) -> dict[str, NDArray[np.void]]:
        """Rows the engine produced that the journal lacks (copies); regenerated ones checked.

        Raises
        ------
        JournalCorruptError
            A regenerated row differs from the journal's row at the same position.
        """
        out = {}
        for table, rows in engine_rows(engine).items():
            self._check(table, rows)
            if rows.size > self.journaled[table]:
                out[table] = rows[self.journaled[table] :].copy()
        return out

    def _check(self, table: str, rows: NDArray[np.void]) -> None:
        lo, hi = self.checked[table], min(rows.size, self.journaled[table])
        if hi <= lo:
            return
        base = self.journaled[table] - self.pending[table].size
        expected = self.pending[table][lo - base : hi - base]
        diff = first_difference(rows[lo:hi], expected)
        if diff is not None:
            raise JournalCorruptError(
                f"resumed engine regenerated {table} row {lo + diff[0]} differently from the "
                f"journal (field {diff[1]!r}): the events or the code differ from the run's"
            )
        self.checked[table] = hi

    def committed(self, rows: dict[str, NDArray[np.void]]) -> None:
        """Record that ``rows`` (from :meth:`new_rows`) are now in the journal."""
        for table, arr in rows.items():
            self.journaled[table] += int(arr.size)
            self.checked[table] = self.journaled[table]


def load_resume_point(journal: Journal) -> tuple[Checkpoint | None, JournalRows, JournalRows]:
    """The latest checkpoint, the journal rows up to it and the rows after it."""
    ckpt = journal.latest_checkpoint()
    rows = journal.read_all()
    cut = 0 if ckpt is None else ckpt.seq
    return ckpt, _select(rows, lambda s: s <= cut), _select(rows, lambda s: s > cut)


def _select(rows: JournalRows, keep: Any) -> JournalRows:
    parts: dict[str, Any] = {}
    for t in TABLES:
        mask = keep(getattr(rows, f"{t}_seq"))
        parts[t] = getattr(rows, t)[mask]
        parts[f"{t}_seq"] = getattr(rows, f"{t}_seq")[mask]
    return JournalRows(**parts, last_seq=rows.last_seq)


def cancel_working_orders(engine: Engine) -> int:
    """Submit a CANCEL (normal submit path) for each working order not being cancelled yet.

    The cancels are recorded as intents at the last event's time and travel to the
    simulated venue like any action: they act with the next event fed. Returns how many.
    """
    tr, est = engine.trader, engine.trader.est
    if est[S.ES_EVENTS] == 0:
        return 0
    todo = [k for k in range(int(est[S.ES_N_SV])) if tr.sv[k]["action"] != ACT_CANCEL]
    now, mid = int(est[S.ES_LAST_TS]), float(tr.efl[S.EF_LAST_MID])
    for lo in range(0, len(todo), MAX_ACTIONS):
        part = todo[lo : lo + MAX_ACTIONS]
        _ensure_room(engine, len(part))
        for j, k in enumerate(part):
            tr.out[j] = tr.sv[k]
            tr.out[j]["action"] = ACT_CANCEL
        lk.submit_rows_nb(tr, engine.rp, engine.params, engine.rec, len(part), now, mid)
    return len(todo)


def _ensure_room(engine: Engine, n: int) -> None:
    """Grow the record buffers so each has more than ``n`` free rows."""
    est, rec = engine.trader.est, engine.rec
    counts = (est[S.ES_N_ORD], est[S.ES_N_OEV], est[S.ES_N_FILL], est[S.ES_N_EQ])
    if all(buf.size - c > n for buf, c in zip(rec, counts, strict=True)):
        return
    grown = []
    for buf, c in zip(rec, counts, strict=True):
        new = np.zeros(buf.size + n + 4096, buf.dtype)
        new[:c] = buf[:c]
        grown.append(new)
    engine.rec = S.Records(*grown)


def skip_events(chunks: Iterable[NDArray[np.void]], n: int) -> Iterator[NDArray[np.void]]:
    """``chunks`` without their first ``n`` rows (a resumed replay's consumed events)."""
    for chunk in chunks:
        if n >= len(chunk):
            n -= len(chunk)
            continue
        yield chunk[n:]
        n = 0
