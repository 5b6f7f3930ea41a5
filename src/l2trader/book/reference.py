"""A slow, obviously-correct L2 book in pure Python: the oracle for every book test.

It knows nothing about speed: two dicts from price (ticks) to size, sorted on demand.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from l2trader.schema import ASK, BID, KIND_BOOK, KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE

__all__ = ["ReferenceBook"]

Level = tuple[int, float]


class ReferenceBook:
    """Dict-based L2 book applying C1 events one at a time.

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> book = ReferenceBook()
    >>> book.apply_all(make_events([(100, 2.0, 1), (101, 3.0, -1)]))
    >>> book.best_bid(), book.best_ask()
    ((100, 2.0), (101, 3.0))
    """

    def __init__(self) -> None:
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}

    def apply(self, kind: int, side: int, price_ticks: int, qty: float) -> None:
        """Apply one event given by its C1 fields."""
        if kind == KIND_TRADE:
            return
        if kind == KIND_CLEAR:
            if side in (BID, 0):
                self.bids.clear()
            if side in (ASK, 0):
                self.asks.clear()
            return
        if kind not in (KIND_BOOK, KIND_SNAPSHOT):
            raise ValueError(f"unknown event kind {kind}")
        levels = self.bids if side == BID else self.asks
        if qty == 0.0:
            levels.pop(price_ticks, None)
        else:
            levels[price_ticks] = qty

    def apply_all(self, events: Iterable[np.void] | np.ndarray) -> None:
        """Apply every row of a C1 event array in order."""
        for e in events:
            self.apply(int(e["kind"]), int(e["side"]), int(e["price_ticks"]), float(e["qty"]))

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """The best ``n`` bid and ask levels, best first, as ``(price_ticks, qty)``."""
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks

    def best_bid(self) -> Level | None:
        """Best bid ``(price_ticks, qty)`` or None when the side is empty."""
        return max(self.bids.items()) if self.bids else None

    def best_ask(self) -> Level | None:
        """Best ask ``(price_ticks, qty)`` or None when the side is empty."""
        return min(self.asks.items()) if self.asks else None

    def crossed(self) -> bool:
        """True when both sides exist and best bid >= best ask (crossed or locked)."""
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))
