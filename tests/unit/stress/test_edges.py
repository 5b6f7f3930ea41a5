"""Edge-case books: the stated book shape holds through the window, then the real book returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.book.replay import Replayer, replay
from l2trader.data.report import Policy, ValidationReport
from l2trader.errors import CrossedBookError
from l2trader.ingest import checked_chunks
from l2trader.schema import F_LAST
from l2trader.stress.edges import (
    CrossedBook,
    CrossedBookParams,
    EdgeWindowParams,
    EmptyBook,
    ExtremeImbalance,
    LockedBook,
    OneTickMarket,
    OneTickMarketParams,
    SingleSidedBook,
)
from l2trader.stress.transform import levels_at, window
from tests.unit.stress import assert_c1, synthetic_events, usdm_events, validation_counts

KEEPING = [ExtremeImbalance(), SingleSidedBook(), EmptyBook(), OneTickMarket()]
BREAKING = [CrossedBook(), LockedBook()]


def _window_frames(out: np.ndarray, info_window: tuple[int, int], levels: int = 5):  # type: ignore[no-untyped-def]
    frame = replay(out, levels=levels)
    t0, t1 = info_window
    inside = (frame.ts_recv >= t0) & (frame.ts_recv < t1 - 1)  # the restore batch is at t1 - 1
    return frame, inside


def _same_last_state(a: np.ndarray, b: np.ndarray) -> None:
    fa, fb = replay(a, levels=20), replay(b, levels=20)
    np.testing.assert_array_equal(fa.bid_ticks[-1], fb.bid_ticks[-1])
    np.testing.assert_array_equal(fa.ask_qty[-1], fb.ask_qty[-1])


@pytest.mark.shared_data
@pytest.mark.parametrize("edge", KEEPING, ids=lambda s: s.name)
def test_edge_books_keep_c1_and_restore_the_real_book(shared_data: Path, edge: object) -> None:
    events = usdm_events(shared_data)

    out, info = edge.apply(events)  # type: ignore[attr-defined]

    assert_c1(out)
    assert info.keeps_c1
    assert info.category == "edge"
    assert info.expected_issues == {}
    _same_last_state(out, events)


@pytest.mark.shared_data
def test_extreme_imbalance_gives_the_stated_size_ratio(shared_data: Path) -> None:
    events = usdm_events(shared_data)
    edge = ExtremeImbalance()
    _, _, i0, _ = window(events, 0.5, 5.0)
    (book0,) = levels_at(events, [i0])

    out, info = edge.apply(events)

    frame, inside = _window_frames(out, info.window_ns)
    bid = frame.bid_qty[inside].sum(axis=1)
    ask = frame.ask_qty[inside].sum(axis=1)
    imbalance = (bid - ask) / (bid + ask)
    first = (20 * book0.bid_qty[:5].sum() - 0.05 * book0.ask_qty[:5].sum()) / (
        20 * book0.bid_qty[:5].sum() + 0.05 * book0.ask_qty[:5].sum()
    )
    assert imbalance[0] == pytest.approx(first, rel=1e-12)
    assert float(np.median(imbalance)) >= 0.99


@pytest.mark.shared_data
def test_single_sided_and_empty_books_hold_through_the_window(shared_data: Path) -> None:
    events = usdm_events(shared_data)

    one, info_one = SingleSidedBook().apply(events)
    empty, info_empty = EmptyBook().apply(events)

    frame, inside = _window_frames(one, info_one.window_ns)
    assert int(inside.sum()) > 100
    assert bool((frame.ask_qty[inside] == 0).all())
    assert bool((frame.bid_qty[inside, 0] > 0).all())
    frame, inside = _window_frames(empty, info_empty.window_ns)
    assert bool((frame.ask_qty[inside] == 0).all())
    assert bool((frame.bid_qty[inside] == 0).all())
    after = frame.ts_recv >= info_empty.window_ns[1]
    assert bool((frame.bid_qty[after, 0] > 0).all())


@pytest.mark.shared_data
def test_one_tick_market_has_a_one_tick_spread_and_huge_queues(shared_data: Path) -> None:
    events = usdm_events(shared_data)

    out, info = OneTickMarket(OneTickMarketParams(queue_qty=750.0)).apply(events)

    frame, inside = _window_frames(out, info.window_ns)
    assert int(inside.sum()) >= 1
    assert bool((frame.ask_ticks[inside, 0] - frame.bid_ticks[inside, 0] == 1).all())
    assert bool((frame.bid_qty[inside, 0] == 750.0).all())
    assert bool((frame.ask_qty[inside, 0] == 750.0).all())
    assert int(frame.bid_ticks[inside, 0][0]) == info.details["bid_ticks"]


@pytest.mark.shared_data
@pytest.mark.parametrize("edge", BREAKING, ids=lambda s: s.name)
def test_crossed_and_locked_books_are_flagged_by_the_book_check(
    shared_data: Path, edge: object
) -> None:
    events = usdm_events(shared_data)

    out, info = edge.apply(events)  # type: ignore[attr-defined]

    assert not info.keeps_c1
    assert validation_counts(out) == {}  # the stream checks are structural
    code = edge.name  # type: ignore[attr-defined]
    replayer = Replayer(levels=1)
    replayer.feed(out)
    assert len(replayer.crossed_event_idx) == sum(info.expected_issues.values())
    assert info.expected_issues[code] >= 1
    entry = int(info.details["entry_index"])  # the injected row closes its own batch
    assert int(replayer.crossed_event_idx[0]) == entry
    with pytest.raises(CrossedBookError) as caught:
        list(checked_chunks([out], ValidationReport("stress")))
    assert caught.value.line == entry  # (its message shows the book at the chunk's end)
    report = ValidationReport("stress", policy=Policy.REPAIR)
    repaired = np.concatenate(list(checked_chunks([out], report)))
    assert report.counts[code] >= 1
    check = Replayer(levels=1)
    check.feed(repaired)
    assert len(check.crossed_event_idx) == 0


def test_crossed_book_price_is_cross_ticks_through_the_best_ask() -> None:
    events = synthetic_events()
    params = CrossedBookParams(cross_ticks=3, size=2.5)
    _, _, i0, _ = window(events, params.at, params.duration_s)
    (book0,) = levels_at(events, [i0])

    out, info = CrossedBook(params).apply(events)

    row = out[int(info.details["entry_index"])]
    assert int(row["price_ticks"]) == int(book0.ask_ticks[0]) + 3
    assert (float(row["qty"]), int(row["side"]), int(row["flags"]) & F_LAST) == (2.5, 1, 1)
    assert int((out["seq"] == -1).sum()) == info.rows_added >= 1  # the bid (+ the restore)


@pytest.mark.parametrize("edge", KEEPING, ids=lambda s: s.name)
def test_edge_books_keep_c1_on_synthetic_data_and_are_deterministic(edge: object) -> None:
    events = synthetic_events()

    out, _ = edge.apply(events)  # type: ignore[attr-defined]
    twin = type(edge)(edge.params, seed=edge.seed)  # type: ignore[attr-defined]

    assert_c1(out)
    assert out.tobytes() == twin.apply(events)[0].tobytes()
    _same_last_state(out, events)


def test_window_params_are_validated() -> None:
    from l2trader.errors import ConfigError

    with pytest.raises(ConfigError, match="duration_s"):
        EdgeWindowParams(duration_s=0.0)
