"""Forward mid-return labels: the ONLY look-ahead code in l2trader.

Everything else in the pipeline uses only rows with ``ts_recv <= t`` (contract C3). The
labels here deliberately read the future: the label of a sample at time ``t`` for horizon
``h`` is the return of the mid from the sample to the FIRST book state at or after
``t + h`` (exact: a binary search, no interpolation, no grid). Labels are for fitting and
evaluating models; nothing that trades may read them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from l2trader.errors import ConfigError, InvalidValueError, OutOfOrderError
from l2trader.features.clocks import format_ns

__all__ = ["LABEL_PREFIX", "forward_return_bps", "label_columns"]

LABEL_PREFIX = "label_fwd_ret_bps_"
"""Column prefix of the forward-return labels (C3): ``label_fwd_ret_bps_<horizon>``."""


def _horizons(horizons_ns: Sequence[int]) -> list[int]:
    horizons = [int(h) for h in horizons_ns]
    bad = [h for h in horizons if h <= 0]
    if bad:
        raise ConfigError(f"horizons_ns must all be > 0 ns, got {bad}")
    if len(set(horizons)) != len(horizons):
        raise ConfigError(f"horizons_ns must be distinct, got {horizons}")
    return horizons


def label_columns(horizons_ns: Sequence[int]) -> list[str]:
    """C3 column names of the labels for ``horizons_ns`` (ns), in the same order.

    Examples
    --------
    >>> label_columns([100_000_000, 1_000_000_000, 60_000_000_000])
    ['label_fwd_ret_bps_100ms', 'label_fwd_ret_bps_1s', 'label_fwd_ret_bps_60s']
    """
    return [f"{LABEL_PREFIX}{format_ns(h)}" for h in _horizons(horizons_ns)]


def _column(values: NDArray[np.generic], name: str, kind: str) -> NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in kind:
        raise InvalidValueError(
            f"{name} must be a 1-d array of dtype kind {kind!r}, got {array.shape} {array.dtype}",
            source="forward_return_bps",
        )
    return array


def forward_return_bps(
    book_ts: NDArray[np.int64],
    book_mid: NDArray[np.float64],
    sample_ts: NDArray[np.int64],
    sample_mid: NDArray[np.float64],
    horizons_ns: Sequence[int],
) -> NDArray[np.float64]:
    """Forward mid return (bps) of each sample over each horizon.

    For sample time ``t`` and horizon ``h`` the future mid is ``book_mid[j]``, ``j`` the
    first book row with ``book_ts[j] >= t + h``; the label is
    ``1e4 * (book_mid[j] / sample_mid - 1)``. It is NaN when there is no such row (end of
    data), when either mid is NaN, or when ``sample_mid <= 0``.

    Parameters
    ----------
    book_ts, book_mid
        Every book state of the stream: time (ns, non-decreasing) and mid (price).
    sample_ts, sample_mid
        The samples (any order): time (ns) and the mid at that time (price).
    horizons_ns
        Distinct horizons, ns, each > 0.

    Returns
    -------
    numpy.ndarray
        float64 ``[len(sample_ts), len(horizons_ns)]``, bps.

    Examples
    --------
    >>> book_ts = np.array([0, 5, 10, 20])
    >>> book_mid = np.array([100.0, 101.0, 102.0, 96.9])
    >>> forward_return_bps(book_ts, book_mid, np.array([0, 10]), np.array([100.0, 102.0]), [5, 20])
    array([[ 100., -310.],
           [-500.,   nan]])
    """
    horizons = _horizons(horizons_ns)
    bts = _column(book_ts, "book_ts", "iu").astype(np.int64, copy=False)
    bmid = _column(book_mid, "book_mid", "f").astype(np.float64, copy=False)
    sts = _column(sample_ts, "sample_ts", "iu").astype(np.int64, copy=False)
    smid = _column(sample_mid, "sample_mid", "f").astype(np.float64, copy=False)
    if bts.shape != bmid.shape or sts.shape != smid.shape:
        raise InvalidValueError(
            f"lengths differ: book {bts.shape}/{bmid.shape}, samples {sts.shape}/{smid.shape}",
            source="forward_return_bps",
        )
    back = np.flatnonzero(np.diff(bts) < 0)
    if len(back):
        raise OutOfOrderError(
            f"book_ts must be non-decreasing: row {back[0] + 1} goes back",
            source="forward_return_bps",
        )
    base = np.where(smid > 0.0, smid, np.nan)
    out = np.full((len(sts), len(horizons)), np.nan)
    for k, h in enumerate(horizons):
        j = np.searchsorted(bts, sts + h, side="left")
        ok = j < len(bts)
        future = np.full(len(sts), np.nan)
        future[ok] = bmid[j[ok]]
        out[:, k] = 1e4 * (future / base - 1.0)
    return out
