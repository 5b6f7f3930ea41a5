"""``l2trader runs ls|show``: list and inspect backtest runs from the run registry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from l2trader.cli.progress import console
from l2trader.engine.registry import DEFAULT_RUNS_ROOT, RunRecord, RunRegistry, registry_path
from l2trader.engine.run_dir import read_meta, run_row_counts
from l2trader.errors import ArtifactError

__all__ = ["app", "ls", "show"]

app = typer.Typer(help="List and inspect backtest runs.", no_args_is_help=True)

RootOption = Annotated[
    Path, typer.Option(help="runs root: holds registry.sqlite and one directory per run")
]


def _iso(ts_ns: int | None) -> str:
    """UTC ISO time of ``ts_ns`` (ns) to the second, ``-`` for None."""
    if ts_ns is None:
        return "-"
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_dir(root: Path, record: RunRecord) -> Path:
    """The record's ``run_dir`` if it exists, else the convention ``<root>/<run_id>``."""
    recorded = Path(record.run_dir)
    return recorded if recorded.is_dir() else root / record.run_id


def _summary(root: Path, record: RunRecord) -> dict[str, Any]:
    """The ``summary`` dict of the run's ``run.json``; empty if absent or unreadable."""
    try:
        summary = read_meta(_run_dir(root, record)).get("summary")
    except ArtifactError:
        return {}
    return summary if isinstance(summary, dict) else {}


def _fmt(value: Any) -> str:
    """A summary value for a table cell (None -> ``-``, floats to 6 significant digits)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _open(root: Path) -> RunRegistry:
    """Open the registry under ``root`` without creating one; exit 1 if there is none."""
    path = registry_path(root)
    if not path.is_file():
        typer.secho(f"error: no run registry at {path}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    return RunRegistry(path)


@app.command("ls")
def ls(
    root: RootOption = DEFAULT_RUNS_ROOT,
    kind: Annotated[str | None, typer.Option(help="only runs of this kind")] = None,
    limit: Annotated[int, typer.Option(min=0, help="at most this many runs")] = 50,
) -> None:
    """List runs, newest first: id, kind, status, start, duration, config id, fills, equity."""
    with _open(root) as registry:
        records = registry.list(kind=kind, limit=limit)
    table = Table(title=f"runs in {root}")
    for name in ("run_id", "kind", "status", "started (UTC)", "duration s", "config_id"):
        table.add_column(name, no_wrap=name in ("run_id", "started (UTC)"))
    table.add_column("n_fills", justify="right")
    table.add_column("final equity", justify="right")
    for record in records:
        summary = _summary(root, record)
        duration = record.duration_s
        table.add_row(
            record.run_id,
            record.kind,
            record.status,
            _iso(record.started_ns),
            "-" if duration is None else f"{duration:.3f}",
            record.config_id[:12],
            _fmt(summary.get("n_fills")),
            _fmt(summary.get("final_equity")),
        )
    console.print(table)
    if not records:
        console.print("no runs")


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="the run id, e.g. 20240101-120000-a1b2c3")],
    root: RootOption = DEFAULT_RUNS_ROOT,
) -> None:
    """Show a run: its registry record, ``run.json`` summary and rows per file."""
    with _open(root) as registry:
        try:
            record = registry.get(run_id)
        except ArtifactError:
            typer.secho(f"error: unknown run {run_id!r} in {root}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
    console.print(_record_table(record))
    directory = _run_dir(root, record)
    if not directory.is_dir():
        console.print(f"no run directory at {directory}")
        return
    problems = []
    try:
        summary = read_meta(directory).get("summary")
        console.print(_summary_table(summary if isinstance(summary, dict) else {}))
    except ArtifactError as exc:
        problems.append(str(exc))
    try:
        console.print(_counts_table(run_row_counts(directory)))
    except ArtifactError as exc:
        problems.append(str(exc))
    for problem in problems:
        typer.secho(f"error: {problem}", fg=typer.colors.RED, err=True)
    if problems:
        raise typer.Exit(1)


def _counts_table(counts: dict[str, int]) -> Table:
    """Rows per run file."""
    table = Table(title="rows per file")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(f"{name}.parquet", f"{count:,}")
    return table


def _record_table(record: RunRecord) -> Table:
    """The registry record as a two-column table."""
    table = Table(title=f"run {record.run_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    duration = record.duration_s
    for name, value in (
        ("kind", record.kind),
        ("status", record.status),
        ("started", _iso(record.started_ns)),
        ("finished", _iso(record.finished_ns)),
        ("duration s", "-" if duration is None else f"{duration:.3f}"),
        ("config_id", record.config_id),
        ("code_version", record.code_version),
        ("data_fingerprint", record.data_fingerprint),
        ("run_dir", record.run_dir),
        ("report_path", record.report_path or "-"),
        ("config", record.config_json),
    ):
        table.add_row(name, value)
    return table


def _summary_table(summary: dict[str, Any]) -> Table:
    """The ``run.json`` summary as a two-column table (sorted keys)."""
    table = Table(title="summary (run.json)", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for name in sorted(summary):
        table.add_row(name, _fmt(summary[name]))
    if not summary:
        table.add_row("-", "no summary in run.json")
    return table
