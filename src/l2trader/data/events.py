"""Building C1 event arrays row by row in bounded memory, and whole-stream helpers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Protocol

import numpy as np

from l2trader.data.report import ValidationReport
from l2trader.schema import EVENT_DTYPE, F_GAP_BEFORE, F_LAST

__all__ = ["EventBuffer", "EventSource", "collect"]

Row = tuple[int, int, int, int, float, int, int, int]


class EventBuffer:
    """Append C1 rows in Python and hand them out as numpy chunks of ``chunk_size`` rows.

    Rows of one venue message are appended together and closed with :meth:`end_message`,
    which sets ``F_LAST`` on the final row. A chunk boundary only falls after a closed
    message, so a chunk never splits an atomic batch.
    """

    def __init__(self, chunk_size: int = 262_144) -> None:
        self.chunk_size = chunk_size
        self._rows: list[Row] = []
        self._open_from = 0

    def append(
        self,
        ts_exch: int,
        ts_recv: int,
        seq: int,
        price_ticks: int,
        qty: float,
        kind: int,
        side: int,
        flags: int = 0,
    ) -> None:
        """Add one event row (fields as in ``EVENT_DTYPE``)."""
        self._rows.append((ts_exch, ts_recv, seq, price_ticks, qty, kind, side, flags))

    def extend_levels(
        self,
        ts_exch: int,
        ts_recv: int,
        seq: int,
        kind: int,
        side: int,
        ticks: Sequence[int],
        qty: Sequence[float],
    ) -> None:
        """Append one row per level (``flags`` 0): ``ticks[i]``, ``qty[i]``, other fields shared."""
        n = len(ticks)
        self._rows.extend(
            zip(
                repeat(ts_exch, n),
                repeat(ts_recv, n),
                repeat(seq, n),
                ticks,
                qty,
                repeat(kind, n),
                repeat(side, n),
                repeat(0, n),
                strict=True,
            )
        )

    def end_message(self, extra_flags: int = 0) -> None:
        """Close the current venue message: OR ``F_LAST | extra_flags`` into its last row.

        ``F_GAP_BEFORE`` in ``extra_flags`` goes on the message's first row only; any other
        bit (e.g. ``F_REPAIRED``) goes on every row of the message.
        """
        if len(self._rows) == self._open_from:
            return
        last = self._rows[-1]
        self._rows[-1] = (*last[:7], last[7] | F_LAST)
        if extra_flags & F_GAP_BEFORE:
            first = self._rows[self._open_from]
            self._rows[self._open_from] = (*first[:7], first[7] | F_GAP_BEFORE)
        if extra_flags & ~F_GAP_BEFORE:
            rest = extra_flags & ~F_GAP_BEFORE
            for i in range(self._open_from, len(self._rows)):
                row = self._rows[i]
                self._rows[i] = (*row[:7], row[7] | rest)
        self._open_from = len(self._rows)

    def discard_message(self) -> None:
        """Drop the rows appended since the last :meth:`end_message`."""
        del self._rows[self._open_from :]

    @property
    def full(self) -> bool:
        """True when at least ``chunk_size`` closed rows are waiting."""
        return self._open_from >= self.chunk_size

    def take(self, *, final: bool = False) -> np.ndarray:
        """Remove and return the closed rows (all rows if ``final``) as an event array."""
        upto = len(self._rows) if final else self._open_from
        chunk = np.array(self._rows[:upto], dtype=EVENT_DTYPE)
        del self._rows[:upto]
        self._open_from = max(0, self._open_from - upto)
        return chunk

    def __len__(self) -> int:
        return len(self._rows)


class EventSource(Protocol):
    """A streaming reader: iterate to get C1 chunks; ``report`` fills as it goes."""

    source: str
    report: ValidationReport

    def chunks(self) -> Iterator[np.ndarray]:
        """Yield C-contiguous ``EVENT_DTYPE`` arrays that never split a venue message."""
        ...


def collect(chunks: Iterable[np.ndarray]) -> np.ndarray:
    """Concatenate event chunks into one array (for tests and small files)."""
    parts = [c for c in chunks if len(c)]
    if not parts:
        return np.zeros(0, dtype=EVENT_DTYPE)
    out = np.zeros(sum(len(p) for p in parts), dtype=EVENT_DTYPE)  # zeroed padding bytes
    start = 0
    for part in parts:
        out[start : start + len(part)] = part
        start += len(part)
    return out
