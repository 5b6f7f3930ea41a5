"""``l2trader backtest`` and ``runs``: end to end on a synthetic catalog, byte-deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from l2trader.cli.main import app
from l2trader.engine.config import BacktestConfig, DataSpec, EngineConfig, StrategySpec
from l2trader.engine.registry import RunRegistry, registry_path
from l2trader.engine.run_dir import RUN_FILES, read_run
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bt")
    _invoke("synth", "--out", str(out / "raw"), "--seed", "5", "--duration-s", "900")
    for path in sorted((out / "raw").glob("*.csv.gz")):
        _invoke("ingest", "tardis", str(path), "--catalog", str(out / "cat"),
                "--venue", "synthetic", "--symbol", "SYN")  # fmt: skip
    return out / "cat"


def _config(catalog: Path, root: Path) -> BacktestConfig:
    mm = MarketMakerConfig(inventory_unit_qty=1.0, max_inventory=5.0, sizing=SizingConfig(qty=1.0))
    return BacktestConfig(
        data=DataSpec(catalog=str(catalog), venue="synthetic", symbol="SYN"),
        engine=EngineConfig(),
        strategy=StrategySpec(kind="market_maker", market_maker=mm),
        runs_root=str(root),
    )


def _run_ids(root: Path) -> list[str]:
    with RunRegistry(registry_path(root)) as reg:
        return [r.run_id for r in reg.list()]


def test_backtest_twice_gives_byte_identical_run_directories(catalog: Path, tmp_path: Path) -> None:
    cfg_path = tmp_path / "mm.toml"
    cfg_path.write_text(_config(catalog, tmp_path / "runs").to_toml())

    out1 = _invoke("backtest", str(cfg_path))
    out2 = _invoke("backtest", str(cfg_path))

    second, first = _run_ids(tmp_path / "runs")
    assert first in out1
    assert second in out2
    for name in [*(f"{f}.parquet" for f in RUN_FILES), "run.json"]:
        a = (tmp_path / "runs" / first / name).read_bytes()
        b = (tmp_path / "runs" / second / name).read_bytes()
        assert a == b, name
    run = read_run(tmp_path / "runs" / first)
    assert run.fills.size > 0
    assert run.meta["config_id"] == _config(catalog, tmp_path / "runs").id
    assert np.all(np.diff(run.equity["ts_recv"]) == 1_000_000_000)


def test_runs_ls_and_show_list_the_backtest(catalog: Path, tmp_path: Path) -> None:
    cfg_path = tmp_path / "mm.toml"
    cfg_path.write_text(_config(catalog, tmp_path / "runs").to_toml())
    _invoke("backtest", str(cfg_path))
    (run_id,) = _run_ids(tmp_path / "runs")

    listing = _invoke("runs", "ls", "--root", str(tmp_path / "runs"))
    shown = _invoke("runs", "show", run_id, "--root", str(tmp_path / "runs"))

    assert run_id in listing
    assert "finished" in listing
    assert "n_fills" in shown


def test_backtest_of_a_missing_instrument_fails_with_one_clear_line(
    catalog: Path, tmp_path: Path
) -> None:
    cfg = _config(catalog, tmp_path / "runs").model_copy(
        update={"data": DataSpec(catalog=str(catalog), venue="synthetic", symbol="NOPE")}
    )
    path = tmp_path / "bad.toml"
    path.write_text(cfg.to_toml())

    result = runner.invoke(app, ["backtest", str(path)])

    assert result.exit_code != 0
    assert "NOPE" in str(result.exception) or "NOPE" in result.output
