"""Walk-forward train/test splits with purging and an embargo (no label leaks into training).

Layout of :func:`walk_forward_splits` over ``n`` time-sorted rows and ``k = n_folds``::

    rows:  [ initial training block | test 1 | test 2 | ... | test k ]
    size:    n - k * m                  m        m              m       m = n // (k + 1)

The test blocks are contiguous, consecutive, equal-count (``m`` rows) chunks of the time
axis; the initial block takes the remainder, so it has at least ``m`` rows (the layout of
scikit-learn's ``TimeSeriesSplit``). Fold ``j`` tests on block ``j`` and trains on rows
BEFORE it: every earlier row (``expanding``) or those with
``ts >= test_start_ns - train_ns`` (``rolling``).

Purging (Lopez de Prado, *Advances in Financial Machine Learning*, ch. 7): the label of a
row at ``t`` spans ``[t, label_end]`` with ``label_end = t + label_horizon_ns`` (or an
explicit ``label_end_ns``). A training row is dropped when that span overlaps the test
block's time span ``[test_start_ns, test_end_ns]``, so every kept row BEFORE the test has
``label_end < test_start_ns``. Ties in ``ts`` across a block boundary are purged too.

Embargo: training rows AFTER the test block with ``ts`` in
``(test_end_ns, test_end_ns + embargo_ns]`` are dropped as well (their features may still
carry the test block's information through trailing windows). Forward-only folds never
train on rows after the test block, so here the embargo has no effect; it is implemented in
:func:`purged_train_indices` so that a combinatorial / k-fold CV variant can reuse it.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pydantic import field_validator

from l2trader.config import FrozenConfig
from l2trader.errors import ConfigError, InvalidValueError, OutOfOrderError

__all__ = ["Fold", "WalkForwardConfig", "purged_train_indices", "walk_forward_splits"]


class WalkForwardConfig(FrozenConfig):
    """How :func:`walk_forward_splits` cuts the time axis (the label horizon is per call).

    Examples
    --------
    >>> WalkForwardConfig(n_folds=4, train="rolling", train_ns=60_000_000_000).train_ns
    60000000000
    >>> WalkForwardConfig(train="rolling")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    l2trader.errors.ConfigError: WalkForwardConfig: ...rolling training needs train_ns...
    """

    n_folds: int = 5
    """Number of test blocks (folds), >= 1."""
    train: Literal["expanding", "rolling"] = "expanding"
    """``expanding``: all rows before the test block; ``rolling``: the last ``train_ns``."""
    train_ns: int | None = None
    """Rolling window length, ns (> 0); required for ``rolling``, must be None otherwise."""
    min_train_rows: int = 100
    """Fewest training rows a fold may keep after purging (>= 1); fewer raises."""
    embargo_ns: int = 0
    """Training rows in ``(test_end_ns, test_end_ns + embargo_ns]`` are dropped, ns (>= 0)."""

    @field_validator("n_folds", "min_train_rows")
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be >= 1, got {v}")
        return v

    @field_validator("embargo_ns")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be >= 0 ns, got {v}")
        return v

    def model_post_init(self, __context: object) -> None:
        """Check that ``train_ns`` is given exactly for rolling training, and positive."""
        if self.train == "rolling" and self.train_ns is None:
            raise ValueError("rolling training needs train_ns (the window length, ns)")
        if self.train == "expanding" and self.train_ns is not None:
            raise ValueError(f"train_ns={self.train_ns} is only used by rolling training")
        if self.train_ns is not None and self.train_ns <= 0:
            raise ValueError(f"train_ns must be > 0 ns, got {self.train_ns}")


class Fold(NamedTuple):
    """One walk-forward fold: row indices (int64, ascending) and the test block's span (ns)."""

    train: NDArray[np.int64]
    test: NDArray[np.int64]
    test_start_ns: int
    test_end_ns: int


def _check_ts(ts: NDArray[np.int64]) -> NDArray[np.int64]:
    array = np.asarray(ts)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise InvalidValueError(
            f"ts must be a 1-d integer (ns) array, got {array.shape} {array.dtype}",
            source="walk_forward_splits",
        )
    array = array.astype(np.int64, copy=False)
    back = np.flatnonzero(np.diff(array) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise OutOfOrderError(
            f"ts must be non-decreasing: ts[{i}]={array[i]} < ts[{i - 1}]={array[i - 1]}",
            source="walk_forward_splits",
            line=i,
        )
    return array


def _label_end(
    ts: NDArray[np.int64], label_horizon_ns: int, label_end_ns: NDArray[np.int64] | None
) -> NDArray[np.int64]:
    if label_horizon_ns < 0:
        raise ConfigError(f"label_horizon_ns must be >= 0 ns, got {label_horizon_ns}")
    end = ts + np.int64(label_horizon_ns)
    if label_end_ns is None:
        return end
    explicit = np.asarray(label_end_ns)
    if explicit.shape != ts.shape or explicit.dtype.kind not in "iu":
        raise InvalidValueError(
            f"label_end_ns must be an integer array of shape {ts.shape}, got "
            f"{explicit.shape} {explicit.dtype}",
            source="walk_forward_splits",
        )
    later: NDArray[np.int64] = np.maximum(end, explicit.astype(np.int64, copy=False))
    return later


def purged_train_indices(
    ts: NDArray[np.int64],
    label_end_ns: NDArray[np.int64],
    candidates: NDArray[np.int64],
    test_start_ns: int,
    test_end_ns: int,
    embargo_ns: int,
) -> NDArray[np.int64]:
    """Drop purged and embargoed rows from candidate training rows.

    Row ``i`` is kept iff ``label_end_ns[i] < test_start_ns`` (its label ends before the
    test block starts) or ``ts[i] > test_end_ns + embargo_ns`` (it starts after the test
    block and its embargo). Every other candidate's label interval ``[ts, label_end]``
    overlaps ``[test_start_ns, test_end_ns]`` or it lies in the embargo.

    Parameters
    ----------
    ts, label_end_ns
        Row time and label end time, ns, with ``label_end_ns >= ts``.
    candidates
        Candidate training row indices (int64).
    test_start_ns, test_end_ns
        Time span of the test block, ns (first and last test row time).
    embargo_ns
        Embargo after the test block, ns (>= 0).

    Returns
    -------
    NDArray[np.int64]
        The kept candidates, in their input order.

    Examples
    --------
    >>> ts = np.arange(0, 100, 10)
    >>> purged_train_indices(ts, ts + 15, np.array([0, 1, 2, 3, 7, 8, 9]), 40, 60, 20).tolist()
    [0, 1, 2, 9]
    """
    idx = np.asarray(candidates, dtype=np.int64)
    before = label_end_ns[idx] < test_start_ns
    after = ts[idx] > test_end_ns + embargo_ns
    return idx[before | after]


def _fold(
    j: int,
    times: NDArray[np.int64],
    ends: NDArray[np.int64],
    lo: int,
    size: int,
    config: WalkForwardConfig,
) -> Fold:
    """Fold ``j``: test rows ``[lo, lo + size)``, train = window before ``lo``, purged."""
    start, end = int(times[lo]), int(times[lo + size - 1])
    first = 0
    if config.train_ns is not None:  # rolling: rows with ts >= start - train_ns
        first = int(np.searchsorted(times, start - config.train_ns, side="left"))
    candidates = np.arange(first, lo, dtype=np.int64)
    train = purged_train_indices(times, ends, candidates, start, end, config.embargo_ns)
    if train.size < config.min_train_rows:
        raise ConfigError(
            f"fold {j}: {train.size} training rows after purging < min_train_rows="
            f"{config.min_train_rows} (n={times.size}, n_folds={config.n_folds}, "
            f"test_start_ns={start}); use fewer folds, more rows or a shorter horizon"
        )
    return Fold(train, np.arange(lo, lo + size, dtype=np.int64), start, end)


def walk_forward_splits(
    ts: NDArray[np.int64],
    label_horizon_ns: int,
    config: WalkForwardConfig,
    *,
    label_end_ns: NDArray[np.int64] | None = None,
) -> list[Fold]:
    """Forward-only folds over time-sorted rows, purged of every label that reaches a test.

    See the module docstring for the exact layout, purging and embargo rules.

    Parameters
    ----------
    ts
        Row times, ns, non-decreasing (ties allowed).
    label_horizon_ns
        Label horizon, ns (>= 0): the label of row ``i`` spans ``[ts[i], ts[i] + h]``.
    config
        Fold count, training window and embargo.
    label_end_ns
        Optional exact label end per row, ns (e.g. the time of the book state a
        first-at-or-after label really read); the later of it and ``ts + h`` is used.

    Returns
    -------
    list[Fold]
        ``config.n_folds`` folds, in time order.

    Raises
    ------
    ConfigError
        Fewer than ``n_folds + 1`` rows, or a fold with < ``min_train_rows`` after purging.

    Examples
    --------
    >>> ts = np.arange(12, dtype=np.int64) * 10
    >>> cfg = WalkForwardConfig(n_folds=3, min_train_rows=1)
    >>> [(f.train.tolist(), f.test.tolist()) for f in walk_forward_splits(ts, 10, cfg)]
    [([0, 1], [3, 4, 5]), ([0, 1, 2, 3, 4], [6, 7, 8]), ([0, 1, 2, 3, 4, 5, 6, 7], [9, 10, 11])]
    """
    times = _check_ts(ts)
    ends = _label_end(times, int(label_horizon_ns), label_end_ns)
    n, k = times.size, config.n_folds
    size = n // (k + 1)
    if size < 1:
        raise ConfigError(f"n_folds={k} needs at least {k + 1} rows, got {n}")
    return [
        _fold(j, times, ends, lo, size, config) for j, lo in enumerate(range(n - k * size, n, size))
    ]
