"""Quick throughput check of the book kernels on synthetic events (not a CI test).

Run: .venv/bin/python benchmarks/bench_book_kernel.py [n_events] [levels]

Prints events/s (thread CPU time: robust on a shared machine) for (1) a bare dense-array
apply kernel (the upper bound: no best tracking, no frame), (2) ``OrderBook.apply`` (exact
book, no frame), (3) ``replay`` with the top-L frame, and the peak RSS. Parity (replay ==
OrderBook final state) is checked first.
"""

from __future__ import annotations

import resource
import sys
import time

import numba
import numpy as np

from l2trader.book.book import OrderBook
from l2trader.book.replay import replay
from l2trader.schema import KIND_BOOK
from l2trader.testing import realistic_events


@numba.njit(cache=True, nogil=True)
def bare_apply_nb(events: np.ndarray, q: np.ndarray, base: int) -> float:
    """Set ``q[side, price - base] = qty`` for BOOK rows; nothing else (the baseline)."""
    for i in range(events.shape[0]):
        e = events[i]
        if e["kind"] == KIND_BOOK:
            q[0 if e["side"] == 1 else 1, e["price_ticks"] - base] = e["qty"]
    return q.sum()


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    levels = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    events = realistic_events(np.random.default_rng(42), n)
    lo, hi = int(events["price_ticks"].min()), int(events["price_ticks"].max())
    print(f"{n:,} events, {int((events['flags'] & 1).sum()):,} batches, span {hi - lo} ticks")

    warm = events[:10_000]
    bare_apply_nb(warm, np.zeros((2, hi - lo + 1)), lo)
    OrderBook().apply(warm)
    replay(warm, levels)

    book = OrderBook()
    book.apply(events)
    frame = replay(events, levels)
    bids, asks = book.top(levels)
    assert [p for p, _ in bids] == frame.bid_ticks[-1, : len(bids)].tolist()
    assert [p for p, _ in asks] == frame.ask_ticks[-1, : len(asks)].tolist()

    t_bare = best_of(lambda: bare_apply_nb(events, np.zeros((2, hi - lo + 1)), lo))
    t_apply = best_of(lambda: OrderBook().apply(events))
    t_replay = best_of(lambda: replay(events, levels))
    for name, t in (("bare dense apply", t_bare), ("OrderBook.apply", t_apply)):
        print(f"{name:28s} {n / t / 1e6:7.1f} M events/s  ({t:.3f} s)")
    name = f"replay + top-{levels} frame"
    print(f"{name:28s} {n / t_replay / 1e6:7.1f} M events/s  ({t_replay:.3f} s)")
    print(f"replay / bare = {t_bare / t_replay:.2f}, replay / apply = {t_apply / t_replay:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB (events {events.nbytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
