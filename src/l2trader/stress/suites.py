"""Stress cases and suites: which scenario runs with which strategy on which slice of data.

A :class:`StressCase` is one backtest: a scenario (a :class:`~l2trader.stress.Scenario`, a
:func:`~l2trader.stress.compose` chain, or None for the unstressed baseline), an optional
:class:`SystemStress` (latency spikes, lost acks, restart mid-run, memory growth, CPU
contention, memory cap, large streamed input), a
:class:`StrategyUnderTest` and a :class:`DataSlice`. Cases are small picklable values, so
:func:`~l2trader.stress.runner.run_many` can ship them to any worker.

Suites (each case is run for every strategy, with one baseline per strategy):

- ``quick``: flash crash, liquidity drought, duplicates, crossed book, latency spikes;
  on the first ``quick_slice_s`` seconds of the data.
- ``full``: the 18 scenario transforms (5 market, 7 data faults, 6 edge books), one
  composition (volatility spike then duplicates), and the 7 system stresses; whole data.
- ``flash_crash``: three flash crashes (different depth, start and speed).

:func:`reference_market_maker` and :func:`broken_market_maker` are the two strategies the
tests compare: the broken one has no inventory limit, no inventory aversion, no stop, no
kill switch and no position limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from l2trader.book.replay import replay
from l2trader.config import FrozenConfig
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.catalog import Catalog
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.engine.config import EngineConfig
from l2trader.engine.fees import FeeConfig
from l2trader.engine.risk import RiskConfig
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig
from l2trader.errors import ConfigError
from l2trader.schema import F_LAST, SIGNAL_DTYPE
from l2trader.stress import edges, faults, scenarios
from l2trader.stress.transform import Composed, Scenario, compose

__all__ = [
    "SUITES",
    "CaptureLoader",
    "CatalogLoader",
    "DataSlice",
    "StrategyUnderTest",
    "StressCase",
    "StressLimits",
    "SystemStress",
    "broken_market_maker",
    "build_suite",
    "imbalance_signals",
    "reference_market_maker",
    "reference_taker",
    "suite_scenarios",
]

SuiteName = Literal["quick", "full", "flash_crash"]
SUITES: tuple[str, ...] = ("quick", "full", "flash_crash")
SystemKind = Literal[
    "latency_spike", "lost_ack", "restart", "memory", "cpu_contention", "memory_cap",
    "large_stream",
]  # fmt: skip


class StrategyUnderTest(FrozenConfig):
    """A named strategy with its engine (venue, latency, risk) and strategy parameters.

    ``signal_scale_bps`` (taker only): the C4 score is the level-1 imbalance times this,
    bps, sampled once per second (the rule baseline of ``research/backtest_real.py``).
    """

    name: str
    kind: Literal["market_maker", "taker"]
    engine: EngineConfig = EngineConfig()
    market_maker: MarketMakerConfig = MarketMakerConfig()
    taker: SignalTakerConfig = SignalTakerConfig()
    signal_scale_bps: float = 20.0


class SystemStress(FrozenConfig):
    """An environment stress (no change to the events).

    - ``latency_spike``: a share ``frac`` of entry and response delays become ``delay_ns``;
    - ``lost_ack``: a share ``frac`` of response delays become ``delay_ns`` (huge: the
      report arrives after the run, later reports queue behind it);
    - ``restart``: the run stops at half the events; a fresh engine gets a copy of every
      state array and finishes it (the result must equal the uninterrupted run);
    - ``memory``: the case runs ``repeats`` times in the worker; RSS is sampled after each;
    - ``cpu_contention``: the case runs again while ``hogs`` busy-loop processes (0: one
      per core) compete for the cores; outputs must be identical (slowdown measured);
    - ``memory_cap``: the case runs again in a child process whose address space
      (``RLIMIT_AS``) is capped at its size after the imports and JIT warm-up plus
      ``cap_headroom_mb``; it must complete with identical outputs (or, with too small a
      cap, fail as ``memory_error`` with no output); killed after ``timeout_s``;
    - ``large_stream``: ``stream_events`` rows (the case's events repeated, shifted in time)
      are fed through one engine in chunks of ``chunk_events``; every event is processed
      and the RSS slope after warm-up stays within ``max_rss_slope_mb`` MB per million
      events (:mod:`l2trader.stress.system`).
    """

    kind: SystemKind
    frac: float = 0.05
    delay_ns: int = 250_000_000
    repeats: int = 3
    seed: int = 11
    hogs: Annotated[int, Field(ge=0, le=256)] = 0
    cap_headroom_mb: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = 256.0
    timeout_s: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = 600.0
    stream_events: Annotated[int, Field(ge=1)] = 5_000_000
    chunk_events: Annotated[int, Field(ge=1_000)] = 250_000
    max_rss_slope_mb: Annotated[float, Field(gt=0.0)] = 16.0

    @property
    def name(self) -> str:
        """Scenario name in reports."""
        return f"system_{self.kind}"


class StressLimits(FrozenConfig):
    """The desk's limits every strategy must respect under stress (``inf`` = none).

    ``max_position`` (base units) caps ``|position|`` after every fill (the tighter of this
    and the strategy's own risk limit applies); ``max_drawdown`` (quote) caps the drop of
    the state-by-state equity below its running peak.
    """

    max_position: float = math.inf
    max_drawdown: float = math.inf


class DataSlice(FrozenConfig):
    """The first ``duration_s`` seconds of the loaded stream (None: all of it)."""

    duration_s: float | None = None


@dataclass(frozen=True)
class StressCase:
    """One backtest of a stress suite (see the module docstring)."""

    strategy: StrategyUnderTest
    scenario: Scenario[Any] | Composed | None = None
    system: SystemStress | None = None
    data: DataSlice = field(default_factory=DataSlice)
    limits: StressLimits = field(default_factory=StressLimits)

    @property
    def scenario_name(self) -> str:
        """``baseline``, the scenario's name or the system stress's name."""
        if self.system is not None:
            return self.system.name
        return "baseline" if self.scenario is None else self.scenario.name

    @property
    def category(self) -> str:
        """``baseline``, ``market``, ``data``, ``edge`` or ``system``."""
        if self.system is not None:
            return "system"
        return "baseline" if self.scenario is None else self.scenario.category

    @property
    def case_id(self) -> str:
        """``strategy/scenario`` (unique within a suite)."""
        return f"{self.strategy.name}/{self.scenario_name}"


def _mm_engine(risk: RiskConfig) -> EngineConfig:
    return EngineConfig(risk=risk, fees=FeeConfig(maker_bps=0.0, taker_bps=5.0))


def reference_market_maker(
    qty: float = 0.01, *, max_drawdown: float = 5.0, name: str = "reference_mm"
) -> StrategyUnderTest:
    """The reference market maker: inventory limit 5 quotes, position limit 6, stop, kill.

    ``qty`` is the quote size (base units); ``max_drawdown`` (quote) fires the kill switch.
    """
    mm = MarketMakerConfig(
        inventory_unit_qty=qty, max_inventory=5 * qty, sizing=SizingConfig(qty=qty)
    )
    risk = RiskConfig(max_position=6 * qty, max_drawdown=max_drawdown, stop_loss_bps=20.0)
    return StrategyUnderTest(name=name, kind="market_maker", engine=_mm_engine(risk),
                             market_maker=mm)  # fmt: skip


def broken_market_maker(qty: float = 0.01, *, name: str = "broken_mm") -> StrategyUnderTest:
    """A deliberately broken market maker: no limits, no stop, no kill switch, no aversion."""
    mm = MarketMakerConfig(
        gamma=1e-9, inventory_unit_qty=qty, max_inventory=1e6, sizing=SizingConfig(qty=qty)
    )
    return StrategyUnderTest(name=name, kind="market_maker", engine=_mm_engine(RiskConfig()),
                             market_maker=mm)  # fmt: skip


def reference_taker(qty: float = 0.01, *, name: str = "reference_taker") -> StrategyUnderTest:
    """The reference signal taker on the level-1 imbalance rule, with a stop and a kill."""
    taker = SignalTakerConfig(taker_fee_bps=5.0, max_position=qty, sizing=SizingConfig(qty=qty))
    risk = RiskConfig(max_position=2 * qty, max_drawdown=5.0)
    engine = EngineConfig(
        risk=risk, fees=FeeConfig(maker_bps=0.0, taker_bps=5.0),
        decision=EngineConfig().decision.model_copy(update={"mode": "signal"}),
    )  # fmt: skip
    return StrategyUnderTest(name=name, kind="taker", engine=engine, taker=taker)


def _quick() -> list[Scenario[Any] | Composed | SystemStress]:
    return [
        scenarios.FlashCrash(scenarios.FlashCrashParams(drop_pct=0.08, crash_s=5.0,
                                                        crash_steps=25), seed=1),
        scenarios.LiquidityDrought(scenarios.LiquidityDroughtParams(duration_s=10.0), seed=2),
        faults.Duplicates(seed=3),
        edges.CrossedBook(seed=4),
        SystemStress(kind="latency_spike"),
    ]  # fmt: skip


def _full() -> list[Scenario[Any] | Composed | SystemStress]:
    market: list[Scenario[Any] | Composed | SystemStress] = [
        scenarios.FlashCrash(scenarios.FlashCrashParams(drop_pct=0.08, crash_s=5.0,
                                                        crash_steps=25), seed=1),
        scenarios.VolatilitySpike(seed=2), scenarios.LiquidityDrought(seed=3),
        scenarios.TrendingRun(seed=4), scenarios.QuoteStuffing(seed=5),
    ]  # fmt: skip
    data: list[Scenario[Any]] = [
        faults.Duplicates(seed=6), faults.Disorder(seed=7), faults.CorruptRows(seed=8),
        faults.Truncate(seed=9), faults.DropMessages(seed=10), faults.SequenceGap(seed=11),
        faults.StaleFeed(seed=12),
    ]  # fmt: skip
    edge: list[Scenario[Any]] = [
        edges.LockedBook(seed=13), edges.CrossedBook(seed=14), edges.ExtremeImbalance(seed=15),
        edges.SingleSidedBook(seed=16), edges.EmptyBook(seed=17), edges.OneTickMarket(seed=18),
    ]  # fmt: skip
    combo = compose(scenarios.VolatilitySpike(seed=19), faults.Duplicates(seed=20))
    kinds: tuple[SystemKind, ...] = ("latency_spike", "lost_ack", "restart", "memory",
                                     "cpu_contention", "memory_cap", "large_stream")  # fmt: skip
    system = [SystemStress(kind=k) for k in kinds]
    system[1] = SystemStress(kind="lost_ack", frac=0.01, delay_ns=3_600_000_000_000)
    return [*market, *data, *edge, combo, *system]


def _flash() -> list[Scenario[Any] | Composed | SystemStress]:
    fc, p = scenarios.FlashCrash, scenarios.FlashCrashParams
    return [
        fc(p(drop_pct=0.08, crash_s=5.0, crash_steps=25), seed=1),
        fc(p(at=0.3, drop_pct=0.05, crash_s=2.0, crash_steps=10, recovery_frac=0.2), seed=2),
        fc(p(at=0.7, drop_pct=0.1, crash_s=10.0, crash_steps=40, recovery_frac=0.0), seed=3),
    ]


def suite_scenarios(suite: str) -> list[Scenario[Any] | Composed | SystemStress]:
    """The stresses of ``suite`` (``quick``, ``full`` or ``flash_crash``), baseline excluded."""
    makers = {"quick": _quick, "full": _full, "flash_crash": _flash}
    if suite not in makers:
        raise ConfigError(f"suite={suite!r}: must be one of {list(SUITES)}")
    return makers[suite]()


def build_suite(
    suite: str,
    strategies: Sequence[StrategyUnderTest],
    *,
    duration_s: float | None = math.inf,
    limits: StressLimits | None = None,
) -> list[StressCase]:
    """Every case of ``suite`` for every strategy, each strategy's baseline first.

    ``duration_s``: seconds of data per case; ``inf`` (default) = 60 s for ``quick``, all
    the data otherwise; None = all the data. ``limits``: the desk's limits (default none).
    """
    if not strategies:
        raise ConfigError("build_suite: give at least one strategy")
    if duration_s is not None and math.isinf(duration_s):
        duration_s = 60.0 if suite == "quick" else None
    data = DataSlice(duration_s=duration_s)
    lim = limits or StressLimits()
    cases: list[StressCase] = []
    stresses = suite_scenarios(suite)
    for strategy in strategies:
        cases.append(StressCase(strategy, data=data, limits=lim))
        for s in stresses:
            if isinstance(s, SystemStress):
                cases.append(StressCase(strategy, system=s, data=data, limits=lim))
            else:
                cases.append(StressCase(strategy, scenario=s, data=data, limits=lim))
    return cases


def _closed(events: np.ndarray, max_events: int | None) -> np.ndarray:
    """The first ``max_events`` rows (all: None) cut back to the last ``F_LAST``."""
    events = events[:max_events] if max_events is not None else events
    last = np.flatnonzero(events["flags"] & F_LAST)
    return events[: int(last[-1]) + 1 if len(last) else 0].copy()


@dataclass(frozen=True)
class CaptureLoader:
    """Raw Binance depth capture files (REST snapshot + diffs + trades) of a known instrument.

    ``max_events`` keeps the first rows only (cut at a batch end); None keeps everything.
    """

    paths: tuple[str, ...]
    venue: str = "binance-futures"
    symbol: str = "BTCUSDT"
    max_events: int | None = None

    @property
    def tick_size(self) -> float:
        """The instrument's tick size (quote)."""
        return lookup(self.venue, self.symbol).tick_size

    def load(self) -> np.ndarray:
        """Read and synchronise the capture (strict: a broken capture raises a typed error)."""
        reader = BinanceDepthReader(list(self.paths), instrument=lookup(self.venue, self.symbol))
        return _closed(collect(reader.chunks()), self.max_events)


@dataclass(frozen=True)
class CatalogLoader:
    """Catalog partitions of ``venue/symbol`` with dates ``start..end`` (inclusive, UTC)."""

    root: str
    venue: str
    symbol: str
    start: str | None = None
    end: str | None = None
    max_events: int | None = None

    @property
    def tick_size(self) -> float:
        """Tick size from the catalog's instrument registry (quote)."""
        key = f"{self.venue}/{self.symbol}"
        instrument = Catalog(self.root).instruments().get(key)
        if instrument is None:
            raise ConfigError(f"instrument {key!r} is not in the catalog {self.root}")
        return instrument.tick_size

    def load(self) -> np.ndarray:
        """Every chunk of the partitions, concatenated."""
        chunks = Catalog(self.root).read(self.venue, self.symbol, self.start, self.end)
        return _closed(collect(chunks), self.max_events)


def imbalance_signals(events: np.ndarray, scale_bps: float, every_ns: int = 10**9) -> np.ndarray:
    """C4 rows: level-1 imbalance ``(bid - ask) / (bid + ask)`` times ``scale_bps``, each second."""
    frame = replay(events, levels=1)
    bq, aq = frame.bid_qty[:, 0], frame.ask_qty[:, 0]
    tot = bq + aq
    score = np.where(tot > 0, (bq - aq) / np.where(tot > 0, tot, 1.0) * scale_bps, np.nan)
    if frame.ts_recv.size == 0:
        return np.zeros(0, SIGNAL_DTYPE)
    grid = np.arange(frame.ts_recv[0] // every_ns + 1, frame.ts_recv[-1] // every_ns + 1) * every_ns
    k = np.searchsorted(frame.ts_recv, grid, side="right") - 1
    out = np.zeros(grid.size, SIGNAL_DTYPE)
    out["ts_recv"], out["score"] = grid, score[k]
    return out
