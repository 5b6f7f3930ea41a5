"""Walk-forward fitting on a feature frame: out-of-sample scores, per-fold IC, final model.

Each fold fits a fresh model on its purged training rows (every training label ends before
the test block starts, using the exact ``label_end_ns_<h>`` column when the frame has it)
and predicts its test block, so every score in :attr:`WalkForwardResult.signal` is out of
sample; rows before the first test block are NaN. The final model is fitted on all rows,
for deployment; its quality is the out-of-sample report, never an in-sample fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from l2trader.errors import ConfigError
from l2trader.features.build import LABEL_END_PREFIX
from l2trader.features.clocks import parse_duration
from l2trader.features.frame import FeatureFrame
from l2trader.features.labels import LABEL_PREFIX
from l2trader.signals.base import SignalModel, SignalSeries
from l2trader.signals.evaluate import EvaluationReport, evaluate_signal, information_coefficient
from l2trader.signals.walkforward import WalkForwardConfig, walk_forward_splits

__all__ = ["FoldResult", "WalkForwardResult", "label_horizon_ns", "walk_forward_fit"]


@dataclass(frozen=True)
class FoldResult:
    """One fold: sizes, the test block's span (ns) and the out-of-sample IC at the label."""

    fold: int
    n_train: int
    n_test: int
    test_start_ns: int
    test_end_ns: int
    ic: float


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-sample signal (C4), per-fold results, the OOS evaluation and the final model."""

    signal: SignalSeries
    folds: tuple[FoldResult, ...]
    report: EvaluationReport
    label: str
    model: SignalModel


def label_horizon_ns(label: str) -> int:
    """Horizon (ns) of a ``label_fwd_ret_bps_<h>`` column.

    Examples
    --------
    >>> label_horizon_ns("label_fwd_ret_bps_100ms")
    100000000
    """
    if not label.startswith(LABEL_PREFIX):
        raise ConfigError(f"{label!r} is not a forward-return label column ({LABEL_PREFIX}<h>)")
    return parse_duration(label.removeprefix(LABEL_PREFIX))


def walk_forward_fit(
    frame: FeatureFrame,
    make_model: Callable[[], SignalModel],
    label: str,
    config: WalkForwardConfig,
    *,
    bucket_ns: int = 60_000_000_000,
) -> WalkForwardResult:
    """Fit ``make_model()`` walk-forward on ``frame`` against ``label``; see the module doc."""
    if label not in frame.columns:
        raise ConfigError(f"feature frame has no label {label!r}; labels: {list(frame.labels)}")
    horizon = label_horizon_ns(label)
    ts = np.asarray(frame.columns["ts_recv"], dtype=np.int64)
    y = np.asarray(frame.columns[label], dtype=np.float64)
    probe = make_model()
    x = frame.matrix(list(probe.features_used))
    end_col = label.replace(LABEL_PREFIX, LABEL_END_PREFIX)
    ends = np.asarray(frame.columns[end_col], dtype=np.int64) if end_col in frame.columns else None
    folds = walk_forward_splits(ts, horizon, config, label_end_ns=ends)
    score = np.full(len(ts), np.nan)
    results = []
    for k, fold in enumerate(folds):
        model = make_model().fit(x[fold.train], y[fold.train])
        score[fold.test] = model.predict(x[fold.test])
        ic = information_coefficient(score[fold.test], y[fold.test])
        results.append(
            FoldResult(k, len(fold.train), len(fold.test), fold.test_start_ns, fold.test_end_ns, ic)
        )
    final = make_model().fit(x, y)
    report = _evaluate(frame, ts, score, bucket_ns)
    signal = SignalSeries(
        ts, score, final.name, horizon, tuple(final.features_used), frame.config_id
    )
    return WalkForwardResult(signal, tuple(results), report, label, final)


def _evaluate(
    frame: FeatureFrame, ts: NDArray[np.int64], score: NDArray[np.float64], bucket_ns: int
) -> EvaluationReport:
    """IC/hit rate/decay of the out-of-sample rows against every label of the frame."""
    labels = sorted((c for c in frame.labels if c.startswith(LABEL_PREFIX)), key=label_horizon_ns)
    matrix = np.column_stack([np.asarray(frame.columns[c], dtype=np.float64) for c in labels])
    oos = np.isfinite(score)
    return evaluate_signal(
        ts[oos], score[oos], matrix[oos], [label_horizon_ns(c) for c in labels], bucket_ns
    )
