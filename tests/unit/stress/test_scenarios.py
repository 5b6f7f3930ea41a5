"""Market scenarios: each stated effect measured on the replayed book, C1 kept, seeded, pure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.book.replay import replay
from l2trader.errors import ConfigError
from l2trader.schema import EVENT_DTYPE, F_LAST, KIND_TRADE
from l2trader.stress import compose
from l2trader.stress.scenarios import (
    FlashCrash,
    FlashCrashParams,
    LiquidityDrought,
    LiquidityDroughtParams,
    QuoteStuffing,
    QuoteStuffingParams,
    TrendingRun,
    TrendingRunParams,
    VolatilitySpike,
    VolatilitySpikeParams,
)
from l2trader.stress.transform import levels_at, window
from tests.unit.stress import assert_c1, mids, synthetic_events, usdm_events

MARKET = [
    FlashCrash(seed=1),
    VolatilitySpike(seed=2),
    LiquidityDrought(LiquidityDroughtParams(widen_bps=1.0), seed=3),
    TrendingRun(seed=4),
    QuoteStuffing(seed=5),
]


def _mid_at(ts: np.ndarray, mid: np.ndarray, t: float) -> float:
    """Mid of the last consistent state at or before ``t`` (ns)."""
    return float(mid[np.searchsorted(ts, t, side="right") - 1])


@pytest.mark.shared_data
def test_flash_crash_falls_by_drop_pct_then_recovers_the_stated_fraction(
    shared_data: Path,
) -> None:
    events = usdm_events(shared_data)
    params = FlashCrashParams(drop_pct=0.5, crash_s=2.0, recovery_s=8.0, recovery_frac=0.6)

    out, info = FlashCrash(params, seed=1).apply(events)

    assert_c1(out)
    ts, mid = mids(out)
    t0, _ = info.window_ns
    mid0 = info.details["mid0_ticks"]
    in_crash = (ts >= t0) & (ts < t0 + 2_000_000_000)
    bottom = float(np.nanmin(mid[in_crash]))
    assert (mid0 - bottom) / mid0 >= 0.005
    recovered = _mid_at(ts, mid, info.details["recovered_ns"])
    assert recovered - bottom >= 0.6 * (mid0 - bottom) - 1.0
    assert recovered == mid0 - info.details["drop_ticks"] + round(0.6 * info.details["drop_ticks"])
    trades = out[(out["kind"] == KIND_TRADE) & (out["seq"] == -1)]
    assert len(trades) == info.details["trades"] > 100
    assert bool((trades["side"] == -1).all())  # the burst is sell-aggressed


@pytest.mark.shared_data
def test_flash_crash_leaves_the_real_book_moved_by_the_unrecovered_part(
    shared_data: Path,
) -> None:
    events = usdm_events(shared_data)

    out, info = FlashCrash(seed=1).apply(events)

    before, after = replay(events, levels=10), replay(out, levels=10)
    shift = int(info.details["shift_ticks"])
    assert shift == -1545  # 0.5 % of 618150.5 ticks = 3091 ticks, half recovered
    np.testing.assert_array_equal(after.bid_ticks[-1], before.bid_ticks[-1] + shift)
    np.testing.assert_array_equal(after.ask_qty[-1], before.ask_qty[-1])
    assert info.rows_out == len(out) == len(events) + info.rows_added - info.rows_removed


@pytest.mark.shared_data
def test_liquidity_drought_scales_depth_within_10bps_by_the_factor(shared_data: Path) -> None:
    events = usdm_events(shared_data)
    params = LiquidityDroughtParams(radius_bps=10.0, factor=0.1, duration_s=30.0)
    _t0, _, i0, i1 = window(events, params.at, params.duration_s)
    (book0,) = levels_at(events, [i0])

    out, info = LiquidityDrought(params).apply(events)

    assert_c1(out)
    entry_end = int(np.flatnonzero(out["flags"][i0:] & F_LAST)[0]) + i0 + 1
    (dry,) = levels_at(out, [entry_end])
    mid0 = book0.mid_ticks()
    np.testing.assert_allclose(
        dry.depth_within(10.0, mid0), np.multiply(book0.depth_within(10.0), 0.1)
    )
    # time-averaged over the window (the mid moves, so new levels enter the band unscaled)
    stops = np.linspace(i0 + 1, i1, 20).astype(int)
    real = [lv.depth_within(10.0) for lv in levels_at(events, stops.tolist())]
    shifted = stops + (entry_end - i0)
    masked = [lv.depth_within(10.0) for lv in levels_at(out, shifted.tolist())]
    ratio = np.sum(masked) / np.sum(real)
    assert 0.1 <= ratio < 0.2
    assert info.rows_removed == 0
    assert info.rows_altered > 1000


@pytest.mark.shared_data
def test_liquidity_drought_widens_the_spread_by_removing_inner_levels(shared_data: Path) -> None:
    events = usdm_events(shared_data)
    params = LiquidityDroughtParams(widen_bps=2.0)
    _, _, i0, _ = window(events, params.at, params.duration_s)
    (book0,) = levels_at(events, [i0])

    out, _ = LiquidityDrought(params).apply(events)

    entry_end = int(np.flatnonzero(out["flags"][i0:] & F_LAST)[0]) + i0 + 1
    (dry,) = levels_at(out, [entry_end])
    mid0 = book0.mid_ticks()
    band = mid0 * 2.0e-4
    assert dry.ask_ticks[0] - dry.bid_ticks[0] >= 2 * band
    assert int(dry.bid_ticks[0]) == int(book0.bid_ticks[book0.bid_ticks <= mid0 - band][0])


@pytest.mark.shared_data
def test_volatility_spike_moves_the_mid_by_the_stated_step_size(shared_data: Path) -> None:
    events = usdm_events(shared_data)
    params = VolatilitySpikeParams(step_bps=2.0, steps=50, duration_s=10.0)

    out, info = VolatilitySpike(params, seed=11).apply(events)

    assert_c1(out)
    t0, _ = info.window_ns
    step = info.details["step_ns"]
    grid = t0 + step * np.arange(50) + step / 2
    ts, mid = mids(out)
    walk = np.array([_mid_at(ts, mid, t) for t in grid])
    step_bps = np.diff(walk) / info.details["mid0_ticks"] * 1e4
    real_ts, real_mid = mids(events)
    calm = np.array([_mid_at(real_ts, real_mid, t) for t in grid])
    calm_bps = np.diff(calm) / info.details["mid0_ticks"] * 1e4
    assert 1.4 <= float(np.std(step_bps)) <= 2.6
    assert float(np.std(step_bps)) >= 5 * float(np.std(calm_bps))


@pytest.mark.shared_data
def test_trending_run_moves_the_mid_steadily_by_move_bps(shared_data: Path) -> None:
    events = usdm_events(shared_data)
    params = TrendingRunParams(move_bps=-30.0, steps=30, duration_s=30.0)

    out, info = TrendingRun(params).apply(events)

    assert_c1(out)
    t0, _ = info.window_ns
    step = info.details["step_ns"]
    ts, mid = mids(out)
    path = np.array([_mid_at(ts, mid, t0 + step * (k + 0.5)) for k in range(30)])
    mid0 = info.details["mid0_ticks"]
    assert path[-1] - mid0 == round(mid0 * -30e-4) == info.details["shift_ticks"] == -1854
    assert bool((np.diff(path) < 0).all())


@pytest.mark.shared_data
def test_quote_stuffing_adds_bursts_and_leaves_every_real_state_unchanged(
    shared_data: Path,
) -> None:
    events = usdm_events(shared_data)
    params = QuoteStuffingParams(rate_per_s=2000.0, duration_s=5.0, levels=10)

    out, info = QuoteStuffing(params, seed=5).apply(events)

    assert_c1(out)
    pairs = int(info.details["pairs"])
    assert pairs == 10_000
    assert info.rows_added == 2 * pairs
    assert len(out) == len(events) + 2 * pairs
    real = out["seq"] != -1
    assert bool((out[real] == events).all())
    before, after = replay(events, levels=20), replay(out, levels=20)
    original_rows = np.isin(after.event_idx, np.flatnonzero(real))
    np.testing.assert_array_equal(after.bid_qty[original_rows], before.bid_qty)
    np.testing.assert_array_equal(after.ask_ticks[original_rows], before.ask_ticks)
    t0, t1 = info.window_ns
    in_window = (after.ts_recv >= t0) & (after.ts_recv < t1)
    assert int(in_window.sum()) - int(((before.ts_recv >= t0) & (before.ts_recv < t1)).sum()) == (
        2 * pairs
    )


@pytest.mark.parametrize("scenario", MARKET, ids=lambda s: s.name)
def test_market_scenarios_keep_c1_on_synthetic_data(scenario: object) -> None:
    events = synthetic_events()
    before = events.tobytes()

    out, info = scenario.apply(events)  # type: ignore[attr-defined]

    assert events.tobytes() == before  # pure: the input is untouched
    assert_c1(out)
    assert info.keeps_c1
    assert info.category == "market"
    assert info.rows_out == len(out)


def test_drought_on_synthetic_data_scales_depth_by_the_factor() -> None:
    events = synthetic_events()
    params = LiquidityDroughtParams(radius_bps=10.0, factor=0.25)
    _, _, i0, _ = window(events, params.at, params.duration_s)
    (book0,) = levels_at(events, [i0])

    out, _ = LiquidityDrought(params).apply(events)

    entry_end = int(np.flatnonzero(out["flags"][i0:] & F_LAST)[0]) + i0 + 1
    (dry,) = levels_at(out, [entry_end])
    expected = np.multiply(book0.depth_within(10.0), 0.25)
    np.testing.assert_allclose(dry.depth_within(10.0, book0.mid_ticks()), expected)
    assert expected[0] > 0
    assert expected[1] > 0


@pytest.mark.parametrize("scenario", MARKET, ids=lambda s: s.name)
def test_same_seed_gives_identical_bytes(scenario: object) -> None:
    events = synthetic_events()
    again = type(scenario)(scenario.params, seed=scenario.seed)  # type: ignore[attr-defined]

    first, _ = scenario.apply(events)  # type: ignore[attr-defined]
    second, _ = again.apply(events)

    assert first.tobytes() == second.tobytes()


def test_different_seeds_give_different_random_paths() -> None:
    events = synthetic_events()

    a, _ = VolatilitySpike(seed=1).apply(events)
    b, _ = VolatilitySpike(seed=2).apply(events)

    assert a.tobytes() != b.tobytes()


def test_compose_applies_left_to_right_and_sums_the_counts() -> None:
    events = synthetic_events()
    drought, crash = LiquidityDrought(seed=1), FlashCrash(FlashCrashParams(at=0.5), seed=2)

    out, info = compose(drought, crash).apply(events)

    step1, _ = drought.apply(events)
    expected, _ = crash.apply(step1)
    assert out.tobytes() == expected.tobytes()
    assert info.name == "liquidity_drought+flash_crash"
    assert [s.name for s in info.steps] == ["liquidity_drought", "flash_crash"]
    assert info.rows_added == sum(s.rows_added for s in info.steps)
    assert info.rows_out == len(out)
    assert info.keeps_c1
    other, _ = compose(crash, drought).apply(events)
    assert other.tobytes() != out.tobytes()  # order matters


def test_bad_params_and_inputs_raise_typed_errors() -> None:
    with pytest.raises(ConfigError, match="drop_pct"):
        FlashCrashParams(drop_pct=-1.0)
    with pytest.raises(ConfigError, match="seed"):
        FlashCrash(seed=-1)
    with pytest.raises(ConfigError, match="params must be"):
        FlashCrash(LiquidityDroughtParams())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        FlashCrash().apply(np.zeros(3, dtype=np.int64))
    assert FlashCrash().apply(np.zeros(0, dtype=EVENT_DTYPE))[0].dtype == EVENT_DTYPE
