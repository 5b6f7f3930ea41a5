"""Frozen configs of the backtest engine and of a backtest run (TOML or JSON files).

A run file has four sections: ``[data]`` (which catalog partitions), ``[engine]`` (venue
model: fees, latency, queue model, decision clock, risk limits), ``[strategy]`` (which
reference strategy and its parameters) and ``[signal]`` (the C4 series the taker trades).
``BacktestConfig.id`` (sha256 of the canonical JSON) identifies the run's configuration.

Examples
--------
>>> cfg = BacktestConfig.from_toml('''
... [data]
... catalog = "cat"
... venue = "binance-futures"
... symbol = "BTCUSDT"
... [strategy]
... kind = "market_maker"
... ''')
>>> cfg.engine.decision.mode, cfg.engine.queue, cfg.strategy.kind
('book', 'conservative', 'market_maker')
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, model_validator

from l2trader.config import FrozenConfig
from l2trader.engine.fees import FeeConfig
from l2trader.engine.latency import LatencyConfig
from l2trader.engine.risk import RiskConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.engine.strategies.taker import SignalTakerConfig

__all__ = [
    "BacktestConfig",
    "DataSpec",
    "DecisionConfig",
    "EngineConfig",
    "SignalSpec",
    "StrategySpec",
    "strategy_id",
]


class DecisionConfig(FrozenConfig):
    """When the strategy decides.

    ``book``: every consistent state; ``time``: every ``every`` ns; ``changes``: every
    ``every`` book rows; ``signal``: each new C4 row.
    """

    mode: Literal["book", "time", "changes", "signal"] = "book"
    every: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _every_needed(self) -> DecisionConfig:
        if self.mode in ("time", "changes") and self.every <= 0:
            raise ValueError(f"decision mode {self.mode!r} needs every > 0")
        return self


class EngineConfig(FrozenConfig):
    """The simulated venue and the trader around the strategy."""

    fees: FeeConfig | None = None
    """Maker/taker bps; None = the instrument's fees from the catalog registry."""
    latency: LatencyConfig = LatencyConfig()
    feed_ns: int = Field(default=0, ge=0)
    """The venue is this far ahead of the strategy's view of the book, ns."""
    queue: Literal["conservative", "proportional"] = "conservative"
    decision: DecisionConfig = DecisionConfig()
    risk: RiskConfig = RiskConfig()
    grid_ns: int = Field(default=1_000_000_000, gt=0)
    """Equity curve (C7) sampling interval, ns."""
    vol_halflife_ns: int = Field(default=60_000_000_000, gt=0)
    """Half-life of the engine's mid-volatility estimate (``FEAT_VOL_BPS``), ns."""
    initial_cash: float = 0.0
    """Starting cash, quote currency."""
    max_orders: int = Field(default=64, ge=1, le=4096)
    """Working orders per run (venue order table and the strategy's view)."""
    max_in_flight: int = Field(default=256, ge=1, le=65536)
    """Actions travelling to the venue at once."""
    walk_levels: int = Field(default=1000, ge=1)
    """Levels a taker order may walk (the visible book deeper than this is not used)."""


class StrategySpec(FrozenConfig):
    """Which reference strategy runs, with the parameters of each."""

    kind: Literal["taker", "market_maker"]
    taker: SignalTakerConfig = SignalTakerConfig()
    market_maker: MarketMakerConfig = MarketMakerConfig()

    def params(self) -> FrozenConfig:
        """The parameters of the selected ``kind``."""
        return self.market_maker if self.kind == "market_maker" else self.taker

    def strategy_id(self, engine: EngineConfig) -> str:
        """:func:`strategy_id` of this strategy on ``engine``."""
        return strategy_id(self.kind, self.params(), engine)


def strategy_id(kind: str, params: FrozenConfig, engine: EngineConfig) -> str:
    """Identity (sha256 hex) of a strategy of ``kind`` with ``params`` on ``engine``.

    The same strategy, venue model and risk limits give the same id in a backtest, a stress
    run and a paper session, whatever their data, names or output paths: deployment
    readiness matches validation evidence to the deployed strategy by it.

    >>> a = strategy_id("market_maker", MarketMakerConfig(), EngineConfig())
    >>> a == StrategySpec(kind="market_maker").strategy_id(EngineConfig()), len(a)
    (True, 64)
    >>> a == strategy_id("market_maker", MarketMakerConfig(), EngineConfig(initial_cash=1.0))
    False
    """
    body = {"kind": kind, "params": params.model_dump(mode="json"),
            "engine": engine.model_dump(mode="json")}  # fmt: skip
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


class DataSpec(FrozenConfig):
    """Catalog partitions to replay: ``venue/symbol``, dates ``start..end`` (UTC, inclusive)."""

    catalog: str
    venue: str
    symbol: str
    start: str | None = None
    end: str | None = None


class SignalSpec(FrozenConfig):
    """The C4 series: a Parquet file with ``ts_recv`` (i8, ns) and ``score`` (f8, bps)."""

    path: str | None = None


class BacktestConfig(FrozenConfig):
    """One backtest run."""

    name: str = "backtest"
    data: DataSpec
    engine: EngineConfig = EngineConfig()
    strategy: StrategySpec
    signal: SignalSpec = SignalSpec()
    runs_root: str = "runs"
    """Where run directories and the run registry live."""
