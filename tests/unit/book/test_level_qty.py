"""``level_qty_nb`` (size at a price, window or overflow) equals the reference book."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.book.book import OrderBook
from l2trader.book.reference import ReferenceBook
from l2trader.book.store_kernels import level_qty_nb
from l2trader.testing import make_events


def _book(levels: list[tuple[int, float, int]]) -> tuple[OrderBook, ReferenceBook]:
    events = make_events(levels, batch=False)
    book = OrderBook(window=8, max_window=16)  # tiny window: far levels go to the overflow
    book.apply(events)
    ref = ReferenceBook()
    ref.apply_all(events)
    return book, ref


def test_level_qty_reads_window_overflow_and_missing_levels() -> None:
    book, _ = _book([(100, 1.5, 1), (90, 2.0, 1), (5, 3.0, 1), (101, 4.0, -1), (500, 6.0, -1)])
    args = (book.ist, book.q, book.ovf_px, book.ovf_qty)

    assert level_qty_nb(*args, 0, 100) == 1.5
    assert level_qty_nb(*args, 0, 5) == 3.0  # far below the window: overflow
    assert level_qty_nb(*args, 1, 500) == 6.0
    assert level_qty_nb(*args, 0, 99) == 0.0
    assert level_qty_nb(*args, 1, 100) == 0.0  # a bid price on the ask side


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 400), st.sampled_from([0.0, 0.5, 1.0, 2.5]), st.sampled_from([1, -1])
        ),
        min_size=1,
        max_size=60,
    )
)
def test_level_qty_equals_the_reference_book(rows: list[tuple[int, float, int]]) -> None:
    # keep the book uncrossed: bids below 200, asks at or above 200
    levels = [(p if s == 1 else p + 200, q, s) for p, q, s in rows if s == -1 or p < 200]
    if not levels:
        return
    book, ref = _book(levels)
    bids, asks = ref.bids, ref.asks
    for price in range(0, 601, 7):
        got_b = level_qty_nb(book.ist, book.q, book.ovf_px, book.ovf_qty, 0, price)
        got_a = level_qty_nb(book.ist, book.q, book.ovf_px, book.ovf_qty, 1, price)
        assert got_b == bids.get(price, 0.0)
        assert got_a == asks.get(price, 0.0)
    assert np.isfinite(book.q).all()
