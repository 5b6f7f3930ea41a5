"""Random C1 event streams for book tests and benchmarks, and a hypothesis strategy.

``random_events`` makes short nasty streams (deletes of absent levels, emptied sides,
CLEARs, snapshots, trades, jumps of ``10**7`` ticks leaving stale levels behind, multi-row
batches); ``realistic_events`` makes long benchmark streams fast (vectorised);
``event_streams`` is the hypothesis strategy. All rows are valid C1: ``ts_recv``
non-decreasing, one ``ts_recv`` per batch, ``F_LAST`` on each batch's last row, ``qty >= 0``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from l2trader.schema import (
    EVENT_DTYPE,
    F_LAST,
    KIND_BOOK,
    KIND_CLEAR,
    KIND_SNAPSHOT,
    KIND_TRADE,
)

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = ["event_streams", "random_events", "realistic_events"]

Row = tuple[int, int, int, float]  # kind, side, price_ticks, qty
_JUMPS = (-(10**7), 10**7, -5_003, 5_003, -130, 130)


def _level_rows(rng: np.random.Generator, mid: int, n: int, kind: int) -> list[Row]:
    """``n`` level updates around ``mid``: mostly near the touch, some deletes, some strays."""
    rows: list[Row] = []
    for _ in range(n):
        side = 1 if rng.random() < 0.5 else -1
        off = int(rng.geometric(0.25)) - 1
        if rng.random() < 0.05:
            off = int(rng.integers(-30, 3000))  # inside the spread, through the book, far out
        price = mid - 1 - off if side == 1 else mid + off
        qty = 0.0 if rng.random() < 0.3 else float(rng.integers(1, 400)) / 8
        rows.append((kind, side, price, qty))
    return rows


def _message(rng: np.random.Generator, mid: int, max_rows: int) -> list[Row]:
    """One venue message: a diff batch, trades, a CLEAR or a CLEAR + SNAPSHOT run."""
    u = rng.random()
    if u < 0.72:
        return _level_rows(rng, mid, int(rng.integers(1, max_rows + 1)), KIND_BOOK)
    if u < 0.87:
        n = int(rng.integers(1, 4))
        sides = rng.choice([1, -1, 1, -1, 0], size=n)
        return [(KIND_TRADE, int(s), mid, float(rng.integers(1, 80)) / 16) for s in sides]
    side = int(rng.choice([1, -1, 0]))
    if u < 0.92:
        return [(KIND_CLEAR, side, 0, 0.0)]
    rows = [(KIND_CLEAR, side, 0, 0.0)]
    for s in (1, -1) if side == 0 else (side,):
        snap = _level_rows(rng, mid, int(rng.integers(0, 2 * max_rows)), KIND_SNAPSHOT)
        rows += [(k, s, p if s == r_side else 2 * mid - p, q) for k, r_side, p, q in snap]
    return rows


def random_events(
    rng: np.random.Generator,
    n_messages: int,
    *,
    start_ticks: int = 1_000_000,
    max_rows: int = 8,
    jump_prob: float = 0.01,
) -> np.ndarray:
    """A nasty but valid C1 stream of ``n_messages`` venue messages around a moving mid.

    Parameters
    ----------
    rng
        Seeded generator (the only source of randomness).
    n_messages
        Number of batches (each ends with ``F_LAST``).
    start_ticks
        Initial mid price, ticks.
    max_rows
        Largest number of level updates in one diff batch.
    jump_prob
        Chance per message that the mid jumps by up to ``10**7`` ticks (old levels stay).

    Examples
    --------
    >>> ev = random_events(np.random.default_rng(0), 50)
    >>> int((ev["flags"] & F_LAST).sum()), bool((np.diff(ev["ts_recv"]) >= 0).all())
    (50, True)
    """
    rows: list[tuple[int, int, int, int, float, int, int, int]] = []
    mid, ts = start_ticks, 1_700_000_000_000_000_000
    for seq in range(n_messages):
        mid += int(rng.integers(-2, 3))
        if rng.random() < jump_prob:
            mid += int(rng.choice(_JUMPS))
        ts += int(rng.integers(0, 5_000_000))
        msg = _message(rng, mid, max_rows)
        for k, (kind, side, price, qty) in enumerate(msg):
            flags = F_LAST if k == len(msg) - 1 else 0
            rows.append((ts - 1_000_000, ts, seq, price, qty, kind, side, flags))
    return np.array(rows, dtype=EVENT_DTYPE)


def realistic_events(
    rng: np.random.Generator,
    n_events: int,
    *,
    start_ticks: int = 6_000_000,
    max_rows: int = 10,
    trade_share: float = 0.05,
    message_ns: int = 1_000,
) -> np.ndarray:
    """A long benchmark stream: 1..``max_rows`` updates per batch within ~60 ticks of the touch.

    The mid moves by -1/0/+1 tick per batch; a batch that moves it first deletes the one
    level the move would cross, so the book is never crossed. Level offsets from the touch
    are geometric (mean ~6 ticks, capped at 60), 30% of updates delete a level and
    ``trade_share`` of the updates are trades instead. Messages are ``message_ns`` apart
    (``ts_recv``, from 1.7e18 ns); ``ts_exch`` is 1 ms earlier.

    Examples
    --------
    >>> ev = realistic_events(np.random.default_rng(1), 1000)
    >>> len(ev), int(ev["flags"][-1])
    (1000, 1)
    """
    step = rng.integers(-1, 2, size=n_events)
    rows_per_msg = rng.integers(1, max_rows + 1, size=n_events) + (step != 0)
    n_msg = int(np.searchsorted(np.cumsum(rows_per_msg), n_events)) + 1
    msg = np.repeat(np.arange(n_msg), rows_per_msg[:n_msg])[:n_events]
    first = np.ones(n_events, dtype=bool)
    first[1:] = msg[1:] != msg[:-1]
    mid = start_ticks + np.cumsum(step[:n_msg])[msg]
    moved = first & (step[msg] != 0)
    side = np.where(moved, -step[msg], np.where(rng.random(n_events) < 0.5, 1, -1))
    off = np.where(moved, 0, np.minimum(rng.geometric(0.15, size=n_events) - 1, 60))
    # a move up deletes the ask at the old mid (= mid - 1); a move down the bid at mid
    out = np.zeros(n_events, dtype=EVENT_DTYPE)
    out["ts_recv"] = 1_700_000_000_000_000_000 + message_ns * msg
    out["ts_exch"] = out["ts_recv"] - 1_000_000
    out["seq"] = msg
    out["price_ticks"] = np.where(side == 1, mid - 1 - off, mid + off)
    out["price_ticks"][moved] = mid[moved] - (step[msg][moved] == 1)
    qty = np.round(rng.lognormal(0, 1, n_events), 3) + 0.001
    out["qty"] = np.where(moved | (rng.random(n_events) < 0.3), 0.0, qty)
    trade = ~moved & (rng.random(n_events) < trade_share)
    out["kind"] = np.where(trade, KIND_TRADE, KIND_BOOK)
    out["qty"][trade] = qty[trade]
    out["side"] = side
    last = np.ones(n_events, dtype=bool)
    last[:-1] = first[1:]
    out["flags"] = np.where(last, F_LAST, 0)
    return out


def event_streams(max_messages: int = 30, window: int = 32) -> SearchStrategy[np.ndarray]:
    """Hypothesis strategy of valid C1 streams that stress a dense window of ``window`` ticks.

    Prices cluster around 1000 ticks with jumps of a few windows and of ``10**7`` ticks;
    messages mix BOOK (incl. deletes of absent levels), TRADE, CLEAR and SNAPSHOT runs.
    """
    from hypothesis import strategies as st

    base = 1_000
    price = st.one_of(
        st.integers(base - 12, base + 12),
        st.sampled_from([base + d * window + e for d in (-3, -1, 1, 4) for e in (-1, 0, 1)]),
        st.integers(-3, 3).map(lambda e: base + 10**7 + e),
    )
    qty = st.one_of(st.just(0.0), st.integers(1, 40).map(lambda k: k / 4))
    book = st.tuples(st.just(KIND_BOOK), st.sampled_from([1, -1]), price, qty)
    trade = st.tuples(st.just(KIND_TRADE), st.sampled_from([1, -1, 0]), price, qty)
    clear = st.tuples(st.just(KIND_CLEAR), st.sampled_from([1, -1, 0]), st.just(0), st.just(0.0))
    snap_side = st.sampled_from([1, -1])
    snapshot = snap_side.flatmap(
        lambda s: st.lists(
            st.tuples(st.just(KIND_SNAPSHOT), st.just(s), price, qty), max_size=6
        ).map(lambda rows: [(KIND_CLEAR, s, 0, 0.0), *rows])
    )
    message = st.one_of(
        st.lists(st.one_of(book, book, trade, clear), min_size=1, max_size=6), snapshot
    )
    return st.lists(message, min_size=1, max_size=max_messages).map(_from_messages)


def _from_messages(messages: list[list[Row]]) -> np.ndarray:
    """Turn ``[[(kind, side, price, qty), ...], ...]`` into C1 rows, one batch per message."""
    rows = []
    for seq, msg in enumerate(messages):
        for k, (kind, side, price, qty) in enumerate(msg):
            ts = 1_000 * seq
            rows.append((ts, ts, seq, price, qty, kind, side, F_LAST if k == len(msg) - 1 else 0))
    return np.array(rows, dtype=EVENT_DTYPE)
