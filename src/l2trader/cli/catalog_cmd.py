"""``l2trader catalog ls|info``: what the catalog holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from l2trader.cli.progress import console
from l2trader.data.catalog import Catalog

__all__ = ["app"]

app = typer.Typer(help="Inspect a Parquet catalog.", no_args_is_help=True)

CatalogOption = Annotated[Path, typer.Option(help="catalog root directory")]


@app.command("ls")
def ls(catalog: CatalogOption) -> None:
    """List partitions: venue, symbol, date, files, events, time span."""
    table = Table(title=str(catalog))
    for name in ("venue", "symbol", "date", "files", "events", "first ts_recv", "last ts_recv"):
        table.add_column(name, justify="right" if name in ("files", "events") else "left")
    for p in Catalog(catalog).partitions():
        table.add_row(
            p.venue,
            p.symbol,
            p.date,
            str(p.files),
            f"{p.rows:,}",
            _iso(p.min_ts_recv),
            _iso(p.max_ts_recv),
        )
    console.print(table)


@app.command("info")
def info(
    catalog: CatalogOption,
    venue: Annotated[str, typer.Option(help="venue name")],
    symbol: Annotated[str, typer.Option(help="instrument symbol")],
) -> None:
    """Print an instrument's partitions, sources (sha256) and validation reports as JSON."""
    console.print_json(json.dumps(Catalog(catalog).info(venue, symbol), default=str))


def _iso(ts_ns: int) -> str:
    import numpy as np

    return str(np.datetime64(int(ts_ns), "ns"))[:23]
