"""Ridge regression on standardised features (numpy only): the linear signal model."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from l2trader.config import FrozenConfig
from l2trader.errors import ModelError
from l2trader.signals.base import check_matrix, complete_rows

__all__ = ["RidgeConfig", "RidgeModel"]


class RidgeConfig(FrozenConfig):
    """Ridge penalty and the features to use.

    ``alpha`` multiplies ``n`` (rows) so its scale does not depend on the sample size: the
    fit minimises ``mean((y - b0 - z @ b)^2) + alpha * |b|^2`` on standardised ``z``.
    """

    features: tuple[str, ...]
    alpha: float = 1.0
    min_rows: int = 50


class RidgeModel:
    """Closed-form ridge on z-scored features; predicts the forward return in bps.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 2))
    >>> y = 3.0 * x[:, 0] + rng.normal(scale=0.1, size=500)
    >>> m = RidgeModel(RidgeConfig(features=("a", "b"), alpha=0.0)).fit(x, y)
    >>> round(float(m.predict(np.array([[1.0, 0.0]]))[0]), 1)
    3.0
    """

    name = "ridge"

    def __init__(self, config: RidgeConfig) -> None:
        self.config = config
        self.features_used = config.features
        self.mean: NDArray[np.float64] | None = None
        self.scale: NDArray[np.float64] | None = None
        self.coef: NDArray[np.float64] | None = None
        self.intercept = 0.0
        self.n_fit = 0

    def fit(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> Self:
        """Fit on the complete rows of ``x`` (n, k) and ``y`` (bps)."""
        check_matrix(x, self.features_used, self.name)
        ok = complete_rows(x, y)
        if ok.sum() < self.config.min_rows:
            raise ModelError(
                f"ridge: {int(ok.sum())} complete rows < min_rows={self.config.min_rows}"
            )
        xs, ys = x[ok], y[ok]
        self.mean = xs.mean(axis=0)
        std = xs.std(axis=0)
        self.scale = np.where(std > 0, std, 1.0)
        z = (xs - self.mean) / self.scale
        n, k = z.shape
        self.intercept = float(ys.mean())
        gram = z.T @ z + self.config.alpha * n * np.eye(k)
        self.coef = np.linalg.solve(gram, z.T @ (ys - self.intercept))
        self.n_fit = n
        return self

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Scores in bps; NaN on rows with a NaN feature."""
        if self.coef is None or self.mean is None or self.scale is None:
            raise ModelError("ridge: predict() before fit()")
        check_matrix(x, self.features_used, self.name)
        out: NDArray[np.float64] = self.intercept + ((x - self.mean) / self.scale) @ self.coef
        return out

    def to_dict(self) -> dict[str, Any]:
        """Config and fitted state, JSON-safe."""
        if self.coef is None or self.mean is None or self.scale is None:
            raise ModelError("ridge: to_dict() before fit()")
        return {
            "config": self.config.model_dump(mode="json"),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "n_fit": self.n_fit,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RidgeModel:
        """Inverse of :meth:`to_dict`."""
        model = cls(RidgeConfig(**data["config"]))
        model.mean = np.asarray(data["mean"], dtype=np.float64)
        model.scale = np.asarray(data["scale"], dtype=np.float64)
        model.coef = np.asarray(data["coef"], dtype=np.float64)
        model.intercept = float(data["intercept"])
        model.n_fit = int(data["n_fit"])
        return model
