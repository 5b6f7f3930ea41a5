from __future__ import annotations

import numpy as np
import pytest

from l2trader.data.events import collect
from l2trader.schema import F_LAST
from l2trader.synth import SynthConfig, generate, measure
from l2trader.synth.stats_kernels import replay_top_nb
from l2trader.testing import ReferenceBook


@pytest.fixture(scope="module")
def two_hours() -> np.ndarray:
    return collect(generate(SynthConfig(seed=2024, duration_s=7200.0)))


def test_top_of_book_kernel_equals_reference_book() -> None:
    events = collect(generate(SynthConfig(seed=9, duration_s=120.0, events_per_s=80.0)))
    lo = int(events["price_ticks"][events["kind"] != 4].min()) - 1
    width = int(events["price_ticks"].max()) - lo + 2
    nb = int(np.count_nonzero(events["flags"] & F_LAST))
    bid, ask = np.empty(nb, np.int64), np.empty(nb, np.int64)
    book = ReferenceBook()
    expected_bid, expected_ask = [], []
    for e in events:
        book.apply(int(e["kind"]), int(e["side"]), int(e["price_ticks"]), float(e["qty"]))
        if e["flags"] & F_LAST:
            expected_bid.append(book.best_bid()[0])  # type: ignore[index]
            expected_ask.append(book.best_ask()[0])  # type: ignore[index]

    n = replay_top_nb(events, lo, np.zeros((2, width)), bid, ask, np.zeros(4, np.int64))

    assert n == nb
    assert bid.tolist() == expected_bid
    assert ask.tolist() == expected_ask


def test_stylized_facts_of_a_seeded_run(two_hours: np.ndarray) -> None:
    stats = measure(two_hours)

    assert 20.0 < stats.events_per_s < 45.0
    assert stats.spread_share_1 > 0.6
    assert stats.spread_share_1 + stats.spread_share_2 + stats.spread_share_3 > 0.97
    assert 1.0 < stats.spread_mean_ticks < 2.0
    assert stats.interarrival_cv > 1.05
    assert 0.35 < stats.share_add < 0.6
    assert 0.35 < stats.share_reduce < 0.6
    assert 0.02 < stats.share_trade < 0.1
    assert stats.trade_size_p99 > 5 * stats.trade_size_median
    assert stats.sign_acf_1 > 0.1
    assert stats.sign_acf_10 > 0.0
    assert stats.mid_changes_per_min > 1.0
    assert 0.5 < stats.mid_vol_1m_bps < 10.0
