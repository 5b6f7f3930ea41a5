"""``l2trader deploy``: package a strategy into a bundle, verify it, print the checklist.

- ``deploy package SETTINGS [--out DIR] [--wheel W]``: the reproducible bundle (tar.gz);
- ``deploy verify BUNDLE``: checksums, manifest and ``bundle.json``; exit 1 when bad;
- ``deploy checklist [--settings F] [--bundle B]``: the pre/during/post checklist, ticking
  what the tool verifies itself (readiness included); exit 1 when a ticked item fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from l2trader.cli.progress import console
from l2trader.deploy.checklist import build_checklist, render_checklist
from l2trader.deploy.package import build_bundle, extract_bundle, verify_bundle
from l2trader.deploy.readiness import ReadinessReport, check_readiness
from l2trader.deploy.settings import DeploySettings, load_settings
from l2trader.errors import ConfigError

__all__ = ["app", "checklist", "package", "verify"]

app = typer.Typer(
    name="deploy",
    help="Deploy a validated strategy: readiness, bundle, service, backups, checklist.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("package")
def package(
    settings: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="deploy settings TOML")
    ],
    out: Annotated[Path, typer.Option("--out", help="directory of the bundle")] = Path("dist"),
    wheel: Annotated[
        Path | None,
        typer.Option("--wheel", exists=True, dir_okay=False, help="prebuilt l2trader wheel"),
    ] = None,
) -> None:
    """Build the reproducible bundle (tar.gz) of SETTINGS: same inputs, same bytes."""
    info = build_bundle(settings, out, wheel=wheel)
    meta = info.bundle
    console.print(f"bundle: [bold]{info.path}[/] ({info.path.stat().st_size / 2**20:.2f} MiB, "
                  f"{len(info.files)} files)")  # fmt: skip
    console.print(f"sha256 {info.sha256}")
    ids = f"strategy_id {meta['strategy_id'][:12]}, config_id {meta['config_id'][:12]}"
    console.print(f"code_version {meta['code_version']}, {ids}, created_ns {meta['created_ns']}")


@app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="bundle .tar.gz")],
) -> None:
    """Verify a bundle: checksums, manifest complete, bundle.json consistent; exit 1 if bad."""
    report = verify_bundle(bundle)
    if report.ok:
        console.print(f"[green]OK[/] {report}")
        return
    table = Table(title=f"{bundle.name}: {len(report.problems)} problem(s)")
    for column in ("file", "problem", "detail"):
        table.add_column(column, overflow="fold")
    for p in report.problems:
        table.add_row(Text(p.path or "<archive>"), p.kind, Text(p.detail))
    console.print(table)
    console.print("[bold red]bundle does NOT verify[/]")
    raise typer.Exit(1)


@contextmanager
def _inputs(
    settings_file: Path | None, bundle: Path | None
) -> Iterator[tuple[DeploySettings | None, str | None, ReadinessReport | None]]:
    """Settings (the file's, else the verified bundle's), the load error, the readiness."""
    with tempfile.TemporaryDirectory(prefix="l2trader-checklist-") as tmp:
        bundle_dir = None
        if bundle is not None and verify_bundle(bundle).ok:
            bundle_dir = extract_bundle(bundle, Path(tmp))
        source = settings_file
        if source is None and bundle_dir is not None:
            source = bundle_dir / "config" / "deploy.toml"
        settings, error, readiness = None, None, None
        if source is not None:
            try:
                settings = load_settings(source)
            except ConfigError as exc:
                error = str(exc)
        if settings is not None:
            readiness = check_readiness(settings, bundle_dir=bundle_dir)
        yield settings, error, readiness


@app.command("checklist")
def checklist(
    settings: Annotated[
        Path | None,
        typer.Option("--settings", exists=True, dir_okay=False, help="deploy settings TOML"),
    ] = None,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", exists=True, dir_okay=False, help="bundle .tar.gz")
    ] = None,
) -> None:
    """Print the pre/during/post deployment checklist; exit 1 when a ticked item fails."""
    with _inputs(settings, bundle) as (loaded, error, readiness):
        items = build_checklist(loaded, bundle, readiness, settings_error=error)
    console.print(render_checklist(items))
    if readiness is not None:
        console.print(f"readiness score: {readiness.score:.1f}/100 (min {readiness.min_score:g})")
    if any(i.status == "fail" for i in items):
        raise typer.Exit(1)
