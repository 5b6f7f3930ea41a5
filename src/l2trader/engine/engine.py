"""The backtest engine's Python face: state allocation, chunked runs, Python strategies.

:class:`Engine` owns the book, the venue's order table, the trader's state and the output
buffers of one run. ``run(events)`` feeds C1 chunks (``ts_recv`` order, whole batches) to
the numba loop of :mod:`l2trader.engine.loop_kernels`; it grows the book or the buffers
when the loop asks and resumes at the same event, so any split of the stream into chunks
gives identical results. A built-in strategy decides inside numba; a plain-Python
:class:`~l2trader.engine.strategy.Strategy` object decides from here, at the same decision
points and with the same context. ``finish()`` delivers the last reports and returns the
C5-C7 outputs.

Examples
--------
>>> from l2trader.engine.strategies.market_maker import MarketMakerConfig
>>> import numpy as np
>>> from l2trader.testing import realistic_events
>>> eng = Engine(EngineConfig(), tick_size=0.1, strategy="market_maker",
...              market_maker=MarketMakerConfig())
>>> eng.run(realistic_events(np.random.default_rng(1), 20_000))
>>> out = eng.finish()
>>> out.equity["ts_recv"].size > 0
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from l2trader.book.book import OrderBook
from l2trader.engine import loop_kernels as lk
from l2trader.engine import state as S
from l2trader.engine.config import EngineConfig
from l2trader.engine.fees import FeeConfig
from l2trader.engine.latency import LatencyModel
from l2trader.engine.portfolio import new_state
from l2trader.engine.queue import QueueModel
from l2trader.engine.risk import (
    OP_FLATTEN,
    OP_HALT,
    RS_HALTED,
    RS_OPERATOR,
    RiskConfig,
    new_risk_state,
    risk_params,
)
from l2trader.engine.strategies.market_maker import MarketMakerConfig, mm_params
from l2trader.engine.strategies.taker import SignalTakerConfig, taker_params
from l2trader.engine.strategy import MAX_ACTIONS, N_FEATURES, Strategy, StrategyContext
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import EVENT_DTYPE, ORDER_DTYPE, SIGNAL_DTYPE

__all__ = ["Engine", "EngineOutput"]

_DECIDE = {"book": S.DECIDE_BOOK, "time": S.DECIDE_TIME, "changes": S.DECIDE_CHANGES,
           "signal": S.DECIDE_SIGNAL}  # fmt: skip
_KINDS = {"python": S.STRATEGY_PYTHON, "taker": S.STRATEGY_TAKER,
          "market_maker": S.STRATEGY_MAKER}  # fmt: skip
_LATENCY_DRAWS = 1 << 14
"""Latency draws per stream; an empirical model's draws are used in turn and cycle."""


@dataclass(frozen=True)
class EngineOutput:
    """C5-C7 outputs of a run plus its counters."""

    orders: NDArray[np.void]
    order_events: NDArray[np.void]
    fills: NDArray[np.void]
    equity: NDArray[np.void]
    counters: dict[str, int | float]


class Engine:
    """One backtest run over a stream of C1 chunks.

    Parameters
    ----------
    config
        Venue, latency, risk and decision settings.
    tick_size
        Quote currency per tick of the instrument.
    strategy
        ``"taker"``, ``"market_maker"`` or a plain-Python :class:`Strategy` object.
    signals
        C4 rows (``SIGNAL_DTYPE``, ``ts_recv`` ascending) the strategy sees as ``ctx.score``.
    fees
        Fee rates; default ``config.fees`` (required if that is None).
    latency_samples_ns
        Observed delays for an empirical latency model.
    latency_draws_ns
        ``(entry, response)`` int64 arrays (ns) used in turn instead of the model's draws: a
        stress test injects spikes this way, and a huge response delay stands for a lost ack
        (reports reach the strategy in order, so later reports wait behind it).
    """

    def __init__(
        self,
        config: EngineConfig,
        *,
        tick_size: float,
        strategy: str | Strategy,
        taker: SignalTakerConfig | None = None,
        market_maker: MarketMakerConfig | None = None,
        signals: NDArray[np.void] | None = None,
        fees: FeeConfig | None = None,
        latency_samples_ns: NDArray[np.int64] | None = None,
        latency_draws_ns: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
    ) -> None:
        if not tick_size > 0.0:
            raise ConfigError(f"tick_size={tick_size!r} must be > 0")
        self.config = config
        self.python_strategy = None if isinstance(strategy, str) else strategy
        kind = _KINDS.get(strategy if isinstance(strategy, str) else "python")
        if kind is None:
            raise ConfigError(f"strategy={strategy!r}: must be one of {sorted(_KINDS)[1:]}")
        fee_cfg = fees or config.fees or FeeConfig()
        lat = LatencyModel(config.latency, latency_samples_ns)
        self.book = OrderBook()
        self.params = self._params(config, tick_size, fee_cfg, lat, kind)
        if latency_draws_ns is not None:
            self.params = self.params._replace(
                entry_ns=_draws(latency_draws_ns[0]), response_ns=_draws(latency_draws_ns[1])
            )
        self.rp = risk_params(config.risk)
        self.tp = taker_params(taker or SignalTakerConfig())
        self.mp = mm_params(market_maker or MarketMakerConfig())
        self.signals = _signals(signals)
        self.scratch = _scratch(config.walk_levels)
        self.trader = _trader(config, new_risk_state())
        self.trader.pf[:] = new_state(config.initial_cash)
        self.rec = S.new_records(2 * self._room() + 4096)

    @staticmethod
    def _params(
        cfg: EngineConfig, tick: float, fees: FeeConfig, lat: LatencyModel, kind: int
    ) -> S.EngineParams:
        walk, m, pend = cfg.walk_levels, cfg.max_orders, cfg.max_in_flight
        return S.EngineParams(
            tick_size=float(tick), maker_bps=float(fees.maker_bps),
            taker_bps=float(fees.taker_bps), queue_model=int(QueueModel[cfg.queue.upper()]),
            feed_ns=cfg.feed_ns, decide_mode=_DECIDE[cfg.decision.mode],
            decide_every=max(cfg.decision.every, 1), grid_ns=cfg.grid_ns,
            vol_tau_ns=float(cfg.vol_halflife_ns), initial_cash=float(cfg.initial_cash),
            strategy_kind=kind, risk_monitor=_monitors(cfg.risk), room_orders=MAX_ACTIONS + m + 2,
            room_events=MAX_ACTIONS + 2 * m + pend + 2, room_fills=walk + m,
            entry_ns=lat.entry(_LATENCY_DRAWS), response_ns=lat.response(_LATENCY_DRAWS),
        )  # fmt: skip

    def _room(self) -> int:
        p = self.params
        return max(p.room_orders, p.room_events, p.room_fills)

    def run(self, events: NDArray[np.void]) -> None:
        """Feed one C1 chunk (``ts_recv`` ascending, whole batches) through the loop."""
        if events.dtype != EVENT_DTYPE:
            raise InvalidValueError(f"events must have EVENT_DTYPE, got {events.dtype}")
        if events.size == 0:
            return
        ts = events["ts_recv"]
        started = bool(self.trader.est[S.ES_STARTED])
        last = int(self.trader.est[S.ES_LAST_TS]) if started else int(ts[0])
        if ts[0] < last or (ts.size > 1 and bool(np.any(ts[1:] < ts[:-1]))):
            raise InvalidValueError("events must be in ts_recv order (C1 invariant)")
        if not started:
            self._start(int(ts[0]))
        i = 0
        while i < events.size:
            status, i = self._step(events, i)
            if status == S.RUN_DECIDE:
                self._python_decide(int(events["ts_recv"][i - 1]))
            elif status == S.RUN_FULL:
                self.rec = _grown(self.rec, self.trader.est, self._room())
            elif status == S.RUN_GROW_BOOK:
                self.book.handle_status(1, events, i, 0)
            elif status == S.RUN_BAD_EVENT:
                self.book.handle_status(status, events, i, 0)
        self.trader.est[S.ES_LAST_TS] = int(ts[-1])

    def _start(self, ts0: int) -> None:
        est, cfg = self.trader.est, self.config
        est[S.ES_NEXT_GRID] = (ts0 // cfg.grid_ns + 1) * cfg.grid_ns
        est[S.ES_NEXT_DECIDE] = ts0
        est[S.ES_STARTED] = 1  # in the arrays: a copied or restored engine resumes as is

    def _step(self, events: NDArray[np.void], i: int) -> tuple[int, int]:
        b = self.book
        bk = S.BookArrays(b.ist, b.fst, b.q, b.ovf_px, b.ovf_qty)  # grown arrays are new objects
        status, nxt = lk.run_nb(
            events, i, bk, self.scratch, self.trader, self.rp, self.params, self.rec,
            self.signals, self.tp, self.mp,
        )  # fmt: skip
        return int(status), int(nxt)

    def _python_decide(self, now: int) -> None:
        assert self.python_strategy is not None
        tr = self.trader
        ctx = StrategyContext(
            ts_recv=now,
            best_bid_ticks=int(self.book.ist[2]),
            best_ask_ticks=int(self.book.ist[3]),
            position=float(tr.pf[0]),
            open_orders=tr.sv[: tr.est[S.ES_N_SV]].copy(),
            features=tr.feat.copy(),
            score=float(tr.efl[S.EF_SCORE]),
        )
        n = int(self.python_strategy.decide(ctx, tr.out))
        if not 0 <= n <= MAX_ACTIONS:
            raise InvalidValueError(f"strategy.decide returned {n}: must be in 0..{MAX_ACTIONS}")
        lk.submit_rows_nb(tr, self.rp, self.params, self.rec, n, now, float(tr.feat[0]))

    def operator_halt(self, *, flatten: bool) -> bool:
        """Halt trading from outside the loop (an operator or an alert's automatic response).

        From the next consistent book state the risk step cancels every working order, the
        strategy no longer decides, new orders that would not reduce the position are
        rejected (``RISK_KILL_SWITCH``) and, with ``flatten``, a reduce-only market order
        flattens the position (re-sent until flat). The halt lives in the risk state arrays,
        so a checkpoint keeps it. Returns False when already halted by the operator
        (idempotent; a later ``flatten=True`` still upgrades a plain halt).
        """
        rst = self.trader.rst
        op = OP_FLATTEN if flatten else OP_HALT
        if rst[RS_OPERATOR] >= op:
            return False
        rst[RS_OPERATOR] = float(op)
        rst[RS_HALTED] = 1.0
        return True

    @property
    def halted(self) -> bool:
        """True once the kill switch fired or an operator halted trading."""
        return bool(self.trader.rst[RS_HALTED] != 0.0)

    def finish(self) -> EngineOutput:
        """Deliver outstanding reports, write the last equity row, return the outputs."""
        while not lk.finish_nb(self.trader, self.params, self.rec):
            self.rec = _grown(self.rec, self.trader.est, self._room())
        est, rec = self.trader.est, self.rec
        return EngineOutput(
            orders=rec.orders[: est[S.ES_N_ORD]].copy(),
            order_events=rec.order_events[: est[S.ES_N_OEV]].copy(),
            fills=rec.fills[: est[S.ES_N_FILL]].copy(),
            equity=rec.equity[: est[S.ES_N_EQ]].copy(),
            counters=self.counters(),
        )

    def counters(self) -> dict[str, int | float]:
        """Events, decisions, skipped crossed states, in-flight actions, risk-rule counts."""
        est, rst = self.trader.est, self.trader.rst
        return {
            "events": int(est[S.ES_EVENTS]),
            "decisions": int(est[S.ES_DECISIONS]),
            "crossed_states": int(est[S.ES_CROSSED]),
            "in_flight_at_end": int(est[S.ES_N_PEND]),
            "late_reports": int(est[S.ES_LATE_REPORTS]),
            "risk_stop_loss": int(rst[4]),
            "risk_take_profit": int(rst[5]),
            "risk_kill_switch": int(rst[6]),
            "halted": int(rst[3] != 0.0),
            "operator_halt": int(rst[RS_OPERATOR]),
        }


def _draws(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """A validated copy of latency draws: a non-empty int64 array of delays >= 0 (ns)."""
    arr = np.ascontiguousarray(values, dtype=np.int64)
    if arr.ndim != 1 or arr.size == 0 or bool(np.any(arr < 0)):
        raise ConfigError("latency draws must be a non-empty 1-d array of delays >= 0 ns")
    return arr


def _monitors(risk: RiskConfig) -> bool:
    """True when a per-state risk rule is set (stop-loss, take-profit, daily loss, drawdown)."""
    limits = (risk.stop_loss_bps, risk.take_profit_bps, risk.max_daily_loss, risk.max_drawdown)
    return any(math.isfinite(x) for x in limits)


def _signals(signals: NDArray[np.void] | None) -> NDArray[np.void]:
    if signals is None:
        return np.zeros(0, SIGNAL_DTYPE)
    sig = np.ascontiguousarray(signals, dtype=SIGNAL_DTYPE)
    if sig.size > 1 and bool(np.any(sig["ts_recv"][1:] < sig["ts_recv"][:-1])):
        raise InvalidValueError("signals must be in ts_recv order")
    return sig


def _scratch(walk: int) -> S.Scratch:
    return S.Scratch(
        wt=np.zeros((1, walk), np.int64), wq=np.zeros((1, walk)), wout=np.zeros(3),
        take=np.zeros(walk), ft=np.zeros((2, S.WALK_SCRATCH), np.int64),
        fq=np.zeros((2, S.WALK_SCRATCH)),
    )  # fmt: skip


def _trader(cfg: EngineConfig, rst: NDArray[np.float64]) -> S.Trader:
    m, pend = cfg.max_orders, cfg.max_in_flight
    est = np.zeros(S.ES_SIZE, np.int64)
    est[[S.ES_SCORE_TS, S.ES_POS_SINCE, S.ES_FLATTEN_ID, S.ES_PREV_TS]] = -1
    efl = np.zeros(S.EF_SIZE)
    efl[[S.EF_SCORE, S.EF_PREV_MID, S.EF_LAST_MID]] = np.nan
    return S.Trader(
        ot_i=np.zeros((m, S.OT_NI), np.int64), ot_f=np.zeros((m, S.OT_NF)),
        pend=np.zeros(pend, ORDER_DTYPE), pend_at=np.zeros(pend, np.int64),
        sv=np.zeros(m, ORDER_DTYPE), est=est, efl=efl, pf=np.zeros(9), rst=rst,
        feat=np.full(N_FEATURES, np.nan), out=np.zeros(MAX_ACTIONS, ORDER_DTYPE),
    )  # fmt: skip


def _grown(rec: S.Records, est: NDArray[np.int64], room: int) -> S.Records:
    """Records with every buffer doubled (at least ``room`` free rows), contents kept."""
    counts = (est[S.ES_N_ORD], est[S.ES_N_OEV], est[S.ES_N_FILL], est[S.ES_N_EQ])
    new = []
    for arr, n in zip(rec, counts, strict=True):
        grown = np.zeros(max(2 * arr.size, int(n) + 2 * room), arr.dtype)
        grown[:n] = arr[:n]
        new.append(grown)
    return S.Records(*new)
