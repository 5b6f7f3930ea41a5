"""``l2trader deploy run TARGET``: the deployed strategy as a supervised paper-trading service.

``TARGET`` is a bundle (``.tar.gz``: verified, then extracted beside it once), an extracted
bundle directory (``bundle.json`` + ``config/deploy.toml``) or a deploy settings TOML. The
effective settings are the file's, then ``L2TRADER_*`` environment variables, then
``--set key=value``. A journal that already holds a session is resumed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from l2trader.cli.progress import console
from l2trader.deploy.package import extract_bundle, verify_bundle
from l2trader.deploy.service import DeployedService, configure
from l2trader.deploy.settings import DeploySettings, load_settings, parse_assignment
from l2trader.errors import ConfigError

__all__ = ["resolve_target", "run"]

BUNDLE_SETTINGS = Path("config") / "deploy.toml"


def resolve_target(target: Path) -> Path:
    """The settings file of ``target`` (bundle archive, bundle directory or settings TOML).

    Raises
    ------
    ConfigError
        ``target`` is none of these.
    """
    if target.is_dir():
        path = target / BUNDLE_SETTINGS
        if not path.is_file():
            raise ConfigError(f"{target}: not a bundle directory (no {BUNDLE_SETTINGS})")
        return path
    if target.name.endswith(".tar.gz"):
        stem = target.name.removesuffix(".tar.gz")
        into = target.parent / stem
        if not (into / BUNDLE_SETTINGS).is_file():
            report = verify_bundle(target)
            if not report.ok:
                raise ConfigError(f"{target}: bundle does not verify: {report}")
            into = extract_bundle(target, target.parent)
        return into / BUNDLE_SETTINGS
    if target.suffix == ".toml" and target.is_file():
        return target
    raise ConfigError(f"{target}: expected a bundle (.tar.gz or directory) or a settings TOML")


def load_target(target: Path, assignments: list[str] | None = None) -> DeploySettings:
    """Effective settings of ``target`` with ``--set`` overrides."""
    overrides = dict(parse_assignment(a) for a in assignments or [])
    return load_settings(resolve_target(target), overrides)


def run(
    target: Annotated[Path, typer.Argument(exists=True, help="bundle, bundle dir or settings")],
    port: Annotated[int | None, typer.Option(help="HTTP port (0 = ephemeral)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override key.sub=value")] = None,
) -> None:
    """Run the deployed paper-trading service until SIGTERM (health, metrics, alerts, backups)."""
    settings = load_target(target, set_)
    configure(settings)
    service = DeployedService(settings, port=port)
    result = asyncio.run(service.run())
    pf = result.portfolio
    console.print(f"service stopped: {result.status}; position {pf['position']}, "
                  f"cash {pf['cash']:.2f}; journal seq {result.last_seq}")  # fmt: skip
