"""``l2trader ingest``: raw vendor/exchange files -> validated Parquet catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from l2trader.cli.progress import console, event_counter, event_progress, rate_text
from l2trader.data.catalog import Catalog
from l2trader.data.events import EventSource
from l2trader.data.instruments import BUILTIN_INSTRUMENTS, Instrument, lookup
from l2trader.data.report import Policy
from l2trader.data.sources import FORMAT_HELP, SourceFormat, open_source
from l2trader.ingest import IngestSummary, ingest_source

__all__ = ["formats", "ingest", "resolve_instrument"]


def formats() -> None:
    """List every input format `l2trader ingest` reads."""
    table = Table(title="l2trader ingest <format> ...")
    table.add_column("format", no_wrap=True)
    table.add_column("what it reads")
    for fmt, text in FORMAT_HELP.items():
        table.add_row(fmt.value, text)
    console.print(table)


def resolve_instrument(
    catalog: Catalog, venue: str, symbol: str, tick_size: float | None
) -> Instrument:
    """Instrument from an explicit tick size, else the catalog registry, else the builtins."""
    if tick_size is not None:
        return Instrument(venue=venue, symbol=symbol, tick_size=tick_size)
    known = {**BUILTIN_INSTRUMENTS, **catalog.instruments()}
    return lookup(venue, symbol, known)


def ingest(
    fmt: Annotated[SourceFormat, typer.Argument(help="input format")],
    paths: Annotated[list[Path], typer.Argument(help="input files, read in order as one stream")],
    catalog: Annotated[Path, typer.Option(help="catalog root directory")],
    venue: Annotated[str, typer.Option(help="venue name, e.g. binance-futures")],
    symbol: Annotated[str, typer.Option(help="instrument symbol, e.g. BTCUSDT")],
    tick_size: Annotated[float | None, typer.Option(help="price tick (default: registry)")] = None,
    policy: Annotated[Policy, typer.Option(help="strict: fail on bad data; repair: fix+count")] = (
        Policy.STRICT
    ),
    snapshot: Annotated[
        list[Path] | None, typer.Option(help="Binance REST snapshot (.http.) files")
    ] = None,
    select: Annotated[str | None, typer.Option(help="symbol to select in a capture")] = None,
    orderbook: Annotated[Path | None, typer.Option(help="LOBSTER orderbook file")] = None,
    levels: Annotated[int | None, typer.Option(help="LOBSTER levels (default: from name)")] = None,
) -> None:
    """Read raw L2 files, validate them, and store them in the Parquet catalog (atomic)."""
    cat = Catalog(catalog)
    instrument = resolve_instrument(cat, venue, symbol, tick_size)
    source = open_source(
        fmt,
        paths,
        instrument=instrument,
        policy=policy,
        snapshot_paths=snapshot or (),
        orderbook_path=orderbook,
        levels=levels,
        symbol=select,
    )
    summary = run_ingest(cat, source_paths=paths, instrument=instrument, source=source)
    print_ingest_summary(summary)


def run_ingest(
    cat: Catalog, *, source_paths: list[Path], instrument: Instrument, source: EventSource
) -> IngestSummary:
    """Run one ingest with a live progress bar (events and events/s)."""
    with event_progress() as progress:
        task = progress.add_task(f"ingest {instrument.key}", total=None, rate="")
        return ingest_source(
            source,
            cat,
            instrument,
            sources=source_paths,
            progress=event_counter(progress, task),
        )


def print_ingest_summary(summary: IngestSummary) -> None:
    """Print what was written, the validation counts and the throughput."""
    result = summary.result
    table = Table(title=f"ingested {summary.instrument.key}", show_header=True)
    table.add_column("partition")
    table.add_column("events", justify="right")
    for date, count in sorted(result.per_date.items()):
        table.add_row(date, f"{count:,}")
    console.print(table)
    report = result.report
    console.print(
        f"rows read {report.rows_in:,} · skipped {report.rows_skipped:,} · "
        f"events {result.events:,} · quarantined {len(report.quarantined):,} · "
        f"{rate_text(report.rows_in, result.elapsed_s, 'rows')}"
    )
    if report.counts:
        console.print(f"[yellow]repairs by reason[/]: {dict(report.counts)}")
    else:
        console.print("[green]validation: no issues[/]")
