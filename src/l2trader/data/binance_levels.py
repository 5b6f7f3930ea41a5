"""Decimal-string ``[price, qty]`` levels -> int64 ticks and float sizes, with validation.

The common case (every level valid) takes one vectorised numpy pass per message; only a
message holding an invalid level goes through the slow per-level classification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from l2trader.data.report import IssueCode
from l2trader.units import GRID_TOLERANCE, off_grid

__all__ = ["LevelProblem", "Levels", "convert_levels", "convert_sides", "price_level"]

_MAX_ABS_TICKS: Final = 2.0**62


@dataclass(frozen=True, slots=True)
class LevelProblem:
    """One invalid ``[price, qty]`` level: its index in the side's list and why."""

    index: int
    code: IssueCode
    message: str


@dataclass(slots=True)
class Levels:
    """One side's levels converted: prices in ticks, sizes in base units (or contracts)."""

    ticks: list[int]
    qty: list[float]
    problems: list[LevelProblem]


def convert_levels(levels: Any, tick_size: float) -> Levels:
    """Convert ``[[price, qty], ...]`` decimal strings to ticks and sizes, listing bad levels.

    Prices become the nearest tick (float division + rounding); a level is a problem when
    its price is not finite/positive (``BAD_VALUE``), off the tick grid (``OFF_TICK``) or its
    qty is NaN (``NAN_QTY``), negative (``NEGATIVE_QTY``) or infinite (``BAD_VALUE``).
    Problem levels are removed from the output. Raises ``ValueError``/``TypeError`` when a
    level cannot be read at all.

    Examples
    --------
    >>> out = convert_levels([["0.35210000", "672.0"], ["0.352150", "1"]], 0.0001)
    >>> out.ticks, out.qty, [p.code.value for p in out.problems]
    ([3521], [672.0], ['off_tick'])
    """
    return convert_sides(levels, [], tick_size)[0]


def convert_sides(bids: Any, asks: Any, tick_size: float) -> tuple[Levels, Levels]:
    """:func:`convert_levels` for both sides of a message at once (one vectorised pass)."""
    if not isinstance(bids, list) or not isinstance(asks, list):
        raise TypeError("levels must be lists of [price, qty]")
    both = bids + asks
    if not both:
        return Levels([], [], []), Levels([], [], [])
    qty = [float(q) for _, q in both]
    with np.errstate(all="ignore"):
        price = np.array([float(p) for p, _ in both], dtype=np.float64)
        qty_arr = np.array(qty, dtype=np.float64)
        ticks = np.rint(price / tick_size)
        good = bool(
            ticks.min() >= 1.0
            and ticks.max() < _MAX_ABS_TICKS
            and np.abs(price / tick_size - ticks).max() <= GRID_TOLERANCE
            and qty_arr.min() >= 0.0
            and qty_arr.max() < np.inf
        )
    if good:
        n = len(bids)
        as_int = ticks.astype(np.int64).tolist()
        return Levels(as_int[:n], qty[:n], []), Levels(as_int[n:], qty[n:], [])
    return _checked(bids, tick_size), _checked(asks, tick_size)


def _checked(levels: list[Any], tick_size: float) -> Levels:
    if not levels:
        return Levels([], [], [])
    price = np.array([float(p) for p, _ in levels], dtype=np.float64)
    qty = np.array([float(q) for _, q in levels], dtype=np.float64)
    with np.errstate(all="ignore"):
        good_price = (price > 0.0) & (price / tick_size < _MAX_ABS_TICKS)
    return _drop_bad(levels, price, qty, good_price, tick_size)


def price_level(price: Any, qty: Any, tick_size: float) -> Levels:
    """One ``price, qty`` pair (a trade) as :class:`Levels`, scalar fast path.

    Examples
    --------
    >>> price_level("61800.30", "0.006", 0.1).ticks
    [618003]
    """
    p, q = float(price), float(qty)
    x = p / tick_size if p == p and abs(p) < 1e300 else -1.0
    t = round(x) if 0.0 < x < _MAX_ABS_TICKS else 0
    if t >= 1 and abs(x - t) <= GRID_TOLERANCE and 0.0 <= q < np.inf:
        return Levels([t], [q], [])
    return _checked([[price, qty]], tick_size)


def _drop_bad(
    levels: list[Any],
    price: np.ndarray,
    qty: np.ndarray,
    good_price: np.ndarray,
    tick_size: float,
) -> Levels:
    out = Levels([], [], [])
    safe_price = np.where(good_price, price, tick_size)
    off = off_grid(safe_price, tick_size)
    ticks = np.rint(safe_price / tick_size).astype(np.int64).tolist()
    for i, level in enumerate(levels):
        code = _level_code(bool(good_price[i]), bool(off[i]), float(qty[i]))
        if code is None:
            out.ticks.append(ticks[i])
            out.qty.append(float(qty[i]))
        else:
            text = f"level {level!r}: {code.value} (tick size {tick_size})"
            out.problems.append(LevelProblem(i, code, text))
    return out


def _level_code(good_price: bool, off: bool, qty: float) -> IssueCode | None:
    if not good_price or qty == np.inf:
        return IssueCode.BAD_VALUE
    if off:
        return IssueCode.OFF_TICK
    if qty != qty:
        return IssueCode.NAN_QTY
    if qty < 0.0:
        return IssueCode.NEGATIVE_QTY
    return None
