"""Invariants checked on every stress case: each a named check with its evidence.

A check returns an :class:`InvariantResult` with ``passed`` True, False, or None (does not
apply to this case: not counted in the score). The checks, in report order:

- ``no_crash``: the case ran to the end; else the exception's type and message.
- ``typed_error_strict``: strict validation (``Policy.STRICT``) of the stressed stream
  raises a typed :class:`~l2trader.errors.DataError` iff the scenario declared stream-level
  faults (``expected_issues`` other than crossed/locked books).
- ``conservation``: events after the transform == kept + quarantined (repair mode), and the
  engine processed exactly the kept events.
- ``faults_detected``: every stream-level issue count equals the scenario's
  ``expected_issues``; a declared crossed/locked book is seen (>= 1 crossed state).
- ``position_limit``: ``max |position|`` over the fill-by-fill position path (base units)
  stays within the limit (``RISK_RTOL`` relative slack).
- ``drawdown_limit``: the largest drop of the state-by-state equity below its running
  peak (quote) stays within the stress budget.
- ``kill_switch``: if the drawdown passed the strategy's own kill limit, the engine halted;
  once halted, only reduce-only flatten orders (MARKET IOC) follow the breach and the run
  ends flat.
- ``equity_reconciles``: every C7 grid row equals the portfolio replayed from the fills
  delivered by then (``position``, ``cash``, ``equity = cash + position * mid``).
- ``book_consistent``: the number of crossed/locked states after ``F_LAST`` (book replay)
  equals the engine's ``crossed_states`` (none used silently) and is 0 unless the scenario
  is a declared fault (``keeps_c1`` False).

:func:`case_metrics` (PnL, drawdown, Sharpe, fills, position, risk counters),
:func:`output_digest` and :func:`thin_equity` summarise the run for the result.

The state-by-state equity is ``cash + position * mid * tick_size`` at every consistent book
state, with the fills whose ``ts_recv`` is at or before the state (what the risk monitor
sees).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.performance import sharpe
from l2trader.analysis.returns import periods_per_year
from l2trader.book.replay import replay
from l2trader.engine.engine import EngineOutput
from l2trader.engine.risk import RISK_RTOL
from l2trader.schema import NO_ASK_TICKS, OrderAction, OrderType, TimeInForce

__all__ = [
    "BOOK_CODES",
    "EQUITY_POINTS",
    "InvariantResult",
    "StatePath",
    "case_metrics",
    "check_book",
    "check_conservation",
    "check_equity",
    "check_faults",
    "check_kill_switch",
    "check_limit",
    "check_strict",
    "drawdown_path",
    "output_digest",
    "position_path",
    "state_path",
    "thin_equity",
]

BOOK_CODES = frozenset({"crossed_book", "locked_book"})
"""Issue codes found by the book check, not by the stream validation."""
EQUITY_POINTS = 400
"""Equity-curve points kept per case (for the report)."""
_ATOL = 1e-6
"""Absolute slack (quote / base units) of the reconciliation checks."""


@dataclass(frozen=True)
class InvariantResult:
    """One check: ``passed`` None when it does not apply; ``evidence`` says why, with numbers."""

    name: str
    passed: bool | None
    evidence: str


def check_strict(expected: Mapping[str, int], error: str | None) -> InvariantResult:
    """``error``: ``"Type: message"`` raised by strict validation, or None.

    Examples
    --------
    >>> check_strict({"duplicate_seq": 3}, "DuplicateError: event 9 ...").passed
    True
    >>> check_strict({}, "ValueError: boom").passed
    False
    """
    stream = {k: v for k, v in expected.items() if k not in BOOK_CODES and v}
    typed = error is not None and error.split(":")[0].endswith("Error") and not (
        error.startswith(("ValueError", "TypeError", "IndexError", "KeyError"))
    )  # fmt: skip
    if stream:
        return InvariantResult("typed_error_strict", typed, f"declared {stream}; raised {error}")
    return InvariantResult(
        "typed_error_strict", error is None, f"no fault declared; raised {error}"
    )


def check_conservation(
    rows_stressed: int, kept: int, quarantined: int, engine_events: int
) -> InvariantResult:
    """Events in = kept + quarantined, and the engine saw every kept event."""
    ok = rows_stressed == kept + quarantined and engine_events == kept
    text = (f"events in {rows_stressed} = kept {kept} + quarantined {quarantined}; "
            f"engine processed {engine_events}")  # fmt: skip
    return InvariantResult("conservation", ok, text)


def check_faults(
    expected: Mapping[str, int], counts: Mapping[str, int], crossed_states: int
) -> InvariantResult:
    """Declared stream issues counted exactly; declared crossed/locked books seen."""
    stream_exp = {k: v for k, v in expected.items() if k not in BOOK_CODES and v}
    stream_got = {k: v for k, v in counts.items() if k not in BOOK_CODES and v}
    book_exp = sum(v for k, v in expected.items() if k in BOOK_CODES)
    if not stream_exp and not book_exp and not stream_got:
        return InvariantResult("faults_detected", None, "no fault declared or found")
    ok = stream_exp == stream_got and (book_exp == 0 or crossed_states > 0)
    text = f"declared {dict(expected)}; validation counted {stream_got}; crossed states "
    return InvariantResult("faults_detected", ok, text + str(crossed_states))


@dataclass(frozen=True)
class StatePath:
    """The portfolio at every consistent book state (what the risk monitor sees).

    ``ts`` ns, ``position`` base units, ``equity`` quote; ``crossed`` counts the crossed or
    locked states (left out of the path), ``first_crossed_ts`` is -1 when there are none.
    """

    ts: NDArray[np.int64]
    position: NDArray[np.float64]
    equity: NDArray[np.float64]
    crossed: int
    first_crossed_ts: int


def state_path(
    events: np.ndarray, fills: np.ndarray, tick_size: float, initial_cash: float
) -> StatePath:
    """Replay the book and the fills (by ``ts_recv``) into a :class:`StatePath`."""
    frame = replay(events, levels=1)
    bid, ask = frame.bid_ticks[:, 0], frame.ask_ticks[:, 0]
    two = (frame.bid_qty[:, 0] > 0) & (frame.ask_qty[:, 0] > 0) & (ask != NO_ASK_TICKS)
    crossed = two & (bid >= ask)
    ok = two & ~crossed
    ts = frame.ts_recv[ok]
    mid = (bid[ok] + ask[ok]) / 2.0 * tick_size
    order = np.argsort(fills["ts_recv"], kind="stable")
    f = fills[order]
    pos_c = np.concatenate([[0.0], np.cumsum(f["side"] * f["qty"])])
    flow = -f["side"] * f["price_ticks"] * tick_size * f["qty"] - f["fee"]
    cash_c = np.concatenate([[initial_cash], initial_cash + np.cumsum(flow)])
    k = np.searchsorted(f["ts_recv"], ts, side="right")
    pos = pos_c[k]
    equity = cash_c[k] + np.where(pos != 0.0, pos * mid, 0.0)
    first = int(frame.ts_recv[crossed][0]) if crossed.any() else -1
    return StatePath(ts, pos, equity, int(crossed.sum()), first)


def check_limit(
    name: str,
    values: NDArray[np.float64],
    limit: float,
    unit: str,
    ts: NDArray[np.int64] | None = None,
) -> InvariantResult:
    """``max(values) <= limit`` with ``RISK_RTOL`` relative slack; None if the limit is inf.

    ``ts`` (ns, one per value) names when the worst value happened.

    Examples
    --------
    >>> check_limit("position_limit", np.array([0.1, 0.3]), 0.2, "base units").evidence
    'max 0.3 base units > limit 0.2'
    """
    if not math.isfinite(limit):
        return InvariantResult(name, None, "no limit set")
    if values.size == 0:
        return InvariantResult(name, True, f"nothing traded; limit {limit:.6g} {unit}")
    k = int(np.argmax(values))
    worst = float(values[k])
    ok = worst <= limit + RISK_RTOL * limit
    when = f" at ts {int(ts[k])}" if ts is not None else ""
    return InvariantResult(
        name, ok, f"max {worst:.6g} {unit}{when} {'<=' if ok else '>'} limit {limit:.6g}"
    )


def position_path(fills: np.ndarray) -> NDArray[np.float64]:
    """``|position|`` after each fill in venue order (base units)."""
    return np.asarray(np.abs(np.cumsum(fills["side"] * fills["qty"])), dtype=np.float64)


def drawdown_path(path: StatePath) -> NDArray[np.float64]:
    """Running peak minus equity at each state (quote), the peak starting at the first state."""
    if path.equity.size == 0:
        return np.zeros(0)
    return np.asarray(np.maximum.accumulate(path.equity) - path.equity, dtype=np.float64)


def _is_flatten(orders: np.ndarray) -> NDArray[np.bool_]:
    market = orders["order_type"] == int(OrderType.MARKET)
    return np.asarray(market & (orders["tif"] == int(TimeInForce.IOC)), dtype=np.bool_)


def check_kill_switch(
    path: StatePath, orders: np.ndarray, kill_limit: float, halted: bool, final_position: float
) -> InvariantResult:
    """A drawdown past ``kill_limit`` (quote) halts; after it only flattens, and flat at the end."""
    dd = drawdown_path(path)
    tol = RISK_RTOL * kill_limit + _ATOL
    over = np.flatnonzero(dd > kill_limit + tol) if math.isfinite(kill_limit) else np.zeros(0)
    if over.size == 0 and not halted:
        return InvariantResult("kill_switch", None, "kill limit never reached, not halted")
    if over.size == 0:
        text = f"halted (daily loss); final position {final_position:.6g}"
        return InvariantResult("kill_switch", abs(final_position) <= 1e-12, text)
    t = int(path.ts[over[0]])
    new = orders["action"] == int(OrderAction.NEW)
    late = new & (orders["ts_recv"] > t) & ~_is_flatten(orders)
    ok = halted and int(late.sum()) == 0 and abs(final_position) <= 1e-12
    text = (
        f"drawdown {dd[over[0]]:.6g} > {kill_limit:.6g} at ts {t}; halted={halted}; "
        f"{int(late.sum())} strategy orders after it; final position {final_position:.6g}"
    )
    return InvariantResult("kill_switch", ok, text)


def check_equity(
    equity: np.ndarray, fills: np.ndarray, tick_size: float, initial_cash: float
) -> InvariantResult:
    """Each C7 row equals the portfolio of the fills delivered by its time (``ts_recv <=``).

    The last row holds every fill (the engine delivers late reports into it at the end).
    """
    order = np.argsort(fills["ts_recv"], kind="stable")
    f = fills[order]
    pos_c = np.concatenate([[0.0], np.cumsum(f["side"] * f["qty"])])
    flow = -f["side"] * f["price_ticks"] * tick_size * f["qty"] - f["fee"]
    cash_c = np.concatenate([[initial_cash], initial_cash + np.cumsum(flow)])
    k = np.searchsorted(f["ts_recv"], equity["ts_recv"], side="right")
    if k.size:
        k[-1] = f.size
    pos, cash = pos_c[k], cash_c[k]
    mark = cash + np.where(pos != 0.0, pos * equity["mid"], 0.0)
    for got, want, what in ((equity["position"], pos, "position"), (equity["cash"], cash, "cash"),
                            (equity["equity"], mark, "equity")):  # fmt: skip
        bad = np.flatnonzero(np.abs(got - want) > _ATOL + 1e-9 * np.abs(want))
        if bad.size:
            i = int(bad[0])
            text = (f"{what} {got[i]:.10g} != replayed {want[i]:.10g} at row {i} "
                    f"(ts {int(equity['ts_recv'][i])}); {bad.size} rows differ")  # fmt: skip
            return InvariantResult("equity_reconciles", False, text)
    return InvariantResult(
        "equity_reconciles", True, f"{equity.size} rows match {fills.size} fills"
    )


def check_book(path: StatePath, engine_crossed: int, declared_fault: bool) -> InvariantResult:
    """Crossed states seen by the engine == replayed; none unless a declared fault."""
    ok = path.crossed == engine_crossed and (path.crossed == 0 or declared_fault)
    text = (f"{path.crossed} crossed/locked states after F_LAST (first at ts "
            f"{path.first_crossed_ts}); engine skipped {engine_crossed}; "
            f"declared fault: {declared_fault}")  # fmt: skip
    return InvariantResult("book_consistent", ok, text)


def output_digest(out: EngineOutput) -> str:
    """Sha256 of the outputs, field by field (record padding bytes are not zeroed)."""
    h = hashlib.sha256()
    for arr in (out.orders, out.order_events, out.fills, out.equity):
        for name in arr.dtype.names or ():
            h.update(np.ascontiguousarray(arr[name]).tobytes())
    return h.hexdigest()


def case_metrics(out: EngineOutput, initial_cash: float) -> dict[str, float]:
    """PnL, max drawdown, Sharpe (24/7 grid, capital = largest notional), fills, position."""
    eq = out.equity
    values = eq["equity"].astype(np.float64)
    notional = float(np.max(np.abs(eq["position"] * eq["mid"]))) if eq.size else 0.0
    sr = math.nan
    if eq.size >= 3 and notional > 0:
        step = int(np.min(np.diff(eq["ts_recv"])))
        sr = sharpe(np.diff(values) / notional, periods_per_year(step, "24/7", 0.0))
    c = out.counters
    return {
        "pnl": float(values[-1] - initial_cash) if eq.size else 0.0,
        "max_drawdown": float(np.max(np.maximum.accumulate(values) - values)) if eq.size else 0.0,
        "sharpe": float(sr),
        "fills": float(out.fills.size),
        "orders": float(out.orders.size),
        "fees": float(out.fills["fee"].sum()),
        "max_abs_position": float(np.max(np.abs(eq["position"]))) if eq.size else 0.0,
        "kill_switch": float(c["risk_kill_switch"]),
        "stop_loss": float(c["risk_stop_loss"]),
        "late_reports": float(c["late_reports"]),
    }


def thin_equity(eq: np.ndarray) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """At most ~``EQUITY_POINTS`` ``(ts_recv, equity)`` rows of C7 (first and last kept)."""
    step = max(1, math.ceil(eq.size / EQUITY_POINTS))
    idx = (
        np.unique(np.append(np.arange(0, eq.size, step), eq.size - 1))
        if eq.size
        else np.zeros(0, np.int64)
    )
    return tuple(int(t) for t in eq["ts_recv"][idx]), tuple(float(v) for v in eq["equity"][idx])
