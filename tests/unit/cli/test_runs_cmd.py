"""``l2trader runs ls|show`` on a temporary runs root (issue 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from l2trader.cli.runs_cmd import app
from l2trader.engine.registry import RunRegistry, registry_path
from l2trader.engine.run_dir import RUN_DTYPES, RUN_FILES, RunData, run_summary, write_run

S = 1_000_000_000
T0 = 1_704_110_400 * S  # 2024-01-01T12:00:00Z
runner = CliRunner()


def _data(n_fills: int, final_equity: float) -> RunData:
    arrays = {name: np.zeros(0, RUN_DTYPES[name]) for name in RUN_FILES}
    arrays["fills"] = np.zeros(n_fills, RUN_DTYPES["fills"])
    arrays["fills"]["side"] = 1
    arrays["fills"]["qty"] = 0.5
    arrays["equity"] = np.zeros(3, RUN_DTYPES["equity"])
    arrays["equity"]["equity"][-1] = final_equity
    data = RunData(**arrays, meta={})
    return RunData(**arrays, meta={"seed": 1, "summary": run_summary(data)})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Three runs: two finished backtests with run dirs, one running stress run without."""
    with RunRegistry(registry_path(tmp_path)) as reg:
        for i, (run_id, kind) in enumerate(
            [
                ("20240101-120000-aaaaaa", "backtest"),
                ("20240101-120100-bbbbbb", "backtest"),
                ("20240101-120200-cccccc", "stress"),
            ]
        ):
            reg.start(
                run_id=run_id,
                kind=kind,
                config_json='{"threshold_bps": 2.0}',
                config_id=f"{i}" * 64,
                code_version="0.1.0",
                data_fingerprint="d" * 64,
                run_dir=str(tmp_path / run_id),
                started_ns=T0 + 60 * i * S,
            )
            if kind == "backtest":
                write_run(tmp_path / run_id, _data(n_fills=3 + i, final_equity=100.25 + i))
                reg.finish(run_id, status="finished", finished_ns=T0 + 60 * i * S + 1_500_000_000)
    return tmp_path


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def _rows(out: str) -> list[list[str]]:
    """The body cells of every rich table row in ``out``."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]


def test_ls_lists_runs_newest_first_with_summary(root: Path) -> None:
    code, out, _ = _invoke("ls", "--root", str(root))

    assert code == 0
    assert _rows(out) == [
        ["20240101-120200-cccccc", "stress", "running", "2024-01-01T12:02:00Z", "-",
         "222222222222", "-", "-"],
        ["20240101-120100-bbbbbb", "backtest", "finished", "2024-01-01T12:01:00Z", "1.500",
         "111111111111", "4", "101.25"],
        ["20240101-120000-aaaaaa", "backtest", "finished", "2024-01-01T12:00:00Z", "1.500",
         "000000000000", "3", "100.25"],
    ]  # fmt: skip


def test_ls_kind_and_limit(root: Path) -> None:
    _, backtests, _ = _invoke("ls", "--root", str(root), "--kind", "backtest")
    _, newest, _ = _invoke("ls", "--root", str(root), "--limit", "1")

    assert "cccccc" not in backtests
    assert "aaaaaa" in backtests
    assert "bbbbbb" in backtests
    assert "cccccc" in newest
    assert "bbbbbb" not in newest


def test_ls_empty_and_missing_registry(tmp_path: Path) -> None:
    RunRegistry(registry_path(tmp_path / "empty")).close()

    code_empty, out_empty, _ = _invoke("ls", "--root", str(tmp_path / "empty"))
    code_missing, _, err = _invoke("ls", "--root", str(tmp_path / "nothing"))

    assert (code_empty, code_missing) == (0, 1)
    assert "no runs" in out_empty
    assert "no run registry at" in err
    assert not (tmp_path / "nothing").exists()


def test_show_prints_record_summary_and_row_counts(root: Path) -> None:
    code, out, _ = _invoke("show", "20240101-120100-bbbbbb", "--root", str(root))

    assert code == 0
    assert "run 20240101-120100-bbbbbb" in out
    cells = dict(_rows(out))
    assert {k: cells[k] for k in ("status", "started", "finished", "duration s", "config")} == {
        "status": "finished",
        "started": "2024-01-01T12:01:00Z",
        "finished": "2024-01-01T12:01:01Z",
        "duration s": "1.500",
        "config": '{"threshold_bps": 2.0}',
    }
    assert cells["config_id"] == "1" * 64
    assert cells["report_path"] == "-"
    assert {k: cells[k] for k in ("n_fills", "final_equity", "traded_qty", "n_rejects")} == {
        "n_fills": "4", "final_equity": "101.25", "traded_qty": "2", "n_rejects": "0",
    }  # fmt: skip
    assert [cells[f"{n}.parquet"] for n in RUN_FILES] == ["0", "0", "4", "3", "0"]


def test_show_unknown_run_exits_1_without_traceback(root: Path) -> None:
    code, out, err = _invoke("show", "20990101-000000-ffffff", "--root", str(root))

    assert code == 1
    assert "unknown run '20990101-000000-ffffff'" in err
    assert "Traceback" not in out + err


def test_show_running_run_without_directory(root: Path) -> None:
    code, out, _ = _invoke("show", "20240101-120200-cccccc", "--root", str(root))

    assert code == 0
    assert "running" in out
    assert "no run directory at" in out


def test_show_corrupt_file_exits_1_naming_it(root: Path) -> None:
    (root / "20240101-120000-aaaaaa" / "fills.parquet").write_bytes(b"not parquet")

    code, out, err = _invoke("show", "20240101-120000-aaaaaa", "--root", str(root))

    assert code == 1
    assert "fills.parquet: unreadable Parquet file" in err
    assert "n_fills" in out
