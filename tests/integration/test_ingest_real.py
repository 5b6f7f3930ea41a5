"""Real data through the whole ingest path: reader -> checks -> catalog -> read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.book.reference import ReferenceBook
from l2trader.book.replay import replay
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.catalog import Catalog
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.ingest import ingest_source


@pytest.mark.shared_data
def test_binance_spot_ingest_reports_rows_and_round_trips(
    shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / "hftbacktest-binance-hyperliquid" / "binance_spot_btcusdt_20240808.gz"
    inst = lookup("binance", "BTCUSDT")
    direct = collect(BinanceDepthReader([path], instrument=inst).chunks())

    summary = ingest_source(
        BinanceDepthReader([path], instrument=inst), Catalog(tmp_path), inst, sources=[path]
    )

    # regression: the report the catalog stores is the one the reader filled (rows_in > 0)
    assert summary.result.report.rows_in == 41_249
    assert summary.result.report.ok
    stored = Catalog(tmp_path).read_all("binance", "BTCUSDT")
    assert stored.tobytes() == direct.tobytes()
    frame = replay(stored, levels=5)
    book = ReferenceBook()
    book.apply_all(stored)
    bids, asks = book.top(5)
    assert frame.bid_ticks[-1].tolist() == [p for p, _ in bids]
    assert frame.ask_qty[-1].tolist() == [q for _, q in asks]
    assert not np.any(frame.bid_ticks[:, 0] >= frame.ask_ticks[:, 0])
