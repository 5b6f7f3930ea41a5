"""Book frames (C2) -> feature frame (C3) on a sampling clock, streamed chunk by chunk.

:class:`FeatureBuilder` runs :func:`l2trader.features.kernels.flows_nb` over every book
state (prefix sums of the increments, for the windows and flows), and computes the state
features only at the clock's samples (:func:`l2trader.features.kernels.states_nb`).
Feeding any split of a stream gives the same rows as one call (tests). Memory is bounded:
only the rows inside the longest window are kept between chunks, plus, when ``keep_mid``
is set, 16 bytes per book state for the labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import NDArray

from l2trader.book.replay import BookFrame
from l2trader.errors import ConfigError
from l2trader.features.clocks import ClockSpec, Samples, make_clock
from l2trader.features.config import FeatureConfig
from l2trader.features.frame import FeatureFrame
from l2trader.features.labels import LABEL_PREFIX, forward_return_bps, label_columns
from l2trader.features.microprice_warmup import MicropriceWarmup, MicropriceWarmupConfig

if TYPE_CHECKING:
    from l2trader.features.microprice import MicropriceModel
from l2trader.features import kernels as fk
from l2trader.features.rows import Book, RowComputer

__all__ = ["LABEL_END_PREFIX", "FeatureBuilder", "add_labels", "build_features"]

LABEL_END_PREFIX = "label_end_ns_"
"""Column prefix of the label end times (ns) written next to each label."""

_NS = 1e9


class _Rows(NamedTuple):
    """Per-book-state arrays of one chunk, with the carried rows prepended."""

    ts: NDArray[np.int64]
    event_idx: NDArray[np.int64]
    cum: NDArray[np.float64]
    last_change: NDArray[np.int64]


class FeatureBuilder:
    """Streaming C2 -> C3: ``feed`` book frames, then ``finish``; each returns new rows.

    Parameters
    ----------
    config
        Which features (levels, windows, distances).
    clock
        The sampling clock (event, time, changes or volume).
    tick_size
        Price of one tick (quote currency), for the price columns.
    microprice
        A fitted Stoikov model (fitted on other data); adds the ``microprice`` column.
    microprice_warmup
        Instead, fit the model on this stream's first ``warmup_ns`` and apply it after
        (the column is NaN before): see :mod:`l2trader.features.microprice_warmup`.
    keep_mid
        Keep (ts_recv, mid) of every book state for :meth:`book_mid` (labels).
    """

    def __init__(
        self,
        config: FeatureConfig,
        clock: ClockSpec,
        tick_size: float,
        *,
        microprice: MicropriceModel | None = None,
        microprice_warmup: MicropriceWarmupConfig | None = None,
        keep_mid: bool = False,
    ) -> None:
        if microprice is not None and microprice_warmup is not None:
            raise ConfigError("give either a fitted microprice model or microprice_warmup")
        self.config = config
        self.clock_spec = clock
        self.tick_size = tick_size
        self.microprice = microprice
        self.warmup = None if microprice_warmup is None else MicropriceWarmup(microprice_warmup)
        self.rows = RowComputer(
            config,
            tick_size,
            microprice,
            microprice_column=microprice is not None or self.warmup is not None,
        )
        self.specs = self.rows.specs
        self._clock = make_clock(clock)
        n_i = self.rows.n_incr
        self._carry = _Rows(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_i)), np.zeros(0, np.int64)
        )
        self._first_ts: int | None = None
        self._flow_at_prev: NDArray[np.float64] | None = None
        self._mid: list[tuple[NDArray[np.int64], NDArray[np.float64]]] | None = (
            [] if keep_mid else None
        )

    @property
    def columns(self) -> list[str]:
        """Feature column names, in output order."""
        return [s.name for s in self.specs]

    def feed(self, frame: BookFrame) -> dict[str, NDArray[np.generic]]:
        """Process one chunk of book states; return the C3 rows its samples complete."""
        if frame.levels < self.config.levels:
            raise ValueError(f"frame has {frame.levels} levels, config needs {self.config.levels}")
        offset = len(self._carry.ts)
        before = self.rows.last_book()
        rows = self._rows(frame)
        if self.warmup is not None:
            self.warmup.observe(frame)
            self.rows.microprice = self.warmup.model
        trade = frame.trade_qty_buy + frame.trade_qty_sell
        samples = self._clock.select(frame.ts_recv, frame.event_idx, trade, final=False)
        book = (frame.bid_ticks, frame.bid_qty, frame.ask_ticks, frame.ask_qty)
        return self._emit(rows, offset, samples, self._states(book, before, samples.row))

    def finish(self) -> dict[str, NDArray[np.generic]]:
        """Flush the samples that only the end of the stream makes certain (time clock)."""
        empty_i = np.zeros(0, np.int64)
        samples = self._clock.select(empty_i, empty_i, np.zeros(0), final=True)
        last = self.rows.last_book()
        states = self._states(last, last, samples.row)
        return self._emit(self._carry, len(self._carry.ts), samples, states)

    def _states(self, book: Book, before: Book, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """State columns of the sampled rows (-1: ``before``, the previous chunk's last state)."""
        out = self.rows.states(book, np.maximum(rows, 0))
        if (rows < 0).any():
            out[rows < 0] = self.rows.states(before, np.zeros(1, np.int64))[0]
        return out

    def book_mid(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """``(ts_recv, mid)`` of every book state fed so far (requires ``keep_mid``)."""
        if self._mid is None:
            raise ValueError("FeatureBuilder(keep_mid=True) is needed for book_mid()")
        if not self._mid:
            return np.zeros(0, np.int64), np.zeros(0)
        ts, mid = zip(*self._mid, strict=True)
        return np.concatenate(ts), np.concatenate(mid) * self.tick_size

    def _rows(self, frame: BookFrame) -> _Rows:
        """Run the kernel on ``frame``; prepend the carried rows; update the carry."""
        flows = self.rows.flows(
            frame.ts_recv, frame.event_idx,
            (frame.bid_ticks, frame.bid_qty, frame.ask_ticks, frame.ask_qty),
        )  # fmt: skip
        if len(frame) and self._first_ts is None:
            self._first_ts = int(frame.ts_recv[0])
        if self._mid is not None:
            self._mid.append((frame.ts_recv.copy(), flows.mid))
        c = self._carry
        rows = _Rows(
            np.concatenate([c.ts, frame.ts_recv]),
            np.concatenate([c.event_idx, frame.event_idx]),
            np.concatenate([c.cum, flows.cum]),
            np.concatenate([c.last_change, flows.last_change]),
        )
        self._carry = self._trim(rows)
        return rows

    def _trim(self, rows: _Rows) -> _Rows:
        """Rows still needed by later samples: the last row and the longest window."""
        if not len(rows.ts):
            return rows
        horizon = rows.ts[-1] - max(self.config.windows_ns)
        start = max(0, int(np.searchsorted(rows.ts, horizon, side="right")) - 1)
        start = min(start, len(rows.ts) - 1)
        return _Rows._make(a[start:].copy() for a in rows)

    def _emit(
        self, rows: _Rows, offset: int, samples: Samples, state: NDArray[np.float64]
    ) -> dict[str, NDArray[np.generic]]:
        """C3 columns for ``samples`` (rows relative to the chunk; -1 = carried last row)."""
        idx = samples.row + offset
        t = samples.ts
        out: dict[str, NDArray[np.generic]] = {
            "ts_recv": t.astype(np.int64),
            "event_idx": rows.event_idx[idx],
        }
        out.update(self.rows.state_columns(state))
        if self.warmup is not None:
            out["microprice"] = np.where(self.warmup.mask(t), out["microprice"], np.nan)
        out.update(self._flow_columns(rows.cum[idx]))
        out.update(self._window_columns(rows, idx, t))
        age = (t - rows.last_change[idx]) / _NS
        out["mid_age_s"] = np.where(rows.last_change[idx] >= 0, age, np.nan)
        return out

    def _flow_columns(self, cum: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """OFI since the previous sample (NaN on the first sample of the stream)."""
        flows = cum[:, : self.rows.n_ofi]
        prev = self._flow_at_prev
        start = np.full((1, self.rows.n_ofi), np.nan) if prev is None else prev[None, :]
        diff = np.diff(np.concatenate([start, flows]), axis=0)
        if len(flows):
            self._flow_at_prev = flows[-1].copy()
        return {name: diff[:, j] for j, name in enumerate(self.rows.names("flow"))}

    def _window_columns(
        self, rows: _Rows, idx: NDArray[np.int64], t: NDArray[np.int64]
    ) -> dict[str, NDArray[np.float64]]:
        """Window features of the samples (``windows_nb``), by registry name."""
        names = self.rows.names("window")
        out = np.empty((len(t), len(names)))
        first = self._first_ts if self._first_ts is not None else 0
        windows = np.asarray(self.config.windows_ns, dtype=np.int64)
        fk.windows_nb(rows.ts, rows.cum, idx, t, windows, first, out)
        return {name: out[:, j] for j, name in enumerate(names)}


def build_features(
    frames: Iterable[BookFrame],
    config: FeatureConfig,
    clock: ClockSpec,
    tick_size: float,
    *,
    instrument: str = "",
    microprice: MicropriceModel | None = None,
    microprice_warmup: MicropriceWarmupConfig | None = None,
    keep_mid: bool = False,
) -> tuple[FeatureFrame, FeatureBuilder]:
    """Run a :class:`FeatureBuilder` over ``frames``; return the whole C3 frame and the builder."""
    builder = FeatureBuilder(
        config, clock, tick_size, microprice=microprice, microprice_warmup=microprice_warmup,
        keep_mid=keep_mid,
    )  # fmt: skip
    parts = [builder.feed(f) for f in frames]
    parts.append(builder.finish())
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    ordered = {"ts_recv": columns["ts_recv"], "event_idx": columns["event_idx"]}
    ordered.update({name: columns[name] for name in builder.columns})
    frame = FeatureFrame(
        columns=ordered,
        specs=builder.specs,
        clock=clock.name,
        instrument=instrument,
        config_id=config.id,
    )
    return frame, builder


def add_labels(
    frame: FeatureFrame,
    book_ts: NDArray[np.int64],
    book_mid: NDArray[np.float64],
    horizons_ns: Sequence[int],
) -> FeatureFrame:
    """``frame`` plus forward mid-return label columns (bps) from the book states' mids.

    Each ``label_fwd_ret_bps_<h>`` comes with ``label_end_ns_<h>`` (int64): the time of the
    book state the label reads (INT64_MAX when there is none), for exact purging.

    ``book_ts``/``book_mid`` are every book state of the stream (``FeatureBuilder.book_mid``).
    """
    mid = np.asarray(frame.columns["mid"], dtype=np.float64)
    ts = np.asarray(frame.columns["ts_recv"], dtype=np.int64)
    values = forward_return_bps(book_ts, book_mid, ts, mid, horizons_ns)
    extra: dict[str, NDArray[np.generic]] = {}
    for j, name in enumerate(label_columns(horizons_ns)):
        extra[name] = values[:, j]
        end = np.searchsorted(book_ts, ts + int(horizons_ns[j]), side="left")
        last = np.iinfo(np.int64).max
        ends = np.where(end < len(book_ts), book_ts[np.minimum(end, len(book_ts) - 1)], last)
        extra[name.replace(LABEL_PREFIX, LABEL_END_PREFIX)] = ends.astype(np.int64)
    return frame.with_columns(extra, labels=True)
