"""Reproducible deployment bundles: build (``deploy package``), verify and extract them.

A bundle is a gzip'd tar ``l2trader-<name>-<code_version>-<strategy_id[:12]>.tar.gz`` with one
top directory of the same stem holding ``bundle.json``, ``config/deploy.toml`` (the settings
without secrets; model, signal file and evidence paths rewritten to the bundle's ``model/``
and ``validation/`` copies, host paths such as the catalog, journal and backup dir kept),
``requirements.lock``, ``wheels/``, ``scripts/``, ``systemd/`` and ``MANIFEST.sha256``
(``<sha256>  <path>`` of every other file, sorted by path).

Same inputs, same bytes: the settings file is read without the environment, members are
sorted, owned by 0:0 with no names, mode 0644 (0755 scripts), dated ``created_ns // 1e9`` where
``created_ns`` is the newest evidence's (0 without evidence; never the clock), and the gzip
header has mtime 0 and no file name. ``config_id`` is the sha256 of ``config/deploy.toml``.
The archive layer (tar writing, verification, safe extraction) is
:mod:`l2trader.deploy.bundle_archive`; the scripts are :mod:`l2trader.deploy.bundle_scripts`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Final

from l2trader.deploy.bundle_archive import (
    BundleError,
    BundleProblem,
    VerifyReport,
    bundle_stem,
    extract_bundle,
    manifest_text,
    read_bundle_json,
    verify_bundle,
    write_archive,
)  # fmt: skip
from l2trader.deploy.bundle_scripts import ScriptValues, render_scripts, render_unit
from l2trader.deploy.settings import DeploySettings, load_settings, settings_to_toml
from l2trader.engine.config import strategy_id
from l2trader.version import code_version

__all__ = [
    "BUNDLE_FORMAT", "SOURCE_DATE_EPOCH", "BundleError", "BundleInfo", "BundleProblem",
    "VerifyReport", "build_bundle", "build_wheel", "bundle_stem", "extract_bundle",
    "find_project_root", "lock_requirements", "read_bundle_json", "verify_bundle", "wheel_requires",
]  # fmt: skip

BUNDLE_FORMAT: Final = 1
SOURCE_DATE_EPOCH: Final = 315_532_800
"""1980-01-01T00:00:00Z (the earliest zip date): fixed wheel timestamps, reproducible wheels."""
DIST: Final = "l2trader"
KINDS: Final = ("backtest", "stress", "paper")
_BUILD_TIMEOUT_S: Final = 600.0


@dataclass(frozen=True)
class BundleInfo:
    """A built bundle: archive path, its stem, sha256, ``bundle.json`` and member paths."""

    path: Path
    stem: str
    sha256: str
    bundle: dict[str, Any]
    files: tuple[str, ...]
    """Paths relative to the top directory, sorted (``MANIFEST.sha256`` included)."""


def canonical_name(name: str) -> str:
    """PEP 503 name: ``Typing_Extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# ------------------------------------------------------------------ requirements.lock


def _parse(text: str, extras: frozenset[str]) -> tuple[str, frozenset[str]] | None:
    """``(name, extras)`` of a Requires-Dist line when it applies here and now, else None."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging ships with every pip-built venv
        spec, _, marker = text.partition(";")
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?", spec)
        if match is None or (marker.strip() and importlib.util.find_spec(match[1]) is None):
            return None
        wanted = frozenset(e.strip() for e in (match[2] or "[]")[1:-1].split(",") if e.strip())
        return match[1], wanted
    req = Requirement(text)
    if req.marker is not None and not any(
        req.marker.evaluate({"extra": extra}) for extra in sorted(extras | {""})
    ):
        return None
    return req.name, frozenset(req.extras)


def lock_requirements(dist: str = DIST, requires: Sequence[str] | None = None) -> list[str]:
    """``name==version`` of every runtime dependency of ``dist`` (recursive), sorted.

    Walks ``Requires-Dist`` from ``dist`` (``requires``: its lines, e.g. from the wheel that
    ships; None = the installed distribution's), its extras excluded and a dependency's
    requested extras followed, keeps what applies to this interpreter and platform
    (environment markers) and pins the installed versions; ``dist`` itself is left out.
    Names are lower-case canonical (PEP 503).

    Raises
    ------
    BundleError
        A needed distribution is not installed.
    """
    pins: dict[str, str] = {}
    roots = requires if requires is not None else importlib.metadata.requires(dist) or []
    todo = [(*parsed, dist) for text in roots if (parsed := _parse(text, frozenset()))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras, parent = todo.pop()
        key = canonical_name(name)
        if (key, extras) in seen or key == canonical_name(dist):
            continue
        seen.add((key, extras))
        try:
            meta = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            why = f"{name} (required by {parent}) is not installed"
            raise BundleError(f"requirements.lock: {why}; install the dependencies") from None
        pins[key] = meta.version
        for text in meta.requires or []:
            if parsed := _parse(text, extras):
                todo.append((*parsed, key))
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


# ------------------------------------------------------------------ wheel


def find_project_root(start: Path | None = None) -> Path | None:
    """The directory with l2trader's ``pyproject.toml`` above ``start`` (the package), if any."""
    import l2trader

    here = Path(start if start is not None else Path(l2trader.__file__).resolve().parent)
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if project.get("name") == DIST:
                return candidate
    return None


def build_wheel(project_root: Path, out_dir: Path) -> Path:
    """Build l2trader's wheel from ``project_root`` into ``out_dir`` reproducibly.

    ``pip wheel --no-deps`` with ``SOURCE_DATE_EPOCH`` fixed; without build isolation when
    hatchling is importable here (fast, offline), else with it.

    Raises
    ------
    BundleError
        pip fails or does not produce exactly one l2trader wheel.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation,
           "--disable-pip-version-check", "-q", "-w", str(out_dir), str(project_root)]  # fmt: skip
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False,
                          timeout=_BUILD_TIMEOUT_S)  # fmt: skip
    wheels = sorted(out_dir.glob(f"{DIST}-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BundleError(f"wheel build from {project_root} failed (exit {done.returncode}, "
                          f"{len(wheels)} wheels): {' | '.join(tail)}")  # fmt: skip
    return wheels[0]


def wheel_requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of ``wheel``'s METADATA.

    Raises
    ------
    BundleError
        Not a wheel (no readable ``*.dist-info/METADATA``).
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            meta = BytesParser().parsebytes(zf.read(name), headersonly=True)
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise BundleError(f"wheel {wheel}: no readable METADATA ({exc!r})") from None
    return [str(v) for v in meta.get_all("Requires-Dist") or []]


# ------------------------------------------------------------------ bundle contents


def _read(path: str | Path, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BundleError(f"{key}: cannot read {path}: {exc.strerror}") from None


def _evidence(settings: DeploySettings, files: dict[str, bytes]) -> tuple[dict[str, str], int]:
    """Copy each configured report (and its HTML) into ``validation/``; newest ``created_ns``."""
    rewritten: dict[str, str] = {}
    created = 0
    for kind in KINDS:
        src: str | None = getattr(settings.evidence, kind)
        if src is None:
            continue
        body = _read(src, f"evidence.{kind}")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise BundleError(f"evidence.{kind}: {src} is not valid JSON ({exc})") from None
        stamp = doc.get("created_ns") if isinstance(doc, dict) else None
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            created = max(created, stamp)
        files[f"validation/{kind}_report.json"] = body
        rewritten[f"evidence.{kind}"] = f"../validation/{kind}_report.json"
        html = next((p for p in (Path(src).with_suffix(".html"), Path(src).parent / "report.html")
                     if p.is_file()), None)  # fmt: skip
        if html is not None:
            files[f"validation/{kind}_report.html"] = _read(html, f"evidence.{kind}")
    return rewritten, created


def _artifacts(settings: DeploySettings, files: dict[str, bytes]) -> dict[str, str]:
    """Copy the model artifact and the signal file into ``model/``; their new paths."""
    rewritten: dict[str, str] = {}
    for key, src in (("model", settings.model), ("paper.signal.path", settings.paper.signal.path)):
        if src is None:
            continue
        rel = f"model/{Path(src).name}"
        if rel in files:
            raise BundleError(f"{key}: {src} has the same file name as another artifact")
        files[rel] = _read(src, key)
        rewritten[key] = f"../{rel}"
    return rewritten


def _identity(settings: DeploySettings) -> tuple[str, str]:
    strategy = settings.paper.strategy
    return code_version(), strategy_id(strategy.kind, strategy.params(), settings.paper.engine)


def _scripts(settings: DeploySettings, stem: str, wheel: str, files: dict[str, bytes]) -> None:
    paper = settings.paper
    values = ScriptValues(stem=stem, name=settings.name, wheel=wheel, python=_python(),
                          journal=str(Path(paper.journal).absolute()),
                          host=paper.service.host, port=paper.service.port)  # fmt: skip
    for name, text in render_scripts(values).items():
        files[f"scripts/{name}"] = text.encode()
    files[f"systemd/l2trader-{settings.name}.service"] = render_unit(values).encode()


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _contents(settings_file: Path, wheel: Path) -> tuple[str, dict[str, Any], dict[str, bytes]]:
    """``(stem, bundle.json, files)`` of the bundle of ``settings_file`` (no manifest yet)."""
    settings = load_settings(settings_file, env={})
    files: dict[str, bytes] = {}
    rewritten, created_ns = _evidence(settings, files)
    rewritten |= _artifacts(settings, files)
    deployed = load_settings(settings_file, overrides=rewritten, env={})
    toml = settings_to_toml(deployed).encode()
    files["config/deploy.toml"] = toml
    pins = lock_requirements(requires=wheel_requires(wheel))
    files["requirements.lock"] = "".join(f"{pin}\n" for pin in pins).encode()
    files[f"wheels/{wheel.name}"] = _read(wheel, "wheel")
    version, sid = _identity(settings)
    stem = bundle_stem(settings.name, version, sid)
    _scripts(settings, stem, wheel.name, files)
    meta = {"format": BUNDLE_FORMAT, "name": settings.name, "code_version": version,
            "strategy_id": sid, "config_id": hashlib.sha256(toml).hexdigest(),
            "created_ns": created_ns, "python": _python(), "files": len(files) + 1}  # fmt: skip
    files["bundle.json"] = (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode()
    return stem, meta, files


def build_bundle(
    settings_file: Path,
    out_dir: Path,
    *,
    project_root: Path | None = None,
    wheel: Path | None = None,
) -> BundleInfo:
    """Build the bundle of the deploy settings at ``settings_file`` into ``out_dir``.

    Parameters
    ----------
    settings_file
        Deploy settings TOML (read without the environment: the bundle depends on the file).
    out_dir
        Where the ``.tar.gz`` goes (created; an existing bundle of the same name is replaced).
    project_root
        Directory with l2trader's ``pyproject.toml`` to build the wheel from; None = the
        checkout above the imported package (an editable install).
    wheel
        A prebuilt l2trader wheel to ship instead of building one.

    Raises
    ------
    ConfigError
        Invalid settings; no wheel and no project root to build one (:class:`BundleError`);
        an evidence report, model or signal file missing or unreadable.
    """
    with tempfile.TemporaryDirectory(prefix="l2trader-wheel-") as tmp:
        if wheel is None:
            root = project_root if project_root is not None else find_project_root()
            if root is None:
                raise BundleError("no wheel given and no l2trader project root (pyproject.toml) "
                                  "found above the installed package; pass --wheel")  # fmt: skip
            wheel = build_wheel(root, Path(tmp))
        stem, meta, files = _contents(Path(settings_file), wheel)
    files["MANIFEST.sha256"] = manifest_text(files).encode()
    path = Path(out_dir) / f"{stem}.tar.gz"
    write_archive(path, stem, files, mtime_s=meta["created_ns"] // 1_000_000_000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return BundleInfo(path, stem, digest, meta, tuple(sorted(files)))
