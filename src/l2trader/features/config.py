"""Parameters of the feature library (which levels, windows and distances to compute)."""

from __future__ import annotations

from pydantic import field_validator

from l2trader.config import FrozenConfig

__all__ = ["FeatureConfig"]

_S = 1_000_000_000


class FeatureConfig(FrozenConfig):
    """What :func:`l2trader.features.build.build_features` computes.

    Every level count must be <= ``levels``, the number of book levels per side the frame
    carries. Windows are in ns and must be > 0.

    Examples
    --------
    >>> FeatureConfig().imbalance_levels
    (1, 3, 5, 10)
    >>> FeatureConfig(levels=5, imbalance_levels=(1, 8))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    l2trader.errors.ConfigError: FeatureConfig: ...imbalance_levels (1, 8) exceed levels=5...
    """

    levels: int = 10
    """Book levels per side read from the frame (C2 ``L``)."""
    imbalance_levels: tuple[int, ...] = (1, 3, 5, 10)
    """``imbalance_l<n>`` for each n: size imbalance over the best n levels."""
    ofi_levels: tuple[int, ...] = (1, 5)
    """``ofi_l1`` (Cont-Kukanov-Stoikov) and ``mlofi_l<n>`` (sum of per-level OFI, n > 1)."""
    depth_ticks: tuple[int, ...] = (5, 20)
    """``depth_{bid,ask}_t<k>``: size within k ticks of the mid."""
    depth_bps: tuple[float, ...] = (5.0,)
    """``depth_{bid,ask}_bps<x>``: size within x bps of the mid."""
    slope_levels: int = 5
    """``slope_{bid,ask}``: OLS slope of cumulative size on distance from mid over n levels."""
    windows_ns: tuple[int, ...] = (_S, 10 * _S)
    """Trailing windows (t - w, t] of the flow features (OFI sums, rv, intensity, queue rates)."""

    @field_validator("levels", "slope_levels")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be >= 1, got {v}")
        return v

    @field_validator("imbalance_levels", "ofi_levels", "depth_ticks", "windows_ns")
    @classmethod
    def _positive_sorted(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(x < 1 for x in v) or len(set(v)) != len(v):
            raise ValueError(f"must be distinct and >= 1, got {v}")
        return tuple(sorted(v))

    @field_validator("depth_bps")
    @classmethod
    def _positive_bps(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not x > 0 for x in v) or len(set(v)) != len(v):
            raise ValueError(f"must be distinct and > 0, got {v}")
        return tuple(sorted(v))

    def model_post_init(self, __context: object) -> None:
        """Check every level count against ``levels``."""
        for name in ("imbalance_levels", "ofi_levels"):
            value = getattr(self, name)
            if max(value, default=0) > self.levels:
                raise ValueError(f"{name} {value} exceed levels={self.levels}")
        if self.slope_levels > self.levels:
            raise ValueError(f"slope_levels={self.slope_levels} exceeds levels={self.levels}")
