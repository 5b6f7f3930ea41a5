"""Databento DBN readers on hand-made records (MBP-1, MBP-10, MBO -> L2)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import databento_dbn as dbn
import numpy as np
import pytest

from l2trader.book.reference import ReferenceBook
from l2trader.data.databento import (
    MBO_DTYPE,
    MBP1_DTYPE,
    MBP10_DTYPE,
    DatabentoMbpReader,
    tick_units,
)
from l2trader.data.databento_mbo import DatabentoMboReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.report import Policy
from l2trader.errors import ConfigError, CrossedBookError, DataError, InvalidValueError

ES = Instrument(venue="cme", symbol="ES", tick_size=0.25, lot_size=1.0, kind="future")
U = 250_000_000  # DBN price units per ES tick
LAST, SNAP = 128, 32


def _file(tmp_path: Path, schema: Any, records: list[Any], name: str) -> Path:
    interval = SimpleNamespace(start_date=date(2024, 1, 1), end_date=date(2024, 1, 2), symbol="7")
    meta = dbn.Metadata(
        dataset="GLBX.MDP3",
        start=0,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=schema,
        symbols=["ESH4"],
        mappings=[SimpleNamespace(raw_symbol="ESH4", intervals=[interval])],
    )
    path = tmp_path / name
    path.write_bytes(meta.encode() + b"".join(bytes(r) for r in records))
    return path


def _mbo(act: str, side: str, ticks: int, size: int, oid: int, ts: int, **kw: Any) -> Any:
    return dbn.MBOMsg(
        publisher_id=1,
        instrument_id=kw.pop("iid", 7),
        ts_event=ts,
        order_id=oid,
        price=ticks * U if ticks else dbn.UNDEF_PRICE,
        size=size,
        action=dbn.Action(act),
        side=dbn.Side(side),
        ts_recv=ts + 10,
        flags=kw.pop("flags", LAST),
        sequence=ts,
    )


def _mbp(act: str, side: str, ts: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]],
         depth: int = 1, flags: int = LAST, price: int = 0, size: int = 0,
         bid_off: int = 0) -> Any:  # fmt: skip
    pad = [(dbn.UNDEF_PRICE, 0)] * depth
    levels = [
        dbn.BidAskPair(bid_px=b[0] if not b[1] else b[0] * U, ask_px=a[0] if not a[1] else a[0] * U,
                       bid_sz=b[1], ask_sz=a[1])
        for b, a in zip((bids + pad)[:depth], (asks + pad)[:depth], strict=True)
    ]  # fmt: skip
    levels[0].bid_px += bid_off
    cls = dbn.MBP10Msg if depth == 10 else dbn.MBP1Msg
    return cls(
        publisher_id=1, instrument_id=7, ts_event=ts, price=price * U, size=size,
        action=dbn.Action(act), side=dbn.Side(side), depth=0, ts_recv=ts + 10, flags=flags,
        sequence=ts, levels=levels if depth == 10 else levels[0],
    )  # fmt: skip


def _rows(events: np.ndarray) -> list[tuple[int, ...]]:
    """(ts_exch, ts_recv, price_ticks, qty, kind, side, flags) per event."""
    cols = ("ts_exch", "ts_recv", "price_ticks", "qty", "kind", "side", "flags")
    return [tuple(int(e[c]) for c in cols) for e in events]


def test_record_dtypes_match_databento_layouts() -> None:
    # Arrange / Act
    sizes = [dt.itemsize for dt in (MBO_DTYPE, MBP1_DTYPE, MBP10_DTYPE)]
    rec = _mbo("A", "B", 100, 3, 9, 5)
    # Assert
    assert sizes == [56, 80, 368]
    assert np.frombuffer(bytes(rec), MBO_DTYPE)[["order_id", "price", "size"]].tolist() == [
        (9, 100 * U, 3)
    ]
    assert [n for n, _ in dbn.MBOMsg._dtypes] == list(MBO_DTYPE.names)


def test_tick_units_rejects_a_sub_nano_tick() -> None:
    with pytest.raises(ConfigError, match="1e-9"):
        tick_units(1e-10)


def test_mbp1_first_record_is_a_snapshot_then_only_changed_levels(tmp_path: Path) -> None:
    # Arrange: trade (not LAST) then the book change closing the event, then a new best bid
    recs = [
        _mbp("T", "B", 1, [(100, 5)], [(101, 2)], flags=0, price=101, size=1),
        _mbp("C", "A", 2, [(100, 5)], [(101, 1)]),
        _mbp("A", "B", 3, [(100, 7)], [(101, 1)]),
        _mbp("C", "A", 4, [(100, 7)], [(102, 9)]),
    ]
    path = _file(tmp_path, dbn.Schema.MBP_1, recs, "x.mbp-1.dbn")
    reader = DatabentoMbpReader(path, instrument=ES)
    # Act
    events = collect(reader.chunks())
    # Assert: one ts_recv per event (the closing record's); LAST on each event's last row
    assert _rows(events) == [
        (1, 12, 0, 0, 4, 0, 0),
        (1, 12, 101, 1, 2, 1, 0),
        (1, 12, 100, 5, 3, 1, 0),
        (1, 12, 101, 2, 3, -1, 0),
        (2, 12, 101, 1, 1, -1, 1),
        (3, 13, 100, 7, 1, 1, 1),
        (4, 14, 101, 0, 1, -1, 0),
        (4, 14, 102, 9, 1, -1, 1),
    ]
    assert reader.stats["trades"] == 1
    assert reader.report.ok


def test_mbp10_events_rebuild_every_records_top_10(tmp_path: Path) -> None:
    # Arrange: random top-10 books (seeded), each on the 0.25 grid
    rng = np.random.default_rng(7)
    recs, books = [], []
    for t in range(30):
        bid_px = 1000 - np.sort(rng.choice(15, 10, replace=False))
        ask_px = 1001 + np.sort(rng.choice(15, 10, replace=False))
        bids = list(zip(bid_px.tolist(), rng.integers(1, 4, 10).tolist(), strict=True))
        asks = list(zip(ask_px.tolist(), rng.integers(1, 4, 10).tolist(), strict=True))
        recs.append(_mbp("A", "B", t + 1, bids, asks, depth=10))
        books.append((bids, asks))
    path = _file(tmp_path, dbn.Schema.MBP_10, recs, "x.mbp-10.dbn")
    # Act
    events = collect(DatabentoMbpReader(path, instrument=ES, chunk_size=16).chunks())
    # Assert: replaying the events gives exactly each record's 10 + 10 levels
    book, got = ReferenceBook(), []
    for e in events:
        book.apply(int(e["kind"]), int(e["side"]), int(e["price_ticks"]), float(e["qty"]))
        if e["flags"] & 1:
            bids, asks = book.top(20)
            got.append(([(p, int(q)) for p, q in bids], [(p, int(q)) for p, q in asks]))
    assert got == books


def test_mbp_crossed_top_strict_raises_at_the_record(tmp_path: Path) -> None:
    recs = [_mbp("A", "B", 1, [(100, 5)], [(101, 2)]), _mbp("A", "B", 2, [(102, 1)], [(101, 2)])]
    path = _file(tmp_path, dbn.Schema.MBP_1, recs, "x.mbp-1.dbn")
    with pytest.raises(CrossedBookError, match=r"x\.mbp-1\.dbn:2 \(seq 2\)"):
        collect(DatabentoMbpReader(path, instrument=ES).chunks())


def test_mbp_crossed_top_repair_hides_the_stale_side(tmp_path: Path) -> None:
    # Arrange: a bid at 102 (record side B) crosses the ask at 101
    recs = [_mbp("A", "B", 1, [(100, 5)], [(101, 2)]), _mbp("A", "B", 2, [(102, 1)], [(101, 2)])]
    path = _file(tmp_path, dbn.Schema.MBP_1, recs, "x.mbp-1.dbn")
    reader = DatabentoMbpReader(path, instrument=ES, policy=Policy.REPAIR)
    # Act
    events = collect(reader.chunks())
    # Assert: the ask at 101 is removed, flagged repaired
    assert _rows(events)[3:] == [(2, 12, 100, 0, 1, 1, 2), (2, 12, 102, 1, 1, 1, 2),
                                 (2, 12, 101, 0, 1, -1, 3)]  # fmt: skip
    assert reader.report.counts["crossed_book"] == 1


def test_mbp_off_grid_price_strict_names_the_record(tmp_path: Path) -> None:
    rec = _mbp("A", "B", 1, [(100, 5)], [(101, 2)], bid_off=1)
    path = _file(tmp_path, dbn.Schema.MBP_1, [rec], "x.mbp-1.dbn")
    with pytest.raises(InvalidValueError, match=r":1 \(seq 1\): invalid_value: level price off"):
        collect(DatabentoMbpReader(path, instrument=ES).chunks())


def test_wrong_schema_and_unknown_symbol_are_clear_errors(tmp_path: Path) -> None:
    path = _file(tmp_path, dbn.Schema.MBO, [_mbo("A", "B", 100, 1, 1, 1)], "x.mbo.dbn")
    with pytest.raises(DataError, match=r"schema is .mbo., reader: mbp-1"):
        collect(DatabentoMbpReader(path, instrument=ES).chunks())
    with pytest.raises(ConfigError, match="'ESM4' not in the file"):
        collect(DatabentoMboReader(path, instrument=ES, symbol="ESM4").chunks())


def test_mbo_aggregates_orders_to_levels_per_event(tmp_path: Path) -> None:
    # Arrange: snapshot of 3 orders (2 at 100), then an event with add+cancel at one level,
    # a partial cancel, a modify to another price, a fill (no change) and a trade
    recs = [
        _mbo("A", "B", 100, 2, 1, 1, flags=SNAP),
        _mbo("A", "B", 100, 3, 2, 1, flags=SNAP),
        _mbo("A", "A", 102, 4, 3, 1, flags=SNAP | LAST),
        _mbo("A", "B", 101, 1, 4, 5, flags=0),
        _mbo("C", "B", 101, 1, 4, 5, flags=0),
        _mbo("C", "B", 100, 1, 2, 5, flags=LAST),
        _mbo("M", "A", 103, 4, 3, 6),
        _mbo("T", "B", 103, 1, 0, 7, flags=0),
        _mbo("F", "A", 103, 1, 3, 7, flags=0),
        _mbo("C", "A", 103, 1, 3, 7, flags=LAST),
        _mbo("A", "A", 103, 1, 9, 8, iid=8),  # another instrument: skipped
    ]
    path = _file(tmp_path, dbn.Schema.MBO, recs, "x.mbo.dbn")
    reader = DatabentoMboReader(path, instrument=ES)
    # Act
    events = collect(reader.chunks())
    # Assert: level 101 went 0 -> 1 -> 0 inside one event, so it is not published
    assert _rows(events) == [
        (1, 11, 0, 0, 4, 0, 0),
        (1, 11, 100, 5, 3, 1, 0),
        (1, 11, 102, 4, 3, -1, 1),
        (5, 15, 100, 4, 1, 1, 1),
        (6, 16, 102, 0, 1, -1, 0),
        (6, 16, 103, 4, 1, -1, 1),
        (7, 17, 103, 1, 2, 1, 0),
        (7, 17, 103, 3, 1, -1, 1),
    ]
    assert (reader.stats["other_instrument"], reader.report.rows_skipped) == (1, 1)


def test_mbo_clear_and_unterminated_snapshot(tmp_path: Path) -> None:
    # Arrange: R + snapshot add without F_LAST, then a live add
    recs = [
        _mbo("R", "N", 0, 0, 0, 1, flags=SNAP),
        _mbo("A", "B", 100, 2, 1, 1, flags=SNAP),
        _mbo("A", "A", 101, 1, 2, 3),
    ]
    path = _file(tmp_path, dbn.Schema.MBO, recs, "x.mbo.dbn")
    reader = DatabentoMboReader(path, instrument=ES)
    # Act
    events = collect(reader.chunks())
    # Assert
    assert _rows(events) == [(1, 11, 0, 0, 4, 0, 0), (1, 11, 100, 2, 3, 1, 1),
                             (3, 13, 101, 1, 1, -1, 1)]  # fmt: skip
    assert reader.stats["snapshot_unterminated"] == 1


def _crossing(tmp_path: Path) -> Path:
    recs = [
        _mbo("A", "B", 100, 2, 1, 1, flags=SNAP),
        _mbo("A", "A", 101, 1, 2, 1, flags=SNAP),
        _mbo("A", "A", 103, 1, 3, 1, flags=SNAP | LAST),
        _mbo("A", "B", 102, 5, 4, 2),  # crosses the ask at 101
        _mbo("C", "A", 101, 1, 2, 3),  # still crossed? no: best ask 103 > 102
    ]
    return _file(tmp_path, dbn.Schema.MBO, recs, "x.mbo.dbn")


def test_mbo_crossed_book_strict_raises_at_the_record(tmp_path: Path) -> None:
    with pytest.raises(CrossedBookError, match=r"x\.mbo\.dbn:4 \(seq 2\).*102 >= best ask 101"):
        collect(DatabentoMboReader(_crossing(tmp_path), instrument=ES).chunks())


def test_mbo_crossed_book_repair_publishes_an_uncrossed_view(tmp_path: Path) -> None:
    # Arrange
    reader = DatabentoMboReader(_crossing(tmp_path), instrument=ES, policy=Policy.REPAIR)
    # Act
    events = collect(reader.chunks())
    # Assert: the ask at 101 is hidden while crossed, and stays deleted once cancelled
    assert _rows(events)[4:] == [(2, 12, 102, 5, 1, 1, 2), (2, 12, 101, 0, 1, -1, 3)]
    assert reader.report.counts["crossed_book"] == 1
    assert reader.book.published == {1: {100: 2, 102: 5}, -1: {103: 1}}


def test_mbo_cancel_of_unknown_order_strict_and_repair(tmp_path: Path) -> None:
    recs = [_mbo("A", "B", 100, 2, 1, 1), _mbo("C", "B", 100, 1, 99, 2)]
    path = _file(tmp_path, dbn.Schema.MBO, recs, "x.mbo.dbn")
    with pytest.raises(InvalidValueError, match=r":2 \(seq 2\).*unknown order_id 99"):
        collect(DatabentoMboReader(path, instrument=ES).chunks())
    reader = DatabentoMboReader(path, instrument=ES, policy=Policy.REPAIR)
    assert _rows(collect(reader.chunks())) == [(1, 11, 100, 2, 1, 1, 1)]
    assert reader.report.counts["bad_value"] == 1


def test_mbo_file_ending_inside_an_event(tmp_path: Path) -> None:
    path = _file(tmp_path, dbn.Schema.MBO, [_mbo("A", "B", 100, 2, 1, 1, flags=0)], "x.mbo.dbn")
    with pytest.raises(InvalidValueError, match="file ends inside an event"):
        collect(DatabentoMboReader(path, instrument=ES).chunks())
    reader = DatabentoMboReader(path, instrument=ES, policy=Policy.REPAIR)
    assert _rows(collect(reader.chunks())) == [(1, 11, 100, 2, 1, 1, 3)]
