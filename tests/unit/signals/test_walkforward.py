"""Walk-forward splits: exact layout, purging/embargo against a brute-force oracle, leakage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.errors import ConfigError, InvalidValueError, OutOfOrderError
from l2trader.signals.walkforward import (
    Fold,
    WalkForwardConfig,
    purged_train_indices,
    walk_forward_splits,
)


def brute_force(ts, horizon, n_folds, train_ns, embargo_ns):
    """Spell out the documented layout and purge rule row by row."""
    n = len(ts)
    m = n // (n_folds + 1)
    folds = []
    for j in range(n_folds):
        lo = n - n_folds * m + j * m
        test = list(range(lo, lo + m))
        start, end = ts[test[0]], ts[test[-1]]
        train = []
        for i in range(lo):
            if train_ns is not None and ts[i] < start - train_ns:
                continue
            overlaps = ts[i] + horizon >= start and ts[i] <= end
            embargoed = end < ts[i] <= end + embargo_ns
            if not overlaps and not embargoed:
                train.append(i)
        folds.append((train, test, start, end))
    return folds


def test_expanding_layout_exact() -> None:
    ts = np.arange(12, dtype=np.int64) * 10
    config = WalkForwardConfig(n_folds=3, min_train_rows=1)

    folds = walk_forward_splits(ts, 10, config)

    assert [f.train.tolist() for f in folds] == [[0, 1], [0, 1, 2, 3, 4], list(range(8))]
    assert [f.test.tolist() for f in folds] == [[3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert [(f.test_start_ns, f.test_end_ns) for f in folds] == [(30, 50), (60, 80), (90, 110)]
    assert all(f.train.dtype == np.int64 and f.test.dtype == np.int64 for f in folds)
    assert isinstance(folds[0], Fold)


def test_initial_block_takes_the_remainder() -> None:
    ts = np.arange(14, dtype=np.int64)  # 14 // 4 = 3 rows per test block, initial block 5
    config = WalkForwardConfig(n_folds=3, min_train_rows=1)

    folds = walk_forward_splits(ts, 0, config)

    assert [f.test.tolist() for f in folds] == [[5, 6, 7], [8, 9, 10], [11, 12, 13]]
    assert folds[0].train.tolist() == [0, 1, 2, 3, 4]  # horizon 0: nothing purged


def test_rolling_window_then_purge() -> None:
    ts = np.arange(12, dtype=np.int64) * 10
    config = WalkForwardConfig(n_folds=3, train="rolling", train_ns=40, min_train_rows=1)

    folds = walk_forward_splits(ts, 15, config)

    # window [start - 40, start), then rows with t + 15 >= start are purged
    assert [f.train.tolist() for f in folds] == [[0, 1], [2, 3, 4], [5, 6, 7]]


def test_ties_across_the_boundary_are_purged() -> None:
    ts = np.array([0, 1, 2, 5, 5, 5, 6, 7], dtype=np.int64)  # m = 4: test = rows 4..7
    config = WalkForwardConfig(n_folds=1, min_train_rows=1)

    (fold,) = walk_forward_splits(ts, 0, config)

    assert fold.test.tolist() == [4, 5, 6, 7]
    assert fold.train.tolist() == [0, 1, 2]  # row 3 shares ts=5 with the test start


def test_explicit_label_end_extends_the_purge() -> None:
    ts = np.arange(8, dtype=np.int64) * 10
    label_end = ts.copy()
    label_end[1] = 45  # a first-at-or-after label that read the book at 45 ns
    config = WalkForwardConfig(n_folds=1, min_train_rows=1)

    (fold,) = walk_forward_splits(ts, 5, config, label_end_ns=label_end)

    assert fold.test.tolist() == [4, 5, 6, 7]
    assert fold.train.tolist() == [0, 2, 3]


def test_embargo_drops_rows_after_the_test_block() -> None:
    ts = np.arange(10, dtype=np.int64) * 10
    candidates = np.array([0, 1, 2, 3, 7, 8, 9], dtype=np.int64)  # a CV fold: test = 4..6

    kept = purged_train_indices(ts, ts + 15, candidates, 40, 60, embargo_ns=20)
    no_embargo = purged_train_indices(ts, ts + 15, candidates, 40, 60, embargo_ns=0)

    assert kept.tolist() == [0, 1, 2, 9]  # 3 purged (45 >= 40); 70, 80 in (60, 80]
    assert no_embargo.tolist() == [0, 1, 2, 7, 8, 9]


@settings(max_examples=150, deadline=None)
@given(
    raw=st.lists(st.integers(0, 60), min_size=2, max_size=60),
    horizon=st.integers(0, 20),
    n_folds=st.integers(1, 5),
    train_ns=st.one_of(st.none(), st.integers(1, 40)),
    embargo_ns=st.integers(0, 10),
    min_train_rows=st.integers(1, 4),
)
def test_splits_never_leak_and_match_brute_force(
    raw, horizon, n_folds, train_ns, embargo_ns, min_train_rows
) -> None:
    ts = np.sort(np.array(raw, dtype=np.int64))  # small range: many ties
    if len(ts) < n_folds + 1:
        return
    config = WalkForwardConfig(
        n_folds=n_folds,
        train="expanding" if train_ns is None else "rolling",
        train_ns=train_ns,
        embargo_ns=embargo_ns,
        min_train_rows=min_train_rows,
    )
    expected = brute_force(ts.tolist(), horizon, n_folds, train_ns, embargo_ns)

    if min(len(train) for train, *_ in expected) < min_train_rows:
        with pytest.raises(ConfigError, match="min_train_rows"):
            walk_forward_splits(ts, horizon, config)
        return
    folds = walk_forward_splits(ts, horizon, config)

    got = [(f.train.tolist(), f.test.tolist(), f.test_start_ns, f.test_end_ns) for f in folds]
    assert got == expected
    sizes = {f.test.size for f in folds}
    assert len(sizes) == 1
    assert np.array_equal(
        np.concatenate([f.test for f in folds]), np.arange(len(ts))[-len(folds) * sizes.pop() :]
    )
    for f in folds:
        train_t, test_t = ts[f.train], ts[f.test]
        assert train_t.max() + horizon < test_t.min()  # no label reaches the test block
        inside = (train_t >= f.test_start_ns - horizon) & (train_t <= f.test_end_ns + embargo_ns)
        assert not inside.any()
        assert np.intersect1d(f.train, f.test).size == 0


def test_input_is_not_mutated() -> None:
    ts = np.arange(20, dtype=np.int64)
    before = ts.copy()

    walk_forward_splits(ts, 2, WalkForwardConfig(n_folds=2, min_train_rows=1))

    assert np.array_equal(ts, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train": "rolling"}, "rolling training needs train_ns"),
        ({"train_ns": 10}, "only used by rolling"),
        ({"train": "rolling", "train_ns": 0}, "train_ns must be > 0"),
        ({"n_folds": 0}, "must be >= 1"),
        ({"min_train_rows": 0}, "must be >= 1"),
        ({"embargo_ns": -1}, "must be >= 0"),
        ({"train": "sliding"}, "train"),
        ({"folds": 3}, "folds"),
    ],
)
def test_bad_config_raises(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        WalkForwardConfig(**kwargs)


def test_config_round_trips_through_json() -> None:
    config = WalkForwardConfig(n_folds=4, train="rolling", train_ns=60, embargo_ns=5)

    again = WalkForwardConfig.from_json(config.to_json())

    assert again == config
    assert again.id == config.id
    assert json.loads(config.to_json())["train_ns"] == 60


def test_too_few_rows_for_the_folds() -> None:
    with pytest.raises(ConfigError, match="n_folds=5 needs at least 6 rows, got 5"):
        walk_forward_splits(np.arange(5, dtype=np.int64), 0, WalkForwardConfig(n_folds=5))


def test_too_few_training_rows_names_the_fold() -> None:
    ts = np.arange(12, dtype=np.int64) * 10

    with pytest.raises(
        ConfigError, match="fold 0: 2 training rows after purging < min_train_rows=3"
    ):
        walk_forward_splits(ts, 10, WalkForwardConfig(n_folds=3, min_train_rows=3))


def test_unsorted_ts_raises_out_of_order() -> None:
    with pytest.raises(OutOfOrderError, match=r"ts\[2\]=1 < ts\[1\]=5"):
        walk_forward_splits(np.array([0, 5, 1, 6]), 0, WalkForwardConfig(n_folds=1))


@pytest.mark.parametrize("ts", [np.arange(4.0), np.zeros((2, 2), dtype=np.int64)])
def test_non_integer_or_2d_ts_raises(ts) -> None:
    with pytest.raises(InvalidValueError, match="1-d integer"):
        walk_forward_splits(ts, 0, WalkForwardConfig(n_folds=1))


def test_negative_horizon_raises() -> None:
    with pytest.raises(ConfigError, match="label_horizon_ns must be >= 0"):
        walk_forward_splits(np.arange(4, dtype=np.int64), -1, WalkForwardConfig(n_folds=1))


def test_label_end_of_wrong_shape_raises() -> None:
    with pytest.raises(InvalidValueError, match="label_end_ns"):
        walk_forward_splits(
            np.arange(4, dtype=np.int64),
            0,
            WalkForwardConfig(n_folds=1, min_train_rows=1),
            label_end_ns=np.arange(3, dtype=np.int64),
        )
