"""Repair policies on C1 streams: drop flagged rows and re-close the batches they touched.

The action for each check (drop or clamp) is stated in :mod:`l2trader.data.validate`.
:func:`apply_repair` turns a keep-mask into a clean stream; :func:`repair_chunks` runs
validation + repair over a chunk iterator in bounded memory (it holds back at most the
rows of one unclosed batch), giving exactly what :func:`repair_events` gives on the whole
stream. Under ``Policy.STRICT`` the first issue raises, so nothing is ever repaired.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from numpy.typing import NDArray

from l2trader.data.kernels import reclose_nb
from l2trader.data.report import ValidationReport
from l2trader.data.validate import ValidationState, finish_validation, validate_events
from l2trader.schema import EVENT_DTYPE, F_LAST

__all__ = ["apply_repair", "repair_chunks", "repair_events"]

MAX_OPEN_ROWS = 1 << 20
"""Rows of one unclosed batch :func:`repair_chunks` holds back before closing it anyway."""


def apply_repair(events: np.ndarray, keep: NDArray[np.bool_], *, final: bool = True) -> np.ndarray:
    """Drop the rows where ``keep`` is False and re-close the batches (a new array).

    The last kept row of each batch gets ``F_LAST`` (also where ``ts_recv`` moves on inside
    a batch that lacked it); every kept row of a batch that lost a row or gained an
    ``F_LAST`` is flagged ``F_REPAIRED``. With ``final`` a trailing batch without ``F_LAST``
    is closed too. When nothing changes the input array itself is returned.

    Examples
    --------
    >>> from l2trader.testing import make_events
    >>> ev = make_events([(100, 1.0, 1), (101, 2.0, -1)])
    >>> apply_repair(ev, np.array([True, False]))["flags"].tolist()  # F_LAST | F_REPAIRED
    [3]
    """
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"apply_repair: events must have EVENT_DTYPE, got {events.dtype}")
    keep = np.asarray(keep, dtype=np.bool_)
    if keep.shape != events.shape:
        raise ValueError(f"apply_repair: keep has shape {keep.shape}, events {events.shape}")
    new_flags = np.empty(len(events), dtype=np.uint8)
    changed = reclose_nb(events["ts_recv"], events["flags"], keep, final, new_flags)
    if changed == 0 and bool(keep.all()):
        return events
    out = np.ascontiguousarray(events[keep])
    out["flags"] = new_flags[keep]
    return out


def repair_events(
    events: np.ndarray, report: ValidationReport, *, check_prices: bool = True
) -> np.ndarray:
    """Validate a whole stream and return it repaired (strict mode raises instead).

    Examples
    --------
    >>> from l2trader.data.report import Policy
    >>> from l2trader.testing import make_events
    >>> ev = make_events([(100, 1.0, 1), (101, -2.0, -1)])
    >>> report = ValidationReport("demo", policy=Policy.REPAIR)
    >>> out = repair_events(ev, report)
    >>> len(out), dict(report.counts), report.quarantined[0].raw.split()[4]
    (1, {'negative_qty': 1}, 'qty=-2.0')
    """
    keep, _ = validate_events(events, report, final=True, check_prices=check_prices)
    return apply_repair(events, keep, final=True)


def repair_chunks(
    chunks: Iterable[np.ndarray],
    report: ValidationReport,
    *,
    check_prices: bool = True,
    max_open_rows: int = MAX_OPEN_ROWS,
) -> Iterator[np.ndarray]:
    """Validate and repair a chunked stream; yield clean chunks that end on ``F_LAST``.

    The rows after a chunk's last ``F_LAST`` are held back and joined to the next chunk,
    so batches are re-closed exactly as in :func:`repair_events`. A held-back batch longer
    than ``max_open_rows`` is closed where it stands (bounded memory on broken input).
    Empty chunks are not yielded.
    """
    state = ValidationState()
    offset = 0
    tail = np.zeros(0, dtype=EVENT_DTYPE)
    tail_keep = np.zeros(0, dtype=np.bool_)
    for chunk in chunks:
        keep, state = validate_events(
            chunk, report, state=state, offset=offset, check_prices=check_prices
        )
        offset += len(chunk)
        events, keep = _join(tail, tail_keep, chunk, keep)
        cut = _cut_index(events["flags"], max_open_rows)
        out = apply_repair(events[:cut], keep[:cut], final=True)
        tail, tail_keep = events[cut:], keep[cut:]
        if len(out):
            yield out
    finish_validation(state, report)
    out = apply_repair(tail, tail_keep, final=True)
    if len(out):
        yield out


def _join(
    tail: np.ndarray, tail_keep: NDArray[np.bool_], chunk: np.ndarray, keep: NDArray[np.bool_]
) -> tuple[np.ndarray, NDArray[np.bool_]]:
    """``tail + chunk`` (and their masks); no copy when the tail is empty."""
    if len(tail) == 0:
        return chunk, keep
    return np.concatenate([tail, chunk]), np.concatenate([tail_keep, keep])


def _cut_index(flags: NDArray[np.uint8], max_open_rows: int) -> int:
    """Index just after the last ``F_LAST`` row (the whole array if the tail is too long)."""
    closed = np.flatnonzero(flags & F_LAST)
    cut = int(closed[-1]) + 1 if len(closed) else 0
    return len(flags) if len(flags) - cut > max_open_rows else cut
