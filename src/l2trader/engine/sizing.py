"""Position sizing: how many base units an order carries, from the signal and the book.

Four methods (``SizingConfig.method``); ``qty`` is the base size in base units:

- ``fixed``: ``qty``.
- ``vol_target``: ``qty * target_vol_bps / vol_bps`` (vol in bps per sqrt(second)): a calm
  market trades more, a wild one less.
- ``depth_fraction``: ``depth_fraction * depth`` (``depth`` = a top-of-book size, base units).
- ``signal_scaled``: ``qty * min(|score_bps| / score_scale_bps, 1)``.

The raw size is then capped at ``max_qty``, rounded DOWN to a multiple of ``lot_size`` (if
> 0), and set to 0 if below ``min_qty``. An input the method needs that is NaN, infinite or
<= 0 gives 0.0 (no order), never NaN.

Lot rounding is exact in decimal: ``lot_size`` is written ``units / 10**scale`` with integers
``units``, ``scale`` (0.001 -> 1 / 10**3), and the size of ``m`` lots is the float nearest
to the decimal ``m * lot_size``, ``m * units / 10**scale`` (one correctly rounded division).
The result is the largest such float that does not exceed the size, so 3 lots of 0.001 give
the float ``0.003``, ``0.1 + 0.2`` rounds to ``0.3`` and a size typed as an exact multiple
(``0.7`` with lots of 0.1) is kept, whatever the float error of ``size / lot_size``. Sizes of
about ``2**52 / units`` lots or more are left unrounded (beyond float resolution).
``lot_size`` may have at most ``MAX_LOT_DIGITS`` significant decimal digits.

Oracle: ``tests/unit/engine/test_sizing.py`` (hand-worked values; lot rounding against
``decimal.Decimal`` floor division).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Final, Literal, NamedTuple

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from l2trader._numba import njit_inline
from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError

__all__ = [
    "MAX_LOT_DIGITS",
    "SIZING_DEPTH_FRACTION",
    "SIZING_FIXED",
    "SIZING_METHODS",
    "SIZING_SIGNAL_SCALED",
    "SIZING_VOL_TARGET",
    "SizingConfig",
    "SizingParams",
    "cap_size_nb",
    "lot_floor_nb",
    "size_nb",
    "sizing_params",
]

SIZING_FIXED: Final = 0
SIZING_VOL_TARGET: Final = 1
SIZING_DEPTH_FRACTION: Final = 2
SIZING_SIGNAL_SCALED: Final = 3
SIZING_METHODS: Final = {
    "fixed": SIZING_FIXED,
    "vol_target": SIZING_VOL_TARGET,
    "depth_fraction": SIZING_DEPTH_FRACTION,
    "signal_scaled": SIZING_SIGNAL_SCALED,
}
"""Method name -> integer code used by the kernels."""
_MAX_LOTS: Final = 2.0**52
"""Sizes with ``lots * lot_units`` at or above this are not rounded (not exact in float)."""
MAX_LOT_DIGITS: Final = 9
"""Most significant decimal digits accepted in ``lot_size`` (``0.001``, ``2.5e-5``)."""

NonNegFinite = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
PosFinite = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class SizingConfig(FrozenConfig):
    """Sizing method and its constants; sizes in base units, vol and scores in bps.

    Examples
    --------
    >>> SizingConfig(method="vol_target", qty=0.01, target_vol_bps=1.0).method
    'vol_target'
    >>> SizingConfig.from_json(SizingConfig().to_json()).max_qty
    inf
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=False, ser_json_inf_nan="constants"
    )

    method: Literal["fixed", "vol_target", "depth_fraction", "signal_scaled"] = "fixed"
    qty: NonNegFinite = 1.0
    """Base size, base units: the fixed size and the base of ``vol_target``/``signal_scaled``."""
    target_vol_bps: PosFinite = 1.0
    """``vol_target``: volatility (bps per sqrt(second)) at which the size is ``qty``."""
    depth_fraction: PosFinite = 0.1
    """``depth_fraction``: share of the given top-of-book depth."""
    score_scale_bps: PosFinite = 1.0
    """``signal_scaled``: ``|score|`` (bps) at and above which the size is the full ``qty``."""
    min_qty: NonNegFinite = 0.0
    """Sizes below it (after capping and lot rounding) become 0 (no order), base units."""
    max_qty: Annotated[float, Field(gt=0.0)] = math.inf
    """Upper cap, base units (``inf`` = none)."""
    lot_size: NonNegFinite = 0.0
    """> 0: sizes are rounded down to a multiple of it, base units; 0 = no rounding."""

    @model_validator(mode="after")
    def _check_bounds(self) -> SizingConfig:
        if self.min_qty > self.max_qty:
            raise ValueError(f"min_qty {self.min_qty} > max_qty {self.max_qty}")
        digits = len(Decimal(repr(self.lot_size)).normalize().as_tuple().digits)
        if digits > MAX_LOT_DIGITS:
            raise ValueError(
                f"lot_size {self.lot_size!r} has {digits} significant digits "
                f"(at most {MAX_LOT_DIGITS})"
            )
        return self


class SizingParams(NamedTuple):
    """Kernel form of :class:`SizingConfig` (build it with :func:`sizing_params`)."""

    method: int
    qty: float
    target_vol_bps: float
    depth_fraction: float
    score_scale_bps: float
    min_qty: float
    max_qty: float
    lot_units: float
    """``lot_size = lot_units / lot_scale`` (both integers as floats); 0 = no rounding."""
    lot_scale: float


def _decimal_lot(lot_size: float) -> tuple[float, float]:
    """``(units, scale)`` with ``lot_size == units / scale`` in decimal; ``scale = 10**k``."""
    if lot_size <= 0.0:
        return 0.0, 1.0
    _sign, digits, exponent = Decimal(repr(lot_size)).normalize().as_tuple()
    units = int("".join(map(str, digits)))
    if not isinstance(exponent, int):  # unreachable: lot_size is validated finite
        raise ConfigError(f"lot_size must be finite, got {lot_size!r}")
    if exponent >= 0:
        return float(units * 10**exponent), 1.0
    return float(units), float(10 ** (-exponent))


def sizing_params(cfg: SizingConfig) -> SizingParams:
    """Kernel parameters of ``cfg``.

    Examples
    --------
    >>> p = sizing_params(SizingConfig(lot_size=0.001))
    >>> p.method, p.lot_units, p.lot_scale
    (0, 1.0, 1000.0)
    """
    units, scale = _decimal_lot(cfg.lot_size)
    return SizingParams(
        method=SIZING_METHODS[cfg.method],
        qty=cfg.qty,
        target_vol_bps=cfg.target_vol_bps,
        depth_fraction=cfg.depth_fraction,
        score_scale_bps=cfg.score_scale_bps,
        min_qty=cfg.min_qty,
        max_qty=cfg.max_qty,
        lot_units=units,
        lot_scale=scale,
    )


@njit_inline
def _positive_finite(x: float) -> bool:
    return x > 0.0 and x < math.inf


@njit_inline
def raw_size_nb(p: SizingParams, score_bps: float, vol_bps: float, depth: float) -> float:
    """Size of the method before capping and rounding, base units; 0.0 on bad inputs."""
    if p.method == SIZING_FIXED:
        return p.qty
    if p.method == SIZING_VOL_TARGET:
        return p.qty * p.target_vol_bps / vol_bps if _positive_finite(vol_bps) else 0.0
    if p.method == SIZING_DEPTH_FRACTION:
        return p.depth_fraction * depth if _positive_finite(depth) else 0.0
    if p.method == SIZING_SIGNAL_SCALED:
        strength = abs(score_bps)
        if not _positive_finite(strength):
            return 0.0
        return p.qty * min(strength / p.score_scale_bps, 1.0)
    return 0.0


@njit_inline
def lot_floor_nb(q: float, lot_units: float, lot_scale: float) -> float:
    """Largest ``fl(m * lot_units / lot_scale) <= q`` over integers ``m >= 0``, base units.

    ``q`` finite and > 0; returned unchanged once ``lots * lot_units >= 2**52``. Oracle: exact
    ``fractions.Fraction`` search (``tests/unit/engine/twins.py::py_cap``).
    """
    lots = float(np.floor(q * lot_scale / lot_units))
    if lots * lot_units >= _MAX_LOTS:
        return q
    while (lots + 1.0) * lot_units / lot_scale <= q:
        lots += 1.0
    while lots > 0.0 and lots * lot_units / lot_scale > q:
        lots -= 1.0
    return lots * lot_units / lot_scale


@njit_inline
def cap_size_nb(p: SizingParams, qty: float, cap: float) -> float:
    """``min(qty, cap, max_qty)`` rounded down to the lot, 0.0 below ``min_qty``; base units.

    NaN or <= 0 ``qty``/``cap`` give 0.0, and so does an infinite size left uncapped.
    Oracle: ``decimal.Decimal`` floor to the lot.
    """
    if not (qty > 0.0 and cap > 0.0):  # also NaN
        return 0.0
    q = qty
    if cap < q:
        q = cap
    if p.max_qty < q:
        q = p.max_qty
    if q == math.inf:
        return 0.0
    if p.lot_units > 0.0:
        q = lot_floor_nb(q, p.lot_units, p.lot_scale)
    if q < p.min_qty or not q > 0.0:
        return 0.0
    return q


@njit_inline
def size_nb(p: SizingParams, score_bps: float, vol_bps: float, depth: float) -> float:
    """Order size, base units (>= 0, never NaN), from the score, vol and top-of-book depth.

    Parameters
    ----------
    p
        :func:`sizing_params` of a :class:`SizingConfig`.
    score_bps
        Signal score, bps (``signal_scaled`` uses ``|score_bps|``).
    vol_bps
        Volatility, bps per sqrt(second) (``vol_target``).
    depth
        Top-of-book size, base units (``depth_fraction``).

    Oracle: hand-worked values in ``tests/unit/engine/test_sizing.py``.
    """
    return cap_size_nb(p, raw_size_nb(p, score_bps, vol_bps, depth), math.inf)
