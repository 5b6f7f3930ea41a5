"""Per-book-state feature computation shared by the batch builder and the online features.

:class:`RowComputer` owns the carried state of :func:`l2trader.features.kernels.rows_nb`
(the previous book state, last mid, last event index) and turns the kernel's state columns
into named C3 columns (prices in quote currency).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import NDArray

from l2trader.features import kernels as fk
from l2trader.features.config import FeatureConfig

if TYPE_CHECKING:
    from l2trader.features.microprice import MicropriceModel
from l2trader.features.registry import FeatureSpec, feature_specs

__all__ = ["Book", "FlowOutput", "RowComputer"]


class FlowOutput(NamedTuple):
    """Per-state output of :func:`l2trader.features.kernels.flows_nb` for ``n`` states."""

    cum: NDArray[np.float64]
    """``(n, I)`` running sums of the increments (layout in :mod:`l2trader.features.kernels`)."""
    last_change: NDArray[np.int64]
    """``(n,)`` ts_recv (ns) of the last mid change, -1 before the first."""
    mid: NDArray[np.float64]
    """``(n,)`` mid in ticks, NaN while a side is empty."""


Book = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]


class RowComputer:
    """Stateful wrapper of ``rows_nb``: feed book states in order, in any chunking."""

    def __init__(
        self,
        config: FeatureConfig,
        tick_size: float,
        microprice: MicropriceModel | None,
        *,
        microprice_column: bool | None = None,
    ) -> None:
        self.config = config
        self.tick_size = tick_size
        self.microprice = microprice
        """The model behind the ``microprice`` column (None: the column is NaN)."""
        self.microprice_column = (
            microprice is not None if microprice_column is None else microprice_column
        )
        self.specs: tuple[FeatureSpec, ...] = tuple(
            feature_specs(config, microprice=self.microprice_column)
        )
        lv = config.levels
        self._params = (
            np.asarray(config.imbalance_levels, dtype=np.int64),
            np.asarray(config.depth_ticks, dtype=np.float64),
            np.asarray(config.depth_bps, dtype=np.float64),
            config.slope_levels,
        )
        self._ofi = np.asarray(config.ofi_levels, dtype=np.int64)
        self._prev = (np.zeros(lv, np.int64), np.zeros(lv), np.zeros(lv, np.int64), np.zeros(lv))
        self._ist = np.array([0, -1, -1], dtype=np.int64)
        self._fst = np.array([np.nan])
        self._run = np.zeros(fk.n_increments(len(config.ofi_levels)))
        self.n_state = fk.n_state(
            len(config.imbalance_levels), len(config.depth_ticks), len(config.depth_bps)
        )
        self.n_incr = fk.n_increments(len(config.ofi_levels))
        self.n_ofi = len(config.ofi_levels)

    def names(self, kind: str) -> list[str]:
        """Names of the specs of one kind (``state``, ``flow``, ``window``), in order."""
        return [s.name for s in self.specs if s.family.kind == kind]

    def flows(
        self, ts_recv: NDArray[np.int64], event_idx: NDArray[np.int64], book: Book
    ) -> FlowOutput:
        """Increments of ``n`` states in order (stateful); ``book`` arrays are ``(n, >= L)``."""
        n = len(ts_recv)
        bt, bq, at, aq = self.contiguous(book)
        out = FlowOutput(np.empty((n, self.n_incr)), np.empty(n, np.int64), np.empty(n))
        fk.flows_nb(
            (np.asarray(ts_recv, np.int64), np.asarray(event_idx, np.int64), bt, bq, at, aq),
            self._ofi, self._prev, self._ist, self._fst, self._run, out,
        )  # fmt: skip
        return out

    def contiguous(self, book: Book) -> Book:
        """The first ``L`` levels of each book array, C-contiguous with the kernel dtypes."""
        lv = self.config.levels
        bq: NDArray[np.float64] = np.ascontiguousarray(book[1][:, :lv], dtype=np.float64)
        aq: NDArray[np.float64] = np.ascontiguousarray(book[3][:, :lv], dtype=np.float64)
        bt = np.ascontiguousarray(book[0][:, :lv], dtype=np.int64)
        at = np.ascontiguousarray(book[2][:, :lv], dtype=np.int64)
        return bt, bq, at, aq

    def states(self, book: Book, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """State columns ``(len(rows), S)`` of the book states ``rows`` (stateless)."""
        out = np.empty((len(rows), self.n_state))
        fk.states_nb(self.contiguous(book), np.asarray(rows, np.int64), self._params, out)
        return out

    def last_book(self) -> Book:
        """Copies of the last state fed to :meth:`flows`, as 1-row book arrays."""
        return tuple(a[None, :].copy() for a in self._prev)  # type: ignore[return-value]

    def state_columns(self, state: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Named state features (prices in quote currency) from kernel state rows."""
        tick = self.tick_size
        mid, spread = state[:, 0], state[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = {
                "mid": mid * tick,
                "spread_ticks": spread,
                "spread_bps": 1e4 * spread / mid,
                "wmid": state[:, 2] * tick,
            }
        if self.microprice is not None:
            ticks = np.where(np.isnan(spread), -1, spread).astype(np.int64)
            out["microprice"] = (mid + self.microprice.adjustment_ticks(ticks, state[:, 3])) * tick
        elif self.microprice_column:
            out["microprice"] = np.full(len(mid), np.nan)
        rest = [n for n in self.names("state") if n not in out and n != "mid_age_s"]
        out.update({name: state[:, fk.BASE_STATE + j] for j, name in enumerate(rest)})
        return out
