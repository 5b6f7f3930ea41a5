from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.reference import ReferenceBook
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.lobster import LobsterReader
from l2trader.data.report import IssueCode, Policy
from l2trader.errors import ConfigError, DataError, InvalidValueError, ParseError
from l2trader.schema import F_LAST, F_REPAIRED, KIND_TRADE

AMZN = Instrument(venue="nasdaq", symbol="AMZN", tick_size=0.01)
STEM = "AMZN_2012-06-21_34200000_57600000"
MESSAGES = [
    "34200.0,1,1,100,1000000,1",  # add bid 100.00 x100
    "34200.5,1,2,10,1000000,1",  # add to it
    "34201.0,3,9,50,1000100,-1",  # delete best ask -> 100.03 revealed
    "34201.5,4,3,20,999900,1",  # execute bid 99.99 -> 99.98 revealed
    "34202.000000001,5,0,5,1000150,1",  # hidden midpoint execution
]
BOOKS = [
    "1000100,50,1000000,100,1000200,30,999900,20",
    "1000100,50,1000000,110,1000200,30,999900,20",
    "1000200,30,1000000,110,1000300,5,999900,20",
    "1000200,30,1000000,110,1000300,5,999800,7",
    "1000200,30,1000000,110,1000300,5,999800,7",
]


def _files(tmp_path: Path, messages: list[str], books: list[str]) -> tuple[Path, Path]:
    m = tmp_path / f"{STEM}_message_2.csv"
    o = tmp_path / f"{STEM}_orderbook_2.csv"
    m.write_text("\n".join(messages) + "\n")
    o.write_text("\n".join(books) + "\n")
    return m, o


def _read(
    paths: tuple[Path, Path], levels: int = 2, **kw: object
) -> tuple[np.ndarray, LobsterReader]:
    reader = LobsterReader(*paths, levels=levels, instrument=AMZN, **kw)  # type: ignore[arg-type]
    return collect(reader.chunks()), reader


def _top(row: np.ndarray, levels: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    asks = [
        (int(row[4 * k]) // 100, float(row[4 * k + 1])) for k in range(levels) if row[4 * k + 1]
    ]
    bids = [
        (int(row[4 * k + 2]) // 100, float(row[4 * k + 3])) for k in range(levels) if row[4 * k + 3]
    ]
    return bids, asks


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("levels", "n_messages", "reveals", "truncated"),
    [(1, 57_515, 13_953, 13_604), (5, 155_935, 33_840, 35_386)],
)
def test_amzn_book_equals_orderbook_file_after_every_message(
    shared_data: Path, levels: int, n_messages: int, reveals: int, truncated: int
) -> None:
    folder = shared_data / "lobster-amzn-2012-06-21"
    paths = (
        folder / f"{STEM}_message_{levels}.csv.gz",
        folder / f"{STEM}_orderbook_{levels}.csv.gz",
    )
    with gzip.open(paths[1], "rt") as handle:
        rows = np.loadtxt(handle, delimiter=",", dtype=np.int64)

    events, reader = _read(paths, levels)

    stats = reader.stats
    assert (stats.messages, stats.message_mismatches, stats.unexplained_changes) == (
        n_messages,
        0,
        0,
    )
    assert (stats.reveal_corrections, stats.truncated_levels) == (reveals, truncated)
    assert (stats.out_of_view_messages, stats.subtick_trades, stats.halts) == (0, 63, 0)
    assert int(np.count_nonzero(events["kind"] == KIND_TRADE)) == 8_974 + 2_445
    assert reader.report.ok
    assert reader.report.rows_in == n_messages
    assert events[0]["ts_recv"] == 1_340_285_400_017_459_617  # 09:30:00.017459617 EDT
    assert np.all(np.diff(events["ts_recv"]) >= 0)
    ends = np.flatnonzero(events["flags"] & F_LAST)
    assert len(ends) == n_messages + 1  # + the initial CLEAR/SNAPSHOT batch
    book, start = ReferenceBook(), 0
    for end in ends.tolist():
        for e in events[start : end + 1].tolist():
            book.apply(e[5], e[6], e[3], e[4])
        start, seq = end + 1, int(events["seq"][end])
        if seq >= 0:
            assert book.top(levels) == _top(rows[seq], levels), f"message row {seq}"


def test_handmade_events(tmp_path: Path) -> None:
    paths = _files(tmp_path, MESSAGES, BOOKS)

    events, reader = _read(paths, chunk_size=3)

    base = 1_340_251_200_000_000_000 + 34_200 * 10**9
    assert [tuple(e[2:]) for e in events.tolist()] == [
        (-1, 0, 0.0, 4, 0, 0),  # CLEAR, then row 0 with message 0 undone
        (-1, 9999, 20.0, 3, 1, 0),
        (-1, 10001, 50.0, 3, -1, 0),
        (-1, 10002, 30.0, 3, -1, 1),
        (0, 10000, 100.0, 1, 1, 1),
        (1, 10000, 110.0, 1, 1, 1),
        (2, 10001, 0.0, 1, -1, 0),
        (2, 10003, 5.0, 1, -1, 1),  # revealed from beyond level 2
        (3, 9999, 20.0, 2, -1, 0),  # seller-initiated trade
        (3, 9999, 0.0, 1, 1, 0),
        (3, 9998, 7.0, 1, 1, 1),
        (4, 10002, 5.0, 2, -1, 1),  # 100.015 rounded half up
    ]
    assert events["ts_recv"][-1] == base + 2_000_000_001
    assert (reader.stats.reveal_corrections, reader.stats.subtick_trades) == (2, 1)


@pytest.mark.parametrize(
    ("line", "text", "error", "match"),
    [
        (3, "34201.0,3,9,fifty,1000100,-1", ParseError, "unparseable"),
        (2, "34200.5,1,2,-10,1000000,1", InvalidValueError, "negative"),
        (2, "34200.5,1,2,10,1000050,1", InvalidValueError, "tick grid"),
        (2, "34200.5,6,2,10,1000000,1", InvalidValueError, "unknown type"),
        (2, "34200.5,1,2,11,1000000,1", InvalidValueError, "disagrees with the message"),
    ],
)
def test_strict_names_the_bad_message_line(
    tmp_path: Path, line: int, text: str, error: type[DataError], match: str
) -> None:
    messages = list(MESSAGES)
    messages[line - 1] = text

    with pytest.raises(error, match=match) as info:
        _read(_files(tmp_path, messages, BOOKS))

    assert (info.value.line, info.value.seq) == (line, line - 1)


def test_strict_bad_orderbook_row_names_the_orderbook_file(tmp_path: Path) -> None:
    books = list(BOOKS)
    books[2] = "1000200,30,1000000,110,1000300,-5,999900,20"
    paths = _files(tmp_path, MESSAGES, books)

    with pytest.raises(InvalidValueError, match="negative") as info:
        _read(paths)

    assert (info.value.source, info.value.line) == (str(paths[1]), 3)


def test_row_count_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="row counts differ: message file has 5 rows"):
        _read(_files(tmp_path, MESSAGES, BOOKS[:4]))


def test_repair_drops_the_pair_and_flags_the_next_batch(tmp_path: Path) -> None:
    messages = list(MESSAGES)
    messages[2] = "34201.0,3,9,oops,1000100,-1"
    rows = np.array([[int(x) for x in b.split(",")] for b in BOOKS])

    events, reader = _read(_files(tmp_path, messages, BOOKS), policy=Policy.REPAIR, chunk_size=2)

    assert dict(reader.report.counts) == {"parse_error": 1}
    assert [(q.line, q.reason, q.raw) for q in reader.report.quarantined] == [
        (3, IssueCode.PARSE_ERROR, messages[2])
    ]
    repaired = sorted(set(events["seq"][(events["flags"] & F_REPAIRED) > 0].tolist()))
    assert repaired == [1, 3]  # the neighbours of the dropped row
    book = ReferenceBook()
    book.apply_all(events)
    assert book.top(2) == _top(rows[-1], 2)
    assert 2 not in events["seq"].tolist()


def test_repair_counts_a_message_mismatch_and_follows_the_row(tmp_path: Path) -> None:
    messages = list(MESSAGES)
    messages[1] = "34200.5,1,2,11,1000000,1"  # row 1 says +10

    events, reader = _read(_files(tmp_path, messages, BOOKS), policy=Policy.REPAIR)

    assert dict(reader.report.counts) == {"bad_value": 1}
    assert reader.stats.message_mismatches == 1
    batch = events[events["seq"] == 1]
    assert batch["qty"].tolist() == [111.0, 110.0]
    assert (batch["flags"] & F_REPAIRED).all()


def test_date_and_tick_size_are_checked(tmp_path: Path) -> None:
    m, o = _files(tmp_path, MESSAGES, BOOKS)
    odd = Instrument(venue="nasdaq", symbol="X", tick_size=0.00005)

    with pytest.raises(ConfigError, match="date"):
        LobsterReader(tmp_path / "m.csv", o, levels=2, instrument=AMZN)
    with pytest.raises(ConfigError, match=r"multiple of 0\.0001"):
        LobsterReader(m, o, levels=2, instrument=odd)
    assert LobsterReader(m, o, levels=2, instrument=AMZN, date="2012-12-21").midnight_ns == (
        1_356_066_000_000_000_000  # EST = UTC-5
    )
