from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from l2trader.data.events import collect
from l2trader.schema import BID, KIND_BOOK, KIND_SNAPSHOT, KIND_TRADE
from l2trader.synth import SynthConfig, generate, write_tardis_csv

CFG = SynthConfig(seed=3, duration_s=300.0, events_per_s=60.0)


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(gzip.decompress(path.read_bytes())))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, list[int]]:
    out = tmp_path_factory.mktemp("tardis")
    seen: list[int] = []
    n = write_tardis_csv(CFG, out / "book.csv.gz", out / "trades.csv.gz", progress=seen.append)
    return out / "book.csv.gz", out / "trades.csv.gz", n, seen


def test_book_file_round_trips_to_the_generated_events(
    written: tuple[Path, Path, int, list[int]],
) -> None:
    events = collect(generate(CFG))
    rows = events[np.isin(events["kind"], [KIND_BOOK, KIND_SNAPSHOT])]

    book = _read(written[0])

    assert book.columns == [
        "exchange",
        "symbol",
        "timestamp",
        "local_timestamp",
        "is_snapshot",
        "side",
        "price",
        "amount",
    ]
    assert book["exchange"].unique().to_list() == ["synthetic"]
    assert book["symbol"].unique().to_list() == ["SYN"]
    assert np.array_equal(book["timestamp"].to_numpy() * 1000, rows["ts_exch"])
    assert np.array_equal(book["local_timestamp"].to_numpy() * 1000, rows["ts_recv"])
    assert np.array_equal(book["is_snapshot"].to_numpy(), rows["kind"] == KIND_SNAPSHOT)
    assert np.array_equal(book["side"].to_numpy() == "bid", rows["side"] == BID)
    assert np.array_equal(
        np.rint(book["price"].to_numpy() * 100).astype(np.int64), rows["price_ticks"]
    )
    assert np.array_equal(book["amount"].to_numpy(), rows["qty"])
    assert written[2] == len(events)
    assert sum(written[3]) == len(events)


def test_trades_file_round_trips_with_sequential_ids(
    written: tuple[Path, Path, int, list[int]],
) -> None:
    events = collect(generate(CFG))
    rows = events[events["kind"] == KIND_TRADE]

    trades = _read(written[1])

    assert trades.columns == [
        "exchange",
        "symbol",
        "timestamp",
        "local_timestamp",
        "id",
        "side",
        "price",
        "amount",
    ]
    assert trades["id"].to_list() == list(range(1, len(rows) + 1))
    assert np.array_equal(trades["side"].to_numpy() == "buy", rows["side"] == BID)
    assert np.array_equal(trades["local_timestamp"].to_numpy() * 1000, rows["ts_recv"])
    assert np.array_equal(
        np.rint(trades["price"].to_numpy() * 100).astype(np.int64), rows["price_ticks"]
    )
    assert np.array_equal(trades["amount"].to_numpy(), rows["qty"])


def test_grouping_rows_by_timestamps_recovers_the_batches(
    written: tuple[Path, Path, int, list[int]],
) -> None:
    events = collect(generate(CFG))
    seqs = events["seq"][np.isin(events["kind"], [KIND_BOOK, KIND_SNAPSHOT])]
    book = _read(written[0])
    key = book.select("local_timestamp", "timestamp", "is_snapshot")

    new_group = (key != key.shift(1)).select(pl.any_horizontal(pl.all()).fill_null(True))

    assert np.array_equal(new_group.to_series().to_numpy(), np.diff(seqs, prepend=-1) != 0)


def test_same_seed_writes_identical_files(
    tmp_path: Path, written: tuple[Path, Path, int, list[int]]
) -> None:
    write_tardis_csv(CFG, tmp_path / "b.csv.gz", tmp_path / "t.csv.gz")

    assert (tmp_path / "b.csv.gz").read_bytes() == written[0].read_bytes()
    assert (tmp_path / "t.csv.gz").read_bytes() == written[1].read_bytes()


def test_prices_are_written_with_tick_decimals(written: tuple[Path, Path, int, list[int]]) -> None:
    first_row = gzip.decompress(written[0].read_bytes()).decode().splitlines()[1].split(",")

    assert first_row[:3] == ["synthetic", "SYN", "1704153600000000"]
    assert first_row[4:7] == ["true", "bid", "100.00"]
