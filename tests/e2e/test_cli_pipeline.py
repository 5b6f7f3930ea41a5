"""The CLI pipeline end to end: synth -> ingest -> catalog ls/info -> replay (+ bad input)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from l2trader.book.reference import ReferenceBook
from l2trader.cli.main import app
from l2trader.data.catalog import Catalog
from l2trader.testing import tree_snapshot

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e")
    _invoke("synth", "--out", str(out / "raw"), "--seed", "3", "--duration-s", "600")
    for path in sorted((out / "raw").glob("*.csv.gz")):
        _invoke(
            "ingest",
            "tardis",
            str(path),
            "--catalog",
            str(out / "cat"),
            "--venue",
            "synthetic",
            "--symbol",
            "SYN",
        )
    return out


def test_ingest_then_replay_matches_reference_book(pipeline: Path) -> None:
    out = _invoke(
        "replay",
        "--catalog",
        str(pipeline / "cat"),
        "--venue",
        "synthetic",
        "--symbol",
        "SYN",
        "--levels",
        "5",
        "--out",
        str(pipeline / "top5.parquet"),
    )
    assert "book states" in out
    frame = pl.read_parquet(pipeline / "top5.parquet")
    events = Catalog(pipeline / "cat").read_all("synthetic", "SYN")
    assert frame.height == int(np.count_nonzero(events["flags"] & 1))
    book = ReferenceBook()
    book.apply_all(events)
    bids, asks = book.top(5)
    last = frame.row(-1, named=True)
    assert [round(last[f"bid_px_{i + 1}"] / 0.01) for i in range(5)] == [p for p, _ in bids]
    assert [last[f"ask_sz_{i + 1}"] for i in range(5)] == [q for _, q in asks]


def test_catalog_ls_and_info(pipeline: Path) -> None:
    assert "SYN" in _invoke("catalog", "ls", "--catalog", str(pipeline / "cat"))
    info = _invoke(
        "catalog",
        "info",
        "--catalog",
        str(pipeline / "cat"),
        "--venue",
        "synthetic",
        "--symbol",
        "SYN",
    )
    assert "sha256" in info


def test_strict_ingest_of_corrupt_file_fails_clearly_and_leaves_catalog_unchanged(
    pipeline: Path, tmp_path: Path
) -> None:
    src = next((pipeline / "raw").glob("*incremental_book_L2*.csv.gz"))
    with gzip.open(src, "rt") as handle:
        lines = [next(handle) for _ in range(200)]
    lines[150] = "synthetic,SYN,garbage,row,true,bid,x,1\n"
    bad = tmp_path / "bad_incremental_book_L2.csv"
    bad.write_text("".join(lines))
    before = tree_snapshot(pipeline / "cat")
    result = runner.invoke(
        app,
        [
            "ingest",
            "tardis",
            str(bad),
            "--catalog",
            str(pipeline / "cat"),
            "--venue",
            "synthetic",
            "--symbol",
            "SYN",
        ],
    )
    assert result.exit_code != 0
    assert f"{bad}:151" in str(result.exception) + result.output
    assert tree_snapshot(pipeline / "cat") == before


def test_features_fit_evaluate_describe(pipeline: Path) -> None:
    from l2trader.features.frame import FeatureFrame
    from l2trader.signals.artifact import load_model

    cat = ["--catalog", str(pipeline / "cat"), "--venue", "synthetic", "--symbol", "SYN"]
    feats = pipeline / "features.parquet"
    out = _invoke(
        "features", *cat, "--out", str(feats), "--clock", "time:500ms", "--horizons", "1s,5s"
    )
    assert "samples (time_500ms)" in out
    frame = FeatureFrame.read_parquet(feats)
    assert frame.labels == (
        "label_fwd_ret_bps_1s", "label_end_ns_1s", "label_fwd_ret_bps_5s", "label_end_ns_5s",
    )  # fmt: skip
    assert (np.diff(frame.columns["ts_recv"]) == 500_000_000).all()
    model = pipeline / "model.json"
    out = _invoke(
        "fit", "--features", str(feats), "--out", str(model), "--folds", "3",
        "--report-dir", str(pipeline / "fit"),
    )  # fmt: skip
    assert "out-of-sample signal quality" in out
    art = load_model(model)
    assert art.label == "label_fwd_ret_bps_1s"
    assert art.clock == "time_500ms"
    assert (pipeline / "fit" / "signal_report.png").stat().st_size > 10_000
    out = _invoke("evaluate", "--model", str(model), "--features", str(feats))
    assert "hit rate" in out
    out = _invoke("features", "describe", str(feats), "--out", str(pipeline / "desc"))
    assert "imbalance_l1" in out
    assert {p.name for p in (pipeline / "desc").glob("*.png")} == {
        "feature_hist.png", "feature_corr.png", "feature_ic.png",
    }  # fmt: skip


def test_evaluate_refuses_a_frame_built_with_another_config(pipeline: Path) -> None:
    cat = ["--catalog", str(pipeline / "cat"), "--venue", "synthetic", "--symbol", "SYN"]
    a, b = pipeline / "fa.parquet", pipeline / "fb.parquet"
    _invoke("features", *cat, "--out", str(a), "--clock", "time:1s", "--horizons", "1s")
    _invoke("features", *cat, "--out", str(b), "--clock", "time:1s", "--horizons", "1s",
            "--windows", "2s,10s")  # fmt: skip
    _invoke("fit", "--features", str(a), "--out", str(pipeline / "ma.json"), "--folds", "2",
            "--model", "threshold")  # fmt: skip
    result = runner.invoke(
        app, ["evaluate", "--model", str(pipeline / "ma.json"), "--features", str(b)]
    )
    assert result.exit_code != 0
    assert "feature frame lacks" in str(result.exception) or "differs" in str(result.exception)


def test_features_with_microprice_warmup_leave_the_warmup_nan(pipeline: Path) -> None:
    from l2trader.features.frame import FeatureFrame

    cat = ["--catalog", str(pipeline / "cat"), "--venue", "synthetic", "--symbol", "SYN"]
    path = pipeline / "fm.parquet"
    _invoke("features", *cat, "--out", str(path), "--horizons", "", "--microprice-warmup", "300s")
    frame = FeatureFrame.read_parquet(path)
    ts, micro = frame.columns["ts_recv"], frame.columns["microprice"]
    first = ts[0] - ts[0] % 1_000_000_000  # the warm-up runs from the first book state
    assert np.isnan(micro[ts < first + 299_000_000_000]).all()
    assert np.isfinite(micro[ts > first + 301_000_000_000]).mean() > 0.9
