"""Optional gradient-boosted trees (LightGBM, the ``ml`` extra) on the same features.

Imported lazily: l2trader works without LightGBM; :func:`lightgbm_available` says whether
this model can be used. The fitted booster is stored as LightGBM's own text model string.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from l2trader.config import FrozenConfig
from l2trader.errors import ModelError
from l2trader.signals.base import check_matrix, complete_rows

__all__ = ["GBMConfig", "GBMModel", "lightgbm_available"]


def lightgbm_available() -> bool:
    """True when the ``lightgbm`` package can be imported."""
    return importlib.util.find_spec("lightgbm") is not None


class GBMConfig(FrozenConfig):
    """A small, regularised booster (it must not memorise microstructure noise)."""

    features: tuple[str, ...]
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 200
    subsample: float = 0.8
    seed: int = 7
    min_rows: int = 500


class GBMModel:
    """LightGBM regression of the forward return (bps) on the features."""

    name = "lightgbm"

    def __init__(self, config: GBMConfig) -> None:
        self.config = config
        self.features_used = config.features
        self.booster: Any = None

    def fit(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> Self:
        """Fit on the complete rows (LightGBM could take NaN; we keep the rule of the others)."""
        if not lightgbm_available():
            raise ModelError("lightgbm is not installed: pip install 'l2trader[ml]'")
        import lightgbm as lgb

        check_matrix(x, self.features_used, self.name)
        ok = complete_rows(x, y)
        if ok.sum() < self.config.min_rows:
            raise ModelError(
                f"lightgbm: {int(ok.sum())} complete rows < min_rows={self.config.min_rows}"
            )
        c = self.config
        params = {
            "objective": "regression",
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "min_child_samples": c.min_child_samples,
            "bagging_fraction": c.subsample,
            "bagging_freq": 1,
            "seed": c.seed,
            "deterministic": True,
            "num_threads": 1,
            "verbose": -1,
        }
        data = lgb.Dataset(x[ok], label=y[ok], feature_name=list(self.features_used))
        self.booster = lgb.train(params, data, num_boost_round=c.n_estimators)
        return self

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Scores in bps, NaN where a feature is NaN."""
        if self.booster is None:
            raise ModelError("lightgbm: predict() before fit()")
        check_matrix(x, self.features_used, self.name)
        out = np.full(len(x), np.nan)
        ok = complete_rows(x)
        if ok.any():
            out[ok] = self.booster.predict(x[ok])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Config and the booster's text model."""
        if self.booster is None:
            raise ModelError("lightgbm: to_dict() before fit()")
        return {
            "config": self.config.model_dump(mode="json"),
            "booster": self.booster.model_to_string(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GBMModel:
        """Inverse of :meth:`to_dict` (needs lightgbm)."""
        import lightgbm as lgb

        model = cls(GBMConfig(**data["config"]))
        model.booster = lgb.Booster(model_str=data["booster"])
        return model
