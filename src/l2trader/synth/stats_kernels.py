"""Top-of-book replay used to measure the stylized facts of a generated stream.

Oracle: ``ReferenceBook.best_bid()/best_ask()`` after every ``F_LAST`` row.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached
from l2trader.schema import F_LAST, KIND_CLEAR, KIND_TRADE

__all__ = ["replay_top_nb"]

ADDS, REDUCES, TRADES, OTHER = range(4)


@njit_cached
def _scan_nb(book: NDArray[np.float64], r: int, start: int, step: int) -> int:
    """First non-empty index from ``start`` in direction ``step`` (-1 / width if none)."""
    i = start
    while 0 <= i < book.shape[1] and book[r, i] == 0.0:
        i += step
    return i


@njit_cached
def _update_best_nb(
    book: NDArray[np.float64], best: NDArray[np.int64], r: int, i: int, qty: float
) -> None:
    """Keep ``best`` (bid index, ask index) in step after ``book[r, i] = qty``."""
    step = -1 if r == 0 else 1
    better = (i > best[0]) if r == 0 else (i < best[1])
    if qty > 0.0 and better:
        best[r] = i
    elif qty == 0.0 and i == best[r]:
        best[r] = _scan_nb(book, r, i, step)


@njit_cached
def replay_top_nb(
    events: NDArray[np.void],
    lo: int,
    book: NDArray[np.float64],
    bid: NDArray[np.int64],
    ask: NDArray[np.int64],
    counts: NDArray[np.int64],
) -> int:
    """Replay ``events`` (prices ``lo .. lo + book.shape[1] - 1`` ticks) into a dense book.

    Writes best bid / best ask (ticks; ``lo - 1`` / ``lo + width`` when empty) after each
    ``F_LAST`` row into ``bid``/``ask`` and counts row types (size increases, decreases,
    trades, other) into ``counts``; returns the number of batches.
    """
    width = book.shape[1]
    best = np.array([-1, width], dtype=np.int64)
    n = 0
    for e in events:
        if e.kind == KIND_TRADE:
            counts[TRADES] += 1
        elif e.kind == KIND_CLEAR:
            counts[OTHER] += 1
            for r in range(2):
                if e.side == 0 or r == (0 if e.side == 1 else 1):
                    book[r, :] = 0.0
                    best[r] = -1 if r == 0 else width
        else:
            r = 0 if e.side == 1 else 1
            i = e.price_ticks - lo
            counts[ADDS if e.qty > book[r, i] else REDUCES] += 1
            book[r, i] = e.qty
            _update_best_nb(book, best, r, i, e.qty)
        if e.flags & F_LAST:
            bid[n] = best[0] + lo
            ask[n] = best[1] + lo
            n += 1
    return n
