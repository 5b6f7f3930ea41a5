"""One entry point to open any supported raw format as a streaming :class:`EventSource`."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from l2trader.data.events import EventSource
from l2trader.data.instruments import Instrument
from l2trader.data.report import Policy
from l2trader.errors import ConfigError

__all__ = ["SourceFormat", "open_source"]


class SourceFormat(StrEnum):
    """Raw input formats the readers understand."""

    BINANCE = "binance"
    """Binance diff-depth (spot/futures): recorder lines or cryptofeed captures."""
    TARDIS = "tardis"
    """Tardis.dev CSV: incremental_book_L2, book_snapshot_N or trades."""
    LOBSTER = "lobster"
    """LOBSTER message file (+ its orderbook file)."""
    KRAKEN = "kraken"
    """Kraken spot WebSocket v1 ``book`` capture (cryptofeed); every CRC32 checksum verified."""
    KRAKEN_FUTURES = "kraken-futures"
    """Kraken Futures v1 ``book`` capture; per-product seq checked."""
    OKX = "okx"
    """OKX v5 ``books`` capture; every CRC32 checksum verified."""


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
    ``levels`` to LOBSTER (``levels`` defaults to the ``_N`` suffix of the file name).
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


_CAPTURE_READERS = {SourceFormat.KRAKEN, SourceFormat.KRAKEN_FUTURES, SourceFormat.OKX}


def _capture_reader(
    fmt: SourceFormat,
    paths: Sequence[Path],
    instrument: Instrument,
    policy: Policy,
    symbol: str | None,
) -> EventSource:
    """Readers of multi-instrument websocket captures (``symbol`` selects one instrument)."""
    if fmt is SourceFormat.KRAKEN:
        from l2trader.data.kraken import KrakenBookReader

        return KrakenBookReader(paths, instrument=instrument, policy=policy, symbol=symbol)
    if fmt is SourceFormat.KRAKEN_FUTURES:
        from l2trader.data.kraken_futures import KrakenFuturesBookReader

        return KrakenFuturesBookReader(paths, instrument=instrument, policy=policy, symbol=symbol)
    from l2trader.data.okx import OkxBookReader

    return OkxBookReader(paths, instrument=instrument, policy=policy, symbol=symbol)
