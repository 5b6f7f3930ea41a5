"""Databento readers on the real CME ES samples (../shared/data/databento-cme-es, README §4)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import databento_dbn as dbn
import numpy as np
import pytest

from l2trader.book.replay import replay
from l2trader.data.databento import DatabentoMbpReader
from l2trader.data.databento_mbo import DatabentoMboReader
from l2trader.data.events import collect
from l2trader.data.instruments import Instrument
from l2trader.data.report import Policy, ValidationReport
from l2trader.errors import CrossedBookError
from l2trader.ingest import checked_chunks
from l2trader.schema import F_LAST

ES = Instrument(venue="cme", symbol="ES", tick_size=0.25, lot_size=1.0, kind="future")
U = 250_000_000
DIR = "databento-cme-es"
MBP1 = "esu4-glbx-mdp3-2024-07-01T23-58_2024-07-02T00-02.mbp-1.dbn.zst"
MBP10 = "esh1-glbx-mdp3-2020-12-28.mbp-10.dbn.zst"
MBO_24 = "esh4-glbx-mdp3-20231224.mbo.dbn.zst"
MBO_25 = "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
MBO_M4 = "esm4-glbx-mdp3-2024-05-08T00-00-00_00-00-02.mbo.dbn.zst"
OPEN_NS = 1_703_545_200_000_000_000  # 2023-12-25 23:00:00 UTC, the Globex open
PREOPEN_START_NS = 1_703_543_995_000_000_000  # 22:39:55 UTC


def _records(path: Path) -> list[Any]:
    decoder = dbn.DBNDecoder(compression=dbn.Compression.ZSTD)
    return [
        r for r in decoder.write_and_decode(path.read_bytes()) if not isinstance(r, dbn.Metadata)
    ]


def _books_after_last(events: np.ndarray, depth: int) -> list[tuple[list[Any], list[Any]]]:
    """Top ``depth`` levels per side after each F_LAST (numba replay); asserts never crossed."""
    frame = replay(events, levels=depth)
    both = (frame.bid_qty[:, 0] > 0) & (frame.ask_qty[:, 0] > 0)
    assert not np.any(both & (frame.bid_ticks[:, 0] >= frame.ask_ticks[:, 0]))
    out = []
    for bt, bq, at, aq in zip(
        frame.bid_ticks.tolist(), frame.bid_qty.tolist(), frame.ask_ticks.tolist(),
        frame.ask_qty.tolist(), strict=True,
    ):  # fmt: skip
        bids = [(p, int(q)) for p, q in zip(bt, bq, strict=True) if q > 0]
        out.append((bids, [(p, int(q)) for p, q in zip(at, aq, strict=True) if q > 0]))
    return out


def _ingest_check(events: np.ndarray) -> int:
    """Rows out of the ingest's strict stream + crossed-book checks (raises on any finding)."""
    report = ValidationReport("check", policy=Policy.STRICT)
    return sum(len(c) for c in checked_chunks(iter([events]), report))


def _changes(states: list[Any]) -> list[Any]:
    """Drop states equal to the one before (an event may leave the top levels unchanged)."""
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]


def _mbp_levels(rec: Any, depth: int) -> tuple[list[Any], list[Any]]:
    levels = (
        rec.levels
        if depth > 1
        else [rec.levels[0]]
        if isinstance(rec.levels, list)
        else [rec.levels]
    )
    bids = [(lv.bid_px // U, lv.bid_sz) for lv in levels if lv.bid_sz > 0]
    asks = [(lv.ask_px // U, lv.ask_sz) for lv in levels if lv.ask_sz > 0]
    return bids, asks


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "depth", "n_records", "n_trades"), [(MBP1, 1, 2288, 120), (MBP10, 10, 2, 0)]
)
def test_mbp_events_equal_every_records_top_levels(
    shared_data: Path, name: str, depth: int, n_records: int, n_trades: int
) -> None:
    # Arrange
    path = shared_data / DIR / name
    reader = DatabentoMbpReader(path, instrument=ES)
    # Act
    events = collect(reader.chunks())
    # Assert: 0 issues, never crossed, and the book after each F_LAST = that record's levels
    records = _records(path)
    expected = [_mbp_levels(r, depth) for r in records if r.flags & dbn.F_LAST]
    assert reader.report.ok
    assert (reader.stats["records"], reader.stats["trades"]) == (n_records, n_trades)
    assert _changes(_books_after_last(events, depth)) == _changes(expected)
    assert np.all(np.diff(events["ts_recv"]) >= 0)
    assert _ingest_check(events) == len(events)


def _order_book_oracle(records: list[Any], every: int = 1) -> list[tuple[list[Any], list[Any]]]:
    """Top 5 per side after each ``every``-th F_LAST, from a plain order-level rebuild."""
    orders: dict[int, tuple[str, int, int]] = {}
    levels: dict[str, Counter[int]] = {"B": Counter(), "A": Counter()}
    out, n_last = [], 0
    for r in records:
        act = str(r.action.value)
        if act == "R":
            orders.clear()
            levels = {"B": Counter(), "A": Counter()}
        if act in ("C", "M"):
            s, p, q = orders.pop(r.order_id)
            levels[s][p] -= q
        if act in ("A", "M") or (act == "C" and q > r.size):
            side = str(r.side.value)
            size = r.size if act != "C" else q - r.size
            orders[r.order_id] = (side, r.price // U if act != "C" else p, size)
            levels[side][orders[r.order_id][1]] += size
        if r.flags & dbn.F_LAST:
            n_last += 1
            if n_last % every == 0:
                bids = sorted(((p, q) for p, q in levels["B"].items() if q > 0), reverse=True)
                out.append((bids[:5], sorted((p, q) for p, q in levels["A"].items() if q > 0)[:5]))
    return out


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "n_records"), [(MBO_24, 8725), (MBO_M4, 13796)])
def test_mbo_l2_equals_an_order_level_rebuild(shared_data: Path, name: str, n_records: int) -> None:
    # Arrange
    path = shared_data / DIR / name
    reader = DatabentoMboReader(path, instrument=ES)
    # Act
    events = collect(reader.chunks())
    # Assert: strict, 0 issues, never crossed, and equal to the oracle after every event
    assert reader.report.ok
    assert reader.stats["records"] == n_records
    assert _books_after_last(events, 5) == _order_book_oracle(_records(path))
    assert _ingest_check(events) == len(events)


@pytest.mark.shared_data
def test_mbo_preopen_crossed_book_strict_fails_at_the_first_crossed_record(
    shared_data: Path,
) -> None:
    reader = DatabentoMboReader(shared_data / DIR / MBO_25, instrument=ES)
    with pytest.raises(CrossedBookError, match=r"mbo\.dbn\.zst:8760 \(seq 5071\)"):
        collect(reader.chunks())


@pytest.mark.shared_data
def test_mbo_preopen_crossed_book_repair(shared_data: Path) -> None:
    # Arrange
    path = shared_data / DIR / MBO_25
    reader = DatabentoMboReader(path, instrument=ES, policy=Policy.REPAIR)
    # Act
    events = collect(reader.chunks())
    # Assert: the only findings are the 891 crossed pre-open event ends of README §4, all
    # between 22:39:55 and the 23:00:00 open (venue time); the published book never crosses
    assert dict(reader.report.counts) == {"crossed_book": 891}
    assert (
        PREOPEN_START_NS
        <= reader.stats["crossed_first_ts"]
        < reader.stats["crossed_last_ts"]
        < OPEN_NS
    )
    actions = {k: v for k, v in reader.stats.items() if k.startswith("action_")}
    assert actions == {
        "action_A": 29216,
        "action_C": 17999,
        "action_M": 12233,
        "action_F": 6371,
        "action_T": 2973,
    }
    frame = replay(events, levels=5)
    books = _books_after_last(events, 5)
    records = _records(path)
    last_ts = [r.ts_event for r in records if r.flags & dbn.F_LAST]
    oracle = _order_book_oracle(records, every=97)
    checked = 0
    for k, state in zip(range(97, len(last_ts) + 1, 97), oracle, strict=True):
        ts = last_ts[k - 1]
        unique = k == len(last_ts) or last_ts[k] > ts
        preopen = reader.stats["crossed_first_ts"] <= ts <= reader.stats["crossed_last_ts"]
        if unique and not preopen:  # the book after the last event with ts_exch <= ts
            row = int(np.searchsorted(frame.ts_exch, ts, side="right")) - 1
            assert books[row] == state
            checked += 1
    assert checked == 475  # of 484 sampled events (the rest: pre-open or shared ts_event)
    assert books[-1] == _order_book_oracle(records)[-1]
    assert _ingest_check(events) == len(events)


@pytest.mark.shared_data
def test_mbo_snapshot_of_the_25th_equals_the_24th_file(shared_data: Path) -> None:
    # Act
    day24 = collect(DatabentoMboReader(shared_data / DIR / MBO_24, instrument=ES).chunks())
    reader = DatabentoMboReader(shared_data / DIR / MBO_25, instrument=ES, policy=Policy.REPAIR)
    day25 = next(iter(reader.chunks()))
    # Assert: README §4, "the 20231225 file repeats the 20231224 snapshot at its start"
    first = day25[: np.flatnonzero(day25["flags"] & F_LAST)[0] + 1]
    cols = ["price_ticks", "qty", "kind", "side"]
    assert first[cols].tolist() == day24[cols].tolist()
    assert len(first) == 1452


@pytest.mark.shared_data
def test_no_mbo_file_overlaps_the_mbp1_file_in_time(shared_data: Path) -> None:
    # The MBO -> L2 vs MBP-1 comparison is impossible on these samples: other contracts and days.
    spans = {}
    for name in (MBO_25, MBO_M4, MBP1):
        recs = _records(shared_data / DIR / name)
        spans[name] = (
            min(r.ts_recv for r in recs),
            max(r.ts_recv for r in recs),
            recs[0].instrument_id,
        )
    mbp_lo, mbp_hi, mbp_id = spans[MBP1]
    for name in (MBO_25, MBO_M4):
        lo, hi, iid = spans[name]
        assert hi < mbp_lo or lo > mbp_hi
        assert iid != mbp_id
