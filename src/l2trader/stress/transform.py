"""The scenario protocol: seeded, parameterised, pure transforms of a C1 event stream.

A scenario has a ``name``, a ``category`` (``"market"``, ``"data"`` or ``"edge"``), its
``params`` (a :class:`~l2trader.config.FrozenConfig`) and a ``seed``. ``apply(events)``
never writes to its input: it returns a new C1 array and a :class:`TransformInfo` that
states what was done (rows added / removed / altered, the time window, whether the output
keeps the C1 invariants and, for faults, the issues validation must report).

Composition (:func:`compose`) applies scenarios left to right: ``compose(a, b)`` is
``b.apply(a.apply(events)[0])``; each step keeps its own seed, and a step's window (a
fraction of the stream's ``ts_recv`` span) is taken on the stream the previous step
produced. Apply data faults last: market and edge scenarios replay the book and expect
valid C1 input.

The book helpers here (:class:`Levels`, :func:`levels_at`, :func:`diff_batch`,
:func:`batch_rows`) are shared by the market, edge and fault modules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from l2trader.book.book import OrderBook
from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError
from l2trader.schema import ASK, BID, EVENT_DTYPE, F_LAST, KIND_BOOK, KIND_CLEAR

__all__ = [
    "Category",
    "Composed",
    "Levels",
    "Scenario",
    "TransformInfo",
    "batch_rows",
    "compose",
    "diff_batch",
    "levels_at",
    "window",
]

Category = Literal["market", "data", "edge"]
P = TypeVar("P", bound=FrozenConfig)
_ALL_LEVELS = 1 << 17
"""Levels per side read from the book: more than any real L2 feed keeps."""


@dataclass(frozen=True)
class TransformInfo:
    """What one transform did to a stream.

    ``rows_out == rows_in + rows_added - rows_removed``; ``rows_altered`` counts kept rows
    whose content changed. ``window_ns`` is the ``ts_recv`` span touched, ns (``(-1, -1)``
    when nothing was touched). ``expected_issues`` maps an ``IssueCode`` value to the
    number of issues validation must report on the output (empty when ``keeps_c1``).
    ``details`` holds scenario-specific numbers (ticks, bps, counts).
    """

    name: str
    category: str
    seed: int
    rows_in: int
    rows_out: int
    rows_added: int
    rows_removed: int
    rows_altered: int
    window_ns: tuple[int, int]
    keeps_c1: bool
    expected_issues: Mapping[str, int] = field(default_factory=dict)
    details: Mapping[str, float] = field(default_factory=dict)
    steps: tuple[TransformInfo, ...] = ()

    def __post_init__(self) -> None:
        if self.rows_out != self.rows_in + self.rows_added - self.rows_removed:
            raise ValueError(
                f"{self.name}: rows_out={self.rows_out} != rows_in={self.rows_in} + "
                f"added={self.rows_added} - removed={self.rows_removed}"
            )


class Scenario(ABC, Generic[P]):
    """Base of every scenario: check the input, seed the generator, run :meth:`transform`.

    Subclasses set ``name``, ``category``, ``keeps_c1`` and ``params_type`` and implement
    :meth:`transform`, which receives a private copy of the input.
    """

    name: ClassVar[str]
    category: ClassVar[Category]
    keeps_c1: ClassVar[bool] = True
    params_type: ClassVar[type[FrozenConfig]]

    def __init__(self, params: P | None = None, *, seed: int = 0) -> None:
        if seed < 0:
            raise ConfigError(f"{type(self).__name__}: seed must be >= 0, got {seed}")
        self.params: P = params if params is not None else self.params_type()  # type: ignore[assignment]
        if not isinstance(self.params, self.params_type):
            raise ConfigError(
                f"{type(self).__name__}: params must be {self.params_type.__name__}, "
                f"got {type(self.params).__name__}"
            )
        self.seed = seed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, seed={self.seed})"

    def apply(self, events: np.ndarray) -> tuple[np.ndarray, TransformInfo]:
        """Return the transformed stream (a new array) and what was done; ``events`` is unchanged.

        The output's padding bytes are zero, so one seed always gives the same bytes.
        """
        if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
            got = getattr(events, "dtype", type(events).__name__)
            raise TypeError(f"{self.name}: events must be an EVENT_DTYPE array, got {got}")
        work = np.ascontiguousarray(events).copy()
        if len(work) == 0:
            return work, self.info(work, work, rows_added=0, rows_removed=0)
        out, info = self.transform(work, np.random.default_rng(self.seed))
        return concat([out]), info  # zeroed padding bytes: same seed -> same bytes

    @abstractmethod
    def transform(
        self, events: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, TransformInfo]:
        """Transform ``events`` (a private copy: it may be modified) with ``rng``."""

    def info(self, events: np.ndarray, out: np.ndarray, **kw: Any) -> TransformInfo:
        """A :class:`TransformInfo` for this scenario (``rows_in``/``rows_out`` from arrays)."""
        kw.setdefault("keeps_c1", self.keeps_c1)
        kw.setdefault("rows_altered", 0)
        kw.setdefault("window_ns", (-1, -1))
        return TransformInfo(
            name=self.name, category=self.category, seed=self.seed,
            rows_in=len(events), rows_out=len(out), **kw,
        )  # fmt: skip


class Composed:
    """Several scenarios applied left to right (see the module docstring).

    ``category`` is the most severe of the steps' (data > edge > market), ``seed`` the first
    step's; each step uses its own seed.
    """

    name: str
    category: Category
    seed: int

    def __init__(self, scenarios: Sequence[Scenario[Any] | Composed]) -> None:
        if not scenarios:
            raise ConfigError("compose: give at least one scenario")
        self.scenarios = tuple(scenarios)
        self.name = "+".join(s.name for s in self.scenarios)
        cats = {s.category for s in self.scenarios}
        order: tuple[Category, ...] = ("data", "edge", "market")
        self.category = next(c for c in order if c in cats)
        self.seed = self.scenarios[0].seed

    def apply(self, events: np.ndarray) -> tuple[np.ndarray, TransformInfo]:
        """Apply every step in order; the info sums the row counts and lists the steps."""
        out = events
        steps: list[TransformInfo] = []
        for scenario in self.scenarios:
            out, step = scenario.apply(out)
            steps.append(step)
        expected: dict[str, int] = {}
        for step in steps:
            for code, n in step.expected_issues.items():
                expected[code] = expected.get(code, 0) + n
        touched = [s.window_ns for s in steps if s.window_ns[0] >= 0]
        return out, TransformInfo(
            name=self.name, category=self.category, seed=self.seed,
            rows_in=len(events), rows_out=len(out),
            rows_added=sum(s.rows_added for s in steps),
            rows_removed=sum(s.rows_removed for s in steps),
            rows_altered=sum(s.rows_altered for s in steps),
            window_ns=(min(t[0] for t in touched), max(t[1] for t in touched))
            if touched else (-1, -1),
            keeps_c1=all(s.keeps_c1 for s in steps), expected_issues=expected,
            steps=tuple(steps),
        )  # fmt: skip


def compose(*scenarios: Scenario[Any] | Composed) -> Composed:
    """Chain scenarios: the first argument is applied first (its output feeds the next).

    Examples
    --------
    >>> from l2trader.stress.faults import Duplicates
    >>> compose(Duplicates(seed=1), Duplicates(seed=2)).name
    'duplicates+duplicates'
    """
    return Composed(scenarios)


# ---------------------------------------------------------------------------------------------
# Book helpers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Levels:
    """A full L2 book: prices (ticks, best first) and sizes (base units) per side."""

    bid_ticks: NDArray[np.int64]
    bid_qty: NDArray[np.float64]
    ask_ticks: NDArray[np.int64]
    ask_qty: NDArray[np.float64]

    def mid_ticks(self) -> float:
        """Mid price, ticks (NaN when a side is empty)."""
        if len(self.bid_ticks) == 0 or len(self.ask_ticks) == 0:
            return float("nan")
        return (float(self.bid_ticks[0]) + float(self.ask_ticks[0])) / 2.0

    def depth_within(self, bps: float, mid: float | None = None) -> tuple[float, float]:
        """Summed size (base units) of the levels within ``bps`` of ``mid`` (default: own mid).

        Examples
        --------
        >>> lv = Levels(np.array([99, 90]), np.array([1.0, 2.0]), np.array([101]), np.array([3.0]))
        >>> lv.depth_within(200.0)
        (1.0, 3.0)
        """
        ref = self.mid_ticks() if mid is None else mid
        band = ref * bps * 1e-4
        bid = float(self.bid_qty[self.bid_ticks >= ref - band].sum())
        ask = float(self.ask_qty[self.ask_ticks <= ref + band].sum())
        return bid, ask

    def shifted(self, offset: int) -> Levels:
        """The same book moved by ``offset`` ticks."""
        return Levels(self.bid_ticks + offset, self.bid_qty, self.ask_ticks + offset, self.ask_qty)

    def side(self, side: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """``(ticks, qty)`` of ``side`` (``BID`` or ``ASK``)."""
        return (self.bid_ticks, self.bid_qty) if side == BID else (self.ask_ticks, self.ask_qty)


def book_levels(book: OrderBook) -> Levels:
    """Every level of ``book`` as :class:`Levels`."""
    bids, asks = book.top(_ALL_LEVELS)
    return Levels(
        np.array([p for p, _ in bids], dtype=np.int64),
        np.array([q for _, q in bids], dtype=np.float64),
        np.array([p for p, _ in asks], dtype=np.int64),
        np.array([q for _, q in asks], dtype=np.float64),
    )


def levels_at(events: np.ndarray, stops: Sequence[int]) -> list[Levels]:
    """The book after ``events[:stop]`` for each of the increasing ``stops`` (one replay)."""
    book = OrderBook()
    out: list[Levels] = []
    done = 0
    for stop in stops:
        if stop < done:
            raise ValueError(f"levels_at: stops must be increasing, got {list(stops)}")
        book.apply(events[done:stop])
        done = stop
        out.append(book_levels(book))
    return out


def window(events: np.ndarray, at: float, duration_s: float) -> tuple[int, int, int, int]:
    """``(t0, t1, i0, i1)``: a time window (ns) and its batch-aligned rows ``events[i0:i1]``.

    ``t0`` is at fraction ``at`` of the stream's ``ts_recv`` span, ``t1 = t0 + duration_s``.
    """
    ts = events["ts_recv"]
    if len(ts) == 0:
        return -1, -1, 0, 0
    t0 = int(ts[0]) + round(at * float(ts[-1] - ts[0]))
    t1 = t0 + round(duration_s * 1e9)
    i0 = int(np.searchsorted(ts, t0, side="left"))
    i1 = int(np.searchsorted(ts, t1, side="left"))
    return t0, t1, i0, i1


def _side_diff(
    old_t: NDArray[np.int64], old_q: NDArray[np.float64],
    new_t: NDArray[np.int64], new_q: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:  # fmt: skip
    """Rows turning one side into another: deletes (qty 0) first, then new/changed sizes."""
    gone = old_t[~np.isin(old_t, new_t)]
    order = np.argsort(old_t)
    pos = np.searchsorted(old_t[order], new_t)
    pos = np.minimum(pos, max(len(old_t) - 1, 0))
    same = np.zeros(len(new_t), dtype=np.bool_)
    if len(old_t):
        idx = order[pos]
        same = (old_t[idx] == new_t) & (old_q[idx] == new_q)
    ticks = np.concatenate([gone, new_t[~same]])
    qty = np.concatenate([np.zeros(len(gone)), new_q[~same]])
    return ticks, qty


def diff_batch(old: Levels, new: Levels, ts_recv: int, ts_exch: int) -> np.ndarray:
    """One C1 batch of BOOK rows turning book ``old`` into ``new`` (empty if equal)."""
    parts = []
    for side in (BID, ASK):
        ticks, qty = _side_diff(*old.side(side), *new.side(side))
        parts.append((ticks, qty, np.full(len(ticks), side, dtype=np.int8)))
    ticks = np.concatenate([p[0] for p in parts])
    return batch_rows(
        ts_recv, ts_exch, ticks, np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]), KIND_BOOK,
    )  # fmt: skip


def batch_rows(
    ts_recv: int,
    ts_exch: int,
    ticks: NDArray[np.int64],
    qty: NDArray[np.float64],
    side: NDArray[np.int8] | int,
    kind: int,
) -> np.ndarray:
    """One C1 batch (``seq`` -1, ``F_LAST`` on the last row) of ``kind`` rows."""
    out = np.zeros(len(ticks), dtype=EVENT_DTYPE)
    out["ts_recv"], out["ts_exch"], out["seq"] = ts_recv, ts_exch, -1
    out["price_ticks"], out["qty"], out["side"], out["kind"] = ticks, qty, side, kind
    if len(out):
        out["flags"][-1] = F_LAST
    return out


def exch_offset(events: np.ndarray, i: int) -> int:
    """``ts_exch - ts_recv`` (ns) of the last row before ``i`` with a venue time, else 0."""
    has = np.flatnonzero(events["ts_exch"][:i] >= 0)
    if len(has) == 0:
        return 0
    j = int(has[-1])
    return int(events["ts_exch"][j]) - int(events["ts_recv"][j])


def shift_prices(events: np.ndarray, offset: int) -> int:
    """Move every BOOK/SNAPSHOT/TRADE price by ``offset`` ticks in place; rows changed."""
    if offset == 0 or len(events) == 0:
        return 0
    priced = events["kind"] != KIND_CLEAR
    events["price_ticks"][priced] += offset
    return int(priced.sum())


def concat(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate event arrays into one zero-padded C-contiguous array."""
    out = np.zeros(sum(len(p) for p in parts), dtype=EVENT_DTYPE)
    start = 0
    for part in parts:
        out[start : start + len(part)] = part
        start += len(part)
    return out
