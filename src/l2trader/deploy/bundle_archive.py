"""The archive layer of deployment bundles: reproducible tar.gz, verification, safe extraction.

Import these names from :mod:`l2trader.deploy.package`. :func:`verify_bundle` never raises for
a bad bundle: it returns a :class:`VerifyReport` listing every bad file (modified, missing,
extra, unsafe member, inconsistent ``bundle.json``). :func:`extract_bundle` verifies first and
refuses absolute paths, ``..``, links and devices, re-checking each digest while it writes.

Examples
--------
>>> files = {"bundle.json": b"{}", "a.txt": b"hello"}
>>> print(manifest_text(files), end="")
2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  a.txt
44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  bundle.json
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

from l2trader.errors import BundleError

__all__ = [
    "MANIFEST", "BundleError", "BundleProblem", "VerifyReport", "bundle_stem", "extract_bundle",
    "manifest_text", "read_bundle_json", "verify_bundle", "write_archive",
]  # fmt: skip

MANIFEST: Final = "MANIFEST.sha256"
BUNDLE_JSON: Final = "bundle.json"
SUFFIXES: Final = (".tar.gz", ".tgz")
_KEYS: Final = ("format", "name", "code_version", "strategy_id", "config_id", "created_ns",
                "python", "files")  # fmt: skip

ProblemKind = Literal["modified", "missing", "extra", "unsafe", "manifest", "bundle_json",
                      "archive"]  # fmt: skip


@dataclass(frozen=True)
class BundleProblem:
    """One bad file of a bundle (``path`` relative to its top directory; ``""`` = archive)."""

    path: str
    kind: ProblemKind
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify_bundle`: the manifest's file count and every problem found."""

    path: Path
    stem: str
    files: int
    problems: tuple[BundleProblem, ...]
    bundle: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"{self.path.name}: ok ({self.files} files verified)"
        rows = [f"{p.kind} {p.path or '<archive>'}: {p.detail}" for p in self.problems]
        return f"{self.path.name}: {len(rows)} problem(s): " + "; ".join(rows)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_text(files: Mapping[str, bytes]) -> str:
    """``<sha256>  <path>`` lines of ``files`` (``MANIFEST.sha256`` itself left out), by path."""
    return "".join(f"{_sha256(files[p])}  {p}\n" for p in sorted(files) if p != MANIFEST)


def _mode(rel: str) -> int:
    return 0o755 if rel.startswith("scripts/") and rel.endswith(".sh") else 0o644


def write_archive(path: Path, stem: str, files: Mapping[str, bytes], *, mtime_s: int) -> None:
    """Write ``files`` under ``<stem>/`` into the gzip'd tar ``path`` with fixed metadata.

    Members sorted by path, uid/gid 0, empty owner names, ``mtime_s`` (s), mode 0644 (0755
    for ``scripts/*.sh``); gzip mtime 0, no file name. Written to a temp file, then renamed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for rel in sorted(files):
                info = tarfile.TarInfo(f"{stem}/{rel}")
                info.size, info.mtime, info.mode = len(files[rel]), mtime_s, _mode(rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(files[rel]))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def bundle_stem(name: str, version: str, sid: str) -> str:
    """``l2trader-<name>-<code_version>-<strategy_id[:12]>``.

    >>> bundle_stem("demo", "0.1.0+abc", "0123456789abcdef")
    'l2trader-demo-0.1.0+abc-0123456789ab'
    """
    return f"l2trader-{name}-{version}-{sid[:12]}"


def _stem_of(path: Path) -> str:
    name = path.name
    return next((name.removesuffix(s) for s in SUFFIXES if name.endswith(s)), name)


def _unsafe(member: tarfile.TarInfo, stem: str) -> str:
    """Why ``member`` may not be extracted under ``<stem>/`` (``""`` when it may)."""
    pure = PurePosixPath(member.name)
    if pure.is_absolute() or member.name.startswith(("/", "\\")):
        return "absolute path"
    if ".." in pure.parts:
        return "'..' in path"
    if not (member.isfile() or member.isdir()):
        return "a link or device, not a regular file"
    if pure.parts[:1] != (stem,) or (member.isfile() and len(pure.parts) < 2):
        return f"outside the top directory {stem}/"
    return ""


def _members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """Each member with its bytes (None for non-files)."""
    for member in tar:
        handle = tar.extractfile(member) if member.isfile() else None
        yield member, (handle.read() if handle is not None else None)


def _parse_manifest(text: str) -> tuple[dict[str, str], list[BundleProblem]]:
    entries: dict[str, str] = {}
    problems: list[BundleProblem] = []
    for n, line in enumerate(text.splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel or rel in entries:
            problems.append(BundleProblem(MANIFEST, "manifest", f"line {n} malformed: {line!r}"))
        else:
            entries[rel] = digest
    return entries, problems


def _compare(digests: dict[str, str], entries: dict[str, str]) -> list[BundleProblem]:
    """Modified, missing and extra files of the archive against the manifest."""
    out: list[BundleProblem] = []
    for rel in sorted(entries.keys() | digests.keys() - {MANIFEST}):
        if rel not in digests:
            out.append(BundleProblem(rel, "missing", "listed in the manifest, not in the archive"))
        elif rel not in entries:
            out.append(BundleProblem(rel, "extra", "in the archive, not in the manifest"))
        elif digests[rel] != entries[rel]:
            detail = f"sha256 {digests[rel][:16]}... is not the manifest's {entries[rel][:16]}..."
            out.append(BundleProblem(rel, "modified", detail))
    return out


def _check_meta(meta: Any, stem: str, n_files: int, config: bytes | None) -> list[str]:
    """Inconsistencies of ``bundle.json`` with the archive."""
    if not isinstance(meta, dict):
        return ["not a JSON object"]
    if missing := [k for k in _KEYS if k not in meta]:
        return [f"missing keys {missing}"]
    problems = [] if meta["format"] == 1 else [f"format {meta['format']!r} is not 1"]
    if meta["files"] != n_files:
        problems.append(f"files {meta['files']!r} but the manifest lists {n_files}")
    want = bundle_stem(str(meta["name"]), str(meta["code_version"]), str(meta["strategy_id"]))
    if want != stem:
        problems.append(f"name/code_version/strategy_id give {want}, the top dir is {stem}")
    if config is not None and meta["config_id"] != _sha256(config):
        problems.append("config_id is not the sha256 of config/deploy.toml")
    return problems


def _scan(tar: tarfile.TarFile, stem: str) -> tuple[dict[str, bytes], list[BundleProblem]]:
    """Digests (as bytes of hex) of the safe members, and the unsafe or duplicated ones."""
    found: dict[str, bytes] = {}
    problems: list[BundleProblem] = []
    for member, data in _members(tar):
        why = _unsafe(member, stem)
        if member.isdir() and not why:
            continue  # directory entries (from a re-tar by hand) are harmless
        rel = member.name.split("/", 1)[-1] if not why else member.name
        if why or data is None:
            problems.append(BundleProblem(member.name, "unsafe", why or "no data"))
        elif rel in found:
            problems.append(BundleProblem(rel, "extra", "duplicated member"))
        else:
            found[rel] = data
    return found, problems


def verify_bundle(path: Path) -> VerifyReport:
    """Check a bundle archive: checksums, manifest complete, ``bundle.json`` consistent.

    Every problem is listed (a missing, extra or modified file; an unsafe member; a bad
    manifest line; ``bundle.json`` disagreeing with the archive); an unreadable archive is one
    ``archive`` problem. Never raises for a bad bundle.
    """
    path = Path(path)
    stem = _stem_of(path)
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            found, problems = _scan(tar, stem)
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        return VerifyReport(path, stem, 0, (BundleProblem("", "archive", f"unreadable: {exc}"),))
    if MANIFEST not in found:
        problems.append(BundleProblem(MANIFEST, "missing", "no manifest"))
    entries, bad = _parse_manifest(found.get(MANIFEST, b"").decode("utf-8", "replace"))
    digests = {rel: _sha256(data) for rel, data in found.items()}
    problems += bad + _compare(digests, entries)
    meta: Any = None
    try:
        meta = json.loads(found.get(BUNDLE_JSON, b"null"))
        issues = _check_meta(meta, stem, len(entries), found.get("config/deploy.toml"))
    except ValueError as exc:
        issues = [f"invalid JSON ({exc})"]
    problems += [BundleProblem(BUNDLE_JSON, "bundle_json", i) for i in issues]
    info = meta if isinstance(meta, dict) else {}
    return VerifyReport(path, stem, len(entries), tuple(problems), info)


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, into: Path,
                  entries: Mapping[str, str]) -> None:  # fmt: skip
    rel = member.name.split("/", 1)[1]
    handle = tar.extractfile(member)
    data = handle.read() if handle is not None else b""
    if entries.get(rel) != _sha256(data):
        raise BundleError(f"{rel}: changed while extracting (sha256 mismatch)")
    out = into / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    out.chmod(_mode(rel))


def extract_bundle(path: Path, dest: Path) -> Path:
    """Verify the bundle ``path``, then extract it into ``dest``; return ``dest/<stem>``.

    Raises
    ------
    BundleError
        The bundle does not verify, holds an unsafe member (absolute path, ``..``, link,
        device), or ``dest/<stem>`` already exists.
    """
    path, dest = Path(path), Path(dest)
    report = verify_bundle(path)
    if not report.ok:
        raise BundleError(f"{path}: bundle does not verify: {report}")
    target = dest / report.stem
    if target.exists():
        raise BundleError(f"{target} already exists; remove it or extract elsewhere")
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{report.stem}.", dir=dest))
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            entries = _expected_digests(tar, report.stem)
            for member in tar.getmembers():
                if why := _unsafe(member, report.stem):
                    raise BundleError(f"{path}: refusing member {member.name!r}: {why}")
                if member.isfile():
                    _write_member(tar, member, staging, entries)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _expected_digests(tar: tarfile.TarFile, stem: str) -> dict[str, str]:
    """The manifest's digests, plus the manifest's own (it does not list itself)."""
    handle = tar.extractfile(f"{stem}/{MANIFEST}")
    text = handle.read() if handle is not None else b""
    entries, _ = _parse_manifest(text.decode("utf-8", "replace"))
    entries[MANIFEST] = _sha256(text)
    return entries


def read_bundle_json(path: Path) -> dict[str, Any]:
    """``bundle.json`` of a bundle archive or of an extracted bundle directory.

    Raises
    ------
    BundleError
        No ``bundle.json``, unreadable archive or invalid JSON.
    """
    path = Path(path)
    try:
        if path.is_dir():
            data = (path / BUNDLE_JSON).read_bytes()
        else:
            with tarfile.open(path, mode="r:gz") as tar:
                handle = tar.extractfile(f"{_stem_of(path)}/{BUNDLE_JSON}")
                data = handle.read() if handle is not None else b""
        meta = json.loads(data)
    except (OSError, KeyError, tarfile.TarError, EOFError, zlib.error, ValueError) as exc:
        raise BundleError(f"{path}: cannot read {BUNDLE_JSON}: {exc}") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{path}: {BUNDLE_JSON} is not a JSON object")
    return meta
