"""Crossed-book policy of the ingest pipeline (strict raises; repair trusts the newest row)."""

from __future__ import annotations

import numpy as np
import pytest

from l2trader.book.reference import ReferenceBook
from l2trader.data.report import Policy, ValidationReport
from l2trader.errors import CrossedBookError
from l2trader.ingest import checked_chunks
from l2trader.schema import F_LAST, F_REPAIRED
from l2trader.testing import make_events


def _stream() -> list[np.ndarray]:
    first = make_events([(100, 1.0, 1), (99, 2.0, 1), (101, 1.0, -1), (102, 3.0, -1)], ts_recv=1)
    crossing = make_events([(102, 5.0, 1)], ts_recv=2)  # bid at 102: asks 101, 102 are stale
    later = make_events([(103, 1.0, -1)], ts_recv=3)
    first["seq"], crossing["seq"], later["seq"] = 1, 2, 3
    return [first, crossing, later]


def test_strict_raises_crossed_book_with_seq() -> None:
    report = ValidationReport("x", policy=Policy.STRICT)
    with pytest.raises(CrossedBookError, match=r"\(seq 2\).*crossed"):
        list(checked_chunks(_stream(), report))


def test_repair_deletes_stale_levels_and_counts() -> None:
    report = ValidationReport("x", policy=Policy.REPAIR)
    out = np.concatenate(list(checked_chunks(_stream(), report)))
    assert dict(report.counts) == {"crossed_book": 1}
    repaired = out[out["flags"] & F_REPAIRED > 0]
    assert repaired[["price_ticks", "qty", "side"]].tolist() == [
        (102, 5.0, 1),
        (101, 0.0, -1),
        (102, 0.0, -1),
    ]
    assert int(np.count_nonzero(out["flags"] & F_LAST)) == 3
    book = ReferenceBook()
    book.apply_all(out)
    assert book.top(2) == ([(102, 5.0), (100, 1.0)], [(103, 1.0)])
    assert not book.crossed()
