"""Layered deploy settings: defaults < TOML file < ``L2TRADER_*`` environment < overrides.

:class:`DeploySettings` is a pydantic-settings ``BaseSettings`` whose
``settings_customise_sources`` stacks three sources (highest priority first):

1. overrides: the init kwargs (``--set key.sub=value`` on the command line; dotted keys);
2. the environment: ``L2TRADER_<FIELD>``, nested with ``__`` (``L2TRADER_PAPER__QUEUE_SIZE=64``,
   ``L2TRADER_ALERTS__EVAL_EVERY_S=0.5``); lists and tables as JSON; ``null`` = None; empty
   variables are ignored, as are ``L2TRADER_*`` names that match no field (other tools use
   that prefix); an unknown key *inside* a section is an error;
3. the TOML file (``load_settings(file=...)``): relative paths in it (:data:`FILE_PATHS`) are
   resolved against the file's directory; TOML has no null, so the string ``"null"`` is None
   there, as in the environment.

pydantic-settings deep-merges the layers, so a layer sets single keys of a section without
repeating the others. Secrets (``webhook_token`` and any ``SecretStr`` field) come only from
the environment: one in the file or the overrides raises :class:`ConfigError` naming the key.
Invalid values raise :class:`ConfigError` naming the key and the layer that set it; no message
echoes a secret.

Examples
--------
>>> paper = {"paper.data.catalog": "cat", "paper.data.venue": "binance-futures",
...          "paper.data.symbol": "BTCUSDT", "paper.strategy.kind": "market_maker"}
>>> env = {"L2TRADER_PAPER__QUEUE_SIZE": "64", "L2TRADER_WEBHOOK_TOKEN": "s3cr3t"}
>>> s, sources = load_with_sources(overrides={**paper, "name": "demo"}, env=env)
>>> s.name, s.paper.queue_size, s.webhook_token.get_secret_value()
('demo', 64, 's3cr3t')
>>> sources["paper.queue_size"], sources["name"], sources["backup.keep_last"]
('env', 'cli', 'default')
>>> masked_config(s)["webhook_token"]
'********'
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from l2trader.deploy.dotted import (
    depth,
    get_path,
    leaves,
    nest,
    nulls,
    parse_assignment,
    put_path,
    toml_text,
)  # fmt: skip
from l2trader.deploy.sections import (
    DEFAULT_RULES,
    AlertRuleSpec,
    AlertsSpec,
    BackupSpec,
    EvidenceSpec,
    LogSpec,
    ReadinessSpec,
    WebhookSpec,
)  # fmt: skip
from l2trader.errors import ConfigError
from l2trader.paper.config import PaperConfig

__all__ = [
    "DEFAULT_RULES", "ENV_PREFIX", "FILE_PATHS", "SECRET_MASK", "AlertRuleSpec", "AlertsSpec",
    "BackupSpec", "DeploySettings", "EvidenceSpec", "Layer", "LogSpec", "ReadinessSpec",
    "WebhookSpec", "effective_config", "load_settings", "load_with_sources", "masked_config",
    "parse_assignment", "secret_paths", "secret_values", "settings_to_toml",
]  # fmt: skip

ENV_PREFIX: Final = "L2TRADER_"
SECRET_MASK: Final = "********"
FILE_PATHS: Final = (
    "paper.data.catalog", "paper.journal", "paper.signal.path", "model", "backup.dir",
    "backup.registry", "evidence.backtest", "evidence.stress", "evidence.paper",
    "alerts.file", "log.file",
)  # fmt: skip
"""Dotted keys holding paths; relative ones in a settings file resolve against its dir."""

Layer = Literal["default", "file", "env", "cli"]
"""Where a value came from: built-in default, settings file, environment, ``--set``."""


class DeploySettings(BaseSettings):
    """Everything a deployed strategy needs (see the module docstring for the layers)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False,
        env_ignore_empty=True, env_parse_none_str="null", frozen=True, extra="forbid",
    )  # fmt: skip

    name: str = Field(default="l2trader", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    paper: PaperConfig
    model: str | None = None
    """Model artifact (checksummed JSON, :mod:`l2trader.signals.artifact`)."""
    alerts: AlertsSpec = AlertsSpec()
    backup: BackupSpec = BackupSpec()
    evidence: EvidenceSpec = EvidenceSpec()
    readiness: ReadinessSpec = ReadinessSpec()
    log: LogSpec = LogSpec()
    webhook_token: SecretStr | None = None
    """Bearer token of the webhooks: environment only (``L2TRADER_WEBHOOK_TOKEN``)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides (init kwargs) > environment > TOML file; no dotenv, no secrets dir."""
        layers = _SOURCES.get()
        if layers is None:  # constructed directly: kwargs > os.environ
            return init_settings, env_settings
        return (init_settings, *layers)


_LAYER_ORDER: Final[tuple[Layer, ...]] = ("cli", "env", "file")
_SOURCES: ContextVar[tuple[PydanticBaseSettingsSource, ...] | None] = ContextVar(
    "l2trader_deploy_sources", default=None
)


class MappingEnvSource(EnvSettingsSource):
    """``L2TRADER_*`` variables of ``environ`` (None = ``os.environ``)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class SettingsFileSource(TomlConfigSettingsSource):
    """A TOML settings file: no secrets allowed; relative :data:`FILE_PATHS` made absolute."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        path = Path(str(file_path)).resolve()
        try:
            data: dict[str, Any] = nulls(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"settings file {path}: invalid TOML: {exc}") from None
        _reject_secrets(data, f"settings file {path}")
        for key in FILE_PATHS:
            value = get_path(data, key.split("."))
            if isinstance(value, str) and value and not Path(value).is_absolute():
                put_path(data, key.split("."), os.path.normpath(path.parent / value))
        return data


def load_settings(
    file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> DeploySettings:
    """Effective settings: defaults < ``file`` (TOML) < ``env`` < ``overrides``.

    Parameters
    ----------
    file
        TOML settings file; None = no file layer.
    overrides
        Dotted keys (``{"paper.queue_size": 64}``) or nested tables; highest priority.
    env
        Environment variables; None = ``os.environ``.

    Raises
    ------
    ConfigError
        Missing or invalid file, secret outside the environment, invalid value (the message
        names the key and the layer that set it).
    """
    return load_with_sources(file, overrides, env)[0]


def load_with_sources(
    file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[DeploySettings, dict[str, Layer]]:
    """:func:`load_settings`, plus the layer of every leaf key (``"paper.queue_size"``)."""
    cli = nest(overrides or {})
    _reject_secrets(cli, "--set")
    environ = os.environ if env is None else env
    sources: list[PydanticBaseSettingsSource] = [MappingEnvSource(DeploySettings, environ)]
    if file is not None:
        if not Path(file).is_file():
            raise ConfigError(f"settings file {file}: not found")
        sources.append(SettingsFileSource(DeploySettings, toml_file=Path(file)))
    try:
        layers: dict[Layer, dict[str, Any]] = {"cli": cli, "env": sources[0]()}
        layers["file"] = sources[1]() if file is not None else {}
    except SettingsError as exc:
        raise ConfigError(f"environment: {exc}") from None
    token = _SOURCES.set(tuple(sources))
    try:
        settings = DeploySettings(**cli)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, layers, environ, file)) from None
    finally:
        _SOURCES.reset(token)
    return settings, _leaf_layers(settings.model_dump(mode="json"), layers)


@cache
def secret_paths(model: type[BaseModel] = DeploySettings) -> tuple[str, ...]:
    """Dotted keys of every ``SecretStr`` field of ``model`` (recursively)."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        kinds = (info.annotation, *get_args(info.annotation))
        if SecretStr in kinds:
            out.append(name)
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                out.extend(f"{name}.{sub}" for sub in secret_paths(kind))
    return tuple(out)


def secret_values(settings: DeploySettings) -> tuple[str, ...]:
    """The non-empty secret values of ``settings`` (to redact from logs)."""
    dump = settings.model_dump()
    values = (get_path(dump, key.split(".")) for key in secret_paths())
    return tuple(v.get_secret_value() for v in values if isinstance(v, SecretStr) and v)


def masked_config(settings: DeploySettings) -> dict[str, Any]:
    """JSON-able nested dict of ``settings`` with each set secret replaced by ``********``."""
    data = settings.model_dump(mode="json")
    for key in secret_paths():
        if get_path(data, key.split(".")) is not None:
            put_path(data, key.split("."), SECRET_MASK)
    return data


def effective_config(settings: DeploySettings, sources: Mapping[str, str]) -> dict[str, Any]:
    """Flat ``{"paper.queue_size": {"value": 64, "source": "env"}}``, secrets masked.

    ``sources`` comes from :func:`load_with_sources` (a missing key counts as ``default``).
    """
    rows: dict[str, Any] = {}
    masked = masked_config(settings)
    for leaf in leaves(masked):
        value = get_path(masked, leaf.split("."))
        rows[leaf] = {"value": value, "source": sources.get(leaf, "default")}
    return rows


def settings_to_toml(settings: DeploySettings) -> str:
    """TOML document of ``settings`` without its secrets.

    None is written ``"null"`` where the default is not None, else left out. Loading the
    document back gives the same settings less the secrets (relative paths then resolve
    against the new file's directory).
    """
    secrets = nest(dict.fromkeys(secret_paths(), True))
    data = settings.model_dump(mode="json", exclude=secrets)
    changed = settings.model_dump(mode="json", exclude=secrets, exclude_defaults=True)
    for leaf in list(leaves(data)):
        parts = leaf.split(".")
        if get_path(data, parts) is None and depth(changed, tuple(parts)) == len(parts):
            put_path(data, parts, "null")
    return toml_text(data)


def _reject_secrets(data: dict[str, Any], where: str) -> None:
    for key in secret_paths():
        if get_path(data, key.split(".")) is not None:
            env_name = ENV_PREFIX + key.replace(".", "__").upper()
            raise ConfigError(f"{where}: {key} is a secret; set it only in the environment "
                              f"({env_name}), never in a file or on the command line")  # fmt: skip


def _leaf_layers(
    effective: dict[str, Any], layers: dict[Layer, dict[str, Any]]
) -> dict[str, Layer]:
    """Layer of each leaf of ``effective``: the highest layer setting it or one of its parents."""
    sets = {name: set(leaves(data)) for name, data in layers.items()}
    out: dict[str, Layer] = {}
    for leaf in leaves(effective):
        parts = leaf.split(".")
        prefixes = {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
        found: list[Layer] = [name for name in _LAYER_ORDER if prefixes & sets[name]]
        out[leaf] = found[0] if found else "default"
    return out


def _where(loc: tuple[str, ...], layers: dict[Layer, dict[str, Any]],
           environ: Mapping[str, str], file: Path | None) -> str:  # fmt: skip
    """The layer that set ``loc`` (the highest one that has it), with its variable or key."""
    if n := depth(layers["cli"], loc):
        return f"--set {'.'.join(loc[:n])}"
    if n := depth(layers["env"], loc):
        upper = {k.upper() for k in environ}
        names = [ENV_PREFIX + "__".join(loc[:i]).upper() for i in range(n, 0, -1)]
        return "env " + next((name for name in names if name in upper), f"{ENV_PREFIX}*")
    return f"file {file}" if depth(layers["file"], loc) else "default"


def _flat_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> Iterator[Any]:
    """``(loc, error)`` pairs, descending into the ValidationError of a nested FrozenConfig."""
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(str(p) for p in err["loc"])
        cause = getattr(err.get("ctx", {}).get("error"), "__cause__", None)
        if isinstance(cause, ValidationError):
            yield from _flat_errors(cause, loc)
        else:
            yield loc, err


def _describe(exc: ValidationError, layers: dict[Layer, dict[str, Any]],
              environ: Mapping[str, str], file: Path | None) -> str:  # fmt: skip
    """One line per error: key, problem, input (unless secret or not a scalar), layer."""
    secrets = secret_paths()
    lines = []
    for loc, err in _flat_errors(exc):
        key, shown = ".".join(loc), err.get("input")
        secret = any(key == s or key.startswith(s + ".") for s in secrets)
        scalar = isinstance(shown, str | int | float | bool)
        got = f", got {shown!r}" if scalar and not secret else ""
        if err["type"] == "missing":
            lines.append(f"{key}: required; set it in the file, L2TRADER_* or --set")
        else:
            lines.append(f"{key}: {err['msg']}{got} ({_where(loc, layers, environ, file)})")
    text = "invalid deploy settings:\n  " + "\n  ".join(lines)
    for name in secrets:  # belt and braces: never echo a secret given in the environment
        value = environ.get(ENV_PREFIX + name.replace(".", "__").upper())
        text = text.replace(value, SECRET_MASK) if value else text
    return text
