"""One entry point to open any supported raw format as a streaming :class:`EventSource`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

from l2trader.data.events import EventSource
from l2trader.data.instruments import Instrument
from l2trader.data.report import Policy
from l2trader.errors import ConfigError

__all__ = ["FORMAT_HELP", "SourceFormat", "open_source"]


class SourceFormat(StrEnum):
    """Raw input formats the readers understand (one line each in :data:`FORMAT_HELP`)."""

    BINANCE = "binance"
    TARDIS = "tardis"
    LOBSTER = "lobster"
    KRAKEN = "kraken"
    KRAKEN_FUTURES = "kraken-futures"
    OKX = "okx"
    COINBASE = "coinbase"
    BITMEX = "bitmex"
    BYBIT = "bybit"
    BYBIT_V1 = "bybit-v1"
    GEMINI = "gemini"
    HYPERLIQUID = "hyperliquid"
    DATABENTO_MBP = "databento-mbp"
    DATABENTO_MBO = "databento-mbo"


FORMAT_HELP: dict[SourceFormat, str] = {
    SourceFormat.BINANCE: "Binance diff-depth (spot/futures): recorder lines or cryptofeed capture",
    SourceFormat.TARDIS: "Tardis.dev CSV: incremental_book_L2, book_snapshot_N or trades",
    SourceFormat.LOBSTER: "LOBSTER message file (+ its orderbook file)",
    SourceFormat.KRAKEN: "Kraken spot WebSocket v1 book capture; every CRC32 checksum verified",
    SourceFormat.KRAKEN_FUTURES: "Kraken Futures v1 book capture; per-product seq checked",
    SourceFormat.OKX: "OKX v5 books capture; every CRC32 checksum verified",
    SourceFormat.COINBASE: "Coinbase (Pro) WebSocket level2 capture (snapshot + l2update)",
    SourceFormat.BITMEX: "BitMEX orderBookL2 capture; id-keyed rows priced via an id map",
    SourceFormat.BYBIT: "Bybit orderbook.N JSON lines (history .zip or v5 capture); u checked",
    SourceFormat.BYBIT_V1: "Bybit v1 orderBookL2_25 capture (retired API; id-keyed, cross_seq)",
    SourceFormat.GEMINI: "Gemini v2 l2 capture (first l2_updates per symbol = full book)",
    SourceFormat.HYPERLIQUID: "Hyperliquid l2Book recording (every message a full snapshot)",
    SourceFormat.DATABENTO_MBP: "Databento DBN MBP-1/MBP-10 (.dbn[.zst]): level diffs + trades",
    SourceFormat.DATABENTO_MBO: "Databento DBN MBO (.dbn[.zst]) aggregated to L2 per price level",
}
"""One line per format, for ``l2trader formats`` and the docs."""


def open_source(
    fmt: SourceFormat,
    paths: Sequence[Path],
    *,
    instrument: Instrument,
    policy: Policy = Policy.STRICT,
    snapshot_paths: Sequence[Path] = (),
    orderbook_path: Path | None = None,
    levels: int | None = None,
    symbol: str | None = None,
) -> EventSource:
    """Build the reader for ``fmt`` over ``paths`` (read in order as one stream).

    ``snapshot_paths`` and ``symbol`` apply to Binance captures; ``orderbook_path`` and
    ``levels`` to LOBSTER (``levels`` defaults to the ``_N`` suffix of the file name);
    ``symbol`` selects one instrument of a multi-instrument capture or DBN file.
    """
    if not paths:
        raise ConfigError("open_source: at least one input path is required")
    if fmt is SourceFormat.BINANCE:
        from l2trader.data.binance import BinanceDepthReader

        return BinanceDepthReader(
            paths,
            instrument=instrument,
            policy=policy,
            snapshot_paths=snapshot_paths,
            symbol=symbol,
        )
    if fmt in _CAPTURE_READERS:
        return _capture_reader(fmt, paths, instrument, policy, symbol)
    if len(paths) != 1:
        raise ConfigError(f"open_source: {fmt} reads one file at a time, got {len(paths)}")
    if fmt in _FILE_READERS:
        module, name = _FILE_READERS[fmt]
        reader: Callable[..., EventSource] = getattr(importlib.import_module(module), name)
        return reader(paths[0], instrument=instrument, policy=policy, symbol=symbol)
    if fmt is SourceFormat.TARDIS:
        from l2trader.data.tardis import TardisReader

        return TardisReader(paths[0], instrument=instrument, policy=policy)
    from l2trader.data.lobster import LobsterReader

    if orderbook_path is None:
        orderbook_path = Path(str(paths[0]).replace("_message_", "_orderbook_"))
    if levels is None:
        levels = _lobster_levels(paths[0])
    return LobsterReader(
        paths[0], orderbook_path, levels=levels, instrument=instrument, policy=policy
    )


def _lobster_levels(path: Path) -> int:
    stem = path.name.split(".")[0]
    suffix = stem.rsplit("_", 1)[-1]
    if not suffix.isdigit():
        raise ConfigError(f"cannot infer LOBSTER levels from {path.name!r}: pass levels")
    return int(suffix)


_CAPTURE_READERS: dict[SourceFormat, tuple[str, str]] = {
    SourceFormat.KRAKEN: ("l2trader.data.kraken", "KrakenBookReader"),
    SourceFormat.KRAKEN_FUTURES: ("l2trader.data.kraken_futures", "KrakenFuturesBookReader"),
    SourceFormat.OKX: ("l2trader.data.okx", "OkxBookReader"),
    SourceFormat.COINBASE: ("l2trader.data.coinbase", "CoinbaseBookReader"),
    SourceFormat.BITMEX: ("l2trader.data.bitmex", "BitmexBookReader"),
    SourceFormat.BYBIT: ("l2trader.data.bybit", "BybitBookReader"),
    SourceFormat.BYBIT_V1: ("l2trader.data.bybit", "BybitL2V1Reader"),
    SourceFormat.GEMINI: ("l2trader.data.gemini", "GeminiBookReader"),
    SourceFormat.HYPERLIQUID: ("l2trader.data.hyperliquid", "HyperliquidBookReader"),
}
"""Readers of websocket captures / JSON-lines dumps: ``(module, class)``, imported lazily."""

_FILE_READERS: dict[SourceFormat, tuple[str, str]] = {
    SourceFormat.DATABENTO_MBP: ("l2trader.data.databento", "DatabentoMbpReader"),
    SourceFormat.DATABENTO_MBO: ("l2trader.data.databento_mbo", "DatabentoMboReader"),
}
"""Single-file readers taking ``(path, instrument=, policy=, symbol=)``."""


def _capture_reader(
    fmt: SourceFormat,
    paths: Sequence[Path],
    instrument: Instrument,
    policy: Policy,
    symbol: str | None,
) -> EventSource:
    """Readers of multi-instrument captures (``symbol`` selects one instrument)."""
    module, name = _CAPTURE_READERS[fmt]
    reader: Callable[..., EventSource] = getattr(importlib.import_module(module), name)
    return reader(paths, instrument=instrument, policy=policy, symbol=symbol)
