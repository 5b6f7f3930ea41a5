"""``l2trader deploy backup`` and ``deploy restore``: journal and run-registry archives.

``backup`` takes its sources from a deploy settings TOML (``paper.journal``,
``paper.data.catalog``, ``backup.registry``, ``backup.dir``) and applies its retention
(``backup.keep_last``, ``backup.keep_days``); each option overrides the file. ``restore``
verifies an archive and restores the journal and/or registry; it refuses to replace an
existing file unless ``--force`` (the old file is kept as ``<name>.pre-restore-<stamp>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from l2trader.cli.progress import console
from l2trader.deploy.backup import BackupInfo, RestoreResult, create_backup, restore_backup
from l2trader.deploy.backup_schedule import apply_retention
from l2trader.errors import L2TraderError

__all__ = ["backup", "restore"]

SourceOption = Annotated[Path | None, typer.Option(help="overrides the settings file")]


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _info_table(info: BackupInfo) -> Table:
    table = Table(title=f"backup {info.path}")
    for name in ("member", "role", "source", "bytes", "sha256", "integrity"):
        table.add_column(name, justify="right" if name == "bytes" else "left")
    for m in info.members:
        table.add_row(m.name, m.role, m.source, f"{m.size:,}", m.sha256[:16],
                      m.integrity_check or "-")  # fmt: skip
    return table


def _from_settings(settings_file: Path) -> tuple[dict[str, Path | None], Path, int, float | None]:
    """Sources, archive dir and retention (keep_last, keep_days) of a deploy settings file."""
    from l2trader.deploy.settings import load_settings  # imported on use: CLI start stays cheap

    settings = load_settings(settings_file)
    spec = settings.backup
    sources = {"journal": Path(settings.paper.journal),
               "registry": Path(spec.registry) if spec.registry else None,
               "catalog": Path(settings.paper.data.catalog)}  # fmt: skip
    return sources, Path(spec.dir), spec.keep_last, spec.keep_days


def backup(
    settings_file: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, help="deploy settings TOML (sources, dir)"),
    ] = None,
    journal: SourceOption = None,
    registry: SourceOption = None,
    catalog: SourceOption = None,
    dest: Annotated[Path | None, typer.Option(help="archive directory")] = None,
) -> None:
    """Back up the journal, run registry and catalog manifest into a checksummed archive."""
    try:
        sources: dict[str, Path | None] = {"journal": None, "registry": None, "catalog": None}
        retention = None
        if settings_file is not None:
            sources, dest_default, keep_last, keep_days = _from_settings(settings_file)
            dest, retention = dest or dest_default, (keep_last, keep_days)
        given = {"journal": journal, "registry": registry, "catalog": catalog}
        sources.update({k: v for k, v in given.items() if v is not None})
        if dest is None:
            raise typer.BadParameter("give a settings file or --dest")
        info = create_backup(dest, journal=sources["journal"], registry=sources["registry"],
                             catalog=sources["catalog"])  # fmt: skip
        deleted = [] if retention is None else apply_retention(
            dest, keep_last=retention[0], keep_days=retention[1])  # fmt: skip
    except (L2TraderError, OSError) as exc:
        raise _fail(exc) from exc
    console.print(_info_table(info))
    console.print(f"archive: {info.path} ({info.path.stat().st_size:,} bytes)")
    for path in deleted:
        console.print(f"retention: deleted {path}")


def _restore_table(result: RestoreResult) -> Table:
    table = Table(title=f"restored from {result.info.path}")
    for name in ("role", "restored to", "old file kept as"):
        table.add_column(name)
    for role, path in result.restored.items():
        kept = result.kept.get(role)
        table.add_row(role, str(path), str(kept) if kept else "-")
    return table


def restore(
    archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="backup archive")],
    journal: Annotated[Path | None, typer.Option(help="restore the journal here")] = None,
    registry: Annotated[Path | None, typer.Option(help="restore the run registry here")] = None,
    force: Annotated[bool, typer.Option(help="replace existing files (kept aside)")] = False,
) -> None:
    """Verify a backup archive, then restore its journal and/or run registry."""
    try:
        result = restore_backup(archive, journal=journal, registry=registry, force=force)
    except (L2TraderError, OSError) as exc:
        raise _fail(exc) from exc
    console.print(_restore_table(result))
    report = result.journal_report
    if report is not None:
        counts = ", ".join(f"{t}={n}" for t, n in report.counts.items())
        console.print(f"journal verified: last_seq={report.last_seq} commits={report.commits} "
                      f"({counts})")  # fmt: skip
