"""Reference replay: ReferenceBook sampled after every F_LAST row (the oracle of the kernels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l2trader.book.replay import BookFrame
from l2trader.schema import F_LAST, KIND_TRADE
from l2trader.testing import ReferenceBook

Level = tuple[int, float]


@dataclass
class RefRow:
    event_idx: int
    bids: list[Level]
    asks: list[Level]
    buy: float
    sell: float
    crossed: bool


def reference_rows(events: np.ndarray, levels: int) -> list[RefRow]:
    book = ReferenceBook()
    rows: list[RefRow] = []
    buy = sell = 0.0
    for i, e in enumerate(events):
        kind, side, qty = int(e["kind"]), int(e["side"]), float(e["qty"])
        book.apply(kind, side, int(e["price_ticks"]), qty)
        if kind == KIND_TRADE:
            buy += qty if side == 1 else 0.0
            sell += qty if side == -1 else 0.0
        if e["flags"] & F_LAST:
            bids, asks = book.top(levels)
            rows.append(RefRow(i, bids, asks, buy, sell, book.crossed()))
            buy = sell = 0.0
    return rows


def frame_levels(frame: BookFrame, row: int) -> tuple[list[Level], list[Level]]:
    """Non-empty levels of a frame row, checking the padding (sentinel ticks, qty 0)."""
    out = []
    for ticks, qty, sentinel in (
        (frame.bid_ticks[row], frame.bid_qty[row], np.iinfo(np.int64).min),
        (frame.ask_ticks[row], frame.ask_qty[row], np.iinfo(np.int64).max),
    ):
        n = int((qty > 0).sum())
        assert (qty[n:] == 0).all()
        assert (ticks[n:] == sentinel).all()
        out.append([(int(p), float(v)) for p, v in zip(ticks[:n], qty[:n], strict=True)])
    return out[0], out[1]


def assert_frame_matches(frame: BookFrame, events: np.ndarray, levels: int) -> int:
    """Every row of ``frame`` equals the reference book; returns the number of rows checked."""
    ref = reference_rows(events, levels)
    assert len(frame) == len(ref)
    assert frame.levels == levels
    for r, want in enumerate(ref):
        assert frame.event_idx[r] == want.event_idx
        assert frame_levels(frame, r) == (want.bids, want.asks), f"row {r}"
        assert frame.trade_qty_buy[r] == want.buy
        assert frame.trade_qty_sell[r] == want.sell
        e = events[want.event_idx]
        assert (frame.ts_recv[r], frame.ts_exch[r]) == (e["ts_recv"], e["ts_exch"])
    return len(ref)
