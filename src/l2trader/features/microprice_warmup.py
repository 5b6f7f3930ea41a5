"""Leak-free micro-price inside one stream: fit on the first ``warmup_ns``, apply after it.

The Stoikov model needs future mid moves to be estimated, so it may only be applied to
samples after the data it was fitted on. :class:`MicropriceWarmup` collects the level-1
book of the states with ``ts_recv < start + warmup_ns``, fits once when the stream passes
that time, and reports ``fitted_at`` (= start + warmup_ns): samples before it get NaN
(warm-up), samples at or after it get ``mid + g*``. The fit point does not depend on how
the stream is chunked.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from l2trader.book.replay import BookFrame
from l2trader.config import FrozenConfig
from l2trader.errors import DataError
from l2trader.features.microprice import MicropriceConfig, MicropriceModel, fit_microprice

__all__ = ["MicropriceWarmup", "MicropriceWarmupConfig"]


class MicropriceWarmupConfig(FrozenConfig):
    """How long to collect before fitting (ns) and the estimator's parameters."""

    warmup_ns: int = 1_800_000_000_000
    model: MicropriceConfig = MicropriceConfig()


class MicropriceWarmup:
    """Collect level-1 states during the warm-up, then hold the fitted model."""

    def __init__(self, config: MicropriceWarmupConfig) -> None:
        self.config = config
        self.model: MicropriceModel | None = None
        self.fitted_at: int | None = None
        """ts_recv (ns) from which the model applies; None until fitted."""
        self.error: str | None = None
        """Why the fit failed (then the column stays NaN)."""
        self._start: int | None = None
        self._parts: list[tuple[NDArray[np.generic], ...]] = []
        self._done = False

    def observe(self, frame: BookFrame) -> None:
        """Take the level-1 columns of a chunk of book states; fit when the warm-up ends."""
        if self._done or not len(frame):
            return
        if self._start is None:
            self._start = int(frame.ts_recv[0])
        end = self._start + self.config.warmup_ns
        n = int(np.searchsorted(frame.ts_recv, end, side="left"))
        cols: list[NDArray[np.generic]] = [
            frame.ts_recv,
            frame.bid_ticks[:, 0],
            frame.bid_qty[:, 0],
        ]
        cols += [frame.ask_ticks[:, 0], frame.ask_qty[:, 0]]
        self._parts.append(tuple(np.array(c[:n]) for c in cols))
        if n < len(frame):
            self._fit(end)

    def _fit(self, end: int) -> None:
        ts, bt, bq, at, aq = (np.concatenate(c) for c in zip(*self._parts, strict=True))
        self._parts = []
        self._done = True
        try:
            self.model = fit_microprice(ts, bt, bq, at, aq, config=self.config.model)
        except DataError as exc:
            self.error = str(exc)
            return
        self.fitted_at = end

    def mask(self, ts: NDArray[np.int64]) -> NDArray[np.bool_]:
        """True for samples at times ``ts`` that may use the model."""
        if self.fitted_at is None:
            return np.zeros(len(ts), dtype=np.bool_)
        return np.asarray(ts >= self.fitted_at)
