"""Position sizing: every method, caps, exact lot rounding, bad inputs, configs."""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.engine.sizing import (
    SIZING_DEPTH_FRACTION,
    SizingConfig,
    cap_size_nb,
    size_nb,
    sizing_params,
)
from l2trader.errors import ConfigError
from tests.unit.engine.twins import py_cap, py_size

NAN = math.nan
INF = math.inf


def _size(score: float = 0.0, vol: float = 1.0, depth: float = 1.0, **cfg: object) -> float:
    return size_nb(sizing_params(SizingConfig(**cfg)), score, vol, depth)


def test_fixed_returns_qty_whatever_the_inputs() -> None:
    assert _size(score=NAN, vol=NAN, depth=NAN, qty=0.5) == 0.5


@pytest.mark.parametrize(
    ("vol", "expected"), [(4.0, 0.5), (1.0, 2.0), (0.0, 0.0), (-1.0, 0.0), (NAN, 0.0), (INF, 0.0)]
)
def test_vol_target_scales_inversely_with_vol(vol: float, expected: float) -> None:
    assert _size(vol=vol, method="vol_target", qty=1.0, target_vol_bps=2.0) == expected


@pytest.mark.parametrize(
    ("depth", "expected"), [(3.0, 0.30000000000000004), (0.0, 0.0), (NAN, 0.0), (INF, 0.0)]
)
def test_depth_fraction_takes_a_share_of_depth(depth: float, expected: float) -> None:
    assert _size(depth=depth, method="depth_fraction", depth_fraction=0.1) == expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [(-2.0, 1.0), (2.0, 1.0), (4.0, 2.0), (10.0, 2.0), (0.0, 0.0), (NAN, 0.0), (INF, 0.0)],
)
def test_signal_scaled_grows_with_abs_score_up_to_qty(score: float, expected: float) -> None:
    assert _size(score=score, method="signal_scaled", qty=2.0, score_scale_bps=4.0) == expected


def test_max_qty_caps_the_size() -> None:
    assert _size(qty=5.0, max_qty=2.0) == 2.0


def test_vol_target_infinite_raw_size_is_capped_or_refused() -> None:
    assert _size(vol=1e-320, method="vol_target", max_qty=3.0) == 3.0
    assert _size(vol=1e-320, method="vol_target") == 0.0


def test_lot_rounding_is_down_and_exact_in_decimal() -> None:
    assert _size(qty=0.0037, lot_size=0.001) == 0.003
    assert _size(depth=3.0, method="depth_fraction", depth_fraction=0.1, lot_size=0.1) == 0.3
    assert _size(qty=7.0, lot_size=5.0) == 5.0
    assert _size(qty=0.1 + 0.2, lot_size=0.1) == 0.3  # 0.30000000000000004 -> 0.3


def test_exact_multiple_is_kept_despite_float_error() -> None:
    # 0.3 * 10 = 3.0000000000000004 and 0.29 * 100 = 28.999999999999996 in float
    assert _size(qty=0.3, lot_size=0.1) == 0.3
    assert _size(qty=0.29, lot_size=0.01) == 0.29
    assert _size(qty=703687.70106106, lot_size=1e-8) == 703687.70106106


def test_below_one_lot_or_min_qty_gives_zero() -> None:
    assert _size(qty=0.0005, lot_size=0.001) == 0.0
    assert _size(qty=0.0019, min_qty=0.002) == 0.0
    assert _size(qty=0.0021, min_qty=0.002, lot_size=0.001) == 0.002


def test_cap_size_caps_then_rounds_and_refuses_bad_caps() -> None:
    p = sizing_params(SizingConfig(lot_size=0.001))

    assert cap_size_nb(p, 0.01, 0.0055) == 0.005
    assert cap_size_nb(p, 0.01, NAN) == 0.0
    assert cap_size_nb(p, NAN, 1.0) == 0.0
    assert cap_size_nb(p, 0.01, -1.0) == 0.0


def test_params_encode_method_and_decimal_lot() -> None:
    p = sizing_params(SizingConfig(method="depth_fraction", lot_size=2.5e-5))

    assert (p.method, p.lot_units, p.lot_scale) == (SIZING_DEPTH_FRACTION, 25.0, 1e6)
    assert sizing_params(SizingConfig(lot_size=50.0))[-2:] == (50.0, 1.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"qty": -1.0},
        {"qty": NAN},
        {"method": "kelly"},
        {"lot_size": INF},
        {"min_qty": 2.0, "max_qty": 1.0},
        {"max_qty": 0.0},
        {"target_vol_bps": 0.0},
        {"unknown": 1},
        {"lot_size": 0.1 + 0.2},  # 17 significant digits
    ],
)
def test_bad_config_raises_config_error(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SizingConfig(**bad)


def test_config_round_trips_json_and_toml_with_infinite_max() -> None:
    cfg = SizingConfig(method="signal_scaled", lot_size=0.001)

    assert SizingConfig.from_json(cfg.to_json()) == cfg
    assert SizingConfig.from_toml(cfg.to_toml()) == cfg


_LOTS = st.sampled_from([0.0, 0.001, 0.01, 0.1, 0.25, 5.0, 1e-8])


@settings(max_examples=300, deadline=None)
@given(
    qty=st.floats(0.0, 1e6, allow_nan=False) | st.integers(0, 10**6).map(lambda k: k / 1000),
    lot=_LOTS,
    min_qty=st.sampled_from([0.0, 0.002, 1.0]),
)
def test_lot_rounding_matches_decimal_floor(qty: float, lot: float, min_qty: float) -> None:
    cfg = SizingConfig(qty=qty, lot_size=lot, min_qty=min_qty)

    got = size_nb(sizing_params(cfg), 0.0, 1.0, 1.0)

    assert got == py_size(cfg, 0.0, 1.0, 1.0)
    assert 0.0 <= got <= qty
    if lot > 0.0 and got > 0.0:
        exact_lot = Decimal(repr(lot))
        assert Decimal(repr(got)) % exact_lot == 0  # the float prints as an exact multiple
        floor = (Decimal(qty) / exact_lot).to_integral_value(ROUND_FLOOR) * exact_lot
        assert got >= float(floor)  # never below the exact decimal floor


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["fixed", "vol_target", "depth_fraction", "signal_scaled"]),
    score=st.floats(allow_nan=True, allow_infinity=True, width=64),
    vol=st.floats(allow_nan=True, allow_infinity=True),
    depth=st.floats(allow_nan=True, allow_infinity=True),
    cap=st.floats(allow_nan=True, allow_infinity=True),
    lot=_LOTS,
    max_qty=st.sampled_from([INF, 0.5, 3.0]),
)
def test_size_never_nan_and_matches_twin(
    method: str, score: float, vol: float, depth: float, cap: float, lot: float, max_qty: float
) -> None:
    cfg = SizingConfig(method=method, qty=0.7, lot_size=lot, max_qty=max_qty)
    p = sizing_params(cfg)

    got = cap_size_nb(p, size_nb(p, score, vol, depth), cap)

    assert got == py_cap(cfg, py_size(cfg, score, vol, depth), cap)
    assert 0.0 <= got <= max_qty
