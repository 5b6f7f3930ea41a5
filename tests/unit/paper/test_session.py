"""Paper session on a synthetic stream: parity with the backtest, crash/resume, stop, alerts.

A "crash" here is an exception raised from the ``on_arrival`` hook after arrival ``k`` was
committed (the SIGKILL tests live in tests/integration/test_paper_resume.py): the session
object is abandoned with its journal as it was, and a new ``Session(resume=True)`` must end
with exactly the rows and the portfolio of an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from l2trader.engine.state import ES_N_SV
from l2trader.errors import InvalidValueError, JournalCorruptError, JournalError
from l2trader.paper.config import PaperConfig
from l2trader.paper.journal import Journal
from l2trader.paper.recovery import checkpoint_position
from l2trader.paper.session import Session, SessionResult
from l2trader.paper.validate import (
    LatencyHistogram,
    Tolerance,
    backtest_output,
    compare_outputs,
    first_difference,
    output_tables,
)
from l2trader.schema import F_LAST, FILL_DTYPE, ORDER_DTYPE
from l2trader.testing import realistic_events

TABLES = ("intents", "order_events", "fills", "state")
MM = {"inventory_unit_qty": 1.0, "max_inventory": 5.0, "min_half_spread_ticks": 1.0,
      "sizing": {"qty": 1.0, "lot_size": 1.0}}  # fmt: skip


class Crash(Exception):
    pass


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    return _stretched(7)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, events: np.ndarray) -> tuple[Any, ...]:
    """Rows and result of one uninterrupted session over ``events``."""
    cfg = _config(tmp_path_factory.mktemp("reference"))
    result = _run(cfg, events)
    return _rows(cfg), result


def _stretched(seed: int) -> np.ndarray:
    """15,000 synthetic events spread over ~5 s (2 ms per us of the raw stream)."""
    ev = realistic_events(np.random.default_rng(seed), 15_000)
    for f in ("ts_recv", "ts_exch"):
        ev[f] = ev[f][0] + (ev[f] - ev[f][0]) * 2000
    return ev


def _config(tmp: Path, name: str = "j.sqlite", **kw: Any) -> PaperConfig:
    base: dict[str, Any] = {
        "journal": str(tmp / name),
        "data": {"catalog": str(tmp / "no-catalog"), "venue": "synthetic", "symbol": "SYN"},
        "strategy": {"kind": "market_maker", "market_maker": MM},
        "engine": {"grid_ns": 100_000_000, "latency": {"entry_ns": 1_000_000,
                                                      "response_ns": 1_000_000}},
        "checkpoint_every": 50,
    }  # fmt: skip
    base.update(kw)
    return PaperConfig(**base)


def _closed(events: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` events cut back to the last whole batch."""
    return events[: int(np.flatnonzero(events["flags"][:n] & F_LAST)[-1]) + 1]


def _run(cfg: PaperConfig, events: np.ndarray, **kw: Any) -> SessionResult:
    return asyncio.run(Session(cfg, source=events, **kw).run())


def _rows(cfg: PaperConfig) -> dict[str, np.ndarray]:
    with Journal(cfg.journal_path) as j:
        assert j.verify().ok
        rows = j.read_all()
    return {t: getattr(rows, t) for t in TABLES}


def _crash_at(k: int) -> Any:
    def hook(n: int) -> None:
        if n == k:
            raise Crash(n)

    return hook


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    for t in TABLES:
        assert first_difference(a[t], b[t]) is None, t


def test_session_journal_equals_the_backtest_exactly(
    tmp_path: Path, events: np.ndarray, reference: tuple[Any, ...]
) -> None:
    rows, result = reference

    bt = output_tables(backtest_output(_config(tmp_path), [events]))

    parity = compare_outputs(rows, bt)
    assert result.status == "finished"
    assert parity.identical
    assert {t: p.paper_rows for t, p in parity.tables.items()} == {t: bt[t].size for t in TABLES}
    assert bt["fills"].size > 0
    assert result.stats.events == events.size
    assert result.latency["count"] == result.stats.arrivals == result.position.arrivals
    assert result.stats.checkpoints == result.stats.arrivals // 50 + 1  # + the final one


@pytest.mark.parametrize("crash_after", [3, 50, 51, 777])
def test_crash_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, events: np.ndarray, reference: tuple[Any, ...], crash_after: int
) -> None:
    cfg = _config(tmp_path)
    ref_rows, ref = reference

    with pytest.raises(Crash):
        _run(cfg, events, on_arrival=_crash_at(crash_after))
    session = Session(cfg, source=events, resume=True)
    restored = [session.engine.trader.pend.dtype, session.engine.trader.sv.dtype]
    resumed = asyncio.run(session.run())

    _assert_same(_rows(cfg), ref_rows)
    assert all(d.isalignedstruct for d in restored)  # the kernels' exact record types
    assert resumed.portfolio == ref.portfolio
    assert resumed.position.events == events.size
    assert resumed.position.arrivals == ref.position.arrivals
    assert resumed.stats.arrivals == ref.position.arrivals - 50 * (crash_after // 50)


def test_two_crashes_then_resume_and_a_finished_session_stays_finished(
    tmp_path: Path, events: np.ndarray, reference: tuple[Any, ...]
) -> None:
    cfg = _config(tmp_path)
    ref_rows, ref = reference

    with pytest.raises(Crash):
        _run(cfg, events, on_arrival=_crash_at(120))
    with pytest.raises(Crash):
        _run(cfg, events, resume=True, on_arrival=_crash_at(333))
    _run(cfg, events, resume=True)
    again = _run(cfg, events, resume=True)

    _assert_same(_rows(cfg), ref_rows)
    assert again.status == "already finished"
    assert again.portfolio == ref.portfolio


def test_resume_on_other_events_is_refused(tmp_path: Path, events: np.ndarray) -> None:
    cfg = _config(tmp_path)
    with pytest.raises(Crash):
        _run(cfg, events, on_arrival=_crash_at(140))  # checkpoint at 100, rows up to 140
    other = events.copy()
    other["price_ticks"] += 3  # the same clock, another market

    with pytest.raises(JournalCorruptError, match="regenerated"):
        _run(cfg, other, resume=True)


def test_start_on_a_used_journal_and_resume_with_another_config_are_refused(
    tmp_path: Path, events: np.ndarray
) -> None:
    cfg = _config(tmp_path)
    with pytest.raises(Crash):
        _run(cfg, events, on_arrival=_crash_at(60))

    with pytest.raises(JournalError, match="already holds a session"):
        Session(cfg, source=events)
    with pytest.raises(JournalError, match="config_id"):
        Session(_config(tmp_path, checkpoint_every=7), source=events, resume=True)


def test_graceful_stop_cancels_working_orders_then_resume_finishes(
    tmp_path: Path, events: np.ndarray
) -> None:
    cfg, working = _config(tmp_path), []

    def stop_at(n: int) -> None:
        if n == 200:
            tr = session.engine.trader
            working.extend(int(tr.sv[k]["order_id"]) for k in range(int(tr.est[ES_N_SV])))
            session.request_stop()

    session = Session(cfg, source=events, on_arrival=stop_at)
    stopped = asyncio.run(session.run())
    rows = _rows(cfg)
    with Journal(cfg.journal_path) as j:
        pos = checkpoint_position(j.latest_checkpoint())
    finished = _run(cfg, events, resume=True)

    assert stopped.status == "stopped"
    assert pos.stopped
    assert not pos.finished
    assert pos.arrivals == 200
    assert len(working) > 0
    tail = rows["intents"][-len(working) :]
    assert tail["action"].tolist() == [2] * len(working)  # CANCEL
    assert sorted(tail["order_id"].tolist()) == sorted(working)
    assert finished.status == "finished"
    assert finished.position.events == events.size
    assert not cfg.pid_path.exists()


def test_backpressure_is_measured_and_alerted(tmp_path: Path, events: np.ndarray) -> None:
    cfg = _config(tmp_path, queue_size=1, max_blocked_ms=1e-6)
    result = _run(cfg, _closed(events, 3000))

    assert result.stats.blocked_puts > 0
    assert result.stats.queue_max_depth == 1
    assert {a["kind"] for a in result.stats.alerts} == {"backpressure"}


class Sink:
    def __init__(self) -> None:
        self.batches = 0
        self.two_sided = 0
        self.states: list[float] = []
        self.fills = 0
        self.alerts: list[str] = []

    def on_batch(self, ts_ns: int, n_events: int, feed_lag_ns: int, decision_latency_ns: int,
                 queue_depth: int, bids: Any, asks: Any) -> None:  # fmt: skip
        self.batches += 1
        if bids and asks:
            self.two_sided += 1
            assert bids[0][0] < asks[0][0]

    def on_state(self, ts_ns: int, equity: float, position: float, cash: float) -> None:
        self.states.append(equity)

    def on_fills(self, fills: np.ndarray) -> None:
        self.fills += fills.size

    def on_alert(self, kind: str, message: str, ts_ns: int) -> None:
        self.alerts.append(kind)


def test_live_metrics_hook_sees_every_arrival_row_and_fill(
    tmp_path: Path, events: np.ndarray
) -> None:
    cfg, sink = _config(tmp_path), Sink()

    result = _run(cfg, events, metrics=sink)
    rows = _rows(cfg)

    assert sink.batches == result.stats.arrivals
    assert sink.two_sided > 0.9 * sink.batches
    assert sink.fills == rows["fills"].size
    assert rows["state"].size - 2 <= len(sink.states) <= rows["state"].size  # finish rows aside
    assert sink.states == rows["state"]["equity"][: len(sink.states)].tolist()
    assert sink.alerts == []


def test_journal_is_append_only_while_a_session_runs(tmp_path: Path, events: np.ndarray) -> None:
    cfg = _config(tmp_path)
    _run(cfg, _closed(events, 5000))
    con = sqlite3.connect(cfg.journal_path)

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM fills")
    con.close()


def test_latency_histogram_quantiles_are_bucket_upper_edges() -> None:
    h = LatencyHistogram()
    for ns in [1024] * 90 + [65_536] * 10:
        h.add(ns)

    assert h.count == 100
    assert h.quantile(0.5) == pytest.approx(2 ** (41 / 4))  # bucket [2^10, 2^10.25)
    assert h.quantile(0.99) == 65_536.0  # capped at the maximum seen
    assert h.to_dict()["buckets"] == {"1024": 90, "65536": 10}


def test_compare_outputs_lists_differences_and_applies_fill_tolerance() -> None:
    fills = np.zeros(3, FILL_DTYPE)
    fills["qty"], fills["price_ticks"], fills["ts_exch"] = 1.0, 100, [10, 20, 30]
    moved = fills.copy()
    moved["ts_exch"][1] += 5
    orders = np.zeros(2, ORDER_DTYPE)

    exact = compare_outputs({"fills": fills, "intents": orders}, {"fills": moved,
                            "intents": orders[:1]})  # fmt: skip
    loose = compare_outputs({"fills": fills}, {"fills": moved}, tolerance=Tolerance(ts_ns=5))

    assert not exact.identical
    assert exact.tables["fills"].differences[0]["row"] == 1
    assert exact.tables["fills"].differences[0]["fields"] == ["ts_exch"]
    assert exact.tables["intents"].differences[0]["fields"] == ["<only in paper>"]
    assert loose.identical
    assert exact.to_dict()["tables"]["fills"]["equal_rows"] == 2


def test_a_failing_feed_ends_the_session_with_its_error(
    tmp_path: Path, events: np.ndarray, reference: tuple[Any, ...]
) -> None:
    cfg = _config(tmp_path)
    cut = events[:2999]  # the last batch is not closed: the strict replay feed raises

    with pytest.raises(InvalidValueError, match="not a closed batch"):
        _run(cfg, cut)
    resumed = _run(cfg, events, resume=True)

    assert resumed.status == "finished"
    _assert_same(_rows(cfg), reference[0])
