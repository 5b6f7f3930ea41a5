"""``l2trader demo``: the main job end to end on the embedded (synthetic) default data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from l2trader.cli.ingest_cmd import print_ingest_summary, run_ingest
from l2trader.cli.progress import console
from l2trader.cli.replay_cmd import print_replay_summary, replay_to_parquet
from l2trader.cli.synth_cmd import write_synthetic_day
from l2trader.data.catalog import Catalog
from l2trader.data.instruments import lookup
from l2trader.data.report import Policy
from l2trader.data.sources import SourceFormat, open_source
from l2trader.synth import SynthConfig

__all__ = ["demo"]


def demo(
    out: Annotated[Path, typer.Option(help="output directory")] = Path("demo-output"),
    seed: Annotated[int, typer.Option(help="random seed of the synthetic day")] = 7,
    levels: Annotated[int, typer.Option(help="levels per side in the book frame")] = 10,
) -> None:
    """Synthesize a day, ingest it into a catalog, replay the exact book, report and plot."""
    console.rule("[bold]1/4 synthesize a market day")
    cfg = SynthConfig(seed=seed)
    book_csv, trades_csv, _ = write_synthetic_day(cfg, out / "raw")
    console.rule("[bold]2/4 ingest into the Parquet catalog")
    cat = Catalog(out / "catalog")
    instrument = lookup("synthetic", "SYN")
    for path in (book_csv, trades_csv):
        source = open_source(
            SourceFormat.TARDIS, [path], instrument=instrument, policy=Policy.STRICT
        )
        print_ingest_summary(
            run_ingest(cat, source_paths=[path], instrument=instrument, source=source)
        )
    console.rule("[bold]3/4 replay the exact book")
    frame_path = out / f"book_top{levels}.parquet"
    summary = replay_to_parquet(cat, instrument, frame_path, levels=levels)
    print_replay_summary(summary, instrument)
    console.rule("[bold]4/4 pictures")
    from l2trader.cli.plots import plot_book_frame

    png = plot_book_frame(frame_path, out / "book.png", instrument.key)
    console.print(f"plot: [bold]{png}[/]" if png else "plot skipped: install the [plot] extra")
    console.rule("[bold green]done")
    console.print(
        f"results in [bold]{out.resolve()}[/]: raw/ (synthetic Tardis CSV), catalog/ "
        f"(Parquet, manifest.json), {frame_path.name} (book frame), book.png"
    )
