"""Run stress cases on a local process pool or a Dask cluster: one small result per case.

:func:`run_case` is what a worker runs for one :class:`~l2trader.stress.suites.StressCase`:

1. load the events (``loader``, cached per worker process) and cut the case's slice;
2. apply the scenario (a pure, seeded transform);
3. strict validation of the stressed stream (records the typed error, if any), then
   ``Policy.REPAIR`` validation + repair: events in = kept + quarantined;
4. run the :class:`~l2trader.engine.engine.Engine` on the kept events (system stresses
   change the latency draws, restart the engine half way, or repeat the run; CPU
   contention, memory cap and large stream run it again: :mod:`l2trader.stress.system`);
5. compute the metrics and check the invariants (:mod:`l2trader.stress.invariants`); for
   the lost-data faults (data faults that keep C1: dropped messages, sequence gaps, stale
   feed) also ``lost_data_detected``: the opt-in gap rules of
   :func:`~l2trader.data.validate.validate_events`, calibrated on the unstressed slice
   (the first seq stream of ``all``/``book``/``trade`` without a jump there, and a
   silence of max(1 s, twice its longest book gap)), must report at least one issue.

Any exception in 1-5 is caught and recorded (type and message): the case then fails
``no_crash``. A :class:`CaseResult` is plain data (tuples, floats, strings), so it pickles
cheaply and compares by value: the same case gives an equal result on any executor
(wall time, RSS and the system stresses' ``measurements`` are kept out of the comparison).

:func:`run_many` keeps the input order whatever the executor: ``"process"`` (a local
``ProcessPoolExecutor``, default), ``"dask"`` (``distributed.Client`` on ``scheduler``, or
a LocalCluster of ``workers`` processes when None) or ``"serial"`` (this process).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import psutil

from l2trader.data.repair import repair_events
from l2trader.data.report import Policy, ValidationReport
from l2trader.data.validate import SeqStream, gap_counts, validate_events
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.errors import ConfigError
from l2trader.schema import KIND_TRADE
from l2trader.stress import invariants as inv
from l2trader.stress import system
from l2trader.stress.suites import StressCase, imbalance_signals
from l2trader.stress.transform import TransformInfo

__all__ = [
    "CaseResult",
    "EventsLoader",
    "Executor",
    "gap_rules",
    "load_events",
    "make_engine",
    "run_case",
    "run_many",
]

Executor = Literal["process", "dask", "serial"]


class EventsLoader(Protocol):
    """Picklable, hashable source of one C1 stream (a frozen dataclass in practice)."""

    @property
    def tick_size(self) -> float:
        """Quote currency per tick."""

    def load(self) -> np.ndarray:
        """The whole stream (EVENT_DTYPE, valid C1)."""


_LOADED: dict[Any, np.ndarray] = {}


def load_events(loader: EventsLoader) -> np.ndarray:
    """``loader.load()``, cached per process (workers load each stream once; keeps 2)."""
    key: Any = loader
    if key not in _LOADED:
        while len(_LOADED) >= 2:
            _LOADED.pop(next(iter(_LOADED)))
        events = loader.load()
        events.flags.writeable = False
        _LOADED[key] = events
    return _LOADED[key]


@dataclass(frozen=True, eq=False)
class CaseResult:
    """What one case produced (see the module docstring); ``error`` is ``"Type: message"``.

    Equality compares every field but ``wall_s``, ``rss_mb`` and ``measurements`` (machine
    dependent numbers of the system stresses: slowdown, address-space cap, RSS slope) by
    their ``repr`` (so a NaN metric equals a NaN metric after a round trip through pickle).
    """

    case_id: str
    strategy: str
    scenario: str
    category: str
    metrics: dict[str, float]
    invariants: tuple[inv.InvariantResult, ...]
    counts: dict[str, int]
    error: str | None = None
    digest: str = ""
    equity_ts: tuple[int, ...] = ()
    equity: tuple[float, ...] = ()
    wall_s: float = 0.0
    rss_mb: float = 0.0
    measurements: dict[str, float] = field(default_factory=dict)

    def _key(self) -> str:
        skip = ("wall_s", "rss_mb", "measurements")
        return repr([getattr(self, f) for f in self.__dataclass_fields__ if f not in skip])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CaseResult) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _slice(events: np.ndarray, duration_s: float | None) -> np.ndarray:
    """The batches that start within ``duration_s`` of the first event (whole stream: None)."""
    if duration_s is None or len(events) == 0:
        return events.copy()
    end = int(events["ts_recv"][0]) + round(duration_s * 1e9)
    return events[: int(np.searchsorted(events["ts_recv"], end, side="left"))].copy()


def _strict_error(events: np.ndarray) -> str | None:
    """The strict validation's exception as ``"Type: message"`` (None if the stream is clean)."""
    try:
        validate_events(events, ValidationReport("stress", policy=Policy.STRICT), final=True)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def make_engine(case: StressCase, tick: float, events: np.ndarray) -> Callable[[], Engine]:
    """A factory of fresh engines for ``case`` (signals and latency draws built once)."""
    st, sys = case.strategy, case.system
    signals = imbalance_signals(events, st.signal_scale_bps) if st.kind == "taker" else None
    draws = _draws(case) if sys is not None and sys.kind in ("latency_spike", "lost_ack") else None

    def make() -> Engine:
        return Engine(
            st.engine, tick_size=tick, strategy=st.kind, taker=st.taker,
            market_maker=st.market_maker, signals=signals, latency_draws_ns=draws,
        )  # fmt: skip

    return make


def _draws(case: StressCase) -> tuple[np.ndarray, np.ndarray]:
    """Entry / response delays (ns): the config's constants with a share replaced by spikes."""
    sys, lat = case.system, case.strategy.engine.latency
    assert sys is not None
    rng = np.random.default_rng(sys.seed)
    n = 4096
    entry = np.full(n, lat.entry_ns, np.int64)
    response = np.full(n, lat.response_ns, np.int64)
    if sys.kind == "latency_spike":
        entry[rng.random(n) < sys.frac] = sys.delay_ns
    response[rng.random(n) < sys.frac] = sys.delay_ns
    return entry, response


def _run_engine(
    case: StressCase, make: Callable[[], Engine], events: np.ndarray, tick: float
) -> tuple[EngineOutput, list[inv.InvariantResult], dict[str, float]]:
    """One run, or the system stress's variant of it (:mod:`l2trader.stress.system`)."""
    sys = case.system
    if sys is None or sys.kind in ("latency_spike", "lost_ack"):
        engine = make()
        engine.run(events)
        return engine.finish(), [], {}
    out, extra = system.run_system(case, make, events, tick)
    return out, list(extra.invariants), extra.measurements


def run_case(case: StressCase, loader: EventsLoader) -> CaseResult:
    """Run one case end to end (module docstring); never raises for a failing case."""
    t0 = time.perf_counter()
    try:
        result = _run_case(case, loader)
    except Exception as exc:
        crash = inv.InvariantResult("no_crash", False, f"{type(exc).__name__}: {exc}")
        result = CaseResult(case.case_id, case.strategy.name, case.scenario_name, case.category,
                            {}, (crash,), {}, error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    rss = psutil.Process().memory_info().rss / 2**20
    return dataclasses.replace(result, wall_s=time.perf_counter() - t0, rss_mb=rss)


def _run_case(case: StressCase, loader: EventsLoader) -> CaseResult:
    tick = float(loader.tick_size)
    base = _slice(load_events(loader), case.data.duration_s)
    lost: list[inv.InvariantResult] = []
    if case.scenario is not None:
        stressed, info = case.scenario.apply(base)
        expected, declared = dict(info.expected_issues), not info.keeps_c1
        lost = _lost_data(base, stressed, info)
    else:
        stressed, expected, declared = base, {}, False
    strict = _strict_error(stressed)
    report = ValidationReport(case.case_id, policy=Policy.REPAIR)
    clean = repair_events(stressed, report)
    out, extra, measured = _run_engine(case, make_engine(case, tick, clean), clean, tick)
    cash0 = float(case.strategy.engine.initial_cash)
    path = inv.state_path(clean, out.fills, tick, cash0)
    checks = _checks(case, tick, out, path, expected, declared, strict, report, len(stressed),
                     len(clean))  # fmt: skip
    ts, eq = inv.thin_equity(out.equity)
    counts = {"events_base": len(base), "events_stressed": len(stressed), "events_kept": len(clean),
              "quarantined": len(report.quarantined), "crossed_states": path.crossed,
              **{f"issue_{k}": int(v) for k, v in sorted(report.counts.items())}}  # fmt: skip
    return CaseResult(
        case.case_id, case.strategy.name, case.scenario_name, case.category,
        inv.case_metrics(out, cash0), (*checks, *lost, *extra), counts, None,
        inv.output_digest(out), ts, eq, measurements=measured,
    )  # fmt: skip


def gap_rules(base: np.ndarray) -> tuple[int, SeqStream | None]:
    """``(max_silence_ns, seq stream or None)`` under which ``base`` has no gap issue."""
    book = base["ts_recv"][base["kind"] != KIND_TRADE]
    longest = int(np.diff(book).max()) if book.size > 1 else 0
    silence = max(1_000_000_000, 2 * longest)
    streams: tuple[SeqStream, ...] = ("all", "book", "trade") if (base["seq"] >= 0).any() else ()
    for stream in streams:
        if gap_counts(base, check_seq_contiguous=stream).seq_gaps == 0:
            return silence, stream
    return silence, None


def _lost_data(base: np.ndarray, stressed: np.ndarray, info: TransformInfo) -> list[
    inv.InvariantResult
]:  # fmt: skip
    """``lost_data_detected`` for a data fault that keeps C1 and removed rows (else none)."""
    if info.category != "data" or not info.keeps_c1 or info.rows_removed == 0:
        return []
    silence, stream = gap_rules(base)
    got = gap_counts(stressed, max_silence_ns=silence, check_seq_contiguous=stream or False)
    found = got.silences + got.seq_gaps
    text = (f"gap rules (max_silence_ns={silence}, seq stream {stream}) find {got.silences} "
            f"silences and {got.seq_gaps} seq jumps ({got.missing_seq} ids missing) after "
            f"{info.rows_removed} rows were removed")  # fmt: skip
    return [inv.InvariantResult("lost_data_detected", found > 0, text)]


def _checks(
    case: StressCase, tick: float, out: EngineOutput, path: inv.StatePath,
    expected: dict[str, int], declared: bool, strict: str | None, report: ValidationReport,
    n_in: int, n_kept: int,
) -> list[inv.InvariantResult]:  # fmt: skip
    """Every invariant of :mod:`l2trader.stress.invariants` for this case."""
    risk, limits = case.strategy.engine.risk, case.limits
    pos_limit = min(risk.max_position, limits.max_position)
    final = float(out.equity["position"][-1]) if out.equity.size else 0.0
    c = out.counters
    return [
        inv.InvariantResult("no_crash", True, "ran to the end"),
        inv.check_strict(expected, strict),
        inv.check_conservation(n_in, n_kept, len(report.quarantined), int(c["events"])),
        inv.check_faults(expected, report.counts, path.crossed),
        inv.check_limit(
            "position_limit",
            inv.position_path(out.fills),
            pos_limit,
            "base units",
            out.fills["ts_exch"],
        ),
        inv.check_limit(
            "drawdown_limit", inv.drawdown_path(path), limits.max_drawdown, "quote", path.ts
        ),
        inv.check_kill_switch(path, out.orders, risk.max_drawdown, bool(c["halted"]), final),
        inv.check_equity(out.equity, out.fills, tick, float(case.strategy.engine.initial_cash)),
        inv.check_book(path, int(c["crossed_states"]), declared),
    ]


def run_many(
    cases: Sequence[StressCase],
    loader: EventsLoader,
    *,
    executor: Executor = "process",
    scheduler: str | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[CaseResult]:
    """Run every case; results in the input order, equal whatever the executor.

    Parameters
    ----------
    cases, loader
        The cases and the stream they all slice (loaded once per worker process).
    executor
        ``"process"`` (local process pool), ``"dask"`` (a Dask cluster) or ``"serial"``.
    scheduler
        Dask scheduler address (``tcp://host:8786``); None starts a LocalCluster of
        ``workers`` single-threaded processes for this call.
    workers
        Processes of the local pool / LocalCluster (>= 1).
    progress
        ``progress(done, total)`` after each finished case.
    """
    if workers < 1:
        raise ConfigError(f"workers={workers}: must be >= 1")
    if executor == "serial":
        return _serial(cases, loader, progress)
    if executor == "process":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_case, c, loader) for c in cases]
            return _gather(futures, progress)
    if executor == "dask":
        return _dask(cases, loader, scheduler, workers, progress)
    raise ConfigError(f"executor={executor!r}: must be 'process', 'dask' or 'serial'")


def _serial(
    cases: Sequence[StressCase], loader: EventsLoader, progress: Callable[[int, int], None] | None
) -> list[CaseResult]:
    out = []
    for case in cases:
        out.append(run_case(case, loader))
        if progress is not None:
            progress(len(out), len(cases))
    return out


def _gather(
    futures: Sequence[Future[CaseResult]], progress: Callable[[int, int], None] | None
) -> list[CaseResult]:
    """Results in submission order; ``progress`` counts completions as they happen."""
    from concurrent.futures import as_completed

    for done, _ in enumerate(as_completed(futures), start=1):
        if progress is not None:
            progress(done, len(futures))
    return [f.result() for f in futures]


def _dask(
    cases: Sequence[StressCase], loader: EventsLoader, scheduler: str | None, workers: int,
    progress: Callable[[int, int], None] | None,
) -> list[CaseResult]:  # fmt: skip
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - the 'dist' extra is missing
        raise ConfigError(
            "executor='dask' needs the 'dist' extra: pip install 'l2trader[dist]'"
        ) from exc
    cluster: Any = None
    if scheduler is None:
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    try:
        address = cluster if cluster is not None else scheduler
        with Client(address) as client:  # type: ignore[no-untyped-call]
            futures = [client.submit(run_case, c, loader, pure=False) for c in cases]
            finished = as_completed(futures)  # type: ignore[no-untyped-call]
            for done, _ in enumerate(finished, start=1):
                if progress is not None:
                    progress(done, len(futures))
            return list(client.gather(futures))
    finally:
        if cluster is not None:
            cluster.close()
