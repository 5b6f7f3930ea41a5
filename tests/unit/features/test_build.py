"""FeatureBuilder vs the slow oracle, chunk invariance, online == batch, other clocks."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.book.replay import BookFrame, replay
from l2trader.features.build import FeatureBuilder, add_labels, build_features
from l2trader.features.clocks import ClockSpec
from l2trader.features.config import FeatureConfig
from l2trader.features.online import OnlineFeatures
from l2trader.testing import make_events, realistic_events
from tests.unit.features.oracle import event_clock_features

MS = 1_000_000
CFG = FeatureConfig(
    levels=5,
    imbalance_levels=(1, 3, 5),
    ofi_levels=(1, 3),
    depth_ticks=(1, 4),
    depth_bps=(0.5, 2.0),
    slope_levels=4,
    windows_ns=(5 * MS, 40 * MS),
)
EVENT = ClockSpec(kind="event")


def synthetic_frame(seed: int, n_events: int = 3000) -> BookFrame:
    """A realistic replayed frame re-timed with ms-scale gaps (ties included)."""
    rng = np.random.default_rng(seed)
    frame = replay(realistic_events(rng, n_events), levels=5)
    gaps = rng.choice([0, 1, 2, 5], size=len(frame), p=[0.2, 0.5, 0.2, 0.1]) * MS // 2
    ts = 1_700_000_000_000_000_000 + np.cumsum(gaps)
    return dataclasses.replace(frame, ts_recv=ts.astype(np.int64))


def chunks(frame: BookFrame, cuts: list[int]) -> list[BookFrame]:
    """Split a frame at ``cuts`` (row indices)."""
    edges = [0, *sorted(set(cuts)), len(frame)]
    fields = [f.name for f in dataclasses.fields(frame)]
    return [
        BookFrame(**{k: getattr(frame, k)[a:b] for k in fields})
        for a, b in itertools.pairwise(edges)
    ]


def assert_matches_oracle(frame: BookFrame, tick: float) -> None:
    ours, _ = build_features([frame], CFG, EVENT, tick)
    want = event_clock_features(frame, CFG, tick)
    assert sorted(ours.feature_names) == sorted(want.columns)
    for name in ours.feature_names:
        np.testing.assert_allclose(
            ours.columns[name], want[name].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=name
        )
    np.testing.assert_array_equal(ours.columns["ts_recv"], frame.ts_recv)
    np.testing.assert_array_equal(ours.columns["event_idx"], frame.event_idx)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_event_clock_features_equal_the_oracle_on_synthetic_books(seed: int) -> None:
    assert_matches_oracle(synthetic_frame(seed), tick=0.5)


def test_features_of_one_sided_and_empty_books_are_nan_not_zero() -> None:
    events = make_events(
        [(100, 2.0, 1), (101, 1.0, -1), (101, 0.0, -1), (100, 0.0, 1)], batch=False
    )
    frame = replay(events, levels=5)
    ours, _ = build_features([frame], CFG, EVENT, 1.0)
    mid = ours.columns["mid"]
    assert np.isnan(mid[0])
    assert mid[1] == 100.5
    assert np.isnan(mid[2:]).all()
    assert np.isnan(ours.columns["ofi_l1"][0])
    assert ours.columns["ofi_l1"][1] == -1.0  # a new ask of 1 at a better (empty) ask
    assert np.isnan(ours.columns["imbalance_l1"][3])
    assert_matches_oracle(frame, tick=1.0)


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(0, 600), max_size=6), seed=st.integers(0, 50))
def test_any_chunking_gives_the_one_shot_rows(cuts: list[int], seed: int) -> None:
    frame = synthetic_frame(seed, 2500)
    one, _ = build_features([frame], CFG, EVENT, 0.5)
    split, _ = build_features(chunks(frame, cuts), CFG, EVENT, 0.5)
    for name, col in one.columns.items():
        np.testing.assert_array_equal(split.columns[name], col, err_msg=name)


def test_online_features_equal_the_batch_after_every_state() -> None:
    frame = synthetic_frame(7, 2000)
    batch, _ = build_features([frame], CFG, EVENT, 0.5)
    online = OnlineFeatures(CFG, 0.5)
    for i in range(len(frame)):
        online.update(
            int(frame.ts_recv[i]), int(frame.event_idx[i]),
            frame.bid_ticks[i], frame.bid_qty[i], frame.ask_ticks[i], frame.ask_qty[i],
        )  # fmt: skip
        got = np.array([online.value[n] for n in batch.feature_names])
        want = np.array([batch.columns[n][i] for n in batch.feature_names])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-7, err_msg=f"row {i}")


def test_time_clock_samples_the_state_at_the_grid_and_windows_end_at_the_grid() -> None:
    frame = synthetic_frame(11, 3000)
    events, _ = build_features([frame], CFG, EVENT, 0.5)
    timed, _ = build_features(
        chunks(frame, [100, 400]), CFG, ClockSpec(kind="time", interval_ns=3 * MS), 0.5
    )
    grid = timed.columns["ts_recv"]
    assert (np.diff(grid) == 3 * MS).all()
    row = np.searchsorted(frame.ts_recv, grid, side="right") - 1
    for name in ("mid", "imbalance_l3", "depth_ask_t4", "slope_bid_l4"):
        np.testing.assert_array_equal(timed.columns[name], events.columns[name][row], err_msg=name)
    ofi = np.nan_to_num(events.columns["ofi_l1"])
    ts = frame.ts_recv
    for k, g in enumerate(grid):
        in_window = (ts > g - 40 * MS) & (ts <= g)
        want = ofi[in_window].sum() if g - 40 * MS >= ts[0] else np.nan
        np.testing.assert_allclose(timed.columns["ofi_l1_40ms"][k], want, atol=1e-9)
    since = np.concatenate([[np.nan], np.diff(np.concatenate([[0.0], np.cumsum(ofi)])[row + 1])])
    np.testing.assert_allclose(timed.columns["ofi_l1"][1:], since[1:], atol=1e-9)
    assert np.isnan(timed.columns["ofi_l1"][0])


def test_keep_mid_returns_every_book_state() -> None:
    frame = synthetic_frame(5, 800)
    builder = FeatureBuilder(CFG, EVENT, 0.5, keep_mid=True)
    for part in chunks(frame, [50, 300]):
        builder.feed(part)
    ts, mid = builder.book_mid()
    np.testing.assert_array_equal(ts, frame.ts_recv)
    want = event_clock_features(frame, CFG, 0.5)["mid"].to_numpy()
    np.testing.assert_allclose(mid, want)


def test_parquet_round_trip_keeps_columns_and_metadata(tmp_path: pd.DataFrame) -> None:
    frame = synthetic_frame(3, 500)
    ours, _ = build_features([frame], CFG, EVENT, 0.5, instrument="synthetic/SYN")
    path = ours.write_parquet(tmp_path / "f.parquet")
    back = pd.read_parquet(path)
    assert list(back.columns) == ["ts_recv", "event_idx", *ours.feature_names]
    np.testing.assert_array_equal(back["imbalance_l1"].to_numpy(), ours.columns["imbalance_l1"])
    meta = ours.read_metadata(path)
    assert meta["clock"] == "event"
    assert meta["config_id"] == CFG.id


def test_add_labels_uses_the_first_book_state_at_or_after_t_plus_h() -> None:
    frame = synthetic_frame(9, 1500)
    builder = FeatureBuilder(CFG, ClockSpec(kind="time", interval_ns=2 * MS), 0.5, keep_mid=True)
    parts = [builder.feed(frame), builder.finish()]
    feats, _ = build_features([frame], CFG, ClockSpec(kind="time", interval_ns=2 * MS), 0.5)
    book_ts, book_mid = builder.book_mid()
    labelled = add_labels(feats, book_ts, book_mid, [4 * MS])
    assert labelled.labels == ("label_fwd_ret_bps_4ms", "label_end_ns_4ms")
    assert sum(len(p["ts_recv"]) for p in parts) == len(feats)
    got = labelled.columns["label_fwd_ret_bps_4ms"]
    for k, t in enumerate(feats.columns["ts_recv"][:200]):
        j = int(np.searchsorted(book_ts, t + 4 * MS, side="left"))
        want = 1e4 * (book_mid[j] / feats.columns["mid"][k] - 1) if j < len(book_ts) else np.nan
        np.testing.assert_allclose(got[k], want, rtol=1e-12, equal_nan=True)
        end = labelled.columns["label_end_ns_4ms"][k]
        assert end == (book_ts[j] if j < len(book_ts) else np.iinfo(np.int64).max)
        assert end >= t + 4 * MS


def test_microprice_warmup_fits_on_the_first_part_only_and_ignores_chunking() -> None:
    from l2trader.features.microprice import MicropriceConfig, fit_microprice
    from l2trader.features.microprice_warmup import MicropriceWarmupConfig

    frame = synthetic_frame(4, 20_000)
    warm = MicropriceWarmupConfig(
        warmup_ns=300 * MS, model=MicropriceConfig(dt_ns=MS, n_imbalance=4, min_transitions=20)
    )
    one, b1 = build_features([frame], CFG, EVENT, 0.5, microprice_warmup=warm)
    split, _ = build_features(
        chunks(frame, [10, 777, 1500]), CFG, EVENT, 0.5, microprice_warmup=warm
    )
    np.testing.assert_array_equal(split.columns["microprice"], one.columns["microprice"])
    assert b1.warmup is not None
    fitted_at = b1.warmup.fitted_at
    assert fitted_at == frame.ts_recv[0] + 300 * MS
    ts = one.columns["ts_recv"]
    assert np.isnan(one.columns["microprice"][ts < fitted_at]).all()
    after = ts >= fitted_at
    assert np.isfinite(one.columns["microprice"][after]).mean() > 0.4  # NaN: spread > 2 ticks
    # the same model as a fit on exactly the warm-up states
    w = frame.ts_recv < fitted_at
    model = fit_microprice(
        frame.ts_recv[w], frame.bid_ticks[w, 0], frame.bid_qty[w, 0],
        frame.ask_ticks[w, 0], frame.ask_qty[w, 0], config=warm.model,
    )  # fmt: skip
    np.testing.assert_array_equal(b1.warmup.model.g_star, model.g_star)


def test_read_parquet_restores_the_frame(tmp_path: pd.DataFrame) -> None:
    from l2trader.features.frame import FeatureFrame

    frame = synthetic_frame(6, 600)
    ours, builder = build_features([frame], CFG, EVENT, 0.5, keep_mid=True)
    labelled = add_labels(ours, *builder.book_mid(), [2 * MS])
    back = FeatureFrame.read_parquet(labelled.write_parquet(tmp_path / "f.parquet"))
    assert back.specs == labelled.specs
    assert back.labels == labelled.labels
    assert (back.clock, back.config_id) == ("event", CFG.id)
    for name, col in labelled.columns.items():
        np.testing.assert_array_equal(back.columns[name], col, err_msg=name)
    assert "mid" not in back.stationary_features()
    assert "imbalance_l1" in back.stationary_features()


def test_online_microprice_equals_the_batch_with_the_same_model() -> None:
    from l2trader.features.microprice import MicropriceConfig, fit_microprice

    frame = synthetic_frame(8, 6000)
    cfg = MicropriceConfig(dt_ns=MS, n_imbalance=4, min_transitions=20)
    model = fit_microprice(
        frame.ts_recv, frame.bid_ticks[:, 0], frame.bid_qty[:, 0],
        frame.ask_ticks[:, 0], frame.ask_qty[:, 0], config=cfg,
    )  # fmt: skip
    batch, _ = build_features([frame], CFG, EVENT, 0.5, microprice=model)
    online = OnlineFeatures(CFG, 0.5, microprice=model)
    got = []
    for i in range(len(frame)):
        online.update(
            int(frame.ts_recv[i]), int(frame.event_idx[i]),
            frame.bid_ticks[i], frame.bid_qty[i], frame.ask_ticks[i], frame.ask_qty[i],
        )  # fmt: skip
        got.append(online.value["microprice"])
    np.testing.assert_array_equal(np.array(got), batch.columns["microprice"])
    assert np.isfinite(batch.columns["microprice"]).mean() > 0.4
