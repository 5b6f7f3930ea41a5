"""Sampling clocks: which book states (C2 rows) become feature rows (C3), chunk by chunk.

A clock decides, for each chunk of book-frame rows, which rows are samples and at what
time. Book frames arrive in chunks (:meth:`l2trader.book.replay.Replayer.feed`), so each
clock is a small stateful object; feeding any split of a stream gives exactly the samples
of one-shot selection. Four kinds (:class:`ClockSpec`):

``event``
    Every row; the sample time is the row's ``ts_recv``.
``time``
    Epoch-aligned grid ``g_k = k * interval_ns``, from the first multiple >= the stream's
    first ``ts_recv``. The sample at ``g`` is the state at ``g``: the LAST row with
    ``ts_recv <= g``; the sample time is ``g``. A grid time is emitted only once it is
    certain: when a row with ``ts_recv > g`` arrives (a later row could still have
    ``ts_recv == g``), or with ``final=True`` for every ``g <= last ts_recv``. Grid times
    with no new row since the previous sample ARE emitted (the state persists; the row
    repeats). With ``max_gap_ns`` set, grid times strictly inside a gap between two
    consecutive rows (``ts[i-1] < g < ts[i]``) longer than ``max_gap_ns`` are skipped, so an
    overnight gap emits no rows; ``g == ts[i-1]`` is kept.
``changes``
    Counts C1 events with ``event_idx``: the first row of the stream is a sample, then each
    first row whose ``event_idx`` is >= ``every`` past the ``event_idx`` of the previous
    sample (the count restarts at each sample, not on a fixed grid).
``volume``
    ``V`` = cumulative aggressor volume (buy + sell, base units) from the stream start, a
    float64 sum in row order. A row is a sample when ``floor(V / volume)`` increases at it:
    the first row where ``V`` reaches the next multiple of ``volume``; a row that crosses
    several multiples is one sample.

Rows are indices into the chunk passed to ``select``; ``-1`` means the last row of the
previous non-empty chunk, which the caller keeps (only the time clock returns it).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, NoReturn, Self

import numpy as np
from numpy.typing import NDArray

from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError, InvalidValueError, OutOfOrderError
from l2trader.features import clock_kernels as ck

if TYPE_CHECKING:
    from l2trader.book.replay import BookFrame

__all__ = [
    "ChangesClock",
    "Clock",
    "ClockSpec",
    "EventClock",
    "Samples",
    "TimeClock",
    "VolumeClock",
    "format_ns",
    "make_clock",
    "parse_duration",
]

_NS_PER_UNIT: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h)\s*")


def parse_duration(text: str) -> int:
    """Parse a duration such as ``100ms`` or ``1.5s`` into int ns (units ns, us, ms, s, m, h).

    Examples
    --------
    >>> parse_duration("100ms"), parse_duration("1.5s"), parse_duration("2m")
    (100000000, 1500000000, 120000000000)
    >>> parse_duration("10")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    l2trader.errors.ConfigError: duration '10': expected <number><unit>, unit one of ns, ...
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        units = ", ".join(_NS_PER_UNIT)
        raise ConfigError(f"duration {text!r}: expected <number><unit>, unit one of {units}")
    try:
        value = Decimal(match[1]) * _NS_PER_UNIT[match[2]]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ConfigError(f"duration {text!r}: {exc}") from exc
    if value != value.to_integral_value():
        raise ConfigError(f"duration {text!r} is not a whole number of ns")
    return int(value)


def format_ns(ns: int) -> str:
    """Short name of a duration in ns: the largest of s, ms, us, ns that divides it exactly.

    Examples
    --------
    >>> [format_ns(x) for x in (250, 500_000, 100_000_000, 1_000_000_000, 60_000_000_000)]
    ['250ns', '500us', '100ms', '1s', '60s']
    >>> parse_duration(format_ns(1_500_000_000)) == 1_500_000_000
    True
    """
    for unit in ("s", "ms", "us"):
        if ns % _NS_PER_UNIT[unit] == 0:
            return f"{ns // _NS_PER_UNIT[unit]}{unit}"
    return f"{ns}ns"


ClockKind = Literal["event", "time", "changes", "volume"]


class ClockSpec(FrozenConfig):
    """Which sampling clock to use (see the module docstring for the exact rules).

    Only the parameter of the chosen ``kind`` may be set, and it must be > 0.

    Examples
    --------
    >>> ClockSpec(kind="time", interval_ns=100_000_000).name
    'time_100ms'
    >>> [ClockSpec.parse(t).name for t in ("event", "time:1s", "changes:50", "volume:2.5")]
    ['event', 'time_1s', 'changes_50', 'volume_2.5']
    >>> ClockSpec(kind="changes")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    l2trader.errors.ConfigError: ClockSpec: ...kind='changes' needs every > 0, got 0...
    """

    kind: ClockKind
    interval_ns: int = 0
    """time: grid step, ns."""
    every: int = 0
    """changes: C1 events (counted with ``event_idx``) between samples."""
    volume: float = 0.0
    """volume: traded base units (buy + sell) per sample."""
    max_gap_ns: int | None = None
    """time: skip grid times inside a gap between rows longer than this (ns); None = never."""

    def model_post_init(self, __context: object) -> None:
        """Check that exactly the parameter of ``kind`` is set and positive."""
        own = {"time": "interval_ns", "changes": "every", "volume": "volume"}.get(self.kind)
        for name in ("interval_ns", "every", "volume"):
            value = getattr(self, name)
            if name == own and not 0 < value < math.inf:
                raise ValueError(f"kind={self.kind!r} needs {name} > 0, got {value}")
            if name != own and value != 0:
                raise ValueError(f"{name}={value} does not apply to kind={self.kind!r}")
        if self.max_gap_ns is not None and (self.kind != "time" or self.max_gap_ns <= 0):
            raise ValueError(f"max_gap_ns={self.max_gap_ns} needs kind='time' and a value > 0")

    @property
    def name(self) -> str:
        """Short clock name: ``event``, ``time_100ms``, ``changes_50``, ``volume_2.5``.

        A ``max_gap_ns`` adds ``_maxgap_<duration>``.
        """
        if self.kind == "time":
            gap = "" if self.max_gap_ns is None else f"_maxgap_{format_ns(self.max_gap_ns)}"
            return f"time_{format_ns(self.interval_ns)}{gap}"
        if self.kind == "changes":
            return f"changes_{self.every}"
        if self.kind == "volume":
            return f"volume_{self.volume:.15g}"
        return "event"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Build from ``event``, ``time:<duration>``, ``changes:<int>`` or ``volume:<float>``."""
        kind, _, arg = (part.strip() for part in text.partition(":"))
        if kind == "event" and not arg:
            return cls(kind="event")
        if kind == "time" and arg:
            return cls(kind="time", interval_ns=parse_duration(arg))
        if kind == "changes" and arg.isdigit():
            return cls(kind="changes", every=int(arg))
        if kind == "volume" and arg:
            try:
                return cls(kind="volume", volume=float(arg))
            except ValueError as exc:
                raise ConfigError(f"clock {text!r}: {exc}") from exc
        raise ConfigError(
            f"clock {text!r}: expected 'event', 'time:<duration>', 'changes:<int>' or"
            " 'volume:<float>'"
        )


class Samples(NamedTuple):
    """Samples chosen in one chunk: sample time (ns) and row in the chunk (-1 = previous)."""

    ts: NDArray[np.int64]
    row: NDArray[np.int64]


_EMPTY: Final = np.zeros(0, dtype=np.int64)


class Clock:
    """Base of the clocks: input checks and stream continuity across chunks.

    Subclasses implement :meth:`_select` on checked, contiguous arrays.
    """

    def __init__(self, spec: ClockSpec) -> None:
        self.spec = spec
        self.n_rows = 0
        """Rows seen so far (over all chunks)."""
        self._last_ts: int | None = None
        self._last_event_idx: int | None = None
        self._closed = False

    def select(
        self,
        ts_recv: NDArray[np.int64],
        event_idx: NDArray[np.int64],
        trade_qty: NDArray[np.float64],
        *,
        final: bool,
    ) -> Samples:
        """Samples of one chunk of book rows (``final=True`` on the last chunk of the stream).

        Parameters
        ----------
        ts_recv
            Row times, ns, non-decreasing (also across chunks).
        event_idx
            Global C1 index of each row's ``F_LAST`` event, increasing (also across chunks).
        trade_qty
            Aggressor volume (buy + sell, base units) since the previous row; finite, >= 0.
        final
            End of the stream: emit what only the end makes certain; later rows are refused.
        """
        ts, eidx, qty = self._checked(ts_recv, event_idx, trade_qty)
        samples = self._select(ts, eidx, qty, final)
        if len(ts):
            self._last_ts, self._last_event_idx = int(ts[-1]), int(eidx[-1])
            self.n_rows += len(ts)
        self._closed = self._closed or final
        return samples

    def select_frame(self, frame: BookFrame, *, final: bool) -> Samples:
        """:meth:`select` on a C2 book frame chunk (``trade_qty`` = buy + sell volume)."""
        qty = frame.trade_qty_buy + frame.trade_qty_sell
        return self.select(frame.ts_recv, frame.event_idx, qty, final=final)

    def _select(
        self,
        ts: NDArray[np.int64],
        event_idx: NDArray[np.int64],
        trade_qty: NDArray[np.float64],
        final: bool,
    ) -> Samples:
        raise NotImplementedError

    def _fail(self, error: type[OutOfOrderError | InvalidValueError], message: str) -> NoReturn:
        raise error(message, source=f"{self.spec.name} clock")

    def _checked(
        self,
        ts_recv: NDArray[np.int64],
        event_idx: NDArray[np.int64],
        trade_qty: NDArray[np.float64],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        ts = _int_column(ts_recv, "ts_recv", self)
        eidx = _int_column(event_idx, "event_idx", self)
        qty = np.ascontiguousarray(trade_qty, dtype=np.float64)
        if not ts.shape == eidx.shape == qty.shape:
            self._fail(InvalidValueError, f"lengths differ: {ts.shape} {eidx.shape} {qty.shape}")
        if len(ts) and self._closed:
            self._fail(OutOfOrderError, "rows after the final chunk (select(final=True) ended it)")
        _check_increasing(self, ts, self._last_ts, "ts_recv", strict=False)
        _check_increasing(self, eidx, self._last_event_idx, "event_idx", strict=True)
        bad = np.flatnonzero(~((qty >= 0.0) & (qty < np.inf)))
        if len(bad):
            self._fail(
                InvalidValueError, f"trade_qty[{bad[0]}]={qty[bad[0]]} is not a finite size >= 0"
            )
        return ts, eidx, qty


def _int_column(values: NDArray[np.int64], name: str, clock: Clock) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        clock._fail(InvalidValueError, f"{name} must be a 1-d integer array, got {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


def _check_increasing(
    clock: Clock, values: NDArray[np.int64], previous: int | None, name: str, *, strict: bool
) -> None:
    """Raise :class:`OutOfOrderError` where ``values`` (after ``previous``) go backwards."""
    if previous is not None:
        values = np.concatenate([np.array([previous], dtype=np.int64), values])
    step = np.diff(values)
    bad = np.flatnonzero(step <= 0 if strict else step < 0)
    if len(bad):
        i = int(bad[0]) + (0 if previous is not None else 1)
        word = "increasing" if strict else "non-decreasing"
        clock._fail(OutOfOrderError, f"{name} must be {word}: row {i} of the chunk goes back")


class EventClock(Clock):
    """Every row is a sample at its ``ts_recv``."""

    def _select(
        self,
        ts: NDArray[np.int64],
        event_idx: NDArray[np.int64],
        trade_qty: NDArray[np.float64],
        final: bool,
    ) -> Samples:
        return Samples(ts.copy(), np.arange(len(ts), dtype=np.int64))


class TimeClock(Clock):
    """Epoch-aligned grid of ``interval_ns``; the sample at ``g`` is the last row at or before."""

    def __init__(self, spec: ClockSpec) -> None:
        super().__init__(spec)
        self._state = np.zeros(ck.TIME_STATE, dtype=np.int64)

    def _select(
        self,
        ts: NDArray[np.int64],
        event_idx: NDArray[np.int64],
        trade_qty: NDArray[np.float64],
        final: bool,
    ) -> Samples:
        args = (ts, self.spec.interval_ns, self.spec.max_gap_ns or 0, final)
        m = ck.time_clock_nb(*args, self._state.copy(), False, _EMPTY, _EMPTY)
        out_ts, out_row = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
        ck.time_clock_nb(*args, self._state, True, out_ts, out_row)
        return Samples(out_ts, out_row)


class ChangesClock(Clock):
    """The first row, then every row ``every`` or more C1 events past the previous sample."""

    def __init__(self, spec: ClockSpec) -> None:
        super().__init__(spec)
        self._state = np.zeros(ck.CHANGES_STATE, dtype=np.int64)

    def _select(
        self,
        ts: NDArray[np.int64],
        event_idx: NDArray[np.int64],
        trade_qty: NDArray[np.float64],
        final: bool,
    ) -> Samples:
        rows = np.empty(len(ts), dtype=np.int64)
        m = ck.changes_clock_nb(event_idx, self.spec.every, self._state, rows)
        return Samples(ts[rows[:m]], rows[:m].copy())


class VolumeClock(Clock):
    """Rows where cumulative traded volume reaches the next multiple of ``volume``."""

    def __init__(self, spec: ClockSpec) -> None:
        super().__init__(spec)
        self._state = np.zeros(ck.VOLUME_STATE, dtype=np.float64)

    def _select(
        self,
        ts: NDArray[np.int64],
        event_idx: NDArray[np.int64],
        trade_qty: NDArray[np.float64],
        final: bool,
    ) -> Samples:
        rows = np.empty(len(ts), dtype=np.int64)
        m = ck.volume_clock_nb(trade_qty, self.spec.volume, self._state, rows)
        return Samples(ts[rows[:m]], rows[:m].copy())


def make_clock(spec: ClockSpec) -> Clock:
    """A fresh clock (no rows seen yet) for ``spec``.

    Examples
    --------
    >>> clock = make_clock(ClockSpec.parse("time:10ns"))
    >>> ts = np.array([10, 10, 25, 30, 31])
    >>> s = clock.select(ts, np.arange(5), np.zeros(5), final=True)
    >>> s.ts.tolist(), s.row.tolist()
    ([10, 20, 30], [1, 1, 3])
    """
    classes: dict[str, type[Clock]] = {
        "event": EventClock,
        "time": TimeClock,
        "changes": ChangesClock,
        "volume": VolumeClock,
    }
    return classes[spec.kind](spec)
