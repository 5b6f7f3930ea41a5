"""Instrument metadata (tick size, lot size, fees) and the registry of known instruments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from l2trader.atomic import write_text_atomic
from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError

__all__ = ["BUILTIN_INSTRUMENTS", "Instrument", "load_instruments", "lookup", "save_instruments"]

PositiveFloat = Annotated[float, Field(gt=0)]


class Instrument(FrozenConfig):
    """One tradable instrument.

    ``tick_size`` is the price grid (quote currency per base unit, or per contract);
    ``lot_size`` the size grid (base units or contracts); fees are in bps of notional
    (negative = rebate); ``contract_size`` is the quote value of one contract for
    inverse contracts (1 for spot/linear).
    """

    venue: str
    symbol: str
    tick_size: PositiveFloat
    lot_size: PositiveFloat = 1e-8
    maker_fee_bps: float = 0.0
    taker_fee_bps: float = 0.0
    kind: Literal["spot", "linear", "inverse", "equity", "future"] = "spot"
    contract_size: PositiveFloat = 1.0
    quote_currency: str = "USD"

    @property
    def key(self) -> str:
        """``venue/symbol``, the registry key."""
        return f"{self.venue}/{self.symbol}"


BUILTIN_INSTRUMENTS: dict[str, Instrument] = {
    i.key: i
    for i in (
        Instrument(
            venue="binance",
            symbol="BTCUSDT",
            tick_size=0.01,
            lot_size=1e-5,
            maker_fee_bps=1.0,
            taker_fee_bps=1.0,
            kind="spot",
            quote_currency="USDT",
        ),
        Instrument(
            venue="binance-futures",
            symbol="BTCUSDT",
            tick_size=0.1,
            lot_size=1e-3,
            maker_fee_bps=2.0,
            taker_fee_bps=5.0,
            kind="linear",
            quote_currency="USDT",
        ),
        Instrument(
            venue="binance-delivery",
            symbol="BTCUSD_PERP",
            tick_size=0.1,
            lot_size=1.0,
            maker_fee_bps=2.0,
            taker_fee_bps=5.0,
            kind="inverse",
            contract_size=100.0,
        ),
        Instrument(venue="nasdaq", symbol="AMZN", tick_size=0.01, lot_size=1.0, kind="equity"),
        Instrument(
            venue="deribit",
            symbol="BTC-PERPETUAL",
            tick_size=0.5,
            lot_size=10.0,
            kind="inverse",
            contract_size=10.0,
        ),
        Instrument(
            venue="bitmex",
            symbol="XBTUSD",
            tick_size=0.5,
            lot_size=1.0,
            kind="inverse",
            contract_size=1.0,
        ),
        Instrument(
            venue="synthetic",
            symbol="SYN",
            tick_size=0.01,
            lot_size=1.0,
            maker_fee_bps=-0.5,
            taker_fee_bps=2.0,
            kind="spot",
        ),
    )
}
"""Instruments the shipped samples and the synthetic generator use."""


def lookup(venue: str, symbol: str, registry: dict[str, Instrument] | None = None) -> Instrument:
    """Find an instrument by venue and symbol; unknown names raise :class:`ConfigError`."""
    table = BUILTIN_INSTRUMENTS if registry is None else registry
    key = f"{venue}/{symbol}"
    if key not in table:
        raise ConfigError(
            f"unknown instrument {key!r}: pass tick_size explicitly or add it to instruments.json"
        )
    return table[key]


def load_instruments(path: Path) -> dict[str, Instrument]:
    """Read an ``instruments.json`` registry (a list of instrument objects)."""
    if not path.exists():
        return {}
    return {i.key: i for i in (Instrument(**d) for d in json.loads(path.read_text()))}


def save_instruments(path: Path, instruments: dict[str, Instrument]) -> None:
    """Write the registry atomically (temp file + rename), sorted by key."""
    rows = [instruments[k].model_dump(mode="json") for k in sorted(instruments)]
    write_text_atomic(path, json.dumps(rows, indent=2) + "\n")
