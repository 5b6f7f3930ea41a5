"""Data-quality faults: duplicates, timestamp disorder, corrupted rows, truncation, losses.

Faults break the stream on purpose; ``expected_issues`` says what
:func:`l2trader.data.validate.validate_events` must report (``IssueCode`` value -> count)
and every flagged row is dropped (quarantined) by the repair policy, except
``unclosed_batch`` which is clamped. So with ``Policy.REPAIR``:
``rows_out == rows kept + quarantined``.

=====================  =====================================  ===========================
fault                  what it does                           detected as
=====================  =====================================  ===========================
:class:`Duplicates`    re-sends ``n`` book messages (copy     ``duplicate_seq`` per row
                       right after the original)
:class:`Disorder`      moves ``n`` batches earlier than the   ``out_of_order_ts`` per row
                       batch before them
:class:`CorruptRows`   garbage kind/side, NaN / negative      ``bad_value``, ``nan_qty``,
                       size, non-positive price on ``n`` rows ``negative_qty``
:class:`Truncate`      cuts the stream inside a batch         ``unclosed_batch`` (1)
:class:`DropMessages`  removes ``frac`` of the batches        opt-in gap rules
                                                              (``sequence_gap``)
:class:`SequenceGap`   removes ``n`` runs of ``length``       opt-in gap rules
                       consecutive book messages              (``sequence_gap``)
:class:`StaleFeed`     removes every row for ``duration_s``   opt-in gap rules
                                                              (``sequence_gap``)
=====================  =====================================  ===========================

The last three keep the C1 invariants (``keeps_c1``), so the default checks report nothing
and their ``expected_issues`` is empty. They are detected by the opt-in gap rules of
:func:`~l2trader.data.validate.validate_events` (``max_silence_ns``: a silent book feed;
``check_seq_contiguous``: a venue seq jump, only where the venue's C1 seq is contiguous, e.g.
Binance trade ids but not its book ``u``), both reported as ``sequence_gap``; the stress
runner checks them as the ``lost_data_detected`` invariant
(:func:`l2trader.stress.runner.gap_rules`). A reader (raw ``pu``/``U`` ids) sees them too.
Off-grid prices cannot exist in C1 (int64 ticks): a reader flags them (``off_tick``) while
parsing.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from l2trader.config import FrozenConfig
from l2trader.schema import F_LAST, KIND_BOOK
from l2trader.stress.transform import Scenario, TransformInfo, concat, window
from l2trader.stress.windows import Fraction, Seconds

__all__ = [
    "CorruptRows",
    "CorruptRowsParams",
    "CountParams",
    "Disorder",
    "DropMessages",
    "DropMessagesParams",
    "Duplicates",
    "SequenceGap",
    "SequenceGapParams",
    "StaleFeed",
    "StaleFeedParams",
    "Truncate",
    "TruncateParams",
    "batch_ids",
]

Count = Annotated[int, Field(ge=0, le=10_000_000)]


def batch_ids(events: np.ndarray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(batch id per row, start row of each batch)``; a trailing open batch counts as one."""
    last = (events["flags"] & F_LAST) != 0
    ids = np.zeros(len(events), dtype=np.int64)
    ids[1:] = np.cumsum(last[:-1])
    starts = np.flatnonzero(np.diff(ids, prepend=-1))
    return ids, starts


def _book_batches(events: np.ndarray) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Batch ids per row and, per batch, True when all its rows are BOOK rows with seq >= 0."""
    ids, starts = batch_ids(events)
    bad = (events["kind"] != KIND_BOOK) | (events["seq"] < 0)
    is_book = np.bincount(ids, weights=bad, minlength=len(starts)) == 0
    return ids, is_book


class CountParams(FrozenConfig):
    """How many messages/rows the fault hits."""

    n: Count = 20


class Duplicates(Scenario[CountParams]):
    """Re-send ``n`` random book messages: each copy follows its original (same ts, seq)."""

    name = "duplicates"
    category = "data"
    keeps_c1 = False
    params_type = CountParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Pick the messages among all-BOOK batches with a seq; copy each once."""
        ids, is_book = _book_batches(events)
        cand = np.flatnonzero(is_book)
        chosen = rng.choice(cand, size=min(self.params.n, len(cand)), replace=False)
        copies = np.isin(ids, chosen)
        keys = np.concatenate([2 * np.arange(len(events)), 2 * _batch_end(ids)[copies] + 1])
        both = np.concatenate([events, events[copies]])
        out = concat([both[np.argsort(keys, kind="stable")]])
        added = int(copies.sum())
        expected = {"duplicate_seq": added} if added else {}
        return out, self.info(
            events, out, rows_added=added, rows_removed=0, expected_issues=expected
        )


def _batch_end(ids: NDArray[np.int64]) -> NDArray[np.int64]:
    """Row index of the last row of each row's batch."""
    ends = np.flatnonzero(np.diff(ids, append=ids[-1] + 1 if len(ids) else 0))
    return ends[ids]


class Disorder(Scenario[CountParams]):
    """Move ``n`` batches to 1 ns .. 1 ms before the batch preceding them (``ts_recv`` only).

    Batches are chosen non-adjacent and strictly later than their predecessor, so each of
    their rows is one ``out_of_order_ts`` issue and no other row is affected.
    """

    name = "timestamp_disorder"
    category = "data"
    keeps_c1 = False
    params_type = CountParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Set each chosen batch's ``ts_recv`` below its predecessor's."""
        ids, starts = batch_ids(events)
        ts = events["ts_recv"][starts]
        later = np.flatnonzero(np.diff(ts) > 0) + 1  # batch b later than b - 1
        cand = later[later % 2 == 1]  # odd ids only: never two adjacent batches
        chosen = np.sort(rng.choice(cand, size=min(self.params.n, len(cand)), replace=False))
        back = rng.integers(1, 1_000_000, size=len(chosen))
        new_ts = np.zeros(len(starts), dtype=np.int64)
        new_ts[chosen] = ts[chosen - 1] - back
        rows = np.isin(ids, chosen)
        events["ts_recv"][rows] = new_ts[ids[rows]]
        n = int(rows.sum())
        return events, self.info(events, events, rows_added=0, rows_removed=0, rows_altered=n,
                                 expected_issues={"out_of_order_ts": n} if n else {})  # fmt: skip


class CorruptRowsParams(CountParams):
    """``n`` random rows corrupted, each with one of ``modes`` (chosen by the seed)."""

    modes: tuple[str, ...] = ("bad_kind", "bad_side", "nan_qty", "negative_qty", "bad_price")


_MODE_CODE = {
    "bad_kind": "bad_value",
    "bad_side": "bad_value",
    "nan_qty": "nan_qty",
    "negative_qty": "negative_qty",
    "bad_price": "bad_value",
}


class CorruptRows(Scenario[CorruptRowsParams]):
    """Garbage rows: kind 7, side 3, NaN size, negative size or price <= 0 (BOOK rows only)."""

    name = "corrupt_rows"
    category = "data"
    keeps_c1 = False
    params_type = CorruptRowsParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Corrupt the chosen rows in place (on the private copy)."""
        unknown = set(self.params.modes) - set(_MODE_CODE)
        if unknown or not self.params.modes:
            raise ValueError(
                f"corrupt_rows: unknown modes {sorted(unknown)}; use {list(_MODE_CODE)}"
            )
        cand = np.flatnonzero(events["kind"] == KIND_BOOK)
        rows = np.sort(rng.choice(cand, size=min(self.params.n, len(cand)), replace=False))
        modes = rng.choice(np.array(self.params.modes), size=len(rows))
        expected: dict[str, int] = {}
        for row, mode in zip(rows.tolist(), modes.tolist(), strict=True):
            _corrupt(events, row, mode)
            expected[_MODE_CODE[mode]] = expected.get(_MODE_CODE[mode], 0) + 1
        return events, self.info(events, events, rows_added=0, rows_removed=0,
                                 rows_altered=len(rows), expected_issues=expected)  # fmt: skip


def _corrupt(events: np.ndarray, row: int, mode: str) -> None:
    if mode == "bad_kind":
        events["kind"][row] = 7
    elif mode == "bad_side":
        events["side"][row] = 3
    elif mode == "nan_qty":
        events["qty"][row] = np.nan
    elif mode == "negative_qty":
        events["qty"][row] = -abs(events["qty"][row]) - 1.0
    else:
        events["price_ticks"][row] = -abs(events["price_ticks"][row])


class TruncateParams(FrozenConfig):
    """Cut at fraction ``at`` of the rows, inside the next batch of at least two rows."""

    at: Fraction = 0.5


class Truncate(Scenario[TruncateParams]):
    """A truncated file: the stream ends in the middle of a batch (no closing ``F_LAST``)."""

    name = "truncate"
    category = "data"
    keeps_c1 = False
    params_type = TruncateParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Keep the rows before the cut; the cut leaves the batch's first row(s) only."""
        _, starts = batch_ids(events)
        sizes = np.diff(np.append(starts, len(events)))
        multi = np.flatnonzero((sizes >= 2) & (starts >= int(self.params.at * len(events))))
        if len(multi) == 0:
            return events, self.info(events, events, rows_added=0, rows_removed=0)
        b = int(multi[0])
        cut = int(starts[b]) + int(rng.integers(1, sizes[b]))
        out = events[:cut].copy()
        return out, self.info(events, out, rows_added=0, rows_removed=len(events) - cut,
                              window_ns=(int(out["ts_recv"][-1]), int(events["ts_recv"][-1])),
                              expected_issues={"unclosed_batch": 1})  # fmt: skip


def _drop_batches(
    scenario: Scenario[Any],
    events: np.ndarray,
    drop: NDArray[np.bool_],
) -> tuple[np.ndarray, TransformInfo]:
    """Remove the rows where ``drop`` is True (whole batches)."""
    out = events[~drop].copy()
    removed = int(drop.sum())
    span = events["ts_recv"][drop]
    win = (int(span.min()), int(span.max())) if removed else (-1, -1)
    return out, scenario.info(events, out, rows_added=0, rows_removed=removed, window_ns=win)


class DropMessagesParams(FrozenConfig):
    """Each batch is dropped with probability ``frac``."""

    frac: Fraction = 0.01


class DropMessages(Scenario[DropMessagesParams]):
    """Lost messages scattered through the stream (keeps C1; the book silently drifts)."""

    name = "drop_messages"
    category = "data"
    params_type = DropMessagesParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Drop whole batches at random."""
        ids, starts = batch_ids(events)
        gone = rng.random(len(starts)) < self.params.frac
        return _drop_batches(self, events, gone[ids] if len(ids) else gone)


class SequenceGapParams(CountParams):
    """``n`` gaps, each losing ``length`` consecutive book messages."""

    n: Count = 3
    length: Annotated[int, Field(ge=1, le=1_000_000)] = 50


class SequenceGap(Scenario[SequenceGapParams]):
    """Runs of consecutive book messages lost (a disconnect); trades in between are kept."""

    name = "sequence_gap"
    category = "data"
    params_type = SequenceGapParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Drop ``length`` book batches from each of ``n`` random starting book batches."""
        ids, is_book = _book_batches(events)
        book = np.flatnonzero(is_book)
        room = max(len(book) - self.params.length, 0)
        n = min(self.params.n, room)
        first: list[int] = rng.choice(room, size=n, replace=False).tolist() if n else []
        gone = np.zeros(len(is_book), dtype=np.bool_)
        for f in first:
            gone[book[f : f + self.params.length]] = True
        return _drop_batches(self, events, gone[ids] if len(ids) else gone)


class StaleFeedParams(FrozenConfig):
    """No update at all for ``duration_s`` s from fraction ``at`` of the time span."""

    at: Fraction = 0.5
    duration_s: Seconds = 10.0


class StaleFeed(Scenario[StaleFeedParams]):
    """A silent feed: every row of the window removed."""

    name = "stale_feed"
    category = "data"
    params_type = StaleFeedParams

    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Remove ``events[i0:i1]`` (batch-aligned)."""
        t0, t1, i0, i1 = window(events, self.params.at, self.params.duration_s)
        drop = np.zeros(len(events), dtype=np.bool_)
        drop[i0:i1] = True
        out, info = _drop_batches(self, events, drop)
        return out, self.info(events, out, rows_added=0, rows_removed=info.rows_removed,
                              window_ns=(t0, t1))  # fmt: skip
