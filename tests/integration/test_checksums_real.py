"""Kraken, OKX and Kraken Futures readers on the real cryptofeed captures (issue 8).

Done-when of issue 8: every Kraken (4,269) and OKX (290) checksum in the captures verifies
against our book, and a corrupted update is caught by the checksum at that message.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.reference import ReferenceBook
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.kraken import KrakenBookReader, kraken_tick_sizes
from l2trader.data.kraken_futures import KrakenFuturesBookReader, kraken_futures_tick_sizes
from l2trader.data.okx import OkxBookReader, okx_tick_sizes
from l2trader.data.report import Policy
from l2trader.errors import ChecksumError, SequenceGapError
from l2trader.schema import F_GAP_BEFORE, F_LAST, F_REPAIRED, KIND_CLEAR

pytestmark = pytest.mark.shared_data

CF = "cryptofeed-ws-captures"
Reader = KrakenBookReader | OkxBookReader | KrakenFuturesBookReader


@functools.cache
def _ingest(path: Path, venue: str) -> dict[str, tuple[np.ndarray, Reader]]:
    """Every instrument of one capture: symbol -> (events, reader after the pass)."""
    out: dict[str, tuple[np.ndarray, Reader]] = {}
    if venue == "kraken":
        for pair, tick in kraken_tick_sizes([path]).items():
            inst = Instrument(venue=venue, symbol=pair, tick_size=tick)
            kraken = KrakenBookReader([path], instrument=inst)
            out[pair] = (collect(kraken.chunks()), kraken)
    elif venue == "okx":
        for inst_id, tick in okx_tick_sizes([path]).items():
            inst = Instrument(venue=venue, symbol=inst_id, tick_size=tick)
            okx = OkxBookReader([path], instrument=inst)
            out[inst_id] = (collect(okx.chunks()), okx)
    else:
        for product, tick in kraken_futures_tick_sizes([path]).items():
            inst = Instrument(venue=venue, symbol=product, tick_size=tick)
            futures = KrakenFuturesBookReader([path], instrument=inst)
            out[product] = (collect(futures.chunks()), futures)
    return out


def _crossed_after_last(events: np.ndarray) -> int:
    book, crossed = ReferenceBook(), 0
    for row in events.tolist():
        book.apply(row[5], row[6], row[3], row[4])
        if row[7] & F_LAST and book.crossed():
            crossed += 1
    return crossed


def _accounted(reader: Reader) -> bool:
    report = reader.report
    emitted = reader.stats["messages_emitted"]
    return emitted + report.rows_skipped + len(report.quarantined) == report.rows_in


@pytest.mark.parametrize(
    ("name", "venue", "instruments", "messages", "verified"),
    [
        ("KRAKEN.ws.50.0", "kraken", 10, 4279, 4269),
        ("OKX.ws.1.0", "okx", 3, 290, 290),
        ("KRAKEN_FUTURES.ws.1.0", "kraken-futures", 10, 7024, 0),
    ],
)
def test_every_instrument_ingests_clean_and_every_checksum_verifies(
    shared_data: Path, name: str, venue: str, instruments: int, messages: int, verified: int
) -> None:
    # Arrange / Act
    results = _ingest(shared_data / CF / name, venue)

    # Assert
    readers = [reader for _, reader in results.values()]
    assert len(results) == instruments
    assert all(reader.report.ok for reader in readers)
    assert all(_accounted(reader) for reader in readers)
    assert sum(r.stats["messages_emitted"] for r in readers) == messages
    assert sum(r.stats["snapshots"] for r in readers) == instruments
    assert sum(r.stats["checksums_verified"] for r in readers) == verified
    assert sum(r.stats["no_checksum"] for r in readers) == (10 if venue == "kraken" else 0)
    for events, _ in results.values():
        assert int(np.count_nonzero(events["flags"] & F_LAST)) > 0
        assert np.all(np.diff(events["ts_recv"]) >= 0)
        assert _crossed_after_last(events) == 0


def _kraken_checksums(path: Path) -> dict[str, list[int]]:
    """The ``c`` of every Kraken book update, per pair, in capture order (parsed here)."""
    out: dict[str, list[int]] = defaultdict(list)
    for line in path.read_text().splitlines():
        _, _, payload = line.partition(": ")
        if payload.startswith("["):
            msg = json.loads(payload)
            values = [o["c"] for o in msg[1:-2] if "c" in o]
            out[msg[-1]].extend(int(v) for v in values)
    return out


def test_kraken_checksums_also_verify_on_the_replayed_c1_events(shared_data: Path) -> None:
    # Arrange: an independent oracle from the emitted events alone (ticks and float sizes):
    # Kraken pads prices to the pair's precision (= the inferred tick) and volumes to 8
    # decimals, so a level's checksum token is str(ticks) + str(round(qty * 1e8)).
    path = shared_data / CF / "KRAKEN.ws.50.0"
    expected = _kraken_checksums(path)
    matched = 0

    # Act
    for pair, (events, _) in _ingest(path, "kraken").items():
        book, got = ReferenceBook(), []
        for row in events.tolist():
            book.apply(row[5], row[6], row[3], row[4])
            if row[7] & F_LAST:
                bids, asks = book.top(10)
                text = "".join(f"{t}{round(q * 1e8)}" for t, q in [*asks, *bids])
                got.append(zlib.crc32(text.encode()))
        matched += sum(a == b for a, b in zip(got[1:], expected[pair], strict=True))

    # Assert
    assert matched == 4269


def _corrupt(src: Path, dst: Path, line: int, old: str, new: str) -> Path:
    lines = src.read_text().split("\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    dst.write_text("\n".join(lines))
    return dst


def test_corrupted_kraken_size_is_caught_at_that_message(shared_data: Path, tmp_path: Path) -> None:
    # Arrange: line 1430 is SC/EUR's two-part message; change one ask volume by 1e-8
    path = _corrupt(
        shared_data / CF / "KRAKEN.ws.50.0",
        tmp_path / "KRAKEN.ws.50.0",
        1430,
        '"364630.28272081"',
        '"364630.28272082"',
    )
    inst = Instrument(venue="kraken", symbol="SC/EUR", tick_size=1e-6)

    # Act / Assert
    with pytest.raises(ChecksumError, match=r"KRAKEN\.ws\.50\.0:1430: .*checksum mismatch"):
        collect(KrakenBookReader([path], instrument=inst).chunks())
    repair = KrakenBookReader([path], instrument=inst, policy=Policy.REPAIR)
    events = collect(repair.chunks())
    assert repair.report.counts == {"checksum_mismatch": 1}
    assert repair.report.quarantined[0].line == 1430
    assert repair.stats["dropped_unsynced"] == 444  # every later SC/EUR update
    assert int(events[-1]["kind"]) == KIND_CLEAR
    assert int(events[-1]["flags"]) == F_LAST | F_REPAIRED | F_GAP_BEFORE


def test_corrupted_okx_size_is_caught_at_that_message(shared_data: Path, tmp_path: Path) -> None:
    # Arrange: line 33 updates BTC-USDT's best bid; change its size
    path = _corrupt(
        shared_data / CF / "OKX.ws.1.0",
        tmp_path / "OKX.ws.1.0",
        33,
        '["30236.1","0.05452"',
        '["30236.1","0.05453"',
    )
    inst = Instrument(venue="okx", symbol="BTC-USDT", tick_size=0.1)

    # Act / Assert
    with pytest.raises(ChecksumError, match=r"OKX\.ws\.1\.0:33: .*checksum mismatch"):
        collect(OkxBookReader([path], instrument=inst).chunks())


def test_missing_kraken_futures_update_is_a_sequence_gap(shared_data: Path, tmp_path: Path) -> None:
    # Arrange: drop PI_ETHUSD's first book update
    src = shared_data / CF / "KRAKEN_FUTURES.ws.1.0"
    lines = src.read_text().split("\n")
    first = next(i for i, t in enumerate(lines) if '"feed":"book","product_id":"PI_ETHUSD"' in t)
    following = next(
        i
        for i in range(first + 1, len(lines))
        if '"feed":"book","product_id":"PI_ETHUSD"' in lines[i]
    )
    path = tmp_path / src.name
    path.write_text("\n".join(lines[:first] + lines[first + 1 :]))
    inst = Instrument(venue="kraken-futures", symbol="PI_ETHUSD", tick_size=0.01)

    # Act / Assert
    with pytest.raises(SequenceGapError, match=rf"KRAKEN_FUTURES\.ws\.1\.0:{following} "):
        collect(KrakenFuturesBookReader([path], instrument=inst).chunks())
