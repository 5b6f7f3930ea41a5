"""Contract C3: the feature frame (columns of equal length plus metadata), Parquet I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from l2trader.features.registry import FeatureSpec

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FeatureFrame"]

_META_KEY = "l2trader.features"


@dataclass(frozen=True)
class FeatureFrame:
    """C3: ``ts_recv`` (ns), ``event_idx``, one f8 column per feature, optional labels.

    Row ``i`` uses only events with ``ts_recv <= ts_recv[i]`` (labels excepted: the
    ``label_*`` columns are the only look-ahead, made by :mod:`l2trader.features.labels`).
    Warm-up rows are NaN.
    """

    columns: dict[str, NDArray[np.generic]]
    specs: tuple[FeatureSpec, ...]
    clock: str
    instrument: str
    config_id: str
    labels: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.columns["ts_recv"])

    @property
    def feature_names(self) -> list[str]:
        """Feature columns (no time, index or label columns), in order."""
        return [s.name for s in self.specs]

    def matrix(self, names: list[str] | None = None) -> NDArray[np.float64]:
        """Features as a float64 ``(n, k)`` array (all features when ``names`` is None)."""
        names = self.feature_names if names is None else names
        return np.column_stack([self.columns[n] for n in names]).astype(np.float64, copy=False)

    def with_columns(self, extra: dict[str, NDArray[np.generic]], *, labels: bool) -> FeatureFrame:
        """A new frame with ``extra`` columns appended (``labels``: they are label columns)."""
        new_labels = self.labels + tuple(extra) if labels else self.labels
        return FeatureFrame(
            {**self.columns, **extra}, self.specs, self.clock, self.instrument, self.config_id,
            new_labels,
        )  # fmt: skip

    def to_polars(self) -> pl.DataFrame:
        """All columns as a polars DataFrame."""
        import polars as pl

        return pl.DataFrame(self.columns)

    def metadata(self) -> dict[str, object]:
        """JSON-safe metadata: clock, instrument, config id, specs, label columns."""
        return {
            "clock": self.clock,
            "instrument": self.instrument,
            "config_id": self.config_id,
            "labels": list(self.labels),
            "specs": [
                {
                    "name": s.name,
                    "family": s.family.name,
                    "units": s.family.units,
                    "params": s.params,
                }
                for s in self.specs
            ],
        }

    def write_parquet(self, path: Path) -> Path:
        """Write to ``path`` atomically (temp file + rename), metadata in the schema."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(self.columns)
        meta = {_META_KEY: json.dumps(self.metadata())}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
        return path

    @classmethod
    def read_parquet(cls, path: Path) -> FeatureFrame:
        """Read a file written by :meth:`write_parquet` (columns, specs and metadata)."""
        import pyarrow.parquet as pq

        from l2trader.features.registry import FAMILIES

        meta: dict[str, Any] = cls.read_metadata(path)
        table = pq.read_table(path)
        columns = {name: table.column(name).to_numpy() for name in table.column_names}
        specs = tuple(
            FeatureSpec(s["name"], FAMILIES[s["family"]], dict(s["params"])) for s in meta["specs"]
        )
        return cls(
            columns, specs, str(meta["clock"]), str(meta["instrument"]), str(meta["config_id"]),
            tuple(meta["labels"]),
        )  # fmt: skip

    def stationary_features(self) -> list[str]:
        """Features that are not price levels (``mid``, ``wmid``, ``microprice``): model inputs."""
        return [s.name for s in self.specs if s.family.units != "price"]

    @staticmethod
    def read_metadata(path: Path) -> dict[str, Any]:
        """The metadata dict written by :meth:`write_parquet`."""
        import pyarrow.parquet as pq

        raw = pq.read_schema(path).metadata or {}
        return dict(json.loads(raw[_META_KEY.encode()]))
