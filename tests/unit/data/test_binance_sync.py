"""BinanceDepthReader on small hand-written streams: sync rules, corruptions, policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument, lookup
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import (
    ConfigError,
    DuplicateError,
    InvalidValueError,
    OutOfOrderError,
    ParseError,
    SequenceGapError,
    SnapshotSyncError,
)
from l2trader.schema import (
    F_GAP_BEFORE,
    F_LAST,
    F_REPAIRED,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)

from .binance_helpers import (
    DecimalOracle,
    depth_line,
    recorder_messages,
    replay_compare,
    snapshot_line,
    ticker_line,
    trade_line,
    write_lines,
)

SPOT = lookup("binance", "BTCUSDT")
FUT = Instrument(venue="binance-futures", symbol="BTCUSDT", tick_size=0.01)
MS = 1_000_000


def _base() -> list[str]:
    snap_bids, snap_asks = [("100.00", "5"), ("99.99", "1")], [("100.05", "3"), ("100.06", "4")]
    return [
        depth_line(100, 5, 8, [("100.00", "1")]),  # 1: stale (u <= 10)
        depth_line(200, 9, 12, [("100.01", "2")], [("100.05", "1")]),  # 2: straddles 11
        ticker_line(250),  # 3: skipped
        snapshot_line(300, 10, snap_bids, snap_asks),  # 4
        depth_line(400, 13, 15, [], [("100.06", "0")]),  # 5
        trade_line(450, 7, "100.05", "0.5", True),  # 6
        depth_line(500, 16, 16),  # 7: empty update, advances the sequence
        depth_line(600, 17, 20, [("100.02", "1")]),  # 8
    ]


def _read(tmp_path: Path, lines: list[str], policy: Policy = Policy.STRICT, **kw: object):
    path = write_lines(tmp_path / "stream.txt", lines)
    reader = BinanceDepthReader([path], instrument=kw.pop("instrument", SPOT), policy=policy, **kw)  # type: ignore[arg-type]
    return collect(reader.chunks()), reader


def _accounted(reader: BinanceDepthReader) -> None:
    report = reader.report
    total = reader.stats["lines_emitted"] + report.rows_skipped + len(report.quarantined)
    assert total == report.rows_in


def _oracle_ok(events: np.ndarray, lines: list[str], *, futures: bool = False) -> int:
    book_lines = [ln for ln in lines if "bookTicker" not in ln and "@trade" not in ln]
    compared, _ = replay_compare(
        events, DecimalOracle("0.01", futures=futures), recorder_messages(book_lines)
    )
    return compared


def test_clean_stream_gives_exact_rows(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    # Act
    events, reader = _read(tmp_path, lines)
    # Assert
    assert events["kind"].tolist() == [4, 3, 3, 4, 3, 3, 1, 1, 1, 2, 1]
    assert events["side"].tolist() == [1, 1, 1, -1, -1, -1, 1, -1, -1, -1, 1]
    snapshot_ticks = [0, 10000, 9999, 0, 10005, 10006]
    assert events["price_ticks"].tolist() == [*snapshot_ticks, 10001, 10005, 10006, 10005, 10002]
    assert events["qty"].tolist() == [0, 5, 1, 0, 3, 4, 2, 1, 0, 0.5, 1]
    assert events["seq"].tolist() == [10] * 6 + [12, 12, 15, 7, 20]
    # buffered update 2 is applied at the snapshot's ts_recv
    assert events["ts_recv"].tolist() == [300] * 8 + [400, 450, 600]
    assert events["ts_exch"].tolist() == [-1] * 6 + [1000 * MS] * 3 + [999 * MS, 1000 * MS]
    assert events["flags"].tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1]
    assert reader.report.ok
    assert reader.stats["stale_updates"] == 1
    assert reader.stats["empty_updates"] == 1
    assert reader.stats["lines_emitted"] == 5
    assert _oracle_ok(events, lines) == 4
    _accounted(reader)


def test_gap_strict_raises_with_file_line_seq_and_ids(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    lines[7] = depth_line(600, 18, 20, [("100.02", "1")])
    # Act / Assert
    with pytest.raises(SequenceGapError) as info:
        _read(tmp_path, lines)
    assert (info.value.source, info.value.line, info.value.seq) == ("stream.txt", 8, 20)
    assert "expected U=17 (previous u=16), got U=18 u=20" in str(info.value)
    assert str(info.value).startswith("stream.txt:8 (seq 20): sequence_gap")


def test_gap_repair_resyncs_at_next_snapshot_with_flags(tmp_path: Path) -> None:
    # Arrange: update 17..17 is lost; the resync snapshot has lastUpdateId 21
    lines = [*_base()[:7]]
    lines += [
        depth_line(600, 18, 20, [("100.02", "1")]),  # 8: gap
        depth_line(700, 21, 22, [("100.03", "1")]),  # 9: buffered, straddles 22
        snapshot_line(800, 21, [("100.02", "1"), ("100.00", "5")], [("100.05", "3")]),  # 10
        depth_line(900, 23, 25, [], [("100.05", "2")]),  # 11
    ]
    # Act
    events, reader = _read(tmp_path, lines, Policy.REPAIR)
    # Assert
    assert reader.report.counts == {"sequence_gap": 1}
    assert [(q.line, q.reason) for q in reader.report.quarantined] == [(8, IssueCode.SEQUENCE_GAP)]
    resync = events[events["seq"] == 21]
    assert resync["kind"].tolist() == [KIND_CLEAR, KIND_SNAPSHOT, KIND_SNAPSHOT, KIND_CLEAR, 3]
    assert resync["flags"].tolist() == [
        F_GAP_BEFORE | F_REPAIRED,
        F_REPAIRED,
        F_REPAIRED,
        F_REPAIRED,
        F_REPAIRED | F_LAST,
    ]
    after = events[events["seq"] > 21]
    assert after["ts_recv"].tolist() == [800, 900]
    assert after["flags"].tolist() == [F_LAST, F_LAST]
    assert reader.stats["snapshots_applied"] == 2
    _accounted(reader)


def test_gap_repair_without_later_snapshot_quarantines_the_rest(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    lines[7] = depth_line(600, 18, 20, [("100.02", "1")])
    lines.append(depth_line(700, 21, 22, [("100.03", "1")]))
    # Act
    events, reader = _read(tmp_path, lines, Policy.REPAIR)
    # Assert
    assert reader.report.counts == {"sequence_gap": 1, "no_snapshot": 1}
    assert [q.line for q in reader.report.quarantined] == [8, 9]
    assert int(events["seq"][events["kind"] != KIND_TRADE].max()) == 15
    _accounted(reader)


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        '1 {"stream":"btcusdt@depth@100ms","data":{"U":16',
        '1 {"stream":"btcusdt@depth@100ms","data":{"U":16,"u":16,"E":1,"b":[]}}',
        '1 {"stream":"btcusdt@depth@100ms","data":{"U":1,"u":2,"E":1,"b":[["1#","1"]],"a":[]}}',
        "1",
        "1 ",
        '1.5.5: {"a":1}',
        "wss://x/stream ?? 1.0",
    ],
)
def test_garbage_line_strict_raises_repair_quarantines(tmp_path: Path, garbage: str) -> None:
    # Arrange
    lines = _base()
    lines.insert(6, garbage.replace("1 ", "450 ", 1) if garbage.startswith("1 ") else garbage)
    clean, _ = _read(tmp_path, _base())
    # Act / Assert
    with pytest.raises(ParseError, match=r"stream\.txt:7"):
        _read(tmp_path, lines)
    events, reader = _read(tmp_path, lines, Policy.REPAIR)
    assert reader.report.counts == {"parse_error": 1}
    assert [(q.line, q.raw) for q in reader.report.quarantined] == [(7, lines[6])]
    assert events.tobytes() == clean.tobytes()
    _accounted(reader)


def test_duplicate_update_strict_raises_repair_drops(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    lines.insert(5, lines[4])
    clean, _ = _read(tmp_path, _base())
    # Act / Assert
    with pytest.raises(DuplicateError) as info:
        _read(tmp_path, lines)
    assert (info.value.line, info.value.seq) == (6, 15)
    events, reader = _read(tmp_path, lines, Policy.REPAIR)
    assert reader.report.counts == {"duplicate_seq": 1}
    assert events.tobytes() == clean.tobytes()
    _accounted(reader)


def test_backwards_update_and_trade_ids_are_out_of_order(tmp_path: Path) -> None:
    # Arrange
    lines = [*_base(), depth_line(700, 14, 15), trade_line(800, 6, "100.05", "1", False)]
    # Act / Assert
    with pytest.raises(OutOfOrderError, match="u=15 does not advance"):
        _read(tmp_path, lines)
    _, reader = _read(tmp_path, lines, Policy.REPAIR)
    assert reader.report.counts == {"out_of_order_seq": 2}
    assert [q.line for q in reader.report.quarantined] == [9, 10]
    _accounted(reader)


def test_local_clock_going_back_is_clamped_and_flagged(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    lines[4] = depth_line(250, 13, 15, [], [("100.06", "0")])
    # Act / Assert
    with pytest.raises(OutOfOrderError, match="local timestamp 250 ns"):
        _read(tmp_path, lines)
    events, reader = _read(tmp_path, lines, Policy.REPAIR)
    row = events[events["seq"] == 15]
    assert row["ts_recv"].tolist() == [300]
    assert row["flags"].tolist() == [F_LAST | F_REPAIRED]
    assert reader.report.counts == {"out_of_order_ts": 1}
    assert np.all(np.diff(events["ts_recv"]) >= 0)


def test_invalid_levels_strict_raise_repair_drop_and_flag(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    bad = [("100.06", "0"), ("100.055", "1"), ("100.07", "NaN"), ("100.08", "-1"), ("inf", "1")]
    lines[4] = depth_line(400, 13, 15, [], bad)
    # Act / Assert
    with pytest.raises(InvalidValueError, match="off_tick"):
        _read(tmp_path, lines)
    events, reader = _read(tmp_path, lines, Policy.REPAIR)
    row = events[events["seq"] == 15]
    assert row["price_ticks"].tolist() == [10006]
    assert row["flags"].tolist() == [F_LAST | F_REPAIRED]
    assert reader.report.counts == {
        "off_tick": 1,
        "nan_qty": 1,
        "negative_qty": 1,
        "bad_value": 1,
    }
    assert reader.report.quarantined == []
    _accounted(reader)


def test_no_snapshot_strict_raises_repair_quarantines(tmp_path: Path) -> None:
    # Arrange
    lines = [ln for ln in _base() if "lastUpdateId" not in ln]
    # Act / Assert
    with pytest.raises(SnapshotSyncError, match=r"stream\.txt:1 \(seq 8\)"):
        _read(tmp_path, lines)
    events, reader = _read(tmp_path, lines, Policy.REPAIR)
    assert reader.report.counts == {"no_snapshot": 1}
    assert [q.line for q in reader.report.quarantined] == [1, 2, 4, 6, 7]
    assert events["kind"].tolist() == [KIND_TRADE]
    _accounted(reader)


def _futures_lines() -> list[str]:
    return [
        depth_line(100, 5, 9, [("100.00", "1")], prev=4),  # stale: u < 10
        depth_line(200, 10, 10, [("100.01", "2")], prev=9),  # u == lastUpdateId: applied
        snapshot_line(300, 10, [("100.00", "5")], [("100.05", "3")]),
        depth_line(400, 11, 14, [], [("100.06", "1")], prev=10),
        depth_line(500, 16, 18, [("100.00", "0")], prev=14),  # U jumps: fine, pu chains
    ]


def test_futures_rules_use_pu_and_apply_u_equal_last_update_id(tmp_path: Path) -> None:
    # Arrange
    lines = _futures_lines()
    # Act
    events, reader = _read(tmp_path, lines, instrument=FUT)
    # Assert
    assert reader.report.ok
    assert [int(s) for s in events["seq"][(events["flags"] & F_LAST) != 0]] == [10, 10, 14, 18]
    assert reader.stats["stale_updates"] == 1
    compared, _ = replay_compare(
        events, DecimalOracle("0.01", futures=True), recorder_messages(lines)
    )
    assert compared == 4


def test_futures_gap_names_expected_pu(tmp_path: Path) -> None:
    # Arrange
    lines = [*_futures_lines(), depth_line(600, 20, 21, prev=19)]
    # Act / Assert
    with pytest.raises(SequenceGapError, match="expected pu=18, got pu=19"):
        _read(tmp_path, lines, instrument=FUT)


def test_futures_market_requires_pu(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(ParseError, match="without 'pu'"):
        _read(tmp_path, _base(), market="futures")


def test_trades_excluded_are_skipped(tmp_path: Path) -> None:
    # Act
    events, reader = _read(tmp_path, _base(), include_trades=False)
    # Assert
    assert KIND_TRADE not in events["kind"].tolist()
    assert reader.stats["trades_skipped"] == 1
    _accounted(reader)


def test_small_chunks_never_split_a_message(tmp_path: Path) -> None:
    # Arrange
    whole, _ = _read(tmp_path, _base())
    path = tmp_path / "stream.txt"
    reader = BinanceDepthReader([path], instrument=SPOT, chunk_size=2)
    # Act
    chunks = list(reader.chunks())
    # Assert
    assert all(c["flags"][-1] & F_LAST for c in chunks)
    assert collect(chunks).tobytes() == whole.tobytes()
    assert reader.report.events_out == len(whole)


def test_several_files_are_one_stream(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    first = write_lines(tmp_path / "a.txt", lines[:5])
    second = write_lines(tmp_path / "b.txt.gz", lines[5:])
    whole, _ = _read(tmp_path, lines)
    # Act
    reader = BinanceDepthReader([first, second], instrument=SPOT)
    events = collect(reader.chunks())
    # Assert
    assert events.tobytes() == whole.tobytes()
    assert reader.source == "a.txt,b.txt.gz"


def test_issue_names_the_file_it_is_in(tmp_path: Path) -> None:
    # Arrange
    lines = _base()
    first = write_lines(tmp_path / "a.txt", lines[:5])
    second = write_lines(tmp_path / "b.txt", [*lines[5:7], "oops"])
    # Act / Assert
    with pytest.raises(ParseError, match=r"^b\.txt:3"):
        collect(BinanceDepthReader([first, second], instrument=SPOT).chunks())


def test_bad_arguments_raise_config_error(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match="market"):
        BinanceDepthReader([tmp_path / "x"], instrument=SPOT, market="coin")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="paths"):
        BinanceDepthReader([], instrument=SPOT)
    with pytest.raises(ConfigError, match="chunk_size"):
        BinanceDepthReader([tmp_path / "x"], instrument=SPOT, chunk_size=0)


def test_capture_format_with_snapshot_file_and_symbols(tmp_path: Path) -> None:
    # Arrange: two symbols interleaved; the REST snapshot lives in an .http. file
    ws_lines = [
        "wss://stream.binance.com:9443/stream?streams=abcusdt@depth@100ms/xyzusdt@depth <-> 10.0",
        'wss://stream.binance.com:9443/stream <- 10.1: {"method":"SUBSCRIBE"}',
        "10.5: " + depth_line(0, 9, 12, [("1.01", "2")], symbol="abcusdt").split(" ", 1)[1],
        "10.6: " + depth_line(0, 1, 2, [("5.00", "2")], symbol="xyzusdt").split(" ", 1)[1],
        '10.7: {"result":null,"id":1}',
        "11.5: " + depth_line(0, 13, 13, [], [("1.05", "0")], symbol="abcusdt").split(" ", 1)[1],
    ]
    snap = '{"lastUpdateId":10,"bids":[["1.00","5"]],"asks":[["1.05","3"],["1.06","1"]]}'
    http_lines = [
        f"https://api.binance.com/api/v3/depth?symbol=XYZUSDT&limit=1000 -> 10.9: {snap}",
        f"https://api.binance.com/api/v3/depth?symbol=ABCUSDT&limit=1000 -> 11.0: {snap}",
        "",
    ]
    ws = write_lines(tmp_path / "BINANCE.ws.1.0", ws_lines)
    http = write_lines(tmp_path / "BINANCE.http.0.0", http_lines)
    reader = BinanceDepthReader([ws], instrument=SPOT, snapshot_paths=[http], symbol="abcusdt")
    # Act
    events = collect(reader.chunks())
    # Assert
    assert reader.report.ok
    assert events["ts_recv"].tolist() == [11 * 10**9] * 6 + [11_500_000_000]
    assert events["seq"].tolist() == [10] * 5 + [12, 13]
    assert events["kind"].tolist() == [KIND_CLEAR, 3, KIND_CLEAR, 3, 3, KIND_BOOK, KIND_BOOK]
    assert reader.report.rows_in == 9
    _accounted(reader)
