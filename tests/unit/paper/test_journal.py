"""Paper journal: WAL, append-only, gapless seqs, atomic appends, checkpoints, verify (issue 7)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.errors import InvalidValueError
from l2trader.paper.journal import (
    SCHEMA_VERSION,
    Journal,
    JournalCorruptError,
    JournalError,
    pack_arrays,
    unpack_arrays,
)
from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, STATE_DTYPE

S = 1_000_000_000


def _intents(ids: list[int], side: int = 1) -> np.ndarray:
    out = np.zeros(len(ids), ORDER_DTYPE)
    out["order_id"] = ids
    out["ts_recv"] = [i * S for i in ids]
    out["action"], out["side"], out["order_type"], out["tif"] = 1, side, 1, 1
    out["price_ticks"] = 1000
    out["qty"] = 2.0
    return out


def _events(ids: list[int], status: int = 1) -> np.ndarray:
    out = np.zeros(len(ids), ORDER_EVENT_DTYPE)
    out["order_id"] = ids
    out["ts_exch"] = out["ts_recv"] = [i * S + 1 for i in ids]
    out["status"] = status
    out["leaves_qty"] = 2.0
    return out


def _fills(ids: list[int], side: int = 1, qty: float = 1.0) -> np.ndarray:
    out = np.zeros(len(ids), FILL_DTYPE)
    out["order_id"] = ids
    out["ts_exch"] = [i * S + 2 for i in ids]
    out["ts_recv"] = out["ts_exch"] + 5
    out["side"], out["liquidity"] = side, 1
    out["price_ticks"] = 1000
    out["qty"] = qty
    out["fee"] = -0.01
    return out


def _state(ts: list[int], mid: float = 100.0) -> np.ndarray:
    out = np.zeros(len(ts), STATE_DTYPE)
    out["ts_recv"] = ts
    out["mid"] = mid
    out["position"], out["cash"], out["fees"] = 1.0, -99.0, 0.5
    out["equity"] = 1.0
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype and every field equal (NaN == NaN); padding bytes are ignored."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    pairs = [(a[n], b[n]) for n in a.dtype.names] if a.dtype.names else [(a, b)]
    return all(np.array_equal(x, y, equal_nan=x.dtype.kind == "f") for x, y in pairs)


@pytest.fixture
def journal(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Journal(tmp_path / "j.sqlite", session_id="sess", config_id="cfg") as j:
        yield j


def test_new_journal_is_wal_full_sync_and_meta_is_seq_1(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "j.sqlite"

    with Journal(path, session_id="s1", config_json='{"a": 1}', config_id="c1") as j:
        meta, last = j.meta, j.last_seq
        mode = j._conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = j._conn.execute("PRAGMA synchronous").fetchone()[0]

    assert (mode, sync) == ("wal", 2)  # 2 = FULL
    assert (meta.session_id, meta.config_json, meta.config_id) == ("s1", '{"a": 1}', "c1")
    assert meta.schema_version == SCHEMA_VERSION
    assert last == 2  # meta row seq 1, its commit marker seq 2


def test_append_round_trips_rows_with_gapless_seqs(journal: Journal) -> None:
    intents, events, fills, state = _intents([1, 2]), _events([1, 2]), _fills([1]), _state([9])

    last = journal.append(intents=intents, order_events=events, fills=fills, state=state)
    rows = journal.read_all()

    assert last == 9  # seqs 3..8 for 6 rows, commit marker 9
    assert rows.last_seq == 9
    assert _same(rows.intents, intents)
    assert _same(rows.order_events, events)
    assert _same(rows.fills, fills)
    assert _same(rows.state, state)
    assert rows.intents_seq.tolist() == [3, 4]
    assert rows.order_events_seq.tolist() == [5, 6]
    assert rows.fills_seq.tolist() == [7]
    assert rows.state_seq.tolist() == [8]


def test_empty_append_writes_nothing(journal: Journal) -> None:
    before = journal.last_seq

    last = journal.append(intents=np.zeros(0, ORDER_DTYPE))

    assert last == before == 2
    assert journal.verify().commits == 1


def test_read_since_returns_only_later_rows(journal: Journal) -> None:
    first = journal.append(intents=_intents([1]), state=_state([1]))
    journal.append(intents=_intents([2]), fills=_fills([2]), state=_state([2]))

    rows = journal.read_since(first)

    assert rows.intents["order_id"].tolist() == [2]
    assert rows.fills["order_id"].tolist() == [2]
    assert rows.state["ts_recv"].tolist() == [2]
    assert rows.intents_seq.tolist() == [first + 1]


def test_nan_and_inf_survive_the_round_trip(journal: Journal) -> None:
    state = _state([1, 2, 3])
    state["mid"] = [np.nan, np.inf, -0.5]

    journal.append(state=state)
    back = journal.read_all().state

    assert np.isnan(back["mid"][0])
    assert back["mid"][1:].tolist() == [np.inf, -0.5]


def test_wrong_dtype_raises_and_writes_nothing(journal: Journal) -> None:
    with pytest.raises(InvalidValueError, match="fills must have dtype"):
        journal.append(intents=_intents([1]), fills=_state([1]))

    assert journal.last_seq == 2
    assert journal.read_all().intents.size == 0


def test_refused_row_rolls_back_the_whole_append(journal: Journal) -> None:
    bad_fill = _fills([1], qty=-1.0)

    with pytest.raises(JournalError, match="nothing written"):
        journal.append(intents=_intents([1]), order_events=_events([1]), fills=bad_fill)

    assert journal.last_seq == 2
    assert journal.read_all().intents.size == 0
    assert journal.append(intents=_intents([1])) == 4  # seqs continue without a gap
    assert journal.verify().ok


@pytest.mark.parametrize("table", ["intents", "fills", "state", "meta", "commits", "checkpoints"])
def test_update_and_delete_are_refused(journal: Journal, table: str) -> None:
    journal.append(intents=_intents([1]), fills=_fills([1]), state=_state([1]))
    journal.checkpoint(b"x")
    raw = sqlite3.connect(journal.path, isolation_level=None)

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(f"DELETE FROM {table}")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(f"UPDATE {table} SET seq = seq + 100")
    raw.close()

    assert journal.verify().ok


def test_checkpoint_stores_engine_arrays_and_the_seq_it_covers(journal: Journal) -> None:
    journal.append(intents=_intents([1]), state=_state([1]))  # seqs 3, 4, commit 5
    arrays = {"est": np.arange(4, dtype=np.int64), "sv": _intents([7, 8]), "pf": np.ones(3)}

    seq = journal.checkpoint(pack_arrays(arrays), ts_recv=123)
    journal.append(state=_state([2]))
    ckpt = journal.latest_checkpoint()

    assert ckpt is not None
    assert (ckpt.seq, ckpt.covers_seq, ckpt.ts_recv, seq) == (6, 5, 123, 7)
    back = unpack_arrays(ckpt.blob)
    assert sorted(back) == ["est", "pf", "sv"]
    assert back["sv"].dtype == ORDER_DTYPE
    assert _same(back["sv"], arrays["sv"])
    assert journal.read_since(ckpt.seq).state["ts_recv"].tolist() == [2]


def test_checkpoint_packs_a_real_engine_state() -> None:
    from l2trader.engine.config import EngineConfig
    from l2trader.engine.engine import Engine
    from l2trader.engine.strategies.market_maker import MarketMakerConfig

    eng = Engine(EngineConfig(), tick_size=0.1, strategy="market_maker",
                 market_maker=MarketMakerConfig())  # fmt: skip
    arrays = eng.trader._asdict()

    back = unpack_arrays(pack_arrays(arrays))

    assert sorted(back) == sorted(arrays)
    assert all(_same(back[k], arrays[k]) for k in arrays)


def test_latest_checkpoint_is_none_without_one(journal: Journal) -> None:
    assert journal.latest_checkpoint() is None


def test_pack_arrays_refuses_object_arrays() -> None:
    with pytest.raises(InvalidValueError, match="'bad' has an object dtype"):
        pack_arrays({"bad": np.array([None, 1], dtype=object)})


def test_reopen_keeps_meta_and_refuses_another_session_or_config(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, session_id="s1", config_id="c1") as j:
        j.append(intents=_intents([1]))
        created = j.meta.created_ns

    with Journal(path) as j:
        meta, rows = j.meta, j.read_all()
    with pytest.raises(JournalError, match="session_id='s2' but the journal has 's1'"):
        Journal(path, session_id="s2")
    with pytest.raises(JournalError, match="config_id='c2' but the journal has 'c1'"):
        Journal(path, config_id="c2")

    assert (meta.session_id, meta.config_id, meta.created_ns) == ("s1", "c1", created)
    assert rows.intents["order_id"].tolist() == [1]


def test_a_file_that_is_not_sqlite_raises_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(JournalError, match="not a usable journal"):
        Journal(path)


def test_verify_counts_rows(journal: Journal) -> None:
    journal.append(intents=_intents([1, 2]), order_events=_events([1, 2]), state=_state([1]))
    journal.append(fills=_fills([1, 2]), state=_state([2]))
    journal.checkpoint(b"snap")

    report = journal.verify()

    assert report.ok
    assert report.last_seq == 14  # 2 + (5 rows + 1) + (3 + 1) + (1 + 1)
    assert report.commits == 4
    assert report.counts == {"meta": 1, "intents": 2, "order_events": 2, "fills": 2,
                             "state": 2, "checkpoints": 1, "events": 0}  # fmt: skip


def test_events_are_journaled_in_the_seq_space_and_read_back(journal: Journal) -> None:
    journal.append(state=_state([1]))
    seq = journal.record_event("alert", "drawdown", "firing",
                               {"value": 12.5, "threshold": 10.0, "nan": float("nan")},
                               ts_ns=7)  # fmt: skip
    journal.record_event("operator", "halt", "done", {"reason": "drawdown"}, ts_ns=8)

    events = journal.read_events()

    assert seq == 6  # meta 1 + commit 2, state 3 + commit 4, event 5 + commit 6
    assert [(e["seq"], e["ts_ns"], e["kind"], e["name"], e["state"]) for e in events] == [
        (5, 7, "alert", "drawdown", "firing"),
        (7, 8, "operator", "halt", "done"),
    ]
    assert events[0]["detail"] == {"nan": None, "threshold": 10.0, "value": 12.5}
    assert [e["name"] for e in journal.read_events("operator")] == ["halt"]
    assert journal.verify().counts["events"] == 2


def test_verify_finds_a_doubled_fill(journal: Journal) -> None:
    journal.append(intents=_intents([1]), fills=_fills([1]))
    journal.append(fills=_fills([1]))  # the same fill again, e.g. replayed twice

    report = journal.verify(raise_on_error=False)
    with pytest.raises(JournalCorruptError, match="fill of order 1 at ts_exch 1000000002 stored 2"):
        journal.verify()

    assert report.issues == ("fill of order 1 at ts_exch 1000000002 stored 2 times",)


def test_verify_finds_fills_and_events_without_an_earlier_intent(journal: Journal) -> None:
    journal.append(intents=_intents([1], side=1), order_events=_events([5]))
    journal.append(fills=_fills([1], side=-1))  # wrong side for order 1
    journal.append(fills=_fills([9]))  # order 9 was never sent

    report = journal.verify(raise_on_error=False)

    assert report.issues == (
        "fills seq 6: no earlier intent for order 1",
        "fills seq 8: no earlier intent for order 9",
        "order_events seq 4: no earlier intent for order 5",
    )


def test_verify_finds_rows_outside_a_commit_and_seq_gaps(journal: Journal) -> None:
    journal.append(intents=_intents([1]))  # seq 3, commit 4
    raw = sqlite3.connect(journal.path, isolation_level=None)
    raw.execute("INSERT INTO state VALUES (7, 1, 1.0, 0.0, 0.0, 0.0, 0.0)")  # bypasses append
    raw.close()

    report = journal.verify(raise_on_error=False)

    assert report.issues == (
        "seqs are not gapless 1..5 (max 7)",
        "state rows after the last commit (seq 7)",
    )


def test_a_second_connection_sees_committed_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, session_id="s") as writer, Journal(path) as reader:
        writer.append(intents=_intents([1]))
        seen = reader.read_all().intents["order_id"].tolist()

    assert seen == [1]


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=8))
def test_any_sequence_of_appends_reads_back_in_order(tmp_path_factory, sizes) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("j") / "j.sqlite"
    next_id, all_intents, all_fills = 1, [], []
    with Journal(path) as j:
        for n_intents, n_fills in sizes:
            ids = list(range(next_id, next_id + n_intents))
            next_id += n_intents
            fills = _fills(ids[: min(n_fills, n_intents)])
            j.append(intents=_intents(ids), fills=fills, state=_state([next_id]))
            all_intents.append(_intents(ids))
            all_fills.append(fills)
        rows, report = j.read_all(), j.verify()

    assert _same(rows.intents, np.concatenate(all_intents))
    assert _same(rows.fills, np.concatenate(all_fills))
    assert rows.state.size == len(sizes) == report.commits - 1
    seqs = np.concatenate([rows.intents_seq, rows.fills_seq, rows.state_seq])
    assert np.unique(seqs).size == seqs.size
    assert report.last_seq == 2 + seqs.size + len(sizes)
