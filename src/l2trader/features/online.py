"""Online features for live and paper trading: ``update()`` per book state, then ``value``.

:class:`OnlineFeatures` gives, after every book state, the same values as the batch
:class:`l2trader.features.build.FeatureBuilder` on the event clock (tests check every
row). The per-state part runs the batch kernels on one row; the trailing windows are kept
with running sums over a deque (add on arrival, subtract on expiry), an implementation
independent of the batch prefix sums.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from l2trader.features.config import FeatureConfig

if TYPE_CHECKING:
    from l2trader.features.microprice import MicropriceModel
from l2trader.features.registry import format_window
from l2trader.features.rows import RowComputer

__all__ = ["OnlineFeatures"]

_NS = 1e9


class _Window:
    """Running sums of increment vectors over the trailing window (t - w, t]."""

    def __init__(self, w: int, width: int) -> None:
        self.w = w
        self.items: deque[tuple[int, NDArray[np.float64]]] = deque()
        self.sums = np.zeros(width)

    def push(self, ts: int, incr: NDArray[np.float64]) -> None:
        self.items.append((ts, incr))
        self.sums += incr

    def evict(self, t: int) -> None:
        while self.items and self.items[0][0] <= t - self.w:
            self.sums -= self.items.popleft()[1]


class OnlineFeatures:
    """Features of the latest book state, updated one state at a time.

    Parameters
    ----------
    config
        Which features (as for the batch builder).
    tick_size
        Price of one tick (quote currency).
    microprice
        A fitted Stoikov model (adds ``microprice``).

    Examples
    --------
    >>> import numpy as np
    >>> f = OnlineFeatures(FeatureConfig(levels=1, imbalance_levels=(1,), ofi_levels=(1,),
    ...     depth_ticks=(1,), slope_levels=1), tick_size=0.5)
    >>> f.update(10, 0, np.array([100]), np.array([3.0]), np.array([102]), np.array([1.0]))
    >>> f.value["mid"], f.value["imbalance_l1"], f.value["spread_ticks"]
    (50.5, 0.5, 2.0)
    """

    def __init__(
        self,
        config: FeatureConfig,
        tick_size: float,
        *,
        microprice: MicropriceModel | None = None,
    ) -> None:
        self.config = config
        self.rows = RowComputer(config, tick_size, microprice)
        self.names = [s.name for s in self.rows.specs]
        self._windows = [_Window(w, self.rows.n_incr) for w in config.windows_ns]
        self._first_ts: int | None = None
        self._cum = np.zeros(self.rows.n_incr)
        self.value: dict[str, float] = dict.fromkeys(self.names, np.nan)
        """Feature name -> value at the latest state (NaN in warm-up)."""

    def update(
        self,
        ts_recv: int,
        event_idx: int,
        bid_ticks: NDArray[np.int64],
        bid_qty: NDArray[np.float64],
        ask_ticks: NDArray[np.int64],
        ask_qty: NDArray[np.float64],
    ) -> None:
        """Apply one consistent book state (levels best first, as in a C2 row)."""
        book = tuple(np.asarray(a)[None, :] for a in (bid_ticks, bid_qty, ask_ticks, ask_qty))
        flows = self.rows.flows(np.array([ts_recv]), np.array([event_idx]), book)  # type: ignore[arg-type]
        state = self.rows.states(book, np.zeros(1, np.int64))  # type: ignore[arg-type]
        incr = flows.cum[0] - self._cum
        self._cum = flows.cum[0].copy()
        first = self._first_ts is None
        if first:
            self._first_ts = ts_recv
        out = {k: float(v[0]) for k, v in self.rows.state_columns(state).items()}
        for j, name in enumerate(self.rows.names("flow")):
            out[name] = np.nan if first else float(incr[j])
        for win in self._windows:
            win.push(ts_recv, incr)
        out.update(self._window_values(ts_recv))
        change = int(flows.last_change[0])
        out["mid_age_s"] = (ts_recv - change) / _NS if change >= 0 else np.nan
        self.value = {name: out[name] for name in self.names}

    def _window_values(self, t: int) -> dict[str, float]:
        """Window features at time ``t`` (NaN until t - w reaches the first state)."""
        n_ofi = self.rows.n_ofi
        out: dict[str, float] = {}
        first = self._first_ts if self._first_ts is not None else t
        for win in self._windows:
            win.evict(t)
            s = np.full_like(win.sums, np.nan) if t - win.w < first else win.sums
            tag = format_window(win.w)
            secs = win.w / _NS
            for j, name in enumerate(self.rows.names("flow")):
                out[f"{name}_{tag}"] = float(s[j])
            out[f"rv_{tag}"] = float(
                np.sqrt(max(s[n_ofi], 0.0)) if s[n_ofi] == s[n_ofi] else np.nan
            )
            out[f"intensity_{tag}"] = float(s[n_ofi + 1] / secs)
            for k, (what, side) in enumerate(
                (("depl", "bid"), ("repl", "bid"), ("depl", "ask"), ("repl", "ask"))
            ):
                out[f"l1_{what}_{side}_{tag}"] = float(s[n_ofi + 2 + k] / secs)
        return out
