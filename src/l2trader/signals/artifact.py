"""Model artifacts: a fitted model, the feature spec it needs, and a checksum, as JSON.

The file holds ``{"format": 1, "sha256": ..., "payload": {...}}`` where the checksum is
over the canonical JSON of the payload. Loading verifies the checksum and the format, and
:func:`check_features` verifies that a feature frame has what the model was fitted on
(same names, same ``FeatureConfig`` id, same clock).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from l2trader.errors import ArtifactError
from l2trader.signals.base import SignalModel
from l2trader.signals.gbm import GBMModel
from l2trader.signals.linear import RidgeModel
from l2trader.signals.threshold import ThresholdModel

__all__ = ["ModelArtifact", "check_features", "load_model", "register_loader", "save_model"]

FORMAT: Final = 1
_LOADERS: dict[str, Callable[[dict[str, Any]], SignalModel]] = {
    RidgeModel.name: RidgeModel.from_dict,
    ThresholdModel.name: ThresholdModel.from_dict,
    GBMModel.name: GBMModel.from_dict,
}


def register_loader(name: str, loader: Callable[[dict[str, Any]], SignalModel]) -> None:
    """Make :func:`load_model` able to rebuild models of kind ``name`` (e.g. optional extras)."""
    _LOADERS[name] = loader


@dataclass(frozen=True)
class ModelArtifact:
    """A loaded model with what it was fitted on."""

    model: SignalModel
    horizon_ns: int
    label: str
    feature_config_id: str
    clock: str
    instrument: str
    metrics: dict[str, Any]


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


def save_model(path: Path, artifact: ModelArtifact) -> str:
    """Write ``artifact`` atomically to ``path``; return its sha256."""
    payload = {
        "kind": artifact.model.name,
        "model": artifact.model.to_dict(),
        "features_used": list(artifact.model.features_used),
        "horizon_ns": artifact.horizon_ns,
        "label": artifact.label,
        "feature_config_id": artifact.feature_config_id,
        "clock": artifact.clock,
        "instrument": artifact.instrument,
        "metrics": artifact.metrics,
    }
    text = _canonical(payload)
    digest = hashlib.sha256(text.encode()).hexdigest()
    doc = json.dumps({"format": FORMAT, "sha256": digest, "payload": payload}, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(doc)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)
    return digest


def load_model(path: Path) -> ModelArtifact:
    """Read and verify an artifact written by :func:`save_model`."""
    try:
        doc = json.loads(path.read_text())
        payload, digest = doc["payload"], doc["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{path}: not a model artifact ({exc})") from exc
    if doc.get("format") != FORMAT:
        raise ArtifactError(f"{path}: format {doc.get('format')!r}, expected {FORMAT}")
    actual = hashlib.sha256(_canonical(payload).encode()).hexdigest()
    if actual != digest:
        raise ArtifactError(
            f"{path}: checksum mismatch (file {digest[:12]}, content {actual[:12]})"
        )
    loader = _LOADERS.get(payload["kind"])
    if loader is None:
        raise ArtifactError(f"{path}: unknown model kind {payload['kind']!r}")
    return ModelArtifact(
        model=loader(payload["model"]),
        horizon_ns=int(payload["horizon_ns"]),
        label=str(payload["label"]),
        feature_config_id=str(payload["feature_config_id"]),
        clock=str(payload["clock"]),
        instrument=str(payload["instrument"]),
        metrics=dict(payload["metrics"]),
    )


def check_features(artifact: ModelArtifact, names: list[str], config_id: str, clock: str) -> None:
    """Raise :class:`ArtifactError` when a feature frame does not match the model's spec."""
    missing = [f for f in artifact.model.features_used if f not in names]
    if missing:
        raise ArtifactError(f"feature frame lacks {missing} needed by the model")
    if config_id != artifact.feature_config_id:
        theirs = artifact.feature_config_id[:12]
        raise ArtifactError(f"feature config {config_id[:12]} differs from the model's {theirs}")
    if clock != artifact.clock:
        raise ArtifactError(f"clock {clock!r} differs from the model's {artifact.clock!r}")
