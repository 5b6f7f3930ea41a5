"""Run directory: exact Parquet round trip, determinism, atomicity, typed errors (issue 4)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from l2trader.engine import run_dir
from l2trader.engine.run_dir import (
    RUN_DTYPES,
    RUN_FILES,
    RUN_JSON,
    RunData,
    read_meta,
    read_run,
    run_row_counts,
    run_summary,
    write_run,
)
from l2trader.errors import ArtifactError
from l2trader.schema import (
    FILL_DTYPE,
    ORDER_DTYPE,
    ORDER_EVENT_DTYPE,
    SIGNAL_DTYPE,
    STATE_DTYPE,
    Liquidity,
    OrderStatus,
)


def _random(dtype: np.dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``dtype`` with random values in every field (padding bytes zero)."""
    out = np.zeros(n, dtype=dtype)
    for name in dtype.names or ():
        kind = out.dtype[name]
        if kind.kind == "f":
            out[name] = rng.normal(0.0, 1e3, n)
        else:
            info = np.iinfo(kind)
            out[name] = rng.integers(info.min, info.max, n, dtype=kind, endpoint=True)
    return out


def _run_data(seed: int = 7, *, signals: int = 5) -> RunData:
    rng = np.random.default_rng(seed)
    equity = _random(STATE_DTYPE, 11, rng)
    equity["mid"][[0, 3]] = np.nan
    equity["equity"][-1] = 1234.5
    fills = _random(FILL_DTYPE, 4, rng)
    fills["fee"][1] = -0.0
    return RunData(
        orders=_random(ORDER_DTYPE, 6, rng),
        order_events=_random(ORDER_EVENT_DTYPE, 8, rng),
        fills=fills,
        equity=equity,
        signals=np.zeros(0, SIGNAL_DTYPE) if signals == 0 else _random(SIGNAL_DTYPE, signals, rng),
        meta={
            "config": {"strategy": {"threshold_bps": 1.5}, "seed": 3},
            "config_id": "ab" * 32,
            "seed": 3,
            "summary": {"n_fills": 4, "final_equity": 1234.5, "sharpe": float("nan")},
        },
    )


def _empty_run() -> RunData:
    return RunData(**{n: np.zeros(0, RUN_DTYPES[n]) for n in RUN_FILES}, meta={})


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Byte-exact equality (NaN payloads and -0.0 included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_round_trip_is_exact_for_every_array(tmp_path: Path) -> None:
    data = _run_data()

    back = read_run(write_run(tmp_path / "r1", data))

    for name in RUN_FILES:
        assert _same(back.array(name), data.array(name)), name
    assert np.isnan(back.equity["mid"][[0, 3]]).all()
    assert math.copysign(1.0, back.fills["fee"][1]) == -1.0


def test_round_trip_of_empty_arrays(tmp_path: Path) -> None:
    empty = _empty_run()

    back = read_run(write_run(tmp_path / "r", empty))

    for name in RUN_FILES:
        assert _same(back.array(name), empty.array(name)), name
    assert back.meta == {}


def test_meta_round_trip_writes_nan_as_null(tmp_path: Path) -> None:
    data = _run_data()

    back = read_run(write_run(tmp_path / "r", data))

    expected = dict(data.meta)
    expected["summary"] = {"n_fills": 4, "final_equity": 1234.5, "sharpe": None}
    assert back.meta == expected
    text = (tmp_path / "r" / RUN_JSON).read_text()
    assert text == (
        '{\n  "config": {\n    "seed": 3,\n    "strategy": {\n      "threshold_bps": 1.5\n'
        f'    }}\n  }},\n  "config_id": "{"ab" * 32}",\n  "seed": 3,\n  "summary": {{\n'
        '    "final_equity": 1234.5,\n    "n_fills": 4,\n    "sharpe": null\n  }\n}\n'
    )


def test_same_data_gives_byte_identical_files(tmp_path: Path) -> None:
    data = _run_data()

    a = write_run(tmp_path / "a", data)
    b = write_run(tmp_path / "b", _run_data())

    names = sorted(p.name for p in a.iterdir())
    assert names == sorted([*(f"{n}.parquet" for n in RUN_FILES), RUN_JSON])
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_parquet_columns_are_the_dtype_fields_and_types(tmp_path: Path) -> None:
    write_run(tmp_path / "r", _run_data())

    schema = pq.read_schema(tmp_path / "r" / "fills.parquet")

    names = list(FILL_DTYPE.names or ())
    assert schema.names == names
    assert [f.type for f in schema] == [pa.from_numpy_dtype(FILL_DTYPE[n]) for n in names]
    assert not any(f.nullable for f in schema)


def test_refuses_to_overwrite_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "r"
    target.mkdir()

    with pytest.raises(ArtifactError, match="already exists"):
        write_run(target, _run_data())

    assert list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_wrong_dtype_is_refused_before_writing(tmp_path: Path) -> None:
    data = _run_data()
    bad = RunData(data.orders, data.order_events, data.orders, data.equity, data.signals, {})

    with pytest.raises(ArtifactError, match=r"RunData\.fills"):
        write_run(tmp_path / "r", bad)

    assert list(tmp_path.iterdir()) == []


def test_meta_that_json_cannot_hold_is_refused(tmp_path: Path) -> None:
    data = _run_data()
    bad = RunData(**{n: data.array(n) for n in RUN_FILES}, meta={"path": Path("x")})

    with pytest.raises(ArtifactError, match=r"run\.json\.path: PosixPath"):
        write_run(tmp_path / "r", bad)

    assert list(tmp_path.iterdir()) == []


def test_crash_mid_write_leaves_no_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = run_dir._write_parquet
    written: list[str] = []

    def crash_on_third(path: Path, arr: np.ndarray, dtype: np.dtype) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt("simulated crash")
        real(path, arr, dtype)
        written.append(path.name)

    monkeypatch.setattr(run_dir, "_write_parquet", crash_on_third)

    with pytest.raises(KeyboardInterrupt):
        write_run(tmp_path / "r", _run_data())

    assert written == ["orders.parquet", "order_events.parquet"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", RUN_FILES)
def test_missing_parquet_file_names_the_file(tmp_path: Path, name: str) -> None:
    directory = write_run(tmp_path / "r", _run_data())
    (directory / f"{name}.parquet").unlink()

    with pytest.raises(ArtifactError, match=rf"{name}\.parquet: missing run file"):
        read_run(directory)


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    directory = write_run(tmp_path / "r", _run_data())
    path = directory / "fills.parquet"
    path.write_bytes(path.read_bytes()[:40] + b"garbage")

    with pytest.raises(ArtifactError, match=r"fills\.parquet: unreadable Parquet"):
        read_run(directory)
    with pytest.raises(ArtifactError, match=r"fills\.parquet: unreadable Parquet"):
        run_row_counts(directory)


def test_wrong_columns_name_the_file(tmp_path: Path) -> None:
    directory = write_run(tmp_path / "r", _run_data())
    pq.write_table(pa.table({"ts_recv": [1], "signal": [0.5]}), directory / "signals.parquet")

    with pytest.raises(ArtifactError, match=r"signals\.parquet: columns .* do not match"):
        read_run(directory)


def test_nulls_are_refused_naming_the_file_and_column(tmp_path: Path) -> None:
    directory = write_run(tmp_path / "r", _run_data())
    table = pa.table(
        {"ts_recv": pa.array([1, None], pa.int64()), "score": pa.array([0.5, 1.0], pa.float64())}
    )
    pq.write_table(table, directory / "signals.parquet")

    with pytest.raises(ArtifactError, match=r"signals\.parquet: column 'ts_recv' has 1 nulls"):
        read_run(directory)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "missing run file"), ("{not json", "unreadable JSON"), ("[1]", "expected a JSON")],
)
def test_bad_run_json_names_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    directory = write_run(tmp_path / "r", _run_data())
    path = directory / RUN_JSON
    path.unlink()
    if content is not None:
        path.write_text(content)

    with pytest.raises(ArtifactError, match=rf"run\.json: {message}"):
        read_run(directory)


def test_missing_directory_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="run directory does not exist"):
        read_run(tmp_path / "nope")


def test_row_counts_and_meta_without_reading_the_data(tmp_path: Path) -> None:
    directory = write_run(tmp_path / "r", _run_data(signals=0))

    counts = run_row_counts(directory)
    meta = read_meta(directory)

    assert counts == {"orders": 6, "order_events": 8, "fills": 4, "equity": 11, "signals": 0}
    assert meta["summary"]["final_equity"] == 1234.5


def test_run_summary_exact_values() -> None:
    fills = np.zeros(4, FILL_DTYPE)
    fills["side"] = [1, 1, -1, -1]
    fills["qty"] = [1.0, 2.0, 0.5, 4.0]
    fills["fee"] = [0.25, -0.125, 0.5, 1.0]
    fills["liquidity"] = [Liquidity.MAKER, Liquidity.TAKER, Liquidity.TAKER, Liquidity.TAKER]
    events = np.zeros(5, ORDER_EVENT_DTYPE)
    events["status"] = [OrderStatus.ACCEPTED, OrderStatus.REJECTED, OrderStatus.FILLED,
                        OrderStatus.REJECTED, OrderStatus.CANCELED]  # fmt: skip
    equity = np.zeros(3, STATE_DTYPE)
    equity["equity"] = [0.0, 10.0, -2.5]
    data = RunData(np.zeros(7, ORDER_DTYPE), events, fills, equity, np.zeros(0, SIGNAL_DTYPE), {})

    summary = run_summary(data)

    assert summary == {
        "n_orders": 7,
        "n_fills": 4,
        "n_rejects": 2,
        "n_maker_fills": 1,
        "n_taker_fills": 3,
        "final_equity": -2.5,
        "total_fees": 1.625,
        "traded_qty": 7.5,
        "max_abs_position": 3.0,
        "final_position": -1.5,
    }
    assert all(type(v) in (int, float) for v in summary.values())


def test_run_summary_of_an_empty_run() -> None:
    empty = _empty_run()

    summary = run_summary(empty)

    assert math.isnan(summary.pop("final_equity"))
    assert summary == {
        "n_orders": 0,
        "n_fills": 0,
        "n_rejects": 0,
        "n_maker_fills": 0,
        "n_taker_fills": 0,
        "total_fees": 0.0,
        "traded_qty": 0.0,
        "max_abs_position": 0.0,
        "final_position": 0.0,
    }
