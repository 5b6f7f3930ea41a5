"""``Replayer.feed(reuse=True)`` gives the frames fresh buffers give (read before the next feed)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from l2trader.book.replay import Replayer
from l2trader.testing import random_events


def test_reused_buffers_give_identical_frames() -> None:
    events = random_events(np.random.default_rng(11), 400)
    cuts = [0, 7, 300, 301, 900, len(events)]  # growing, shrinking and empty chunks
    fresh, reused = Replayer(levels=4), Replayer(levels=4)
    for start, end in itertools.pairwise(cuts):
        expected = fresh.feed(events[start:end])
        got = reused.feed(events[start:end], reuse=True)
        for field in dataclasses.fields(expected):
            np.testing.assert_array_equal(getattr(got, field.name), getattr(expected, field.name))
    np.testing.assert_array_equal(reused.crossed_event_idx, fresh.crossed_event_idx)


def test_reused_frame_is_overwritten_by_next_feed() -> None:
    events = random_events(np.random.default_rng(3), 50)
    rp = Replayer(levels=2)
    first = rp.feed(events[:40], reuse=True)
    second = rp.feed(events[40:45], reuse=True)  # fewer rows: same buffer
    assert np.shares_memory(first.ts_recv, second.ts_recv)  # documented: views, overwritten
