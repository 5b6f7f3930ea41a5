"""Every instrument of every venue capture goes through the full strict ingest.

Reader -> stream validation -> crossed-book check -> atomic Parquet write, with the
default (strict) policy: any unexplained finding would raise. Then the catalog replays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.replay import replay
from l2trader.data.bitmex import bitmex_tick_sizes
from l2trader.data.bybit import bybit_tick_sizes
from l2trader.data.catalog import Catalog
from l2trader.data.coinbase import coinbase_tick_sizes
from l2trader.data.gemini import gemini_tick_sizes
from l2trader.data.hyperliquid import hyperliquid_tick_sizes
from l2trader.data.instruments import Instrument
from l2trader.data.kraken import kraken_tick_sizes
from l2trader.data.kraken_futures import kraken_futures_tick_sizes
from l2trader.data.okx import okx_tick_sizes
from l2trader.data.sources import SourceFormat, open_source
from l2trader.ingest import ingest_source

CF = "cryptofeed-ws-captures"
TickSizes = Callable[[Sequence[str | Path]], dict[str, float]]
CAPTURES: dict[str, tuple[SourceFormat, str, TickSizes, int]] = {
    "kraken": (SourceFormat.KRAKEN, f"{CF}/KRAKEN.ws.50.0", kraken_tick_sizes, 10),
    "okx": (SourceFormat.OKX, f"{CF}/OKX.ws.1.0", okx_tick_sizes, 3),
    "kraken-futures": (
        SourceFormat.KRAKEN_FUTURES,
        f"{CF}/KRAKEN_FUTURES.ws.1.0",
        kraken_futures_tick_sizes,
        10,
    ),
    "coinbase": (SourceFormat.COINBASE, f"{CF}/COINBASE.ws.28.0", coinbase_tick_sizes, 10),
    "bitmex": (SourceFormat.BITMEX, f"{CF}/BITMEX.ws.1.0", bitmex_tick_sizes, 10),
    "bybit-v1": (SourceFormat.BYBIT_V1, f"{CF}/BYBIT.ws.26.0", bybit_tick_sizes, 2),
    "bybit": (
        SourceFormat.BYBIT,
        "bybit-ob500-xrpusdt/2024-12-01_XRPUSDT_ob500.data.zip",
        bybit_tick_sizes,
        1,
    ),
    "gemini": (SourceFormat.GEMINI, f"{CF}/GEMINI.ws.1.0", gemini_tick_sizes, 10),
    "hyperliquid": (
        SourceFormat.HYPERLIQUID,
        "hftbacktest-binance-hyperliquid/hyperliquid_btcusd_20250126.gz",
        hyperliquid_tick_sizes,
        1,
    ),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_every_instrument_ingests_strictly_and_replays_uncrossed(
    shared_data: Path, tmp_path: Path, name: str
) -> None:
    fmt, rel, tick_sizes, n_instruments = CAPTURES[name]
    path = shared_data / rel
    ticks = tick_sizes([path])
    assert len(ticks) == n_instruments
    cat = Catalog(tmp_path / "cat")
    for symbol, tick in sorted(ticks.items()):
        instrument = Instrument(venue=name, symbol=symbol.replace("/", "-"), tick_size=tick)
        source = open_source(fmt, [path], instrument=instrument, symbol=symbol)
        summary = ingest_source(source, cat, instrument, sources=[path])
        assert summary.result.events > 0, symbol
        assert not source.report.issues, (symbol, source.report.counts)
        frame = replay(cat.read_all(instrument.venue, instrument.symbol), levels=1)
        both = (frame.bid_qty[:, 0] > 0) & (frame.ask_qty[:, 0] > 0)
        assert (frame.bid_ticks[both, 0] < frame.ask_ticks[both, 0]).all(), symbol
        assert np.isfinite(frame.ts_recv).all()
