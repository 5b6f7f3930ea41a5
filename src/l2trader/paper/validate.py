"""Paper vs backtest parity on the same data, and row comparisons for recovery.

**Parity.** A paper session over a recorded feed runs the same :class:`Engine` (book,
venue, latency, fees, risk, strategy) on the same C1 rows as a backtest, only split into
arrivals and interleaved with journal commits. The engine's clock is the events'
``ts_recv``; :class:`~l2trader.paper.feed.ReplayFeed` keeps the recorded ``ts_recv`` at any
``speed``, so the outputs are **identical** at every speed (``speed=None`` and real time
alike): the tolerance is zero. A feed that re-stamps ``ts_recv`` with the wall clock (or a
live feed) changes the strategy's clock; :class:`Tolerance` then states how far a fill may
move: ``ts_ns`` on both clocks, ``price_ticks`` and relative ``qty``.

:func:`compare_outputs` lines up each C5-C7 table row by row and lists the differences
(table, row, field, paper value, backtest value), at most ``max_listed`` per table.

Examples
--------
>>> import numpy as np
>>> from l2trader.schema import FILL_DTYPE
>>> a = np.zeros(2, FILL_DTYPE); b = a.copy(); b["qty"][1] = 1.0
>>> first_difference(a, b)
(1, 'qty')
>>> compare_outputs({"fills": a}, {"fills": b}).identical
False
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from l2trader.engine.backtest import load_signals
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.engine.fees import FeeConfig
from l2trader.paper.config import PaperConfig, resolve_instrument

__all__ = [
    "LatencyHistogram",
    "ParityReport",
    "SessionStats",
    "TableParity",
    "Tolerance",
    "backtest_output",
    "compare_outputs",
    "first_difference",
    "output_tables",
]

_SUB: Final = 4
"""Latency histogram buckets per power of two."""
_PAIRS: Final = (("intents", "orders"), ("order_events", "order_events"), ("fills", "fills"),
                 ("state", "equity"))  # fmt: skip
"""Journal table name -> :class:`EngineOutput` field."""


@dataclass(frozen=True)
class Tolerance:
    """Allowed difference per fill field (all zero = exact parity)."""

    ts_ns: int = 0
    price_ticks: int = 0
    qty_rel: float = 0.0

    @property
    def exact(self) -> bool:
        """True when nothing may differ."""
        return self.ts_ns == 0 and self.price_ticks == 0 and self.qty_rel == 0.0


@dataclass(frozen=True)
class TableParity:
    """One table compared: row counts, rows equal (within tolerance), listed differences."""

    table: str
    paper_rows: int
    backtest_rows: int
    equal_rows: int
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Same row count and every row equal."""
        return self.paper_rows == self.backtest_rows == self.equal_rows


@dataclass(frozen=True)
class ParityReport:
    """Every table compared, and the tolerance used."""

    tables: dict[str, TableParity]
    tolerance: Tolerance

    @property
    def identical(self) -> bool:
        """True when every table is identical."""
        return all(t.identical for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``parity.json``)."""
        return {
            "identical": self.identical,
            "tolerance": {"ts_ns": self.tolerance.ts_ns, "exact": self.tolerance.exact,
                          "price_ticks": self.tolerance.price_ticks,
                          "qty_rel": self.tolerance.qty_rel},
            "tables": {n: {"paper_rows": t.paper_rows, "backtest_rows": t.backtest_rows,
                           "equal_rows": t.equal_rows, "identical": t.identical,
                           "differences": t.differences} for n, t in self.tables.items()},
        }  # fmt: skip


def _field_equal(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.bool_]:
    """Element-wise equality; NaN equals NaN (a journal NULL reads back as NaN)."""
    if a.dtype.kind == "f":
        return np.asarray((a == b) | (np.isnan(a) & np.isnan(b)))
    return np.asarray(a == b)


def _row_equal(a: NDArray[np.void], b: NDArray[np.void], tol: Tolerance) -> NDArray[np.bool_]:
    """Per-row equality of two same-length record arrays (fills within ``tol``)."""
    ok = np.ones(a.size, bool)
    for name in a.dtype.names or ():
        x, y = a[name], b[name]
        if name.startswith("ts_") and tol.ts_ns:
            ok &= np.abs(x - y) <= tol.ts_ns
        elif name == "price_ticks" and tol.price_ticks:
            ok &= np.abs(x - y) <= tol.price_ticks
        elif name == "qty" and tol.qty_rel:
            ok &= np.abs(x - y) <= tol.qty_rel * np.maximum(np.abs(x), np.abs(y))
        else:
            ok &= _field_equal(x, y)
    return ok


def first_difference(a: NDArray[np.void], b: NDArray[np.void]) -> tuple[int, str] | None:
    """``(row, field)`` of the first difference of two record arrays, None if equal.

    A length difference is reported at row ``min(len)`` with field ``"<length>"``.
    """
    n = min(a.size, b.size)
    bad = np.flatnonzero(~_row_equal(a[:n], b[:n], Tolerance()))
    if bad.size:
        row = int(bad[0])
        return row, _fields_differing(a, b, row)[0]
    return None if a.size == b.size else (n, "<length>")


def _fields_differing(a: NDArray[np.void], b: NDArray[np.void], row: int) -> list[str]:
    names = a.dtype.names or ()
    return [f for f in names if not _field_equal(a[f][row : row + 1], b[f][row : row + 1])[0]]


def _table(name: str, paper: NDArray[np.void], bt: NDArray[np.void], tol: Tolerance,
           max_listed: int) -> TableParity:  # fmt: skip
    n = min(paper.size, bt.size)
    ok = _row_equal(paper[:n], bt[:n], tol if name == "fills" else Tolerance())
    diffs = []
    for row in np.flatnonzero(~ok)[:max_listed].tolist():
        diffs.append({"row": row, "fields": _fields_differing(paper, bt, row),
                      "paper": paper[row].tolist(), "backtest": bt[row].tolist()})  # fmt: skip
    if paper.size != bt.size and len(diffs) < max_listed:
        extra, who = (paper[n:], "paper") if paper.size > n else (bt[n:], "backtest")
        diffs.append({"row": n, "fields": ["<only in " + who + ">"],
                      who: extra[0].tolist(), "count": int(extra.size)})  # fmt: skip
    return TableParity(name, int(paper.size), int(bt.size), int(ok.sum()), diffs)


def output_tables(output: EngineOutput) -> dict[str, NDArray[np.void]]:
    """An engine output's C5-C7 arrays keyed by journal table name."""
    return {table: getattr(output, attr) for table, attr in _PAIRS}


def compare_outputs(
    paper: Mapping[str, NDArray[np.void]],
    backtest: Mapping[str, NDArray[np.void]],
    *,
    tolerance: Tolerance | None = None,
    max_listed: int = 20,
) -> ParityReport:
    """Compare journal tables of a paper session with a backtest's (same table names).

    Only tables present in both are compared; see :func:`output_tables`.
    """
    tol = tolerance or Tolerance()
    names = [t for t, _ in _PAIRS if t in paper and t in backtest]
    return ParityReport({t: _table(t, paper[t], backtest[t], tol, max_listed) for t in names}, tol)


def backtest_output(config: PaperConfig, chunks: Iterable[NDArray[np.void]],
                    limit: int | None = None) -> EngineOutput:  # fmt: skip
    """The backtest of ``config`` (same engine, strategy, fees, signal) over ``chunks``.

    ``limit`` keeps only the first ``limit`` events (a paper session's consumed events).
    """
    inst = resolve_instrument(config.data)
    spec = config.strategy
    engine = Engine(config.engine, tick_size=inst.tick_size, strategy=spec.kind,
                    taker=spec.taker, market_maker=spec.market_maker,
                    signals=load_signals(config.signal.path) if config.signal.path else None,
                    fees=config.engine.fees or FeeConfig.from_instrument(inst))  # fmt: skip
    left = math.inf if limit is None else limit
    for chunk in chunks:
        if left <= 0:
            break
        part = chunk if left >= len(chunk) else chunk[: int(left)]
        engine.run(part)
        left -= len(part)
    return engine.finish()


class LatencyHistogram:
    """Log-scale histogram of durations (ns): 4 buckets per power of two (<= 19 % wide).

    Examples
    --------
    >>> h = LatencyHistogram()
    >>> for ns in (1000, 1000, 2000, 900_000):
    ...     h.add(ns)
    >>> h.count, h.max_ns, h.quantile(0.5) >= 1000
    (4, 900000, True)
    """

    def __init__(self) -> None:
        self.counts = np.zeros(64 * _SUB, np.int64)
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0

    def add(self, ns: int) -> None:
        """Count one duration, ns (values < 1 count as 1)."""
        k = int(_SUB * math.log2(max(ns, 1)))
        self.counts[min(k, self.counts.size - 1)] += 1
        self.count += 1
        self.total_ns += ns
        self.max_ns = max(self.max_ns, ns)

    def quantile(self, q: float) -> float:
        """Upper edge (ns) of the bucket holding quantile ``q``; NaN when empty."""
        if not self.count:
            return math.nan
        k = int(np.searchsorted(np.cumsum(self.counts), q * self.count, side="left"))
        return float(min(2.0 ** ((k + 1) / _SUB), self.max_ns))

    def to_dict(self) -> dict[str, Any]:
        """Count, mean, p50/p90/p99/max (ns) and the non-empty buckets' lower edges (ns)."""
        nz = np.flatnonzero(self.counts)
        return {"count": self.count, "mean_ns": self.total_ns / max(self.count, 1),
                "p50_ns": self.quantile(0.5), "p90_ns": self.quantile(0.9),
                "p99_ns": self.quantile(0.99), "max_ns": self.max_ns,
                "buckets": {f"{2.0 ** (k / _SUB):.0f}": int(self.counts[k])
                            for k in nz}}  # fmt: skip


@dataclass
class SessionStats:
    """Counters of one session run (times ns)."""

    arrivals: int = 0
    events: int = 0
    commits: int = 0
    checkpoints: int = 0
    queue_max_depth: int = 0
    blocked_puts: int = 0
    blocked_ns: int = 0
    blocked_max_ns: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
