"""Every SourceFormat opens its reader through open_source, and the CLI lists them all."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from l2trader.cli.main import app
from l2trader.data.instruments import Instrument
from l2trader.data.sources import FORMAT_HELP, SourceFormat, open_source

INST = Instrument(venue="v", symbol="S", tick_size=0.01)


EAGER = (
    SourceFormat.TARDIS,
    SourceFormat.LOBSTER,
    SourceFormat.DATABENTO_MBP,
    SourceFormat.DATABENTO_MBO,
)
LAZY = [f for f in SourceFormat if f not in EAGER]


@pytest.mark.parametrize("fmt", LAZY)  # EAGER ones read their header when opened: own tests
def test_every_capture_format_opens_a_reader(fmt: SourceFormat, tmp_path: Path) -> None:
    path = tmp_path / "x_message_5.csv"
    path.write_text("")
    source = open_source(fmt, [path], instrument=INST, orderbook_path=path)
    assert callable(source.chunks)
    assert source.report is not None
    assert FORMAT_HELP[fmt]


def test_cli_formats_lists_every_format() -> None:
    out = CliRunner().invoke(app, ["formats"]).output
    for fmt in SourceFormat:
        assert fmt.value in out
