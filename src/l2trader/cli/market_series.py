"""Analyzer inputs from a run directory: the run's arrays and the book it replayed.

:func:`build_market_series` streams the run's catalog partitions through the book replayer
and samples each piece onto a fixed grid as it goes, so memory is bounded by the grid and
one piece of events, never by the whole day. :func:`load_run_inputs` assembles a
:class:`~l2trader.analysis.inputs.RunInputs` from ``run.json`` and the run files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.inputs import Calendar, MarketSeries, RunInputs
from l2trader.book.replay import BookFrame, Replayer
from l2trader.data.catalog import Catalog, PartitionInfo
from l2trader.data.instruments import Instrument
from l2trader.engine.run_dir import read_run
from l2trader.errors import ArtifactError, ConfigError
from l2trader.units import NS_PER_MILLISECOND, NS_PER_SECOND

__all__ = [
    "DEFAULT_STEP_NS",
    "EXCHANGE_SESSION_S",
    "build_market_series",
    "feed_ns",
    "load_run_inputs",
    "run_instrument",
]

DEFAULT_STEP_NS: Final = 100 * NS_PER_MILLISECOND
"""Market grid step, ns."""
EXCHANGE_SESSION_S: Final = 23_400.0
"""Regular session of an exchange-traded equity (09:30-16:00), s."""
_PIECE_EVENTS: Final = 65_536


@dataclass(frozen=True)
class _Grid:
    """The sampling grid: ``n`` points from ``t0`` every ``step`` ns; heat row every ``stride``."""

    t0: int
    step: int
    n: int
    stride: int


def _plan_grid(
    parts: list[PartitionInfo], step_ns: int, heat_step_ns: int, max_heat_rows: int, max_points: int
) -> _Grid:
    """Grid over the partitions' ``ts_recv`` span; ``n`` is a multiple of ``stride``."""
    t_first = min(p.min_ts_recv for p in parts)
    t_last = max(p.max_ts_recv for p in parts)
    span = max(t_last - t_first, 0)
    step = max(step_ns, -(-span // max_points))
    t0 = -(-t_first // step) * step
    n = max((t_last - t0) // step + 1, 1)
    stride = max(1, -(-heat_step_ns // step), -(-n // max_heat_rows))
    n = -(-n // stride) * stride
    return _Grid(t0=t0, step=step, n=n, stride=stride)


class _Sampler:
    """Grid arrays filled piece by piece from book frames (the last state at each point)."""

    def __init__(self, grid: _Grid, tick_size: float, depth_levels: int, half_ticks: int) -> None:
        self.grid, self.tick, self.depth, self.half = grid, tick_size, depth_levels, half_ticks
        self.ts = grid.t0 + grid.step * np.arange(grid.n, dtype=np.int64)
        self.mid, self.spread = np.full(grid.n, np.nan), np.full(grid.n, np.nan)
        self.bid_depth, self.ask_depth = np.full(grid.n, np.nan), np.full(grid.n, np.nan)
        self.heat = np.zeros((grid.n // grid.stride, 2 * half_ticks + 1))
        self.next = 0
        self.carry: BookFrame | None = None

    def add(self, frame: BookFrame) -> None:
        """Sample every grid point up to the frame's last row (earlier ones from the carry).

        A point at exactly the frame's first ``ts_recv`` is (re)sampled from this frame:
        the last state at or before each point wins.
        """
        if len(frame) == 0:
            return
        before = int(np.searchsorted(self.ts, frame.ts_recv[0], side="left"))
        if self.carry is not None and before > self.next:
            self._fill(self.carry, self.next, before, np.zeros(before - self.next, np.int64))
        hi = int(np.searchsorted(self.ts, frame.ts_recv[-1], side="right"))
        rows = np.searchsorted(frame.ts_recv, self.ts[before:hi], side="right") - 1
        self._fill(frame, before, hi, rows)
        self.next = max(self.next, hi)
        last = slice(len(frame) - 1, len(frame))
        self.carry = BookFrame(*(np.array(a[last]) for a in _fields(frame)))

    def finish(self) -> MarketSeries:
        """Fill the points after the last event from the carry; the finished series."""
        if self.carry is not None and self.next < self.grid.n:
            self._fill(
                self.carry, self.next, self.grid.n, np.zeros(self.grid.n - self.next, np.int64)
            )
        return MarketSeries(
            ts=self.ts, mid=self.mid, spread=self.spread, bid_depth=self.bid_depth,
            ask_depth=self.ask_depth, step_ns=self.grid.step, depth_levels=self.depth,
            heat_ticks=np.arange(-self.half, self.half + 1, dtype=np.int64), heat_qty=self.heat,
        )  # fmt: skip

    def _fill(self, frame: BookFrame, lo: int, hi: int, rows: NDArray[np.int64]) -> None:
        """Grid points ``lo..hi-1`` from frame rows ``rows`` (one row index per point)."""
        bt, at = frame.bid_ticks[rows, 0], frame.ask_ticks[rows, 0]
        ok = (frame.bid_qty[rows, 0] > 0.0) & (frame.ask_qty[rows, 0] > 0.0)
        mid_ticks = np.where(ok, (bt.astype(np.float64) + at) / 2.0, np.nan)
        self.mid[lo:hi] = mid_ticks * self.tick
        self.spread[lo:hi] = np.where(ok, (at - bt) * self.tick, np.nan)
        self.bid_depth[lo:hi] = frame.bid_qty[rows, : self.depth].sum(axis=1)
        self.ask_depth[lo:hi] = frame.ask_qty[rows, : self.depth].sum(axis=1)
        points = np.arange(lo, hi)
        heat = (points % self.grid.stride == 0) & ok
        if heat.any():
            self._heat(frame, rows[heat], points[heat] // self.grid.stride, mid_ticks[heat])

    def _heat(
        self,
        frame: BookFrame,
        rows: NDArray[np.int64],
        heat_rows: NDArray[np.int64],
        mid_ticks: NDArray[np.float64],
    ) -> None:
        """Add the visible size within ``half`` ticks of ``round(mid)`` to the heat rows."""
        centre = np.round(mid_ticks).astype(np.int64)[:, None]
        for ticks, qty in ((frame.bid_ticks, frame.bid_qty), (frame.ask_ticks, frame.ask_qty)):
            size = qty[rows]
            offset = np.where(size > 0.0, ticks[rows], 0) - centre
            keep = (size > 0.0) & (np.abs(offset) <= self.half)
            target = np.broadcast_to(heat_rows[:, None], keep.shape)[keep]
            np.add.at(self.heat, (target, offset[keep] + self.half), size[keep])


def _fields(frame: BookFrame) -> tuple[NDArray[Any], ...]:
    return (frame.ts_recv, frame.ts_exch, frame.event_idx, frame.bid_ticks, frame.bid_qty,
            frame.ask_ticks, frame.ask_qty, frame.trade_qty_buy, frame.trade_qty_sell)  # fmt: skip


def _empty_series(step_ns: int, depth_levels: int) -> MarketSeries:
    empty = np.zeros(0)
    return MarketSeries(np.zeros(0, np.int64), empty, empty, empty, empty, step_ns, depth_levels)


def build_market_series(
    catalog: Catalog,
    venue: str,
    symbol: str,
    start: str | None = None,
    end: str | None = None,
    *,
    tick_size: float,
    step_ns: int = DEFAULT_STEP_NS,
    depth_levels: int = 5,
    heat_half_ticks: int = 20,
    heat_step_ns: int = NS_PER_SECOND,
    max_heat_rows: int = 3_000,
    max_points: int = 2_000_000,
) -> MarketSeries:
    """The book of ``venue/symbol`` (dates ``start..end``) on a fixed grid.

    The grid runs every ``step_ns`` (coarsened so it has at most ``max_points`` points)
    from the first ``ts_recv`` of the partitions, and is padded at the end to a whole
    number of heat strides. Depth is the summed size of the best ``depth_levels`` levels
    per side (base units); the heatmap holds visible size at ``-heat_half_ticks ..
    +heat_half_ticks`` ticks around ``round(mid / tick)``, for the grid point every
    ``heat_step_ns`` (at most ``max_heat_rows`` rows): heat row ``j`` is grid point
    ``j * (n // n_heat)``. Points before the first book state are NaN.
    """
    if min(step_ns, depth_levels, heat_step_ns, max_heat_rows, max_points) < 1:
        raise ConfigError("build_market_series: steps, levels and caps must be >= 1")
    parts = [p for p in catalog.partitions(venue, symbol, start, end) if p.rows]
    if not parts:
        return _empty_series(step_ns, depth_levels)
    grid = _plan_grid(parts, step_ns, heat_step_ns, max_heat_rows, max_points)
    sampler = _Sampler(grid, tick_size, depth_levels, heat_half_ticks)
    replayer = Replayer(levels=max(depth_levels, heat_half_ticks + 1))
    for chunk in catalog.read(venue, symbol, start, end):
        for i in range(0, len(chunk), _PIECE_EVENTS):
            sampler.add(replayer.feed(chunk[i : i + _PIECE_EVENTS], reuse=True))
    return sampler.finish()


def run_instrument(meta: dict[str, Any], where: Path) -> tuple[Catalog, dict[str, Any], Instrument]:
    """The catalog, ``config.data`` dict and instrument a run replayed (from ``run.json``)."""
    data = meta.get("config", {}).get("data") if isinstance(meta.get("config"), dict) else None
    if not isinstance(data, dict) or not {"catalog", "venue", "symbol"} <= data.keys():
        raise ArtifactError(f"{where}: run.json has no config.data {{catalog, venue, symbol}}")
    catalog = Catalog(data["catalog"])
    key = f"{data['venue']}/{data['symbol']}"
    instrument = catalog.instruments().get(key)
    if instrument is None:
        raise ConfigError(f"{where}: instrument {key!r} is not in {catalog.instruments_path}")
    return catalog, data, instrument


def _capital(meta: dict[str, Any], equity: NDArray[np.void], where: Path) -> float:
    """Initial cash if > 0, else the largest ``|position| * mid`` on the grid.

    Raises
    ------
    ConfigError
        Neither is positive: the run never held a position and started without cash.
    """
    cash = meta.get("config", {}).get("engine", {}).get("initial_cash", 0.0)
    if isinstance(cash, int | float) and cash > 0:
        return float(cash)
    notional = np.abs(equity["position"] * equity["mid"])
    notional = notional[np.isfinite(notional)]
    peak = float(notional.max()) if notional.size else 0.0
    if peak > 0.0:
        return peak
    raise ConfigError(
        f"{where}: capital (the returns' base) is undefined: engine.initial_cash is 0 and the "
        "run never held a position; give one explicitly (analyze --capital QUOTE)"
    )


def feed_ns(meta: dict[str, Any]) -> int:
    """The engine's feed latency of a run (``config.engine.feed_ns``, ns; 0 if absent)."""
    value = meta.get("config", {}).get("engine", {}).get("feed_ns", 0)
    return int(value) if isinstance(value, int) else 0


def _horizon_ns(meta: dict[str, Any]) -> int:
    """The signal's horizon (ns) from ``run.json`` if recorded, else 1 s."""
    signal = meta.get("config", {}).get("signal", {})
    for value in (
        meta.get("signal_horizon_ns"),
        signal.get("horizon_ns") if isinstance(signal, dict) else None,
    ):
        if isinstance(value, int) and value > 0:
            return value
    return NS_PER_SECOND


def load_run_inputs(
    run_dir: Path,
    *,
    with_market: bool = True,
    step_ns: int = DEFAULT_STEP_NS,
    capital: float | None = None,
) -> RunInputs:
    """Everything the analyzer needs about the run in ``run_dir`` (see module docstring).

    ``capital`` (quote) is the run's initial cash if positive, else the largest absolute
    notional ``|position| * mid`` over the equity grid; a given ``capital`` (> 0) overrides
    both and is required when the run never held a position and had no cash (ConfigError
    otherwise). Calendar: ``exchange`` with a 23,400 s session for instruments of kind
    ``equity``, else ``24/7``. ``with_market=False`` skips the (slower) book replay.
    """
    run = read_run(run_dir)
    where = Path(run_dir) / "run.json"
    if capital is not None and not (math.isfinite(capital) and capital > 0):
        raise ConfigError(f"capital={capital!r} must be a positive quote amount")
    catalog, data, instrument = run_instrument(run.meta, where)
    calendar: Calendar = "exchange" if instrument.kind == "equity" else "24/7"
    market = None
    if with_market:
        market = build_market_series(
            catalog, data["venue"], data["symbol"], data.get("start"), data.get("end"),
            tick_size=instrument.tick_size, step_ns=step_ns,
        )  # fmt: skip
    return RunInputs(
        run_id=str(run.meta.get("run_id", Path(run_dir).name)),
        config_id=str(run.meta.get("config_id", "")),
        code_version=str(run.meta.get("code_version", "")),
        data_fingerprint=str(run.meta.get("data_fingerprint", "")),
        tick_size=instrument.tick_size,
        capital=capital if capital is not None else _capital(run.meta, run.equity, where),
        calendar=calendar,
        session_s=EXCHANGE_SESSION_S if calendar == "exchange" else 86_400.0,
        equity=run.equity, fills=run.fills, orders=run.orders,
        order_events=run.order_events, signals=run.signals,
        market=market, signal_horizon_ns=_horizon_ns(run.meta),
        strategy_id=str(run.meta.get("strategy_id", "")),
    )  # fmt: skip
