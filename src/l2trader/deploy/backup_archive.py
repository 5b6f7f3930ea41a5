"""The backup archive format, shared by :mod:`~l2trader.deploy.backup` and :mod:`.restore`.

Members (:class:`BackupMember`), the archive header (:class:`BackupInfo`, ``backup.json``),
small file helpers and verification: :func:`verify_backup` checks every member's size and
sha256 and runs ``PRAGMA integrity_check`` on the SQLite copies; :func:`extract_verified` does
the same into a directory the caller keeps (restore copies from there). The layout itself is
described in :mod:`l2trader.deploy.backup`.

Examples
--------
>>> stamp_utc(1_700_000_000_123_456_789)
'20231114T221320Z'
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
import tempfile
import zlib
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

from l2trader.errors import DataError, JournalCorruptError

__all__ = ["FORMAT_VERSION", "NS_PER_SECOND", "SQLITE_MEMBERS", "BackupInfo", "BackupMember",
           "extract_verified", "fsync_dir", "integrity_check", "sha256_of", "stamp_utc",
           "verify_backup"]  # fmt: skip

FORMAT_VERSION: Final = 1
"""Layout version written to ``backup.json``."""

NS_PER_SECOND: Final = 1_000_000_000
SQLITE_MEMBERS: Final = {"journal": "journal.sqlite", "registry": "registry.sqlite"}
"""Role -> archive member name of the SQLite copies."""

_STAMP: Final = "%Y%m%dT%H%M%SZ"
_MEMBERS: Final = frozenset(
    {*SQLITE_MEMBERS.values(), "catalog/manifest.json", "catalog/listing.json"}
)
_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class BackupMember:
    """One file of an archive; ``source`` is the absolute path it was copied from."""

    name: str
    role: str
    source: str
    size: int
    sha256: str
    integrity_check: str | None = None


@dataclass(frozen=True)
class BackupInfo:
    """An archive: its path, ``created_ns`` (ns since the epoch, UTC) and members."""

    path: Path
    created_ns: int
    code_version: str
    members: tuple[BackupMember, ...]

    def member(self, role: str) -> BackupMember | None:
        """The member of ``role`` (journal, registry, catalog_manifest, catalog_listing)."""
        return next((m for m in self.members if m.role == role), None)


def stamp_utc(ts_ns: int) -> str:
    """``yyyymmddTHHMMSSZ``: the UTC second of ``ts_ns`` (ns since the epoch)."""
    return datetime.fromtimestamp(ts_ns // NS_PER_SECOND, tz=UTC).strftime(_STAMP)


def sha256_of(path: Path) -> str:
    """Hex sha256 of the file at ``path``."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fsync_dir(path: Path) -> None:
    """Fsync the directory ``path`` (makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def integrity_check(conn: sqlite3.Connection) -> str:
    """``PRAGMA integrity_check`` rows joined by ``"; "`` (``"ok"`` when sound)."""
    return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check").fetchall())


def _read_info(tar: tarfile.TarFile, path: Path) -> BackupInfo:
    handle = tar.extractfile("backup.json")
    if handle is None:
        raise DataError("backup.json is not a regular file", source=str(path))
    try:
        doc = json.loads(handle.read())
        version = doc.get("format")
        members = tuple(BackupMember(**m) for m in doc["members"])
        info = BackupInfo(path, int(doc["created_ns"]), str(doc["code_version"]), members)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"backup.json is malformed ({exc!r})", source=str(path)) from exc
    if version != FORMAT_VERSION:
        raise DataError(f"backup format {version!r}, expected {FORMAT_VERSION}", source=str(path))
    return info


def _copy_hashing(src: IO[bytes], out: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with out.open("wb") as fh:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            fh.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_member(tar: tarfile.TarFile, member: BackupMember, into: Path) -> list[str]:
    """Extract ``member`` into ``into``; the problems found (size, sha256, integrity)."""
    if member.name not in _MEMBERS:
        return [f"{member.name}: not a known backup member"]
    try:
        handle = tar.extractfile(member.name)
    except KeyError:
        handle = None
    if handle is None:
        return [f"{member.name}: missing from the archive"]
    out = into / member.name
    out.parent.mkdir(parents=True, exist_ok=True)
    digest, size = _copy_hashing(handle, out)
    if size != member.size or digest != member.sha256:
        return [f"{member.name}: {size} bytes sha256 {digest[:16]}, recorded {member.size} "
                f"bytes sha256 {member.sha256[:16]}"]  # fmt: skip
    if member.role not in SQLITE_MEMBERS:
        return []
    try:
        with closing(sqlite3.connect(f"file:{out}?mode=ro", uri=True)) as conn:
            result = integrity_check(conn)
    except sqlite3.DatabaseError as exc:
        result = str(exc)
    return [] if result == "ok" else [f"{member.name}: integrity_check: {result}"]


def extract_verified(archive: Path, into: Path) -> BackupInfo:
    """Extract every member of ``archive`` into ``into`` and check it (see verify_backup)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            info = _read_info(tar, archive)
            issues = [i for m in info.members for i in _check_member(tar, m, into)]
            listed = {m.name for m in info.members} | {"backup.json"}
            issues += [f"{n}: in the archive but not in backup.json"
                       for n in tar.getnames() if n not in listed]  # fmt: skip
    except KeyError as exc:
        raise DataError(f"not a backup archive: no {exc}", source=str(archive)) from exc
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise DataError(f"unreadable backup archive ({exc})", source=str(archive)) from exc
    if any(i.split(":")[0] in SQLITE_MEMBERS.values() for i in issues):
        raise JournalCorruptError(f"{archive}: bad backup: {'; '.join(issues)}", tuple(issues))
    if issues:
        raise DataError(f"bad backup: {'; '.join(issues)}", source=str(archive))
    return info


def verify_backup(archive: Path) -> BackupInfo:
    """Check an archive: every member's size and sha256, integrity_check of SQLite copies.

    Raises
    ------
    JournalCorruptError
        A database copy is missing, altered or fails integrity_check (``issues`` lists all).
    DataError
        The archive is unreadable, has no valid ``backup.json`` or another member is bad.
    """
    with tempfile.TemporaryDirectory(prefix="l2trader-verify-") as tmp:
        return extract_verified(Path(archive), Path(tmp))
