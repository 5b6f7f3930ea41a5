from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from l2trader.book.reference import ReferenceBook
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.report import IssueCode, Policy
from l2trader.data.tardis import TardisKind, TardisReader
from l2trader.errors import DataError, InvalidValueError, OutOfOrderError, ParseError
from l2trader.schema import F_LAST, F_REPAIRED, KIND_BOOK, KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE

DERIBIT = Instrument(venue="deribit", symbol="BTC-PERPETUAL", tick_size=0.5)
BINANCE_2020 = Instrument(venue="binance-futures", symbol="BTCUSDT", tick_size=0.01)
BITMEX = Instrument(venue="bitmex", symbol="XBTUSD", tick_size=0.5)
HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"


def _sample(shared_data: Path, name: str) -> Path:
    return shared_data / "tardis-csv-samples" / name


def _read(
    path: Path, instrument: Instrument = DERIBIT, **kw: object
) -> tuple[np.ndarray, TardisReader]:
    reader = TardisReader(path, instrument=instrument, **kw)  # type: ignore[arg-type]
    return collect(reader.chunks()), reader


def _write(tmp_path: Path, lines: list[str], name: str = "x.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _row(ts: int, lts: int, snap: bool, side: str, price: str, amount: str) -> str:
    return f"deribit,BTC-PERPETUAL,{ts},{lts},{str(snap).lower()},{side},{price},{amount}"


@pytest.mark.shared_data
def test_deribit_incremental_cut_mid_snapshot(shared_data: Path) -> None:
    path = _sample(shared_data, "deribit_incremental_book_L2_BTC-PERPETUAL.csv")

    events, reader = _read(path, chunk_size=4)

    assert reader.kind is TardisKind.INCREMENTAL
    assert len(events) == 16
    assert events["kind"].tolist() == [KIND_CLEAR] + [KIND_SNAPSHOT] * 15
    assert events[0].tolist() == (1585699200245000000, 1585699200355684000, -1, 0, 0.0, 4, 0, 0)
    assert events[1].tolist() == (
        1585699200245000000,
        1585699200355684000,
        -1,
        12843,
        18640.0,
        3,
        -1,
        0,
    )
    assert events[-1].tolist() == (
        1585699200245000000,
        1585699200355684000,
        -1,
        12857,
        39950.0,
        3,
        -1,
        1,
    )
    book = ReferenceBook()
    book.apply_all(events)
    assert book.bids == {}
    assert len(book.asks) == 15
    assert reader.report.ok
    assert reader.report.rows_in == 15
    assert reader.report.events_out == 16


@pytest.mark.shared_data
@pytest.mark.parametrize(("levels", "n_events", "last"), [(5, 110, 1165792), (25, 510, 1165928)])
def test_binance_book_snapshots_match_csv_rows(
    shared_data: Path, levels: int, n_events: int, last: int
) -> None:
    path = _sample(shared_data, f"binance-futures_book_snapshot_{levels}_BTCUSDT.csv")
    rows = list(csv.DictReader(path.read_text().splitlines()))

    events, reader = _read(path, BINANCE_2020, chunk_size=3)

    assert (reader.kind, reader.levels, len(events)) == (TardisKind.SNAPSHOT, levels, n_events)
    assert events[0]["kind"] == KIND_CLEAR
    assert events[1]["price_ticks"] == 1165707
    assert events[-1]["price_ticks"] == last
    ends = np.flatnonzero(events["flags"] & F_LAST)
    assert len(ends) == 10
    book, start = ReferenceBook(), 0
    for row, end in zip(rows, ends.tolist(), strict=True):
        book.apply_all(events[start : end + 1])
        start = end + 1
        bids, asks = book.top(levels)
        for name, got in (("bids", bids), ("asks", asks)):
            want = [
                (round(float(row[f"{name}[{i}].price"]) / 0.01), float(row[f"{name}[{i}].amount"]))
                for i in range(levels)
            ]
            assert got == want
        assert events[end]["ts_recv"] == int(row["local_timestamp"]) * 1000


@pytest.mark.shared_data
def test_bitmex_trades(shared_data: Path) -> None:
    path = _sample(shared_data, "bitmex_trades_XBTUSD.csv")

    events, reader = _read(path, BITMEX)

    assert reader.kind is TardisKind.TRADES
    assert len(events) == 10
    assert set(events["kind"].tolist()) == {KIND_TRADE}
    assert events[0].tolist() == (
        1583020803145000000,
        1583020803307160000,
        -1,
        17063,
        2152.0,
        2,
        -1,
        1,
    )
    assert events[-1].tolist() == (
        1583020803276000000,
        1583020803336743000,
        -1,
        17063,
        1.0,
        2,
        -1,
        1,
    )
    # one message per run of identical (local_timestamp, timestamp): rows 1 and 2-10
    assert np.flatnonzero(events["flags"] & F_LAST).tolist() == [0, 9]


@pytest.mark.shared_data
def test_huobi_quotes_is_unsupported(shared_data: Path) -> None:
    with pytest.raises(DataError, match="unsupported Tardis file kind"):
        TardisReader(_sample(shared_data, "huobi-dm-swap_quotes_BTC-USD.csv"), instrument=BITMEX)


@pytest.mark.shared_data
def test_gzip_is_transparent(shared_data: Path, tmp_path: Path) -> None:
    plain = _sample(shared_data, "deribit_incremental_book_L2_BTC-PERPETUAL.csv")
    packed = tmp_path / "d.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    assert np.array_equal(_read(packed)[0], _read(plain)[0])


def test_snapshot_runs_and_updates(tmp_path: Path) -> None:
    lines = [
        HEADER,
        _row(1, 10, True, "bid", "100", "1"),
        _row(2, 11, True, "ask", "101", "2"),  # same snapshot, next timestamp: no CLEAR
        _row(3, 12, False, "bid", "100", "0"),
        _row(3, 12, False, "bid", "99.5", "4"),
        _row(4, 13, True, "ask", "102", "5"),  # new snapshot run: CLEAR again
    ]

    events, _ = _read(_write(tmp_path, lines), chunk_size=1)

    assert events["kind"].tolist() == [4, 3, 3, 1, 1, 4, 3]
    assert events["flags"].tolist() == [0, 1, 1, 0, 1, 0, 1]
    assert events["price_ticks"].tolist() == [0, 200, 202, 200, 199, 0, 204]
    assert events["side"].tolist() == [0, 1, -1, 1, 1, 0, -1]
    book = ReferenceBook()
    book.apply_all(events)
    assert (book.bids, book.asks) == ({}, {204: 5.0})


def test_integer_trade_ids_become_seq(tmp_path: Path) -> None:
    lines = [TRADES_HEADER, "x,Y,1,2,77,buy,10,1", "x,Y,1,3,abc,unknown,10.5,2"]

    events, _ = _read(_write(tmp_path, lines))

    assert events["seq"].tolist() == [77, -1]
    assert events["side"].tolist() == [1, 0]
    assert events["flags"].tolist() == [1, 1]


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (_row(5, 50, False, "bid", "abc", "1"), ParseError, "unparseable"),
        (_row(5, 50, False, "bid", "100", "-1"), InvalidValueError, "negative"),
        (_row(5, 50, False, "bid", "100", "nan"), InvalidValueError, "NaN"),
        (_row(5, 50, False, "bid", "100.2", "1"), InvalidValueError, "tick grid"),
        (_row(5, 50, False, "middle", "100", "1"), InvalidValueError, "unknown side"),
        (_row(5, 5, False, "bid", "100", "1"), OutOfOrderError, "backwards"),
    ],
)
def test_strict_names_the_bad_line(
    tmp_path: Path, bad: str, error: type[DataError], match: str
) -> None:
    lines = [HEADER, _row(1, 10, True, "bid", "100", "1"), _row(2, 20, False, "bid", "100", "2")]
    path = _write(tmp_path, [*lines, bad, _row(6, 60, False, "ask", "101", "1")])

    with pytest.raises(error, match=match) as info:
        _read(path)

    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}:4:")


def test_repair_drops_quarantines_and_flags(tmp_path: Path) -> None:
    bad_parse = _row(2, 20, False, "bid", "oops", "1")
    bad_qty = _row(3, 30, False, "ask", "101", "-3")
    lines = [
        HEADER,
        _row(1, 10, True, "bid", "100", "1"),
        bad_parse,
        _row(2, 20, False, "bid", "100", "2"),
        _row(3, 30, False, "ask", "101", "3"),
        bad_qty,
        _row(4, 40, False, "ask", "101", "0"),
    ]

    events, reader = _read(_write(tmp_path, lines), policy=Policy.REPAIR, chunk_size=2)

    report = reader.report
    assert dict(report.counts) == {"parse_error": 1, "negative_qty": 1}
    assert [(q.line, q.reason, q.raw) for q in report.quarantined] == [
        (3, IssueCode.PARSE_ERROR, bad_parse),
        (6, IssueCode.NEGATIVE_QTY, bad_qty),
    ]
    assert report.rows_in == 6
    assert events["kind"].tolist() == [KIND_CLEAR, KIND_SNAPSHOT, KIND_BOOK, KIND_BOOK, KIND_BOOK]
    assert (events["flags"] & F_REPAIRED).astype(bool).tolist() == [True, True, True, True, True]
