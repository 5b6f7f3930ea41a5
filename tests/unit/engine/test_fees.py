"""Maker/taker fees: hand-worked values, exact-arithmetic oracle, config validation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.data.instruments import Instrument, lookup
from l2trader.engine.fees import FeeConfig, fee, fee_nb, fill_fees, fill_fees_nb
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import FILL_DTYPE, Liquidity

MAKER, TAKER = int(Liquidity.MAKER), int(Liquidity.TAKER)


def _fraction_fee(price: float, qty: float, bps: float) -> Fraction:
    return Fraction(price) * Fraction(qty) * Fraction(bps) / 10_000


# -- fee_nb / fee: hand-worked -----------------------------------------------------------------


def test_taker_fee_is_bps_of_notional():
    cfg = FeeConfig(maker_bps=2.0, taker_bps=5.0)

    result = fee(60_000.0, 0.5, Liquidity.TAKER, cfg)

    assert result == 15.0  # 30_000 quote * 5 bps


def test_maker_fee_uses_maker_rate():
    cfg = FeeConfig(maker_bps=2.0, taker_bps=5.0)

    result = fee(60_000.0, 0.5, Liquidity.MAKER, cfg)

    assert result == 6.0


def test_negative_maker_bps_is_a_rebate():
    cfg = FeeConfig(maker_bps=-0.5, taker_bps=2.0)

    result = fee(100.0, 4.0, Liquidity.MAKER, cfg)

    assert result == -0.02


def test_zero_rates_give_zero_fee():
    result = fee(123.25, 7.0, Liquidity.TAKER, FeeConfig())

    assert result == 0.0


def test_kernel_returns_nan_for_unknown_liquidity():
    result = fee_nb(100.0, 1.0, 3, 1.0, 2.0)

    assert math.isnan(result)


def test_kernel_matches_wrapper():
    cfg = FeeConfig(maker_bps=1.25, taker_bps=4.5)

    kernel = fee_nb(101.5, 3.0, TAKER, cfg.maker_bps, cfg.taker_bps)

    assert kernel == fee(101.5, 3.0, TAKER, cfg)
    assert kernel == float(_fraction_fee(101.5, 3.0, 4.5))


@pytest.mark.parametrize(
    ("price", "qty", "liquidity", "match"),
    [
        (0.0, 1.0, TAKER, "price"),
        (-1.0, 1.0, TAKER, "price"),
        (math.nan, 1.0, TAKER, "price"),
        (math.inf, 1.0, TAKER, "price"),
        (100.0, 0.0, TAKER, "qty"),
        (100.0, -2.0, MAKER, "qty"),
        (100.0, math.nan, MAKER, "qty"),
        (100.0, 1.0, 0, "liquidity"),
        (100.0, 1.0, 3, "liquidity"),
    ],
)
def test_fee_rejects_bad_input(price, qty, liquidity, match):
    cfg = FeeConfig(maker_bps=1.0, taker_bps=2.0)

    with pytest.raises(InvalidValueError, match=match):
        fee(price, qty, liquidity, cfg)


# -- exact-arithmetic oracle -------------------------------------------------------------------

# Dyadic inputs whose product needs <= 53 bits, so price * qty * bps is exact in float64 and
# the one division by 10_000 is correctly rounded: the fee must equal float(Fraction fee).
_PRICES = st.integers(1, 2**20).map(lambda k: k / 4)
_QTYS = st.integers(1, 2**18).map(lambda k: k / 256)
_BPS = st.integers(-4 * 1000, 4 * 1000).map(lambda k: k / 4)


@settings(max_examples=200, deadline=None)
@given(price=_PRICES, qty=_QTYS, maker=_BPS, taker=_BPS, liquidity=st.sampled_from([1, 2]))
def test_fee_equals_exact_fraction(price, qty, maker, taker, liquidity):
    cfg = FeeConfig(maker_bps=maker, taker_bps=taker)
    bps = maker if liquidity == MAKER else taker

    result = fee(price, qty, liquidity, cfg)

    assert result == float(_fraction_fee(price, qty, bps))


# -- fill_fees / fill_fees_nb ------------------------------------------------------------------


def _fills(price_ticks, qty, liquidity):
    rows = np.zeros(len(qty), dtype=FILL_DTYPE)
    rows["price_ticks"] = price_ticks
    rows["qty"] = qty
    rows["liquidity"] = liquidity
    rows["fee"] = 999.0  # ignored: fill_fees computes the fee
    return rows


def test_fill_fees_prices_rows_from_ticks():
    rows = _fills([40_000, 40_002, 39_998], [1.0, 0.25, 2.0], [MAKER, TAKER, TAKER])
    cfg = FeeConfig(maker_bps=-1.0, taker_bps=4.0)

    result = fill_fees(rows, 0.5, cfg)

    assert result.tolist() == [-2.0, 2.0001, 15.9992]
    assert rows["fee"].tolist() == [999.0, 999.0, 999.0]  # input untouched


def test_fill_fees_nb_equals_fee_nb_row_by_row():
    rng = np.random.default_rng(7)
    price = rng.uniform(10.0, 1000.0, 50)
    qty = rng.uniform(0.01, 5.0, 50)
    liquidity = rng.integers(1, 3, 50).astype(np.uint8)
    out = np.full(50, -7.0)

    n = fill_fees_nb(price, qty, liquidity, 0.75, 3.5, out)

    assert n == 50
    rows = zip(price, qty, liquidity, strict=True)
    expected = [fee_nb(p, q, int(lq), 0.75, 3.5) for p, q, lq in rows]
    assert out.tolist() == expected


def test_fill_fees_of_no_rows_is_empty():
    result = fill_fees(np.zeros(0, dtype=FILL_DTYPE), 0.01, FeeConfig(taker_bps=1.0))

    assert result.shape == (0,)
    assert result.dtype == np.float64


def test_fill_fees_names_the_bad_row():
    rows = _fills([100, 100, 100], [1.0, 0.0, 1.0], [MAKER, TAKER, TAKER])

    with pytest.raises(InvalidValueError, match="fill row 1"):
        fill_fees(rows, 0.01, FeeConfig())


def test_fill_fees_rejects_unknown_liquidity():
    rows = _fills([100, 100], [1.0, 1.0], [MAKER, 0])

    with pytest.raises(InvalidValueError, match=r"fill row 1.*liquidity 0"):
        fill_fees(rows, 0.01, FeeConfig())


def test_fill_fees_rejects_wrong_dtype():
    with pytest.raises(InvalidValueError, match="FILL_DTYPE"):
        fill_fees(np.zeros(2), 0.01, FeeConfig())


@pytest.mark.parametrize("tick_size", [0.0, -0.01, math.nan])
def test_fill_fees_rejects_bad_tick_size(tick_size):
    with pytest.raises(ConfigError, match="tick_size"):
        fill_fees(_fills([1], [1.0], [MAKER]), tick_size, FeeConfig())


# -- FeeConfig ---------------------------------------------------------------------------------


def test_inverse_flag_is_refused():
    with pytest.raises(ConfigError, match="inverse contracts are not supported"):
        FeeConfig(maker_bps=1.0, inverse=True)


def test_inverse_flag_from_json_is_refused():
    with pytest.raises(ConfigError, match="inverse contracts are not supported"):
        FeeConfig.from_json('{"maker_bps": 1.0, "inverse": "true"}')


def test_inverse_instrument_is_refused():
    instrument = lookup("deribit", "BTC-PERPETUAL")

    with pytest.raises(ConfigError, match=r"inverse contracts are not supported.*deribit"):
        FeeConfig.from_instrument(instrument)


@pytest.mark.parametrize("kind", ["spot", "linear", "equity", "future"])
def test_linear_instrument_fees_are_taken(kind):
    instrument = Instrument(
        venue="v", symbol="S", tick_size=0.1, maker_fee_bps=-0.25, taker_fee_bps=3.0, kind=kind
    )

    cfg = FeeConfig.from_instrument(instrument)

    assert (cfg.maker_bps, cfg.taker_bps, cfg.inverse) == (-0.25, 3.0, False)


def test_config_round_trips_through_json_with_stable_id():
    cfg = FeeConfig(maker_bps=-0.5, taker_bps=2.0)

    again = FeeConfig.from_json(cfg.to_json())

    assert again == cfg
    assert again.id == cfg.id
    assert cfg.id != FeeConfig(maker_bps=-0.5, taker_bps=2.5).id


@pytest.mark.parametrize(
    "kwargs",
    [
        {"maker_bps": math.nan},
        {"taker_bps": math.inf},
        {"taker_bps": 1000.5},
        {"maker_bps": -1000.5},
        {"fee_bps": 1.0},
    ],
)
def test_config_rejects_bad_values_and_unknown_keys(kwargs):
    with pytest.raises(ConfigError):
        FeeConfig(**kwargs)
