from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2trader.data.events import collect
from l2trader.errors import ConfigError
from l2trader.schema import (
    ASK,
    BID,
    F_LAST,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)
from l2trader.synth import SynthConfig, generate
from l2trader.testing import ReferenceBook

SHORT = SynthConfig(seed=11, duration_s=600.0, events_per_s=60.0)


@pytest.fixture(scope="module")
def short_run() -> np.ndarray:
    return collect(generate(SHORT))


def _raw(events_chunks: list[np.ndarray]) -> bytes:
    """Bytes of the generator's own chunks (their padding is zeroed, so bytes are defined)."""
    return b"".join(c.tobytes() for c in events_chunks)


def _batches(events: np.ndarray) -> list[np.ndarray]:
    ends = np.flatnonzero(events["flags"] & F_LAST) + 1
    return np.split(events, ends[:-1])


def test_same_seed_gives_identical_bytes_and_other_seed_differs() -> None:
    cfg = SynthConfig(seed=5, duration_s=60.0)

    first = _raw(list(generate(cfg, chunk_size=1000)))
    second = _raw(list(generate(cfg, chunk_size=1000)))
    other = _raw(list(generate(SynthConfig(seed=6, duration_s=60.0), chunk_size=1000)))

    assert first == second
    assert first != other


def test_chunked_output_equals_one_shot_and_never_splits_a_batch(short_run: np.ndarray) -> None:
    chunks = list(generate(SHORT, chunk_size=102))

    assert len(chunks) > 100
    assert all(len(c) <= 102 and c["flags"][-1] & F_LAST for c in chunks)
    assert _raw(chunks) == _raw(list(generate(SHORT, chunk_size=10**6)))
    assert np.array_equal(collect(chunks), short_run)


def test_chunk_smaller_than_a_batch_is_rejected() -> None:
    with pytest.raises(ConfigError, match="chunk_size"):
        next(generate(SHORT, chunk_size=50))


def test_first_batch_is_clear_and_snapshot_of_each_side(short_run: np.ndarray) -> None:
    first = _batches(short_run)[0]

    assert (
        first["kind"].tolist()
        == [KIND_CLEAR] + [KIND_SNAPSHOT] * 50 + [KIND_CLEAR] + [KIND_SNAPSHOT] * 50
    )
    assert first["side"].tolist() == [BID] * 51 + [ASK] * 51
    assert first["seq"].tolist() == [1] * 102
    assert int(first["price_ticks"][1]) == 10_000
    assert int(first["price_ticks"][52]) == 10_001


def test_clocks_seq_and_flags(short_run: np.ndarray) -> None:
    last = (short_run["flags"] & F_LAST) != 0
    ends = short_run[last]

    assert np.array_equal(ends["seq"], np.arange(1, len(ends) + 1))
    assert np.all(np.diff(short_run["seq"]) >= 0)
    assert np.all(np.diff(short_run["ts_recv"]) >= 0)
    assert np.all(np.diff(ends["ts_recv"]) >= 1_000)
    assert np.all(np.diff(ends["ts_exch"]) >= 1_000)
    assert np.all(short_run["ts_recv"] > short_run["ts_exch"])
    assert np.all(short_run["ts_recv"] % 1_000 == 0)
    assert np.all(short_run["ts_exch"] % 1_000 == 0)
    for batch in _batches(short_run)[:2000]:
        assert len(set(batch["ts_recv"].tolist())) == 1
        assert len(set(batch["seq"].tolist())) == 1


def test_sizes_are_whole_non_negative_and_prices_on_grid(short_run: np.ndarray) -> None:
    body = short_run[short_run["kind"] != KIND_CLEAR]

    assert np.all(body["qty"] >= 0.0)
    assert np.all(body["qty"] == np.floor(body["qty"]))
    assert np.all(body["qty"][body["kind"] == KIND_TRADE] > 0.0)
    assert np.all(body["price_ticks"] > 0)
    assert set(np.unique(short_run["kind"]).tolist()) == {1, 2, 3, 4}


def test_book_is_never_crossed_nor_empty_after_any_batch(short_run: np.ndarray) -> None:
    book = ReferenceBook()
    crossed = 0
    empty = 0

    for batch in _batches(short_run):
        book.apply_all(batch)
        crossed += book.crossed()
        empty += not (book.bids and book.asks)

    assert crossed == 0
    assert empty == 0
    assert max(len(book.bids), len(book.asks)) <= SHORT.max_depth_ticks + 1


def test_market_orders_trade_at_the_touch_then_update_it(short_run: np.ndarray) -> None:
    book = ReferenceBook()
    checked = 0

    for batch in _batches(short_run):
        if batch["kind"][0] == KIND_TRADE:
            trade = batch[0]
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is not None
            assert ask is not None
            touch = ask if trade["side"] == BID else bid
            assert int(trade["price_ticks"]) == touch[0]
            assert float(trade["qty"]) <= touch[1]
            kinds = batch["kind"].tolist()
            assert kinds == sorted(kinds, key=lambda k: k != KIND_TRADE)
            assert KIND_BOOK in kinds
            checked += 1
        book.apply_all(batch)

    assert checked > 500


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63), spread=st.integers(2, 6), depth=st.integers(20, 60))
def test_invariants_hold_for_other_seeds_and_geometries(seed: int, spread: int, depth: int) -> None:
    cfg = SynthConfig(
        seed=seed,
        duration_s=60.0,
        events_per_s=80.0,
        levels=10,
        max_depth_ticks=depth,
        max_spread_ticks=spread,
        w_sweep=0.05,
        w_hole=0.05,
    )
    book = ReferenceBook()

    for batch in _batches(collect(generate(cfg))):
        book.apply_all(batch)
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None
        assert ask is not None
        assert 0 < ask[0] - bid[0] <= spread
