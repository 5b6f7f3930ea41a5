"""Frozen config of a paper-trading session (TOML or JSON), and what it resolves to.

A paper file has the backtest's ``[data]``, ``[engine]``, ``[strategy]`` and ``[signal]``
sections (the same engine, strategy and venue model as ``l2trader backtest``), plus:

- ``[feed]``: ``kind = "replay"`` (the ``[data]`` catalog range replayed at ``speed``;
  ``speed`` absent = as fast as possible) or ``"binance"`` (live diff-depth websocket of
  ``data.symbol``; ``ws_url`` / ``rest_url`` default to Binance production for ``market``);
- ``journal``: path of the SQLite journal (the session's pid, stop and status files sit
  beside it: ``<journal>.pid``, ``<journal>.stop``, ``<journal>.status.json``);
- ``queue_size``: bound of the feed -> engine queue (backpressure: the feed waits);
- ``max_blocked_ms``: a feed put blocked longer than this raises a ``backpressure`` alert;
- ``checkpoint_every``: arrivals (batches sharing one ``ts_recv``) between engine snapshots;
- ``validate_every_s`` / ``[live_checks]``: period and checks of the live validation
  (:mod:`l2trader.paper.validation_task`; default checks: the strategy kind's);
- ``[service]``: host and port of the session's HTTP service (health/metrics; served by the
  deploy stage, not by :mod:`l2trader.paper.session`).

Examples
--------
>>> cfg = PaperConfig.from_toml('''
... journal = "paper/j.sqlite"
... [data]
... catalog = "cat"
... venue = "binance-futures"
... symbol = "BTCUSDT"
... [strategy]
... kind = "market_maker"
... [feed]
... speed = 10.0
... ''')
>>> cfg.feed.kind, cfg.feed.speed, cfg.checkpoint_every, cfg.stop_path.name
('replay', 10.0, 100, 'j.sqlite.stop')
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from l2trader.analysis.checks import ChecksConfig
from l2trader.config import FrozenConfig
from l2trader.data.catalog import Catalog
from l2trader.data.instruments import Instrument, lookup
from l2trader.engine.config import DataSpec, EngineConfig, SignalSpec, StrategySpec
from l2trader.errors import ConfigError
from l2trader.paper.binance_ws import binance_urls

__all__ = ["FeedSpec", "PaperConfig", "ServiceSpec", "resolve_instrument"]


class FeedSpec(FrozenConfig):
    """Where the session's C1 batches come from."""

    kind: Literal["replay", "binance"] = "replay"
    speed: float | None = Field(default=None, gt=0)
    """Replay speed factor (1.0 = recorded timing); None = as fast as possible."""
    market: Literal["spot", "futures"] = "futures"
    """Binance sync rules (``pu`` chaining for futures)."""
    ws_url: str | None = None
    """Binance websocket URL; None = production for ``data.symbol`` and ``market``."""
    rest_url: str | None = None
    """Binance depth-snapshot URL; None = production."""
    stale_after_s: float = Field(default=5.0, gt=0)
    """Binance: seconds without a message before a stale-feed alert."""

    def urls(self, symbol: str) -> tuple[str, str]:
        """``(ws_url, rest_url)``: the configured ones, else Binance production's."""
        ws, rest = binance_urls(symbol, self.market)
        return self.ws_url or ws, self.rest_url or rest


class ServiceSpec(FrozenConfig):
    """The session's HTTP service address (health, metrics, dashboard)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)


class PaperConfig(FrozenConfig):
    """One paper-trading session (see the module docstring for each section)."""

    name: str = "paper"
    data: DataSpec
    engine: EngineConfig = EngineConfig()
    strategy: StrategySpec
    signal: SignalSpec = SignalSpec()
    feed: FeedSpec = FeedSpec()
    journal: str = "paper/journal.sqlite"
    queue_size: int = Field(default=1024, ge=1)
    max_blocked_ms: float = Field(default=1000.0, gt=0)
    checkpoint_every: int = Field(default=100, ge=1)
    service: ServiceSpec = ServiceSpec()
    validate_every_s: float = Field(default=5.0, gt=0)
    """Seconds between live validations (analyzer metrics + checks) while serving."""
    live_checks: ChecksConfig | None = None
    """Checks of the live validation; None = the strategy kind's default checks."""

    @property
    def journal_path(self) -> Path:
        """The journal file."""
        return Path(self.journal)

    @property
    def pid_path(self) -> Path:
        """``<journal>.pid``: pid of the running session process."""
        return self.journal_path.with_name(self.journal_path.name + ".pid")

    @property
    def stop_path(self) -> Path:
        """``<journal>.stop``: created by ``paper stop``; the session stops gracefully."""
        return self.journal_path.with_name(self.journal_path.name + ".stop")

    @property
    def status_path(self) -> Path:
        """``<journal>.status.json``: the session's live counters, rewritten periodically."""
        return self.journal_path.with_name(self.journal_path.name + ".status.json")


def resolve_instrument(data: DataSpec) -> Instrument:
    """The instrument of ``data``: the catalog's registry, else the built-in one.

    Raises
    ------
    ConfigError
        Neither knows ``data.venue/data.symbol``.
    """
    registry = Catalog(data.catalog).instruments()
    key = f"{data.venue}/{data.symbol}"
    if key in registry:
        return registry[key]
    try:
        return lookup(data.venue, data.symbol)
    except ConfigError as exc:
        raise ConfigError(f"paper: instrument {key!r} is in neither the catalog nor the "
                          f"built-in registry ({exc})") from exc  # fmt: skip
