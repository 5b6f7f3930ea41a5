"""Property: random drop/duplicate/swap/garble of real lines never gives a silently wrong book."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2trader.book.reference import ReferenceBook
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.report import Policy
from l2trader.errors import DataError

from .binance_helpers import (
    Book,
    DecimalOracle,
    book_message_ends,
    oracle_states,
    read_raw_lines,
    recorder_messages,
    write_lines,
)

SPOT_FILE = "hftbacktest-binance-hyperliquid/binance_spot_btcusdt_20240808.gz"
RAW_PREFIX = 600  # first lines of the file (snapshot at line 8)
PREFIX = 200  # lines kept: every depth/snapshot/trade line, 1 bookTicker line in 25
OPS = ("drop", "dup", "swap", "garble", "truncate")

Op = tuple[str, int, int]


@functools.cache
def _prefix(root: Path) -> tuple[list[str], dict[int, Book]]:
    raw = read_raw_lines(root / SPOT_FILE)[:RAW_PREFIX]
    lines = [ln for i, ln in enumerate(raw) if "@bookTicker" not in ln or i % 25 == 0]
    states = oracle_states(DecimalOracle("0.01", futures=False), recorder_messages(lines))
    return lines, states


def _corrupt(lines: list[str], ops: list[Op]) -> list[str]:
    out = list(lines)
    for op, index, pos in ops:
        i = index % len(out)
        if op == "drop" and len(out) > 1:
            del out[i]
        elif op == "dup":
            out.insert(i, out[i])
        elif op == "swap" and i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
        elif op == "garble" and out[i]:
            p = pos % len(out[i])
            out[i] = out[i][:p] + "#" + out[i][p + 1 :]
        elif op == "truncate":
            out[i] = out[i][: pos % max(1, len(out[i]))]
    return out


def _read(path: Path, policy: Policy) -> tuple[np.ndarray, BinanceDepthReader]:
    reader = BinanceDepthReader(
        [path], instrument=lookup("binance", "BTCUSDT"), policy=policy, symbol="BTCUSDT"
    )
    return collect(reader.chunks()), reader


def _assert_never_wrong(events: np.ndarray, states: dict[int, Book]) -> None:
    book = ReferenceBook()
    cols = [events[f].tolist() for f in ("kind", "side", "price_ticks", "qty")]
    start = 0
    for end, seq in book_message_ends(events):
        for i in range(start, end + 1):
            book.apply(cols[0][i], cols[1][i], cols[2][i], cols[3][i])
        start = end + 1
        assert seq in states, f"emitted a book at seq {seq} that never existed"
        assert (book.bids, book.asks) == states[seq], f"wrong book at seq {seq}"


def _accounted(reader: BinanceDepthReader) -> None:
    report = reader.report
    total = reader.stats["lines_emitted"] + report.rows_skipped + len(report.quarantined)
    assert total == report.rows_in


op_strategy = st.tuples(
    st.sampled_from(OPS),
    st.one_of(st.integers(0, 40), st.integers(0, PREFIX)),
    st.integers(0, 4000),
)


@pytest.mark.shared_data
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_strategy, min_size=1, max_size=4))
def test_corrupted_prefix_strict_raises_typed_repair_stays_exact(ops: list[Op]) -> None:
    # Arrange
    from tests.conftest import SHARED_DATA

    lines, states = _prefix(SHARED_DATA)
    corrupted = _corrupt(lines, ops)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lines(Path(tmp) / "prefix.txt", corrupted)
        # Act: strict either succeeds (then exactly right) or raises a DataError subclass
        try:
            strict_events, _ = _read(path, Policy.STRICT)
        except DataError:
            strict_events = None
        repaired, reader = _read(path, Policy.REPAIR)
    # Assert
    if strict_events is not None:
        _assert_never_wrong(strict_events, states)
    _assert_never_wrong(repaired, states)
    assert np.all(np.diff(repaired["ts_recv"]) >= 0)
    _accounted(reader)


@pytest.mark.shared_data
def test_uncorrupted_prefix_is_exact(shared_data: Path, tmp_path: Path) -> None:
    # Arrange
    lines, states = _prefix(shared_data)
    path = write_lines(tmp_path / "prefix.txt", lines)
    # Act
    events, reader = _read(path, Policy.STRICT)
    # Assert
    _assert_never_wrong(events, states)
    assert len(list(book_message_ends(events))) == len(states) - reader.stats["empty_updates"]
    assert len(states) >= 10
