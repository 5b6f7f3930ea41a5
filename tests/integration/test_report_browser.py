"""The analysis report in headless Chromium: no console error, every figure decoded.

synth -> ingest -> backtest (market maker) -> ``l2trader analyze``, then ``report.html`` is
opened from ``file://`` in Debian's Chromium driven by Playwright. Skipped, with the reason,
when Playwright or Chromium is missing (``.ci/run`` installs Chromium when apt is there).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from l2trader.analysis.report import Report
from l2trader.engine.config import BacktestConfig, DataSpec, EngineConfig, StrategySpec
from l2trader.engine.registry import RunRegistry, registry_path
from l2trader.engine.sizing import SizingConfig
from l2trader.engine.strategies.market_maker import MarketMakerConfig
from l2trader.testing.browser import (
    CHROMIUM_FLAGS,
    HeadlessChromium,
    broken_images,
    browser_unavailable_reason,
    chromium_path,
    headless_chromium,
    page_url,
    screenshot,
)
from tests.e2e.test_cli_analyze import PASSING, _ok, main_app
from tests.e2e.test_cli_analyze import app as analyze_app

REASON = browser_unavailable_reason()
needs_browser = pytest.mark.skipif(REASON is not None, reason=f"browser tests: {REASON}")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A market-maker run on a 5-minute synthetic day, analysed (report.html + report.json)."""
    out = tmp_path_factory.mktemp("browser")
    _ok(main_app, "synth", "--out", str(out / "raw"), "--seed", "5", "--duration-s", "300")
    for path in sorted((out / "raw").glob("*.csv.gz")):
        _ok(main_app, "ingest", "tardis", str(path), "--catalog", str(out / "cat"),
            "--venue", "synthetic", "--symbol", "SYN")  # fmt: skip
    mm = MarketMakerConfig(inventory_unit_qty=1.0, max_inventory=5.0, sizing=SizingConfig(qty=1.0))
    cfg = BacktestConfig(
        data=DataSpec(catalog=str(out / "cat"), venue="synthetic", symbol="SYN"),
        engine=EngineConfig(),
        strategy=StrategySpec(kind="market_maker", market_maker=mm),
        runs_root=str(out / "runs"),
    )
    (out / "mm.toml").write_text(cfg.to_toml())
    _ok(main_app, "backtest", str(out / "mm.toml"))
    with RunRegistry(registry_path(out / "runs")) as reg:
        (run,) = reg.list()
    (out / "checks.toml").write_text(PASSING)
    _ok(analyze_app, "analyze", run.run_id, "--runs-root", str(out / "runs"),
        "--checks", str(out / "checks.toml"))  # fmt: skip
    return out / "runs" / run.run_id


@pytest.fixture(scope="module")
def chrome() -> Iterator[HeadlessChromium]:
    with headless_chromium() as browser:
        yield browser


@needs_browser
def test_report_renders_without_errors_with_every_figure_and_section(
    report_dir: Path, chrome: HeadlessChromium, tmp_path: Path
) -> None:
    report = Report.from_json((report_dir / "report.json").read_text())
    sections = sorted([*report.metrics, *report.tables])

    page, console, page_errors = chrome.open_page(report_dir / "report.html")
    shot = screenshot(page, tmp_path / "report.png", height=2400)

    assert console == []
    assert page_errors == []
    assert broken_images(page) == []
    h2 = page.locator("h2").all_inner_texts()
    assert h2[:3] == ["Conventions", "Checks: PASS", "Figures"]
    assert sorted(h2[3:]) == sections
    assert len(sections) >= 8
    alts = page.eval_on_selector_all("img", "els => els.map(e => e.alt)")
    assert len(alts) >= 5
    assert alts == page.locator("h3").all_inner_texts()
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert min(widths) > 0
    assert page.title() == f"l2trader report {report.run_id}"
    assert _png_size(shot) == (1280, 2400)


@needs_browser
def test_the_kit_reports_console_errors_exceptions_failed_requests_and_broken_images(
    chrome: HeadlessChromium, tmp_path: Path
) -> None:
    page_file = tmp_path / "bad.html"
    page_file.write_text(
        '<!DOCTYPE html><html><body><img alt="gone" src="missing.png">'
        '<script>console.error("bad thing"); throw new Error("boom");</script></body></html>'
    )

    page, console, page_errors = chrome.open_page(page_file, width=400, height=300)

    missing = (tmp_path / "missing.png").as_uri()
    assert f"request failed: {missing} (net::ERR_FILE_NOT_FOUND)" in console
    assert any(line.startswith("console.error: bad thing") for line in console)
    assert page_errors == ["Error: boom"]
    assert broken_images(page) == ["gone"]
    assert _png_size(screenshot(page, tmp_path / "bad.png")) == (400, 300)


def test_chromium_path_honours_the_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("L2TRADER_CHROMIUM", str(fake))
    assert chromium_path() == fake
    monkeypatch.setenv("L2TRADER_CHROMIUM", str(tmp_path / "absent"))
    assert chromium_path() is None
    assert browser_unavailable_reason() in {
        "no Chromium binary (apt-get install chromium, or set L2TRADER_CHROMIUM)",
        "playwright is not installed (pip install playwright; no `playwright install`)",
    }


def test_page_url_and_flags_keep_chromium_off_the_network(tmp_path: Path) -> None:
    assert page_url(tmp_path / "a b.html") == f"file://{tmp_path}/a%20b.html"
    assert page_url("http://127.0.0.1:1/x") == "http://127.0.0.1:1/x"
    assert "--disable-background-networking" in CHROMIUM_FLAGS
    assert "--no-sandbox" in CHROMIUM_FLAGS
