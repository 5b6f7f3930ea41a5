"""Events -> book frame (C2): the exact book sampled after every ``F_LAST`` row.

:func:`replay` does a whole array at once; :class:`Replayer` streams chunks (one catalog
partition at a time) and gives exactly the same rows as a one-shot replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from l2trader.book import kernels as bk
from l2trader.book.book import DEFAULT_MAX_WINDOW, DEFAULT_WINDOW, OrderBook, as_event_array
from l2trader.errors import BookError
from l2trader.units import from_ticks

if TYPE_CHECKING:
    import polars as pl

__all__ = ["BookFrame", "Replayer", "replay"]


@dataclass(frozen=True)
class BookFrame:
    """Contract C2: one row per consistent book state (after each ``F_LAST`` row).

    Prices are int64 ticks (best first; ``NO_BID_TICKS`` / ``NO_ASK_TICKS`` where a level is
    empty), sizes float64 base units (0 where empty), times int64 ns.
    ``trade_qty_buy`` / ``trade_qty_sell`` are the aggressor volumes since the previous row.
    """

    ts_recv: NDArray[np.int64]
    ts_exch: NDArray[np.int64]
    event_idx: NDArray[np.int64]
    bid_ticks: NDArray[np.int64]
    bid_qty: NDArray[np.float64]
    ask_ticks: NDArray[np.int64]
    ask_qty: NDArray[np.float64]
    trade_qty_buy: NDArray[np.float64]
    trade_qty_sell: NDArray[np.float64]

    @property
    def levels(self) -> int:
        """Number of levels per side (``L``)."""
        return int(self.bid_ticks.shape[1])

    def __len__(self) -> int:
        return int(self.ts_recv.shape[0])

    def to_polars(self, tick_size: float) -> pl.DataFrame:
        """Wide table ``ts_exch, ts_recv, bid_px_1..L, bid_sz_1..L, ask_px_1..L, ask_sz_1..L``.

        Prices are decimal float64 (``tick_size`` per tick), NaN where the level is empty.
        """
        import polars as pl

        columns: dict[str, NDArray[np.generic]] = {
            "ts_exch": self.ts_exch,
            "ts_recv": self.ts_recv,
        }
        for name, ticks, qty in (
            ("bid", self.bid_ticks, self.bid_qty),
            ("ask", self.ask_ticks, self.ask_qty),
        ):
            px = np.where(qty > 0.0, from_ticks(np.where(qty > 0.0, ticks, 0), tick_size), np.nan)
            columns.update({f"{name}_px_{k + 1}": px[:, k] for k in range(self.levels)})
            columns.update({f"{name}_sz_{k + 1}": qty[:, k] for k in range(self.levels)})
        return pl.DataFrame(columns)


class Replayer:
    """Streaming replay: feed event chunks, get the C2 rows each chunk completes.

    Book state and trade volumes carry across chunks, and ``event_idx`` counts events
    globally from the first chunk, so any split of a stream gives the one-shot result.

    Parameters
    ----------
    levels
        Levels per side in each frame row (``L``).

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> rp = Replayer(levels=2)
    >>> frame = rp.feed(make_events([(100, 2.0, 1), (101, 3.0, -1)], batch=False))
    >>> frame.event_idx.tolist(), frame.bid_ticks[:, 0].tolist(), frame.ask_qty[:, 0].tolist()
    ([0, 1], [100, 100], [0.0, 3.0])
    """

    def __init__(
        self,
        levels: int = 10,
        *,
        window: int = DEFAULT_WINDOW,
        max_window: int = DEFAULT_MAX_WINDOW,
    ) -> None:
        if levels < 1:
            raise BookError(f"levels={levels} must be >= 1")
        self.levels = levels
        self.book = OrderBook(window=window, max_window=max_window)
        self.n_events = 0
        self._crossed: list[NDArray[np.int64]] = []
        self._reusable: bk.FrameBuffers | None = None

    @property
    def crossed_event_idx(self) -> NDArray[np.int64]:
        """Global indices of the ``F_LAST`` rows after which the book was crossed or locked."""
        if not self._crossed:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self._crossed)

    def feed(self, chunk: np.ndarray, *, reuse: bool = False) -> BookFrame:
        """Apply ``chunk`` and return one frame row per ``F_LAST`` row in it.

        With ``reuse`` the frame's arrays are views into a buffer kept by the replayer and
        OVERWRITTEN by the next ``feed(..., reuse=True)``: for streaming consumers that write
        each frame out first. It saves the page faults of fresh output memory, which dominate
        when batches are small (one 10-level row is 336 bytes).
        """
        events = as_event_array(chunk)
        out = self._output(int(bk.count_last_nb(events)), reuse)
        book = self.book
        i = row = 0
        while True:
            status, i, row = bk.run_nb(
                events, i, self.n_events, book.ist, book.fst, book.q, book.ovf_px,
                book.ovf_qty, out, row, True,
            )  # fmt: skip
            if status == bk.STATUS_OK:
                break
            book.handle_status(status, events, i, self.n_events)
        self.n_events += len(events)
        if out.crossed.any():
            self._crossed.append(out.event_idx[out.crossed])
        return BookFrame(*out[:-1])

    def _output(self, n: int, reuse: bool) -> bk.FrameBuffers:
        """Fresh output buffers, or the first ``n`` rows of the reusable ones (grown 2x)."""
        if not reuse:
            return bk.frame_buffers(n, self.levels)
        held = 0 if self._reusable is None else len(self._reusable.ts_recv)
        if self._reusable is None or held < n:
            self._reusable = bk.frame_buffers(max(n, 2 * held), self.levels)
        return bk.FrameBuffers._make(a[:n] for a in self._reusable)


def replay(events: np.ndarray, levels: int = 10) -> BookFrame:
    """Replay a whole C1 event array into a C2 book frame with ``levels`` levels per side.

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> frame = replay(make_events([(100, 2.0, 1), (99, 1.0, 1), (101, 3.0, -1)]), levels=3)
    >>> len(frame), frame.bid_ticks[0].tolist(), frame.bid_qty[0].tolist()
    (1, [100, 99, -9223372036854775808], [2.0, 1.0, 0.0])
    """
    return Replayer(levels).feed(events)
