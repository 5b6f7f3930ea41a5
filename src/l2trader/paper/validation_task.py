"""Validation *during* a paper session: the analyzer's metrics and checks, every few seconds.

:class:`MarketSampler` records the session book's mid and spread (quote) once per grid step
of event time (called after each arrival, on the session thread: a few array reads).
:func:`validate_live` wakes every ``every_s`` seconds, copies the rows the engine recorded so
far (C5-C7) and the sampled market, runs :class:`~l2trader.paper.live_validation.LiveValidator`
(the analyzer's own section functions and ``evaluate_checks``) on a worker thread, and hands
the result to :meth:`LiveMetrics.on_validation` back on the loop thread, so the dashboard,
``/api/snapshot`` and ``/metrics`` show live Sharpe, drawdown, win rate, VaR/CVaR,
consecutive losses, slippage, correlation with the market and a pass/fail per check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.checks import DEFAULT_CHECKS, ChecksConfig
from l2trader.engine import state as S
from l2trader.engine.engine import Engine
from l2trader.paper.live_metrics import LiveMetrics
from l2trader.paper.live_validation import LiveValidator
from l2trader.paper.recovery import engine_rows
from l2trader.paper.session import Session

__all__ = ["MarketSampler", "live_validator", "start_live_validation", "validate_live"]

logger = logging.getLogger(__name__)


class MarketSampler:
    """Mid and spread (quote) of the live book, at most once per ``step_ns`` of event time."""

    def __init__(self, engine: Callable[[], Engine], tick_size: float, step_ns: int) -> None:
        self._engine, self.tick_size, self.step_ns = engine, tick_size, step_ns
        self._next = -1
        self._ts: list[int] = []
        self._mid: list[float] = []
        self._spread: list[float] = []

    def sample(self, *_: object) -> None:
        """Record the book's mid and spread if a grid step passed (an ``on_arrival`` hook)."""
        engine = self._engine()
        ts = int(engine.trader.est[S.ES_LAST_TS])
        if ts < self._next:
            return
        mid = engine.book.mid_ticks()
        if mid is None:
            return
        bid, ask = engine.book.top(1)
        self._ts.append(ts)
        self._mid.append(mid * self.tick_size)
        self._spread.append((ask[0][0] - bid[0][0]) * self.tick_size)
        self._next = (ts // self.step_ns + 1) * self.step_ns

    def arrays(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """Copies of the samples so far: ``(ts_ns, mid, spread)``."""
        return (np.array(self._ts, np.int64), np.array(self._mid), np.array(self._spread))


def live_validator(kind: str, capital: float, tick_size: float, feed_ns: int,
                   checks: ChecksConfig | None = None) -> LiveValidator | None:  # fmt: skip
    """The validator of a session (``checks`` default: the strategy kind's defaults).

    None when ``capital`` (the initial cash, quote) is not positive: returns would have no
    base, so the session validates only afterwards (``paper report --capital``).
    """
    if not capital > 0:
        logger.warning("live validation off: engine.initial_cash is 0 (no base for returns)")
        return None
    spec = checks if checks is not None else DEFAULT_CHECKS.get(kind)
    return LiveValidator(spec, capital, tick_size, feed_ns=feed_ns)


def start_live_validation(session: Session, metrics: LiveMetrics,
                          sampler: MarketSampler) -> asyncio.Task[None] | None:  # fmt: skip
    """Run :func:`validate_live` for ``session`` on the running loop (None: no capital)."""
    cfg = session.config
    validator = live_validator(cfg.strategy.kind, cfg.engine.initial_cash, sampler.tick_size,
                               cfg.engine.feed_ns, cfg.live_checks)  # fmt: skip
    if validator is None:
        return None
    return asyncio.get_running_loop().create_task(validate_live(
        lambda: session.engine, metrics, validator, sampler, cfg.validate_every_s))  # fmt: skip


async def validate_live(engine: Callable[[], Engine], metrics: LiveMetrics,
                        validator: LiveValidator, sampler: MarketSampler,
                        every_s: float = 5.0) -> None:  # fmt: skip
    """Every ``every_s`` s: validate the rows so far off-thread, publish the result."""
    while True:
        await asyncio.sleep(every_s)
        rows = {k: v.copy() for k, v in engine_rows(engine()).items()}
        ts, mid, spread = sampler.arrays()
        try:
            result = await asyncio.to_thread(
                validator.update, rows["state"], rows["fills"], ts if ts.size else None,
                mid if ts.size else None, spread=spread if ts.size else None,
                orders=rows["intents"], order_events=rows["order_events"],
            )  # fmt: skip
        except Exception:
            logger.exception("live validation failed")
            continue
        metrics.on_validation(result.to_dict())
