"""Ridge vs an independent least-squares formulation; threshold rule; artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from l2trader.errors import ArtifactError, ModelError
from l2trader.signals.artifact import ModelArtifact, check_features, load_model, save_model
from l2trader.signals.linear import RidgeConfig, RidgeModel
from l2trader.signals.threshold import ThresholdConfig, ThresholdModel

FEATURES = ("a", "b", "c")


def data(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1] + [0.0, 2.0, -1.0]
    y = 2.0 * x[:, 0] - 0.3 * x[:, 1] + rng.normal(size=n)
    return x, y


@pytest.mark.parametrize("alpha", [0.0, 0.1, 3.0])
def test_ridge_equals_least_squares_on_the_augmented_system(alpha: float) -> None:
    x, y = data(1)
    x[5, 1] = np.nan  # incomplete rows are skipped
    model = RidgeModel(RidgeConfig(features=FEATURES, alpha=alpha)).fit(x, y)
    ok = np.isfinite(x).all(axis=1)
    xs, ys = x[ok], y[ok]
    z = (xs - xs.mean(0)) / xs.std(0)
    n = len(z)
    # min |y - b0 - z b|^2 + alpha n |b|^2  ==  lstsq on [z 1; sqrt(alpha n) I 0]
    design = np.vstack(
        [
            np.column_stack([z, np.ones(n)]),
            np.hstack([np.sqrt(alpha * n) * np.eye(3), np.zeros((3, 1))]),
        ]
    )
    target = np.concatenate([ys, np.zeros(3)])
    sol = np.linalg.lstsq(design, target, rcond=None)[0]
    np.testing.assert_allclose(model.coef, sol[:3], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.intercept, sol[3], rtol=1e-9, atol=1e-12)
    pred = model.predict(x)
    assert np.isnan(pred[5])
    np.testing.assert_allclose(pred[ok], (z @ sol[:3]) + sol[3], rtol=1e-9, atol=1e-9)


def test_ridge_refuses_to_predict_before_fit_or_fit_on_too_few_rows() -> None:
    x, y = data(2, 30)
    with pytest.raises(ModelError, match="before fit"):
        RidgeModel(RidgeConfig(features=FEATURES)).predict(x)
    with pytest.raises(ModelError, match="30 complete rows < min_rows=50"):
        RidgeModel(RidgeConfig(features=FEATURES)).fit(x, y)
    with pytest.raises(ModelError, match=r"expected \(n, 3\)"):
        RidgeModel(RidgeConfig(features=FEATURES)).fit(x[:, :2], y)


def test_threshold_votes_and_scale() -> None:
    x = np.array([[1.0, -5.0], [0.1, 5.0], [-1.0, -5.0], [0.0, 0.0]] * 25)
    y = np.array([2.0, 1.0, -3.0, 0.0] * 25)
    model = ThresholdModel(ThresholdConfig(features=("i", "o"), quantile=0.5)).fit(x, y)
    # |x| medians: 0.55 and 5.0 -> only feature 0 votes on rows 0 and 2 (|o| = 5 is not > 5)
    np.testing.assert_array_equal(model.thresholds, [0.55, 5.0])
    np.testing.assert_array_equal(model.votes(x[:4]), [0.5, 0.0, -0.5, 0.0])
    # beta = sum(v y) / sum(v^2) = (0.5 * 2 + 0.5 * 3) / (0.25 + 0.25) = 5
    assert model.beta == 5.0
    np.testing.assert_array_equal(model.predict(np.array([[2.0, 6.0], [np.nan, 1.0]]))[:1], [5.0])
    assert np.isnan(model.predict(np.array([[np.nan, 1.0]]))[0])


def test_artifact_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    x, y = data(3)
    model = RidgeModel(RidgeConfig(features=FEATURES, alpha=0.5)).fit(x, y)
    art = ModelArtifact(
        model, 1_000_000_000, "label_fwd_ret_bps_1s", "cfg", "event", "X/Y", {"ic": 0.1}
    )
    path = tmp_path / "m.json"
    digest = save_model(path, art)
    back = load_model(path)
    assert len(digest) == 64
    np.testing.assert_array_equal(back.model.predict(x), model.predict(x))
    assert back.metrics == {"ic": 0.1}
    doc = json.loads(path.read_text())
    doc["payload"]["model"]["coef"][0] += 1e-6
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(path)


def test_check_features_names_what_is_missing_or_different() -> None:
    model = ThresholdModel(ThresholdConfig(features=("imbalance_l1",)))
    model.thresholds = np.array([0.5])
    art = ModelArtifact(model, 1, "l", "cfg-a", "event", "X/Y", {})
    check_features(art, ["mid", "imbalance_l1"], "cfg-a", "event")
    with pytest.raises(ArtifactError, match="lacks"):
        check_features(art, ["mid"], "cfg-a", "event")
    with pytest.raises(ArtifactError, match="feature config"):
        check_features(art, ["imbalance_l1"], "cfg-b", "event")
    with pytest.raises(ArtifactError, match="clock"):
        check_features(art, ["imbalance_l1"], "cfg-a", "time_1s")


def test_lightgbm_model_learns_a_nonlinear_signal_and_round_trips(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm", reason="the optional [ml] extra is not installed")
    from l2trader.signals.gbm import GBMConfig, GBMModel

    rng = np.random.default_rng(5)
    x = rng.normal(size=(4000, 3))
    y = 3.0 * np.sign(x[:, 0]) * (np.abs(x[:, 0]) > 1) + rng.normal(scale=0.5, size=4000)
    model = GBMModel(GBMConfig(features=FEATURES, n_estimators=100)).fit(x, y)
    grid = np.array([[-2.0, 0, 0], [0.0, 0, 0], [2.0, 0, 0], [np.nan, 0, 0]])
    pred = model.predict(grid)
    assert pred[0] < -2.0
    assert abs(pred[1]) < 0.5
    assert pred[2] > 2.0
    assert np.isnan(pred[3])
    art = ModelArtifact(model, 1, "l", "cfg", "event", "X/Y", {})
    save_model(tmp_path / "gbm.json", art)
    np.testing.assert_array_equal(load_model(tmp_path / "gbm.json").model.predict(grid), pred)
