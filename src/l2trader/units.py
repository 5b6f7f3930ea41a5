"""Unit helpers: ns clocks, tick conversion, bps. Floats are converted only here."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "NS_PER_MICROSECOND",
    "NS_PER_MILLISECOND",
    "NS_PER_SECOND",
    "bps",
    "from_ticks",
    "off_grid",
    "tick_decimals",
    "to_ticks",
]

NS_PER_MICROSECOND: Final = 1_000
NS_PER_MILLISECOND: Final = 1_000_000
NS_PER_SECOND: Final = 1_000_000_000
NS_PER_DAY: Final = 86_400 * NS_PER_SECOND

GRID_TOLERANCE: Final = 1e-6
"""Largest distance (in ticks) between a price and the tick grid that still counts as on-grid."""


def to_ticks(price: float | NDArray[np.float64], tick_size: float) -> NDArray[np.int64]:
    """Convert decimal prices to int64 ticks (nearest grid point).

    Use :func:`off_grid` first when the input may not lie on the grid.

    Examples
    --------
    >>> int(to_ticks(60123.45, 0.01))
    6012345
    """
    return np.asarray(np.rint(np.asarray(price, dtype=np.float64) / tick_size), dtype=np.int64)


def off_grid(price: float | NDArray[np.float64], tick_size: float) -> NDArray[np.bool_]:
    """True where ``price`` is more than :data:`GRID_TOLERANCE` ticks from the tick grid.

    Examples
    --------
    >>> bool(off_grid(0.015, 0.01)), bool(off_grid(0.02, 0.01))
    (True, False)
    """
    x = np.asarray(price, dtype=np.float64) / tick_size
    return np.asarray(np.abs(x - np.rint(x)) > GRID_TOLERANCE)


def from_ticks(ticks: int | NDArray[np.int64], tick_size: float) -> NDArray[np.float64]:
    """Convert int64 ticks back to decimal prices (float64).

    Examples
    --------
    >>> float(from_ticks(6012345, 0.01))
    60123.45
    """
    return np.asarray(
        np.round(np.asarray(ticks, dtype=np.float64) * tick_size, tick_decimals(tick_size))
    )


def tick_decimals(tick_size: float) -> int:
    """Number of decimals needed to print a multiple of ``tick_size`` exactly.

    Examples
    --------
    >>> tick_decimals(0.01), tick_decimals(0.5), tick_decimals(1.0), tick_decimals(1e-8)
    (2, 1, 0, 8)
    """
    text = f"{tick_size:.12f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def bps(x: float, reference: float) -> float:
    """Express ``x`` relative to ``reference`` in basis points (1 bp = 1e-4).

    Examples
    --------
    >>> bps(1.0, 100.0)
    100.0
    """
    return 1e4 * x / reference
