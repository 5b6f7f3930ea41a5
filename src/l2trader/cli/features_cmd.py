"""``l2trader features``: catalog -> book -> feature frame (C3) with labels -> Parquet.

``l2trader features describe PATH`` prints per-feature statistics and draws the feature
distributions, correlations and (when labels are present) each feature's IC by horizon.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from l2trader.book.replay import Replayer
from l2trader.cli.ingest_cmd import resolve_instrument
from l2trader.cli.progress import console, event_progress, rate_text
from l2trader.cli.replay_cmd import SUB_CHUNK
from l2trader.data.catalog import Catalog
from l2trader.data.instruments import Instrument
from l2trader.features.build import FeatureBuilder, add_labels
from l2trader.features.clocks import ClockSpec, parse_duration
from l2trader.features.config import FeatureConfig
from l2trader.features.frame import FeatureFrame
from l2trader.features.microprice_warmup import MicropriceWarmupConfig

__all__ = ["FeatureRun", "app", "compute_features", "parse_durations"]

app = typer.Typer(
    help="Feature frames: build from a catalog, or describe one.", no_args_is_help=False
)


@dataclass(frozen=True)
class FeatureRun:
    """A computed feature frame and what it took."""

    frame: FeatureFrame
    events: int
    states: int
    wall_s: float


def parse_durations(text: str) -> list[int]:
    """``'100ms,1s,60s'`` -> ns values.

    Examples
    --------
    >>> parse_durations("100ms, 1s")
    [100000000, 1000000000]
    """
    return [parse_duration(part.strip()) for part in text.split(",") if part.strip()]


def compute_features(
    cat: Catalog,
    instrument: Instrument,
    config: FeatureConfig,
    clock: ClockSpec,
    horizons_ns: list[int],
    *,
    start: str | None = None,
    end: str | None = None,
    microprice_warmup_ns: int | None = None,
) -> FeatureRun:
    """Stream the catalog through the book and the feature builder; add labels at the end.

    With ``microprice_warmup_ns`` the Stoikov micro-price is fitted on the first part of
    the stream and the ``microprice`` column is NaN until then (no look-ahead).
    """
    total = sum(p.rows for p in cat.partitions(instrument.venue, instrument.symbol, start, end))
    replayer = Replayer(levels=config.levels)
    warm = (
        None
        if microprice_warmup_ns is None
        else MicropriceWarmupConfig(warmup_ns=microprice_warmup_ns)
    )
    builder = FeatureBuilder(
        config, clock, instrument.tick_size, microprice_warmup=warm, keep_mid=bool(horizons_ns)
    )
    chunks: list[dict[str, np.ndarray]] = []
    events = states = 0
    t0 = time.perf_counter()
    with event_progress() as progress:
        task = progress.add_task(f"features {instrument.key} ({clock.name})", total=total, rate="")
        for part in cat.read(instrument.venue, instrument.symbol, start, end):
            for i in range(0, len(part), SUB_CHUNK):  # a small reused frame buffer stays warm
                chunk = part[i : i + SUB_CHUNK]
                frame = replayer.feed(chunk, reuse=True)
                chunks.append(builder.feed(frame))
                events += len(chunk)
                states += len(frame)
                elapsed = time.perf_counter() - t0
                progress.update(task, completed=events, rate=rate_text(events, elapsed))
    chunks.append(builder.finish())
    columns = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    ordered = {"ts_recv": columns["ts_recv"], "event_idx": columns["event_idx"]}
    ordered |= {name: columns[name] for name in builder.columns}
    frame_out = FeatureFrame(ordered, builder.specs, clock.name, instrument.key, config.id)
    if horizons_ns:
        book_ts, book_mid = builder.book_mid()
        frame_out = add_labels(frame_out, book_ts, book_mid, horizons_ns)
    return FeatureRun(frame_out, events, states, time.perf_counter() - t0)


@app.callback(invoke_without_command=True)
def features(
    ctx: typer.Context,
    catalog: Annotated[Path | None, typer.Option(help="catalog root directory")] = None,
    venue: Annotated[str | None, typer.Option(help="venue name")] = None,
    symbol: Annotated[str | None, typer.Option(help="instrument symbol")] = None,
    out: Annotated[Path, typer.Option(help="output Parquet file")] = Path("features.parquet"),
    clock: Annotated[
        str, typer.Option(help="event | time:<dur> | changes:<n> | volume:<q>")
    ] = "time:1s",
    horizons: Annotated[
        str, typer.Option(help="label horizons, e.g. 1s,10s,60s ('' = none)")
    ] = "1s,10s,60s",
    windows: Annotated[str, typer.Option(help="trailing windows of the flow features")] = "1s,10s",
    levels: Annotated[int, typer.Option(min=1, max=100, help="book levels per side")] = 10,
    start: Annotated[str | None, typer.Option(help="first date YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="last date YYYY-MM-DD")] = None,
    microprice_warmup: Annotated[
        str | None, typer.Option(help="fit the Stoikov micro-price on this first span, e.g. 30m")
    ] = None,
) -> None:
    """Compute the feature frame (C3) of a catalog instrument on a sampling clock."""
    if ctx.invoked_subcommand is not None:
        return
    if catalog is None or venue is None or symbol is None:
        raise typer.BadParameter("--catalog, --venue and --symbol are required to build features")
    cat = Catalog(catalog)
    instrument = resolve_instrument(cat, venue, symbol, None)
    config = default_config(levels, parse_durations(windows))
    warm_ns = None if microprice_warmup is None else parse_duration(microprice_warmup)
    run = compute_features(
        cat, instrument, config, ClockSpec.parse(clock), parse_durations(horizons),
        start=start, end=end,
        microprice_warmup_ns=warm_ns,
    )  # fmt: skip
    run.frame.write_parquet(out)
    print_feature_summary(run, out)


def default_config(levels: int, windows_ns: list[int]) -> FeatureConfig:
    """The default feature set for ``levels`` book levels."""
    imb = tuple(n for n in (1, 3, 5, 10) if n <= levels) or (1,)
    ofi = tuple(n for n in (1, 5) if n <= levels)
    return FeatureConfig(
        levels=levels,
        imbalance_levels=imb,
        ofi_levels=ofi,
        slope_levels=min(5, levels),
        windows_ns=tuple(windows_ns),
    )


def print_feature_summary(run: FeatureRun, out: Path) -> None:
    """One line of counts and throughput, and the output path."""
    frame = run.frame
    console.print(
        f"{run.events:,} events -> {run.states:,} book states -> {len(frame):,} samples "
        f"({frame.clock}) x {len(frame.feature_names)} features + {len(frame.labels)} labels "
        f"in {run.wall_s:.2f} s ({rate_text(run.events, run.wall_s)})"
    )
    console.print(f"feature frame: [bold]{out}[/]")


@app.command("describe")
def describe(
    path: Annotated[Path, typer.Argument(help="feature Parquet file")],
    out: Annotated[Path | None, typer.Option(help="directory for the plots")] = None,
) -> None:
    """Statistics of every feature (and label) and, with --out, their plots."""
    from l2trader.cli.feature_plots import describe_table, plot_feature_report

    console.print(describe_table(path))
    if out is not None:
        pngs = plot_feature_report(path, out)
        for png in pngs:
            console.print(f"plot: [bold]{png}[/]")
        if not pngs:
            console.print("plots skipped: install the [plot] extra")
