"""Fee model: maker/taker fees in bps of the quote notional, linear contracts only.

A fill of ``qty`` base units at ``price`` (quote currency per base unit) pays

    fee = price * qty * bps / 10_000          (quote currency)

with ``bps = maker_bps`` for a MAKER fill and ``taker_bps`` for a TAKER fill. A negative
``bps`` is a rebate, so the fee is negative. ``fee_nb`` evaluates ``(price * qty * bps)``
first and divides once, so when the product is exact in float64 the fee is the correctly
rounded value of the exact rational fee.

Only linear instruments (spot, linear perpetuals/futures, equities) are supported: their
notional is ``price * qty`` in quote currency. Inverse contracts (notional in base currency,
``contract_size / price`` per contract) are refused with :class:`~l2trader.errors.ConfigError`
"inverse contracts are not supported", both via ``FeeConfig(inverse=True)`` and via
:meth:`FeeConfig.from_instrument` on an instrument of ``kind="inverse"``.

Oracle: ``fractions.Fraction(price) * qty * bps / 10_000`` (``tests/unit/engine/test_fees.py``).
"""

from __future__ import annotations

import math
from typing import Annotated, Final

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.config import FrozenConfig
from l2trader.data.instruments import Instrument
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import FILL_DTYPE, Liquidity

__all__ = [
    "BPS_PER_UNIT",
    "MAX_ABS_FEE_BPS",
    "FeeConfig",
    "fee",
    "fee_nb",
    "fill_fees",
    "fill_fees_nb",
]

BPS_PER_UNIT: Final = 10_000.0
"""Basis points per unit of notional."""
MAX_ABS_FEE_BPS: Final = 1_000.0
"""Largest accepted ``|maker_bps|`` / ``|taker_bps|`` (10 %); larger values are config typos."""

FeeBps = Annotated[float, Field(ge=-MAX_ABS_FEE_BPS, le=MAX_ABS_FEE_BPS, allow_inf_nan=False)]
_MAKER: Final = int(Liquidity.MAKER)
_TAKER: Final = int(Liquidity.TAKER)
_SOURCE: Final = "engine.fees"


class FeeConfig(FrozenConfig):
    """Maker/taker fee rates in bps of notional (negative = rebate); linear contracts only.

    Examples
    --------
    >>> cfg = FeeConfig(maker_bps=-0.5, taker_bps=2.0)
    >>> fee(100.0, 2.0, Liquidity.TAKER, cfg)
    0.04
    >>> FeeConfig(inverse=True)
    Traceback (most recent call last):
    ...
    l2trader.errors.ConfigError: FeeConfig: inverse contracts are not supported
    """

    maker_bps: FeeBps = 0.0
    taker_bps: FeeBps = 0.0
    inverse: bool = False
    """Must stay ``False``: present so that a config asking for inverse fees fails loudly."""

    @field_validator("inverse")
    @classmethod
    def _refuse_inverse(cls, value: bool) -> bool:
        if value:
            raise ValueError("inverse contracts are not supported")
        return value

    def __init__(self, **data: object) -> None:
        if data.get("inverse") is True:  # short message, without pydantic's wrapping
            raise ConfigError("FeeConfig: inverse contracts are not supported")
        super().__init__(**data)

    @classmethod
    def from_instrument(cls, instrument: Instrument) -> FeeConfig:
        """Fee rates of ``instrument``; an inverse instrument raises :class:`ConfigError`.

        Examples
        --------
        >>> from l2trader.data.instruments import lookup
        >>> FeeConfig.from_instrument(lookup("binance-futures", "BTCUSDT")).taker_bps
        5.0
        """
        if instrument.kind == "inverse":
            raise ConfigError(
                f"FeeConfig: inverse contracts are not supported "
                f"(instrument {instrument.key!r} has kind='inverse')"
            )
        return cls(maker_bps=instrument.maker_fee_bps, taker_bps=instrument.taker_fee_bps)


@njit_inline
def fee_nb(price: float, qty: float, liquidity: int, maker_bps: float, taker_bps: float) -> float:
    """Fee (quote currency, negative = rebate) of one fill; NaN for an unknown ``liquidity``.

    ``price`` is in quote currency per base unit, ``qty`` in base units, ``liquidity`` is
    ``Liquidity.MAKER`` (1) or ``Liquidity.TAKER`` (2). Inputs are not validated here (the
    Python wrappers do that). Oracle: exact ``Fraction`` arithmetic.
    """
    if liquidity == _MAKER:
        bps = maker_bps
    elif liquidity == _TAKER:
        bps = taker_bps
    else:
        return math.nan
    return price * qty * bps / BPS_PER_UNIT


@njit_nrt_free
def fill_fees_nb(
    price: NDArray[np.float64],
    qty: NDArray[np.float64],
    liquidity: NDArray[np.uint8],
    maker_bps: float,
    taker_bps: float,
    out: NDArray[np.float64],
) -> int:
    """Write :func:`fee_nb` of each fill into ``out``; return the row count.

    Oracle: :func:`fee_nb` row by row.
    """
    n: int = price.shape[0]
    for i in range(n):
        out[i] = fee_nb(price[i], qty[i], liquidity[i], maker_bps, taker_bps)
    return n


def _check_fill(price: float, qty: float, liquidity: int) -> None:
    if not (math.isfinite(price) and price > 0.0):
        raise InvalidValueError(
            f"price must be finite and > 0 (quote), got {price!r}", source=_SOURCE
        )
    if not (math.isfinite(qty) and qty > 0.0):
        raise InvalidValueError(
            f"qty must be finite and > 0 (base units), got {qty!r}", source=_SOURCE
        )
    if liquidity not in (_MAKER, _TAKER):
        raise InvalidValueError(
            f"liquidity must be MAKER=1 or TAKER=2, got {liquidity!r}", source=_SOURCE
        )


def fee(price: float, qty: float, liquidity: int, config: FeeConfig) -> float:
    """Fee (quote currency, negative = rebate) of one fill; bad input raises.

    Parameters
    ----------
    price
        Execution price, quote currency per base unit (> 0).
    qty
        Filled size, base units (> 0).
    liquidity
        ``Liquidity.MAKER`` or ``Liquidity.TAKER``.
    config
        Fee rates.

    Raises
    ------
    InvalidValueError
        Non-finite or non-positive price or qty, or an unknown liquidity code.

    Examples
    --------
    >>> fee(50_000.0, 0.5, Liquidity.MAKER, FeeConfig(maker_bps=-1.0))
    -2.5
    """
    _check_fill(price, qty, int(liquidity))
    return float(fee_nb(price, qty, int(liquidity), config.maker_bps, config.taker_bps))


def fill_fees(fills: NDArray[np.void], tick_size: float, config: FeeConfig) -> NDArray[np.float64]:
    """Fees (quote currency) of C6 fill rows, priced at ``price_ticks * tick_size``.

    The ``fee`` column of ``fills`` is ignored (this computes it). Bad rows raise
    :class:`InvalidValueError` naming the row.

    Examples
    --------
    >>> rows = np.zeros(2, dtype=FILL_DTYPE)
    >>> rows["price_ticks"], rows["qty"], rows["liquidity"] = [1000, 1000], [1.0, 2.0], [1, 2]
    >>> fill_fees(rows, 0.5, FeeConfig(maker_bps=-1.0, taker_bps=4.0)).tolist()
    [-0.05, 0.4]
    """
    if fills.dtype != FILL_DTYPE:
        raise InvalidValueError(f"fills must have FILL_DTYPE, got {fills.dtype}", source=_SOURCE)
    if not (math.isfinite(tick_size) and tick_size > 0.0):
        raise ConfigError(f"tick_size must be finite and > 0, got {tick_size!r}")
    price = fills["price_ticks"].astype(np.float64) * tick_size
    qty = np.ascontiguousarray(fills["qty"])
    liquidity = np.ascontiguousarray(fills["liquidity"])
    bad = ~(np.isfinite(price) & (price > 0) & np.isfinite(qty) & (qty > 0))
    bad |= (liquidity != _MAKER) & (liquidity != _TAKER)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"fill row {row}: price {price[row]!r}, qty {qty[row]!r}, "
            f"liquidity {int(liquidity[row])} (need price > 0, qty > 0, liquidity 1 or 2)",
            source=_SOURCE,
        )
    out = np.empty(fills.shape[0], dtype=np.float64)
    fill_fees_nb(price, qty, liquidity, config.maker_bps, config.taker_bps, out)
    return out
