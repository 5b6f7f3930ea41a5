"""BinanceDepthReader on the real recorder files and cryptofeed captures (../shared/data)."""

from __future__ import annotations

import functools
import itertools
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument, lookup
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import SnapshotSyncError
from l2trader.schema import F_GAP_BEFORE, F_LAST, F_REPAIRED, KIND_CLEAR, KIND_TRADE

from .binance_helpers import DecimalOracle, read_raw_lines, recorder_messages, replay_compare

HFT = "hftbacktest-binance-hyperliquid"
CF = "cryptofeed-ws-captures"

RECORDER_CASES = {
    "spot_0808_0809": (
        ["binance_spot_btcusdt_20240808.gz", "binance_spot_btcusdt_20240809.gz"],
        ("binance", "BTCUSDT"),
        "0.01",
        False,
    ),
    "usdm_0808": (
        ["binance_usdm_btcusdt_20240808.gz"],
        ("binance-futures", "BTCUSDT"),
        "0.1",
        True,
    ),
    "coinm_0808": (
        ["binance_coinm_btcusd_perp_20240808.gz"],
        ("binance-delivery", "BTCUSD_PERP"),
        "0.1",
        True,
    ),
}


@functools.cache
def _ingest(root: Path, case: str) -> tuple[np.ndarray, BinanceDepthReader]:
    names, key, _, _ = RECORDER_CASES[case]
    reader = BinanceDepthReader([root / HFT / n for n in names], instrument=lookup(*key))
    return collect(reader.chunks()), reader


def _accounted(reader: BinanceDepthReader) -> None:
    report = reader.report
    total = reader.stats["lines_emitted"] + report.rows_skipped + len(report.quarantined)
    assert total == report.rows_in


@pytest.mark.shared_data
@pytest.mark.parametrize("case", sorted(RECORDER_CASES))
def test_recorder_files_match_decimal_oracle_after_every_message(
    shared_data: Path, case: str
) -> None:
    # Arrange
    names, _, tick, futures = RECORDER_CASES[case]
    paths = [shared_data / HFT / n for n in names]
    # Act
    events, reader = _ingest(shared_data, case)
    raw = (line for p in paths for line in read_raw_lines(p))
    compared, _ = replay_compare(
        events, DecimalOracle(tick, futures=futures), recorder_messages(raw)
    )
    # Assert
    assert reader.report.ok
    assert reader.report.issues == []
    assert reader.report.quarantined == []
    assert reader.report.events_out == len(events)
    assert np.all(np.diff(events["ts_recv"]) >= 0)
    assert not np.any(events["flags"] & (F_REPAIRED | F_GAP_BEFORE))
    assert reader.stats["snapshots_applied"] == 1
    depth_messages = compared - 1
    assert depth_messages == reader.stats["lines_emitted"] - 1 - _n_trades(events)
    _accounted(reader)


def _n_trades(events: np.ndarray) -> int:
    return int(np.count_nonzero(events["kind"] == KIND_TRADE))


@pytest.mark.shared_data
def test_spot_stream_stitches_across_files_without_gap(shared_data: Path) -> None:
    # Arrange
    # Act
    events, reader = _ingest(shared_data, "spot_0808_0809")
    # Assert: the 0809 file's first update (U = 50093421585) continues the 0808 stream
    book_seq = events["seq"][(events["kind"] != KIND_TRADE) & ((events["flags"] & F_LAST) != 0)]
    assert 50093421584 in book_seq.tolist()
    assert int(book_seq[-1]) > 50093421584
    assert reader.report.counts == {}


@pytest.mark.shared_data
def test_spot_0809_alone_has_no_snapshot(shared_data: Path) -> None:
    # Arrange
    path = shared_data / HFT / "binance_spot_btcusdt_20240809.gz"
    instrument = lookup("binance", "BTCUSDT")
    # Act / Assert: strict raises, naming the file
    with pytest.raises(SnapshotSyncError, match=r"binance_spot_btcusdt_20240809\.gz:1"):
        collect(BinanceDepthReader([path], instrument=instrument).chunks())
    repair = BinanceDepthReader([path], instrument=instrument, policy=Policy.REPAIR)
    events = collect(repair.chunks())
    assert repair.report.counts == {IssueCode.NO_SNAPSHOT.value: 1}
    assert len(repair.report.quarantined) == 3_044  # every depth update
    assert np.all(events["kind"] == KIND_TRADE)
    _accounted(repair)


def _tick_from_snapshot(http_path: Path, symbol: str) -> str:
    for line in http_path.read_text().splitlines():
        if f"symbol={symbol}&" in line:
            body = json.loads(line.split(": ", 1)[1])
            prices = sorted({Decimal(p) for p, _ in body["bids"] + body["asks"]})
            return str(min(b - a for a, b in itertools.pairwise(prices)))
    raise AssertionError(symbol)


def _capture_messages(ws: Path, http: Path, symbol: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for line in http.read_text().splitlines():
        if f"symbol={symbol}&" in line:
            out.append(json.loads(line.split(": ", 1)[1]))
    for line in ws.read_text().splitlines():
        if line[:1].isdigit():
            obj = json.loads(line.split(": ", 1)[1])
            if obj["stream"] == f"{symbol.lower()}@depth@100ms":
                out.append(obj["data"])
    return out


CAPTURES = {
    "BINANCE": (["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"], False),
    "BINANCE_FUTURES": (["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"], True),
}


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("venue", "symbol"),
    [(v, s) for v, (symbols, _) in CAPTURES.items() for s in symbols],
)
def test_cryptofeed_capture_every_symbol_syncs_strictly(
    shared_data: Path, venue: str, symbol: str
) -> None:
    # Arrange
    ws, http = shared_data / CF / f"{venue}.ws.1.0", shared_data / CF / f"{venue}.http.0.0"
    futures = CAPTURES[venue][1]
    tick = _tick_from_snapshot(http, symbol)
    instrument = Instrument(venue=venue.lower(), symbol=symbol, tick_size=float(tick))
    reader = BinanceDepthReader([ws], instrument=instrument, snapshot_paths=[http], symbol=symbol)
    # Act
    events = collect(reader.chunks())
    compared, _ = replay_compare(
        events, DecimalOracle(tick, futures=futures), iter(_capture_messages(ws, http, symbol))
    )
    # Assert
    assert reader.report.ok
    assert reader.report.quarantined == []
    assert reader.stats["snapshots_applied"] == 1
    assert compared >= 2
    assert int(np.count_nonzero(events["kind"] == KIND_CLEAR)) == 2
    assert np.all(np.diff(events["ts_recv"]) >= 0)
    _accounted(reader)


@pytest.mark.shared_data
def test_oracle_comparison_detects_a_wrong_level(shared_data: Path) -> None:
    # Arrange: the real usdm stream with one depth qty altered after ingest
    events, _ = _ingest(shared_data, "usdm_0808")
    broken = events.copy()
    row = int(np.flatnonzero(broken["kind"] == 1)[5000])
    broken["qty"][row] += 1.0
    raw = read_raw_lines(shared_data / HFT / "binance_usdm_btcusdt_20240808.gz")
    # Act / Assert
    with pytest.raises(AssertionError, match=r"differs|level"):
        replay_compare(broken, DecimalOracle("0.1", futures=True), recorder_messages(raw))
