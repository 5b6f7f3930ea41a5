"""No look-ahead: features of a sample never change when later book states change.

The prefix property: building on the book states up to a cut gives exactly the rows of the
full build up to that time, whatever comes after (here: nothing at all, or other states).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.book.replay import BookFrame
from l2trader.features.build import build_features
from l2trader.features.clocks import ClockSpec
from tests.unit.features.test_build import CFG, MS, synthetic_frame

CLOCKS = [
    ClockSpec(kind="event"),
    ClockSpec(kind="time", interval_ns=2 * MS),
    ClockSpec(kind="changes", every=7),
]


def cut(frame: BookFrame, n: int) -> BookFrame:
    return BookFrame(**{f.name: getattr(frame, f.name)[:n] for f in dataclasses.fields(frame)})


def scrambled_after(frame: BookFrame, n: int, seed: int) -> BookFrame:
    """The same frame with the sizes of every state from row ``n`` on replaced at random."""
    rng = np.random.default_rng(seed)
    bid_qty, ask_qty = frame.bid_qty.copy(), frame.ask_qty.copy()
    for qty in (bid_qty, ask_qty):
        tail = qty[n:]
        tail[tail > 0] = rng.uniform(0.1, 9.0, size=int((tail > 0).sum()))
    return dataclasses.replace(frame, bid_qty=bid_qty, ask_qty=ask_qty)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 1400), clock=st.sampled_from(CLOCKS), seed=st.integers(0, 9))
def test_rows_up_to_a_time_do_not_depend_on_later_book_states(
    n: int, clock: ClockSpec, seed: int
) -> None:
    frame = synthetic_frame(seed, 3000)
    steps = np.flatnonzero(np.diff(frame.ts_recv) > 0) + 1  # cuts between distinct times
    n = int(steps[n % len(steps)])
    t_cut = int(frame.ts_recv[n - 1])
    full, _ = build_features([frame], CFG, clock, 0.5)
    other, _ = build_features([scrambled_after(frame, n, seed)], CFG, clock, 0.5)
    prefix, _ = build_features([cut(frame, n)], CFG, clock, 0.5)
    keep = full.columns["ts_recv"] <= t_cut
    assert keep.sum() == len(prefix)
    for name in full.columns:
        a = full.columns[name][keep]
        np.testing.assert_array_equal(other.columns[name][keep], a, err_msg=name)
        np.testing.assert_array_equal(prefix.columns[name][: int(keep.sum())], a, err_msg=name)
