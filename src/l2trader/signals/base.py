"""The signal-model protocol and the C4 signal series.

A model maps a feature matrix (rows of a C3 frame, columns ``features_used``) to a score:
the predicted forward mid return in bps over ``horizon_ns``. NaN means no opinion (e.g. a
feature in warm-up). Every model is fitted on past rows only (see
:mod:`l2trader.signals.fit`) and serialises to a JSON-safe dict for artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Self

import numpy as np
from numpy.typing import NDArray

from l2trader.errors import ModelError
from l2trader.schema import SIGNAL_DTYPE

__all__ = ["SignalModel", "SignalSeries", "complete_rows"]


class SignalModel(Protocol):
    """What the engine and the walk-forward driver need from a model."""

    name: str
    """Model kind, e.g. ``ridge``; the artifact loader dispatches on it."""
    features_used: tuple[str, ...]
    """C3 feature columns, in the order of the matrix columns."""

    def fit(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> Self:
        """Fit on ``x`` (n, k) and forward returns ``y`` (n,) in bps; NaN rows are skipped."""
        ...

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Scores in bps, NaN where a feature is NaN."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters (fitted state included)."""
        ...


def complete_rows(
    x: NDArray[np.float64], y: NDArray[np.float64] | None = None
) -> NDArray[np.bool_]:
    """Rows where every feature (and the label, when given) is finite.

    Examples
    --------
    >>> complete_rows(np.array([[1.0, 2.0], [np.nan, 1.0]]), np.array([0.5, 0.5])).tolist()
    [True, False]
    """
    ok = np.asarray(np.isfinite(x).all(axis=1), dtype=np.bool_)
    if y is not None:
        ok &= np.isfinite(y)
    return ok


def check_matrix(x: NDArray[np.float64], features: tuple[str, ...], model: str) -> None:
    """Raise :class:`ModelError` when ``x`` does not have one column per feature."""
    if x.ndim != 2 or x.shape[1] != len(features):
        raise ModelError(f"{model}: expected (n, {len(features)}) for {features}, got {x.shape}")


@dataclass(frozen=True)
class SignalSeries:
    """Contract C4: a score per sample time, with the model's metadata."""

    ts_recv: NDArray[np.int64]
    score: NDArray[np.float64]
    name: str
    horizon_ns: int
    features_used: tuple[str, ...]
    config_id: str

    def __len__(self) -> int:
        return len(self.ts_recv)

    def to_array(self) -> NDArray[np.void]:
        """The series as a ``SIGNAL_DTYPE`` record array."""
        out = np.empty(len(self), dtype=SIGNAL_DTYPE)
        out["ts_recv"] = self.ts_recv
        out["score"] = self.score
        return out
