"""Backup and restore of the paper journal and the run registry (issue 9, item 6).

An archive ``backup-<UTC yyyymmddTHHMMSSZ>-<8 hex>.tar.gz`` holds::

    backup.json            format, created_ns (ns, UTC), code_version and one entry per
                           member: name, role, source (absolute path), size (bytes), sha256,
                           integrity_check (SQLite copies: the PRAGMA result, "ok")
    journal.sqlite         SQLite online-backup copy of the journal (rollback-journal mode)
    registry.sqlite        the same for the run registry
    catalog/manifest.json  the catalog's manifest, copied
    catalog/listing.json   {"root", "files": [{"path", "size", "mtime_ns"}]}: no Parquet copied

The online backup copies in one step under one read transaction, so a copy is a committed
prefix of a WAL database even while another process appends. The archive is written to a
hidden temp name, fsynced and renamed: a crash never leaves a partial archive under a final
name. Restore (:mod:`l2trader.deploy.restore`, re-exported here) verifies first, copies into a
temp file beside the target, fsyncs and renames; an existing target is set aside as
``<name>.pre-restore-<stamp>`` (with its WAL). The format and verification live in
:mod:`l2trader.deploy.backup_archive` (also re-exported here).

Examples
--------
>>> archive_name(1_700_000_000_123_456_789)[:24]
'backup-20231114T221320Z-'
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import time
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from l2trader.deploy.backup_archive import (
    FORMAT_VERSION,
    NS_PER_SECOND,
    SQLITE_MEMBERS,
    BackupInfo,
    BackupMember,
    fsync_dir,
    integrity_check,
    sha256_of,
    stamp_utc,
    verify_backup,
)
from l2trader.deploy.restore import RestoreResult, restore_backup
from l2trader.errors import CatalogError, ConfigError, JournalCorruptError, JournalError
from l2trader.version import code_version

__all__ = ["FORMAT_VERSION", "BackupInfo", "BackupMember", "RestoreResult", "archive_name",
           "create_backup", "restore_backup", "verify_backup"]  # fmt: skip

logger = logging.getLogger(__name__)


def archive_name(created_ns: int) -> str:
    """``backup-<UTC yyyymmddTHHMMSSZ of created_ns (ns)>-<8 random hex>.tar.gz``."""
    return f"backup-{stamp_utc(created_ns)}-{secrets.token_hex(4)}.tar.gz"


def _stage_sqlite(role: str, src: Path, staging: Path) -> BackupMember:
    """Online-backup copy of the SQLite file ``src`` in rollback mode, integrity-checked."""
    if not src.is_file():
        raise JournalError(f"{src}: {role} database not found")
    out = staging / SQLITE_MEMBERS[role]
    try:
        with closing(sqlite3.connect(src, timeout=30.0)) as source, \
                closing(sqlite3.connect(out)) as copy:  # fmt: skip
            source.backup(copy)  # one step: one read transaction, a committed snapshot
            copy.execute("PRAGMA journal_mode=DELETE")
            result = integrity_check(copy)
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{src}: cannot back up the {role} database ({exc})") from exc
    if result != "ok":
        raise JournalCorruptError(f"{src}: {role} fails integrity_check: {result}", (result,))
    resolved = str(src.resolve())
    return BackupMember(out.name, role, resolved, out.stat().st_size, sha256_of(out), result)


def _listing(root: Path) -> list[dict[str, Any]]:
    """Files under a catalog root (staging dirs skipped): relative path, bytes, mtime ns."""
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".staging-") for part in rel.parts):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # replaced by a concurrent ingest
            continue
        if path.is_file():
            files.append(
                {"path": rel.as_posix(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            )
    return files


def _stage_catalog(root: Path, staging: Path) -> list[BackupMember]:
    """The catalog's manifest (copied, if present) and a listing of its files."""
    if not root.is_dir():
        raise CatalogError(f"{root}: catalog directory not found")
    (staging / "catalog").mkdir()
    staged = []
    manifest = root / "manifest.json"
    if manifest.is_file():
        shutil.copyfile(manifest, staging / "catalog/manifest.json")
        staged.append(("catalog/manifest.json", "catalog_manifest", manifest))
    listing = {"root": str(root.resolve()), "files": _listing(root)}
    (staging / "catalog/listing.json").write_text(json.dumps(listing, indent=1))
    staged.append(("catalog/listing.json", "catalog_listing", root))
    return [
        BackupMember(name, role, str(src.resolve()), (staging / name).stat().st_size,
                     sha256_of(staging / name))
        for name, role, src in staged
    ]  # fmt: skip


def _info_json(info: BackupInfo) -> bytes:
    members = [asdict(m) for m in info.members]
    doc = {"format": FORMAT_VERSION, "created_ns": info.created_ns,
           "code_version": info.code_version, "members": members}  # fmt: skip
    return json.dumps(doc, indent=1).encode()


def _tar_info(name: str, size: int, created_ns: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, created_ns // NS_PER_SECOND, 0o644
    return info


def _write_archive(info: BackupInfo, staging: Path) -> None:
    """Write the archive to a temp name, fsync, rename to ``info.path`` (all or nothing)."""
    tmp = info.path.with_name(f".{info.path.name}.tmp-{secrets.token_hex(4)}")
    header, mtime = _info_json(info), info.created_ns // NS_PER_SECOND
    try:
        with tmp.open("wb") as fh:
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=mtime) as gz, \
                    tarfile.open(fileobj=gz, mode="w") as tar:  # fmt: skip
                tar.addfile(_tar_info("backup.json", len(header), info.created_ns),
                            io.BytesIO(header))  # fmt: skip
                for member in info.members:
                    with (staging / member.name).open("rb") as src:
                        tar.addfile(_tar_info(member.name, member.size, info.created_ns), src)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, info.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(info.path.parent)


def create_backup(dest_dir: Path, *, journal: Path | None, registry: Path | None,
                  catalog: Path | None, now_ns: int | None = None) -> BackupInfo:  # fmt: skip
    """Back up the journal, the run registry and the catalog manifest into ``dest_dir``.

    ``now_ns`` (ns since the epoch) names the archive; default: the wall clock.

    Raises
    ------
    ConfigError
        All three sources are None.
    JournalError
        A database is missing or unreadable (JournalCorruptError: fails integrity_check).
    CatalogError
        ``catalog`` is not a directory.
    """
    if journal is None and registry is None and catalog is None:
        raise ConfigError("create_backup: journal, registry and catalog are all None")
    created = time.time_ns() if now_ns is None else int(now_ns)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".backup-staging-", dir=dest) as tmp:
        staging = Path(tmp)
        members = [_stage_sqlite(role, Path(src), staging)
                   for role, src in (("journal", journal), ("registry", registry))
                   if src is not None]  # fmt: skip
        if catalog is not None:
            members += _stage_catalog(Path(catalog), staging)
        info = BackupInfo(dest / archive_name(created), created, code_version(), tuple(members))
        _write_archive(info, staging)
    logger.info("backup written: %s (%d members)", info.path, len(members))
    return info
