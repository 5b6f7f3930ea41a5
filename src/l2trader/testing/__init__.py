"""Shipped test kit: event builders, random streams and the reference book."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from l2trader.book.reference import ReferenceBook
from l2trader.data.io import sha256_file
from l2trader.schema import EVENT_DTYPE, F_LAST, KIND_BOOK
from l2trader.testing.streams import event_streams, random_events, realistic_events

__all__ = [
    "ReferenceBook",
    "event_streams",
    "make_events",
    "random_events",
    "realistic_events",
    "tree_snapshot",
]


def make_events(
    levels: Sequence[tuple[int, float, int]],
    *,
    ts_recv: int = 0,
    kind: int = KIND_BOOK,
    batch: bool = True,
) -> np.ndarray:
    """Build a C1 array from ``(price_ticks, qty, side)`` triples.

    With ``batch`` the rows form one message (``F_LAST`` on the last row only);
    otherwise every row is its own message.

    Examples
    --------
    >>> make_events([(100, 1.0, 1), (101, 2.0, -1)])["flags"].tolist()
    [0, 1]
    """
    out = np.zeros(len(levels), dtype=EVENT_DTYPE)
    for i, (price, qty, side) in enumerate(levels):
        out[i] = (ts_recv, ts_recv, -1, price, qty, kind, side, 0 if batch else F_LAST)
    if len(out):
        out["flags"][-1] |= F_LAST
    return out


def tree_snapshot(root: Path, *, skip_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """Map every path under ``root`` to its file sha256 (``"<dir>"`` for directories).

    Paths with a component starting with one of ``skip_prefixes`` are left out. Compare two
    snapshots to prove that an operation left a directory tree byte-for-byte unchanged.

    Examples
    --------
    >>> tree_snapshot(Path("/nonexistent"))
    {}
    """
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): (sha256_file(p) if p.is_file() else "<dir>")
        for p in sorted(root.rglob("*"))
        if not any(part.startswith(skip_prefixes) for part in p.relative_to(root).parts)
    }
