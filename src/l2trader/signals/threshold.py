"""Rule baseline: each feature votes its sign beyond a threshold; the vote is scaled to bps.

For features ``x_j`` (e.g. ``imbalance_l1``, ``ofi_l1_1s``, a micro-price deviation) the fit
sets ``thr_j`` to the ``quantile`` of ``|x_j|`` on the training rows; the vote is
``v = mean_j sign(x_j) 1{|x_j| > thr_j}`` in [-1, 1], and the score is ``beta * v`` with
``beta`` the least-squares slope (through the origin) of the label on ``v``: the average
forward return, in bps, of a unanimous vote.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import field_validator

from l2trader.config import FrozenConfig
from l2trader.errors import ModelError
from l2trader.signals.base import check_matrix, complete_rows

__all__ = ["ThresholdConfig", "ThresholdModel"]


class ThresholdConfig(FrozenConfig):
    """Features that vote and the quantile of ``|x|`` above which they do."""

    features: tuple[str, ...] = ("imbalance_l1",)
    quantile: float = 0.8
    min_rows: int = 50

    @field_validator("quantile")
    @classmethod
    def _unit(cls, v: float) -> float:
        if not 0.0 <= v < 1.0:
            raise ValueError(f"quantile must be in [0, 1), got {v}")
        return v


class ThresholdModel:
    """Sign votes beyond fitted thresholds, scaled to bps.

    Examples
    --------
    >>> x = np.array([[-2.0], [-0.1], [0.1], [2.0]] * 20)
    >>> y = np.array([-4.0, 0.0, 0.0, 4.0] * 20)
    >>> m = ThresholdModel(ThresholdConfig(features=("imb",), quantile=0.5)).fit(x, y)
    >>> m.predict(np.array([[3.0], [0.05], [-3.0]])).tolist()
    [4.0, 0.0, -4.0]
    """

    name = "threshold"

    def __init__(self, config: ThresholdConfig) -> None:
        self.config = config
        self.features_used = config.features
        self.thresholds: NDArray[np.float64] | None = None
        self.beta = 0.0

    def votes(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Mean sign vote per row in [-1, 1]; NaN where a feature is NaN."""
        if self.thresholds is None:
            raise ModelError("threshold: used before fit()")
        check_matrix(x, self.features_used, self.name)
        v = np.sign(x) * (np.abs(x) > self.thresholds)
        out: NDArray[np.float64] = v.mean(axis=1)
        return out

    def fit(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> Self:
        """Thresholds from the training ``|x|`` quantiles; ``beta`` by least squares."""
        check_matrix(x, self.features_used, self.name)
        ok = complete_rows(x, y)
        if ok.sum() < self.config.min_rows:
            raise ModelError(
                f"threshold: {int(ok.sum())} complete rows < min_rows={self.config.min_rows}"
            )
        self.thresholds = np.quantile(np.abs(x[ok]), self.config.quantile, axis=0)
        v = self.votes(x[ok])
        denom = float(v @ v)
        self.beta = float(v @ y[ok]) / denom if denom > 0 else 0.0
        return self

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``beta * vote`` in bps."""
        return self.beta * self.votes(x)

    def to_dict(self) -> dict[str, Any]:
        """Config and fitted state, JSON-safe."""
        if self.thresholds is None:
            raise ModelError("threshold: to_dict() before fit()")
        return {
            "config": self.config.model_dump(mode="json"),
            "thresholds": self.thresholds.tolist(),
            "beta": self.beta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdModel:
        """Inverse of :meth:`to_dict`."""
        model = cls(ThresholdConfig(**data["config"]))
        model.thresholds = np.asarray(data["thresholds"], dtype=np.float64)
        model.beta = float(data["beta"])
        return model
