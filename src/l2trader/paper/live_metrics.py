"""Live metrics of a paper session: counters, latency, book top, equity, fills and alerts.

:class:`LiveMetrics` is the one sink the paper loop reports to and the one source the HTTP
service (:mod:`l2trader.paper.service`) reads: :meth:`LiveMetrics.snapshot` feeds the
dashboard (JSON), :meth:`LiveMetrics.prometheus` feeds ``/metrics``. The ``on_*`` methods
are cheap (a few attribute updates, no allocation beyond the caller's lists) because the
loop calls them per batch; the heavy work (percentiles, JSON, exposition text) happens on
read. Not thread-safe: call it from the event loop that runs both session and service.

Units: timestamps and latencies in ns (Prometheus series in seconds, its convention),
prices and money in quote currency, position and quantities in base units.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Final

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from l2trader.errors import ConfigError
from l2trader.paper.live_validation import ValidationSink, validation_families
from l2trader.schema import FILL_DTYPE
from l2trader.units import NS_PER_SECOND, tick_decimals

__all__ = ["ALERTS_KEPT", "BOOK_LEVELS", "LATENCY_BUCKETS_NS", "LATENCY_WINDOW", "LiveMetrics"]

LATENCY_WINDOW: Final = 4096
"""Latest samples kept for the p50/p99 of feed lag and decision latency."""
ALERTS_KEPT: Final = 50
"""Latest alerts listed by :meth:`LiveMetrics.snapshot` (the counters keep every alert)."""
BOOK_LEVELS: Final = 10
"""Book levels per side listed by :meth:`LiveMetrics.snapshot`."""
LATENCY_BUCKETS_NS: Final = (
    10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
    100_000_000, 250_000_000, 500_000_000, 1_000_000_000,
)  # fmt: skip
"""Upper bounds (ns, inclusive) of the latency histogram buckets; +Inf is implicit."""
_SIDE: Final = {1: "buy", -1: "sell"}
_LIQUIDITY: Final = {1: "maker", 2: "taker"}


class _LatencyStats:
    """A cumulative histogram (ns) plus a ring of the latest :data:`LATENCY_WINDOW` samples."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_NS) + 1)
        self.sum_ns = 0
        self.n = 0
        self.last_ns = 0
        self.ring = np.zeros(LATENCY_WINDOW, dtype=np.int64)

    def observe(self, value_ns: int) -> None:
        """Count one sample (ns)."""
        self.counts[bisect_left(LATENCY_BUCKETS_NS, value_ns)] += 1
        self.ring[self.n % LATENCY_WINDOW] = value_ns
        self.sum_ns += value_ns
        self.n += 1
        self.last_ns = value_ns

    def percentiles(self) -> tuple[float | None, float | None]:
        """p50 and p99 (ns, linear interpolation) of the window; None before any sample."""
        if self.n == 0:
            return None, None
        p50, p99 = np.percentile(self.ring[: min(self.n, LATENCY_WINDOW)], [50.0, 99.0])
        return float(p50), float(p99)

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        """The Prometheus histogram (seconds) of every sample so far."""
        cumulative = np.cumsum(self.counts)
        bounds = [repr(b / NS_PER_SECOND) for b in LATENCY_BUCKETS_NS] + ["+Inf"]
        buckets = [(le, float(c)) for le, c in zip(bounds, cumulative, strict=True)]
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.sum_ns / 1e9)


class _EquitySeries:
    """Equity points thinned to at most ``max_points``: past the cap, every other is dropped.

    After each halving only every ``stride``-th state is kept, so the series spans the whole
    session at a resolution that halves as it grows; the latest state is always appended
    on read.
    """

    def __init__(self, max_points: int) -> None:
        self.cap = max_points - 1
        self.stride = 1
        self.seen = 0
        self.ts: list[int] = []
        self.equity: list[float] = []

    def add(self, ts_ns: int, equity: float) -> None:
        """Offer one state; keep it when it falls on the stride."""
        if self.seen % self.stride == 0:
            self.ts.append(ts_ns)
            self.equity.append(equity)
            if len(self.ts) > self.cap:
                self.ts = self.ts[::2]
                self.equity = self.equity[::2]
                self.stride *= 2
        self.seen += 1

    def points(self, last_ts: int, last_equity: float) -> dict[str, list[Any]]:
        """Kept points plus the latest state (when it was not kept), oldest first."""
        ts, eq = list(self.ts), list(self.equity)
        if not ts or ts[-1] != last_ts or eq[-1] != last_equity:
            ts.append(last_ts)
            eq.append(last_equity)
        return {"ts_ns": ts, "equity": eq}


class LiveMetrics(ValidationSink):
    """Counters, gauges and recent history of one paper session, for the dashboard and Prometheus.

    Parameters
    ----------
    tick_size
        Instrument tick (quote per tick), to print fill prices in quote currency.
    max_fills
        Latest fills kept for the dashboard (the counters keep every fill).
    max_points
        Cap on the equity series of :meth:`snapshot` (thinned, see ``_EquitySeries``).
    book_in_ticks
        True when :meth:`on_batch` gets book prices in ticks (``OrderBook.top``) rather than
        in quote; they are then converted with ``tick_size`` on read, not per batch.

    Examples
    --------
    >>> m = LiveMetrics(tick_size=0.01)
    >>> m.on_batch(1_000, 3, 200_000, 40_000, 0, [(99.99, 2.0)], [(100.01, 1.5)])
    >>> m.on_state(1_000, 10_000.0, 0.0, 10_000.0)
    >>> m.on_state(2_000, 10_012.5, 1.0, 9_912.5)
    >>> s = m.snapshot()
    >>> s["equity"], s["pnl"], s["counters"]["events"], s["book"]["mid"]
    (10012.5, 12.5, 3, 100.0)
    >>> "l2t_events_total 3.0" in m.prometheus()
    True
    """

    def __init__(
        self,
        tick_size: float,
        max_fills: int = 50,
        max_points: int = 2000,
        *,
        book_in_ticks: bool = False,
    ) -> None:
        if not tick_size > 0.0:
            raise ConfigError(f"LiveMetrics: tick_size must be > 0, got {tick_size!r}")
        if max_fills < 1:
            raise ConfigError(f"LiveMetrics: max_fills must be >= 1, got {max_fills!r}")
        if max_points < 2:
            raise ConfigError(f"LiveMetrics: max_points must be >= 2, got {max_points!r}")
        self.tick_size = float(tick_size)
        self.book_in_ticks = book_in_ticks
        self._price_decimals = tick_decimals(self.tick_size)
        self.version = 0
        """Incremented by every ``on_*`` call: a reader re-renders only when it moved."""
        self.ts_ns = -1
        self.events = 0
        self.batches = 0
        self.queue_depth = 0
        self.feed_lag = _LatencyStats()
        self.decision_latency = _LatencyStats()
        self.bids: Sequence[tuple[float, float]] = ()
        self.asks: Sequence[tuple[float, float]] = ()
        self.book_ts_ns = -1
        self._series = _EquitySeries(max_points)
        self.state_ts_ns = -1
        self.equity = float("nan")
        self.position = 0.0
        self.cash = float("nan")
        self.start_equity = float("nan")
        self.peak_equity = float("nan")
        self.max_drawdown = 0.0
        self._fills: deque[dict[str, Any]] = deque(maxlen=max_fills)
        self.fills_by_side = {"buy": 0, "sell": 0}
        self.fill_qty_by_side = {"buy": 0.0, "sell": 0.0}
        self.fees = 0.0
        self._alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS_KEPT)
        self.alerts_by_kind: dict[str, int] = {}
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(self))

    def _touch(self, ts_ns: int) -> None:
        self.version += 1
        self.ts_ns = max(self.ts_ns, ts_ns)

    def on_batch(
        self,
        ts_ns: int,
        n_events: int,
        feed_lag_ns: int,
        decision_latency_ns: int,
        queue_depth: int,
        bids: Sequence[tuple[float, float]],
        asks: Sequence[tuple[float, float]],
    ) -> None:
        """Record one processed batch: ``n_events`` C1 rows, its latencies (ns) and book top.

        ``bids``/``asks`` are ``(price, qty)`` pairs best first, prices in quote (in ticks
        with ``book_in_ticks``); the lists are kept (not copied), so pass fresh ones.
        """
        if n_events < 0:
            raise ConfigError(f"LiveMetrics.on_batch: n_events must be >= 0, got {n_events}")
        self.events += n_events
        self.batches += 1
        self.queue_depth = queue_depth
        self.feed_lag.observe(feed_lag_ns)
        self.decision_latency.observe(decision_latency_ns)
        self.bids = bids
        self.asks = asks
        self.book_ts_ns = ts_ns
        self._touch(ts_ns)

    def on_state(self, ts_ns: int, equity: float, position: float, cash: float) -> None:
        """Record the portfolio: ``equity`` and ``cash`` in quote, ``position`` in base units."""
        if self.state_ts_ns < 0:
            self.start_equity = equity
            self.peak_equity = equity
        self.state_ts_ns = ts_ns
        self.equity = equity
        self.position = position
        self.cash = cash
        if equity > self.peak_equity:
            self.peak_equity = equity
        self.max_drawdown = max(self.max_drawdown, self.peak_equity - equity)
        self._series.add(ts_ns, equity)
        self._touch(ts_ns)

    def on_fills(self, fills: np.ndarray) -> None:
        """Record C6 fills (a ``FILL_DTYPE`` array; prices converted with ``tick_size``)."""
        if fills.dtype != FILL_DTYPE:
            raise TypeError(f"LiveMetrics.on_fills: expected FILL_DTYPE rows, got {fills.dtype}")
        for row in fills.tolist():
            _ts_exch, ts_recv, order_id, side, liquidity, levels, price_ticks, qty, fee = row
            side_name = _SIDE.get(side, "unknown")
            self.fills_by_side[side_name] = self.fills_by_side.get(side_name, 0) + 1
            self.fill_qty_by_side[side_name] = self.fill_qty_by_side.get(side_name, 0.0) + qty
            self.fees += fee
            self._fills.append(
                {
                    "ts_ns": ts_recv,
                    "order_id": order_id,
                    "side": side_name,
                    "liquidity": _LIQUIDITY.get(liquidity, "unknown"),
                    "levels": levels,
                    "price": round(price_ticks * self.tick_size, 12),
                    "qty": qty,
                    "fee": fee,
                }
            )
            self._touch(ts_recv)

    def on_alert(self, kind: str, message: str, ts_ns: int) -> None:
        """Record an alert (``kind`` e.g. ``"stale_feed"``; ``ts_ns`` wall clock, ns)."""
        self.alerts_by_kind[kind] = self.alerts_by_kind.get(kind, 0) + 1
        self._alerts.append({"kind": kind, "message": message, "ts_ns": ts_ns})
        self._touch(ts_ns)

    @property
    def pnl(self) -> float:
        """Equity minus the first equity seen (quote); NaN before any state."""
        return self.equity - self.start_equity

    @property
    def drawdown(self) -> float:
        """Peak equity minus equity (quote, >= 0); NaN before any state."""
        return self.peak_equity - self.equity

    def snapshot(self) -> dict[str, Any]:
        """Everything the dashboard shows, JSON-able (no NaN: unknown values are None).

        Keys: ``version``, ``ts_ns``, ``tick_size``, ``price_decimals``, ``equity``, ``cash``,
        ``position``, ``pnl``, ``drawdown``, ``max_drawdown``, ``equity_series`` (``ts_ns`` and
        ``equity`` lists), ``book``, ``fills`` and ``alerts`` (newest first), ``counters``,
        ``latency`` (ns), ``validation`` (the last :meth:`on_validation` dict, or None).
        """
        has_state = self.state_ts_ns >= 0
        series = self._series.points(self.state_ts_ns, self.equity) if has_state else None
        return {
            "version": self.version,
            "ts_ns": _opt_int(self.ts_ns),
            "tick_size": self.tick_size,
            "price_decimals": self._price_decimals,
            "equity": _finite(self.equity),
            "cash": _finite(self.cash),
            "position": self.position if has_state else None,
            "pnl": _finite(self.pnl),
            "drawdown": _finite(self.drawdown),
            "max_drawdown": self.max_drawdown if has_state else None,
            "equity_series": series or {"ts_ns": [], "equity": []},
            "book": self._book(),
            "fills": list(reversed(self._fills)),
            "alerts": list(reversed(self._alerts)),
            "counters": {
                "events": self.events,
                "batches": self.batches,
                "fills": sum(self.fills_by_side.values()),
                "alerts": sum(self.alerts_by_kind.values()),
                "queue_depth": self.queue_depth,
                "fees": self.fees,
            },
            "latency": self._latency(),
            "validation": self.validation,
        }

    def _book(self) -> dict[str, Any]:
        bids = [[self._price(p), float(q)] for p, q in self.bids[:BOOK_LEVELS]]
        asks = [[self._price(p), float(q)] for p, q in self.asks[:BOOK_LEVELS]]
        both = bool(bids) and bool(asks)
        return {
            "ts_ns": _opt_int(self.book_ts_ns),
            "bids": bids,
            "asks": asks,
            "mid": round((bids[0][0] + asks[0][0]) / 2.0, 12) if both else None,
            "spread": round(asks[0][0] - bids[0][0], 12) if both else None,
        }

    def _price(self, price: float) -> float:
        if self.book_in_ticks:
            return round(price * self.tick_size, self._price_decimals)
        return float(price)

    def _latency(self) -> dict[str, Any]:
        lag50, lag99 = self.feed_lag.percentiles()
        dec50, dec99 = self.decision_latency.percentiles()
        return {
            "window": min(self.batches, LATENCY_WINDOW),
            "feed_lag_last_ns": self.feed_lag.last_ns if self.batches else None,
            "feed_lag_p50_ns": lag50,
            "feed_lag_p99_ns": lag99,
            "decision_p50_ns": dec50,
            "decision_p99_ns": dec99,
        }

    def add_collector(self, collector: Collector) -> None:
        """Expose more families on ``/metrics`` (e.g. the deploy service's alert counters)."""
        self._registry.register(collector)

    def prometheus(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of every series, names ``l2t_*``."""
        return generate_latest(self._registry).decode("utf-8")


class _Collector(Collector):
    """Builds the ``l2t_*`` metric families from a :class:`LiveMetrics` at scrape time."""

    def __init__(self, metrics: LiveMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Yield every family (counters, gauges, histograms) in a fixed order."""
        m = self.metrics
        yield CounterMetricFamily("l2t_events", "C1 events processed.", value=m.events)
        yield CounterMetricFamily("l2t_batches", "F_LAST batches processed.", value=m.batches)
        yield GaugeMetricFamily("l2t_queue_depth", "Feed-to-engine queue depth.", m.queue_depth)
        yield GaugeMetricFamily(
            "l2t_feed_lag_seconds", "Last feed lag (ts_recv - ts_exch).", m.feed_lag.last_ns / 1e9
        )
        yield m.feed_lag.family("l2t_feed_lag_hist_seconds", "Feed lag (ts_recv - ts_exch).")
        yield m.decision_latency.family(
            "l2t_decision_latency_seconds", "Feed-to-decision latency of a batch."
        )
        yield GaugeMetricFamily("l2t_position", "Position (base units).", m.position)
        yield GaugeMetricFamily("l2t_equity", "Equity (quote).", m.equity)
        yield GaugeMetricFamily("l2t_cash", "Cash (quote).", m.cash)
        yield GaugeMetricFamily("l2t_pnl", "Equity minus starting equity (quote).", m.pnl)
        yield GaugeMetricFamily("l2t_drawdown", "Peak equity minus equity (quote).", m.drawdown)
        yield GaugeMetricFamily("l2t_max_drawdown", "Largest drawdown (quote).", m.max_drawdown)
        yield GaugeMetricFamily("l2t_fees", "Fees paid, rebates negative (quote).", m.fees)
        yield _counter_by("l2t_fills", "Fills by side.", "side", m.fills_by_side)
        yield _counter_by("l2t_fill_qty", "Filled qty (base units).", "side", m.fill_qty_by_side)
        yield _counter_by("l2t_alerts", "Alerts fired by kind.", "kind", m.alerts_by_kind)
        yield from validation_families(m.validation)


def _counter_by(name: str, doc: str, label: str, values: dict[str, Any]) -> Metric:
    out = CounterMetricFamily(name, doc, labels=[label])
    for key in sorted(values):
        out.add_metric([key], values[key])
    return out


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _opt_int(x: int) -> int | None:
    return x if x >= 0 else None
