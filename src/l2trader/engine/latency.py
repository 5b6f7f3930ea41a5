"""Latency models: order entry (strategy -> venue) and response (venue -> strategy), in ns.

Feed latency needs no model in a backtest of recorded data: each C1 event already carries
``ts_exch`` (venue) and ``ts_recv`` (when we saw it), and the strategy lives on ``ts_recv``.
:func:`feed_latency_samples` extracts those delays so an empirical order-latency model can
be fitted to the same connection. The recorder's clock is rarely synchronised with the
venue's (the Binance USD-M capture's ``ts_recv - ts_exch`` is about -1.27 s: the recorder
runs behind), so only the *variable* part of a delay is observable: an empirical model
draws ``floor + (sample - min(samples))``, with the floor (``entry_ns`` / ``response_ns``)
given by the user. Models are deterministic: draws come from a seeded generator, one
precomputed draw per order, so a run is reproducible and a numba loop can read them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import field_validator

from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError

__all__ = ["LatencyConfig", "LatencyModel", "feed_latency_samples"]


class LatencyConfig(FrozenConfig):
    """Latency kind and constants: ``empirical`` adds observed jitter to the constants.

    Examples
    --------
    >>> LatencyConfig(entry_ns=2_000_000).response_ns
    1000000
    """

    kind: Literal["constant", "empirical"] = "constant"
    entry_ns: int = 1_000_000
    """Strategy decision -> order at the venue (constant, or the empirical floor), ns."""
    response_ns: int = 1_000_000
    """Venue event (ack, fill) -> strategy learns of it (constant, or the floor), ns."""
    seed: int = 7

    @field_validator("entry_ns", "response_ns")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"latency must be >= 0 ns, got {v}")
        return v


class LatencyModel:
    """Entry and response delays (ns) for orders ``0, 1, 2, ...`` of a run.

    Parameters
    ----------
    config
        The model kind and its constants / seed.
    samples_ns
        Observed one-way delays (ns) for ``empirical``; their excess over the minimum is
        the jitter added to each floor, drawn independently for entry and response.

    Examples
    --------
    >>> m = LatencyModel(LatencyConfig(entry_ns=5, response_ns=3))
    >>> m.entry(4).tolist(), m.response(2).tolist()
    ([5, 5, 5, 5], [3, 3])
    >>> cfg = LatencyConfig(kind="empirical", entry_ns=100)
    >>> e = LatencyModel(cfg, samples_ns=np.array([-50, -40, -20]))  # skewed clocks
    >>> sorted(set(e.entry(100).tolist()))
    [100, 110, 130]
    """

    def __init__(self, config: LatencyConfig, samples_ns: NDArray[np.int64] | None = None) -> None:
        self.config = config
        if config.kind == "empirical":
            if samples_ns is None or len(samples_ns) == 0:
                raise ConfigError("empirical latency needs a non-empty samples_ns array")
            samples = np.sort(np.asarray(samples_ns, dtype=np.int64))
            self.samples: NDArray[np.int64] | None = samples - samples[0]  # jitter >= 0
        else:
            self.samples = None

    def entry(self, n_orders: int) -> NDArray[np.int64]:
        """Entry delay of each of the first ``n_orders`` orders (ns)."""
        return self._draws(n_orders, self.config.entry_ns, stream=0)

    def response(self, n_events: int) -> NDArray[np.int64]:
        """Response delay of each of the first ``n_events`` venue events (ns)."""
        return self._draws(n_events, self.config.response_ns, stream=1)

    def _draws(self, n: int, constant: int, stream: int) -> NDArray[np.int64]:
        if self.samples is None:
            return np.full(n, constant, dtype=np.int64)
        rng = np.random.default_rng([self.config.seed, stream])
        return constant + self.samples[rng.integers(0, len(self.samples), size=n)]


def feed_latency_samples(events: np.ndarray) -> NDArray[np.int64]:
    """``ts_recv - ts_exch`` (ns) of the C1 rows that carry a venue time, one per batch end.

    Rows without a venue time (``ts_exch < 0``) are skipped; negative delays (clock skew
    between the venue and the recorder) are kept, so a caller can see and handle them.
    """
    rows = events[(events["ts_exch"] >= 0) & ((events["flags"] & 1) == 1)]
    return np.asarray(rows["ts_recv"] - rows["ts_exch"], dtype=np.int64)
