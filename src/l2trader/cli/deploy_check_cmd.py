"""``l2trader deploy check BUNDLE_OR_CONFIG``: deployment readiness, score and verdict.

A bundle (``.tar.gz``) is verified and extracted to a temporary directory and checked with its
``config/deploy.toml``, ``bundle.json`` and ``requirements.lock``; a settings TOML is checked
as is. Prints every readiness item and the score; exits 1 when not ready.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from l2trader.cli.progress import console
from l2trader.deploy.package import extract_bundle
from l2trader.deploy.readiness import ReadinessReport, check_readiness, render_table
from l2trader.deploy.settings import load_settings

__all__ = ["check", "readiness_of"]

BUNDLE_SUFFIXES = (".tar.gz", ".tgz")


def readiness_of(target: Path) -> ReadinessReport:
    """Readiness of a bundle (verified, then extracted to a temp dir) or of a settings TOML."""
    if not target.name.endswith(BUNDLE_SUFFIXES):
        return check_readiness(load_settings(target))
    with tempfile.TemporaryDirectory(prefix="l2trader-check-") as tmp:
        root = extract_bundle(target, Path(tmp))
        settings = load_settings(root / "config" / "deploy.toml")
        return check_readiness(settings, bundle_dir=root)


def check(
    target: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="bundle (.tar.gz) or deploy TOML")
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here")
    ] = None,
) -> None:
    """Check deployment readiness: each item with its fix, the score; exit 1 when not ready."""
    report = readiness_of(target)
    console.print(render_table(report))
    verdict = "READY" if report.ready else "NOT READY"
    console.print(f"readiness score: {report.score:.1f}/100 (min {report.min_score:g}): {verdict}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
    if not report.ready:
        raise typer.Exit(1)
