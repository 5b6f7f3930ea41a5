"""``l2trader config show``: the effective deploy settings, secrets masked.

Layers, lowest first: built-in defaults < ``--file`` (TOML) < ``L2TRADER_*`` environment
variables (nested with ``__``) < ``--set key.sub=value`` (value as a TOML scalar, else JSON,
else text). ``--sources`` adds the layer each value came from; ``--json`` prints JSON instead
of a table. Secrets (``L2TRADER_WEBHOOK_TOKEN``) are shown as ``********``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from l2trader.cli.progress import console
from l2trader.deploy.settings import (
    effective_config,
    load_with_sources,
    masked_config,
    parse_assignment,
)

__all__ = ["app", "show"]

app = typer.Typer(
    name="config", help="Deploy settings: layered, validated, secrets masked.",
    no_args_is_help=True, add_completion=False,
)  # fmt: skip


@app.callback()
def _group() -> None:
    """Deploy settings: defaults < file < L2TRADER_* environment < --set."""


def _cell(value: Any) -> str:
    """A table cell: strings as is, everything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@app.command()
def show(
    file: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", help="override: key.sub=value (repeatable)"),
    ] = None,
    sources: Annotated[bool, typer.Option(help="show the layer of each value")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    overrides = dict(parse_assignment(a) for a in assignments or [])
    settings, layers = load_with_sources(file, overrides)
    rows = effective_config(settings, layers)
    if as_json:
        doc = rows if sources else masked_config(settings)
        typer.echo(json.dumps(doc, indent=2))
        return
    table = Table(title=f"deploy settings: {settings.name}")
    table.add_column("key", overflow="fold")
    table.add_column("value", overflow="fold")
    if sources:
        table.add_column("source")
    for key, row in rows.items():
        cells = [key, _cell(row["value"])] + ([row["source"]] if sources else [])
        table.add_row(*cells)
    console.print(table)
