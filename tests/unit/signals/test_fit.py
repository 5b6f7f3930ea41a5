"""Walk-forward fitting: out-of-sample only, exact purging on label end times, final model."""

from __future__ import annotations

import numpy as np
import pytest

from l2trader.errors import ConfigError
from l2trader.features.frame import FeatureFrame
from l2trader.features.registry import FAMILIES, FeatureSpec
from l2trader.signals.fit import label_horizon_ns, walk_forward_fit
from l2trader.signals.linear import RidgeConfig, RidgeModel
from l2trader.signals.walkforward import WalkForwardConfig, walk_forward_splits

S = 1_000_000_000


def frame(seed: int, n: int = 3000) -> FeatureFrame:
    """Two features; the 1 s label is 2 * f1 + noise; label ends 1-3 s after t."""
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 4, size=n)) * (S // 2)
    f1, f2 = rng.normal(size=n), rng.normal(size=n)
    y = 2.0 * f1 + rng.normal(size=n)
    end = ts + S + rng.integers(0, 2, size=n) * S
    specs = (FeatureSpec("f1", FAMILIES["imbalance"]), FeatureSpec("f2", FAMILIES["imbalance"]))
    cols = {"ts_recv": ts, "event_idx": np.arange(n), "f1": f1, "f2": f2}
    cols |= {"label_fwd_ret_bps_1s": y, "label_end_ns_1s": end, "label_fwd_ret_bps_10s": y * 0.5}
    labels = ("label_fwd_ret_bps_1s", "label_end_ns_1s", "label_fwd_ret_bps_10s")
    return FeatureFrame(cols, specs, "event", "X/Y", "cfg", labels)


def make() -> RidgeModel:
    return RidgeModel(RidgeConfig(features=("f1", "f2"), alpha=0.01))


def test_scores_are_out_of_sample_and_equal_a_manual_refit_per_fold() -> None:
    ff = frame(1)
    cfg = WalkForwardConfig(n_folds=4)
    res = walk_forward_fit(ff, make, "label_fwd_ret_bps_1s", cfg)
    ts, x, y = ff.columns["ts_recv"], ff.matrix(["f1", "f2"]), ff.columns["label_fwd_ret_bps_1s"]
    folds = walk_forward_splits(ts, S, cfg, label_end_ns=ff.columns["label_end_ns_1s"])
    assert np.isnan(res.signal.score[: folds[0].test[0]]).all()
    for fold in folds:
        want = make().fit(x[fold.train], y[fold.train]).predict(x[fold.test])
        np.testing.assert_array_equal(res.signal.score[fold.test], want)
    assert [f.n_test for f in res.folds] == [len(f.test) for f in folds]
    assert min(f.ic for f in res.folds) > 0.8
    assert res.report.decay.horizons_ns.tolist() == [S, 10 * S]
    assert res.report.n_rows == sum(len(f.test) for f in folds)
    assert res.signal.to_array().dtype.names == ("ts_recv", "score")


def test_no_training_label_reaches_into_its_test_block() -> None:
    ff = frame(2)
    ends = ff.columns["label_end_ns_1s"]
    for n_folds in (2, 5, 8):
        folds = walk_forward_splits(
            ff.columns["ts_recv"], S, WalkForwardConfig(n_folds=n_folds), label_end_ns=ends
        )
        for fold in folds:
            assert ends[fold.train].max() < fold.test_start_ns
            assert ff.columns["ts_recv"][fold.train].max() < fold.test_start_ns


def test_final_model_is_fitted_on_all_rows() -> None:
    ff = frame(3)
    res = walk_forward_fit(ff, make, "label_fwd_ret_bps_1s", WalkForwardConfig(n_folds=3))
    x, y = ff.matrix(["f1", "f2"]), ff.columns["label_fwd_ret_bps_1s"]
    np.testing.assert_array_equal(res.model.predict(x), make().fit(x, y).predict(x))


def test_bad_labels_are_refused_with_the_available_names() -> None:
    with pytest.raises(ConfigError, match="no label 'label_fwd_ret_bps_5s'"):
        walk_forward_fit(frame(4), make, "label_fwd_ret_bps_5s", WalkForwardConfig())
    with pytest.raises(ConfigError, match="not a forward-return label"):
        label_horizon_ns("mid")
