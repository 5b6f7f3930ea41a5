"""Paper session vs backtest on the real Binance USD-M capture: identical C5-C7 rows.

Data: ``binance_usdm_btcusdt_20240808.gz`` read with ``BinanceDepthReader``, first ~200k
events (cut to the last whole batch), the reference market maker. A paper session (replay
feed, arrivals through the bounded queue, one journal transaction per arrival) must journal
exactly the orders, order events, fills and equity rows of ``Engine`` run as a backtest,
at ``speed=None`` and at a real-time speed factor (the replay keeps the recorded ``ts_recv``,
the engine's clock, so the tolerance is zero at every speed). The CLI ``paper start`` +
``paper report`` path writes ``report.json`` and ``parity.json`` over a catalog.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from l2trader.cli.paper_cmd import app
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.catalog import Catalog
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.report import ValidationReport
from l2trader.paper.config import PaperConfig
from l2trader.paper.journal import Journal
from l2trader.paper.session import Session
from l2trader.paper.validate import backtest_output, compare_outputs, output_tables
from l2trader.schema import F_LAST

CAPTURE = "hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
TABLES = ("intents", "order_events", "fills", "state")
MM = {"inventory_unit_qty": 0.002, "max_inventory": 0.02, "min_half_spread_ticks": 1.0,
      "sizing": {"qty": 0.002, "lot_size": 0.001}}  # fmt: skip


@pytest.fixture(scope="module")
def usdm(shared_data: Path) -> np.ndarray:
    inst = lookup("binance-futures", "BTCUSDT")
    ev = collect(BinanceDepthReader([shared_data / CAPTURE], instrument=inst).chunks())[:200_000]
    return ev[: int(np.flatnonzero(ev["flags"] & F_LAST)[-1]) + 1]


def _config(tmp: Path, **kw: Any) -> PaperConfig:
    base: dict[str, Any] = {
        "journal": str(tmp / "journal.sqlite"),
        "data": {"catalog": str(tmp / "catalog"), "venue": "binance-futures",
                 "symbol": "BTCUSDT"},
        "strategy": {"kind": "market_maker", "market_maker": MM},
        "engine": {"risk": {"max_position": 0.05}},
        "checkpoint_every": 200,
    }  # fmt: skip
    base.update(kw)
    return PaperConfig(**base)


def _journal(cfg: PaperConfig) -> dict[str, np.ndarray]:
    with Journal(cfg.journal_path) as j:
        assert j.verify().ok
        rows = j.read_all()
    return {t: getattr(rows, t) for t in TABLES}


@pytest.mark.shared_data
def test_paper_at_full_speed_journals_exactly_the_backtest(
    tmp_path: Path, usdm: np.ndarray
) -> None:
    cfg = _config(tmp_path)

    result = asyncio.run(Session(cfg, source=usdm).run())
    backtest = output_tables(backtest_output(cfg, [usdm]))
    parity = compare_outputs(_journal(cfg), backtest)

    assert result.status == "finished"
    assert parity.identical
    assert {t: p.equal_rows for t, p in parity.tables.items()} == {
        "intents": 984, "order_events": 1250, "fills": 266, "state": 167,
    }  # fmt: skip
    assert result.stats.arrivals == 8997
    assert result.latency["count"] == 8997


@pytest.mark.shared_data
def test_paper_at_real_time_speed_is_still_exact(tmp_path: Path, usdm: np.ndarray) -> None:
    part = usdm[: int(np.flatnonzero(usdm["flags"][:12_000] & F_LAST)[-1]) + 1]
    span_s = (int(part["ts_recv"][-1]) - int(part["ts_recv"][0])) / 1e9
    cfg = _config(tmp_path, feed={"speed": span_s / 1.0})  # the span replayed in ~1 s

    asyncio.run(Session(cfg, source=part).run())
    parity = compare_outputs(_journal(cfg), output_tables(backtest_output(cfg, [part])))

    assert parity.identical
    assert parity.tables["intents"].paper_rows > 0


@pytest.mark.shared_data
def test_cli_start_then_report_writes_analysis_and_parity(tmp_path: Path, usdm: np.ndarray) -> None:
    cfg = _config(tmp_path)
    source = tmp_path / "events.npy"
    np.save(source, usdm)
    Catalog(cfg.data.catalog).write(lookup("binance-futures", "BTCUSDT"), [usdm],
                                    sources=[source], report=ValidationReport("test"))  # fmt: skip
    config_path = tmp_path / "paper.json"
    config_path.write_text(cfg.to_json())
    runner = CliRunner()

    started = runner.invoke(app, ["start", str(config_path)])
    reported = runner.invoke(app, ["report", "--journal", str(cfg.journal_path),
                                   "--out", str(tmp_path / "report")])  # fmt: skip
    status = runner.invoke(app, ["status", "--journal", str(cfg.journal_path)])

    assert started.exit_code == 0, started.output
    assert reported.exit_code == 0, reported.output
    parity = json.loads((tmp_path / "report" / "parity.json").read_text())
    assert parity["identical"] is True
    assert parity["tables"]["fills"]["equal_rows"] == 266
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["metrics"]["microstructure"]["fills"] == 266
    assert (tmp_path / "report" / "report.html").is_file()
    assert "finished" in status.output
