"""Frozen, keyword-only, validated configs with a stable content ``id``.

Every component's config subclasses :class:`FrozenConfig`. Unknown keys are rejected,
values are validated at construction, and ``id`` is the sha256 of the canonical JSON,
written into every run record.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from l2trader.errors import ConfigError

__all__ = ["FrozenConfig", "toml_text"]


class FrozenConfig(BaseModel):
    """Base class of all configs: frozen, keyword-only, no unknown keys.

    Examples
    --------
    >>> class Demo(FrozenConfig):
    ...     levels: int = 10
    >>> Demo(levels=5).levels
    5
    >>> len(Demo().id)
    64
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(f"{type(self).__name__}: {exc}") from exc

    @property
    def id(self) -> str:
        """Sha256 hex digest of the canonical JSON form (sorted keys, no spaces)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, compact)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Build from a JSON document; unknown keys raise :class:`ConfigError`."""
        return cls(**json.loads(text))

    @classmethod
    def from_toml(cls, text: str) -> Self:
        """Build from a TOML document; unknown keys raise :class:`ConfigError`."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cls.__name__}: invalid TOML: {exc}") from exc
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Build from a ``.toml`` or ``.json`` file."""
        path = Path(path)
        text = path.read_text()
        if path.suffix == ".toml":
            return cls.from_toml(text)
        if path.suffix == ".json":
            return cls.from_json(text)
        raise ConfigError(f"{cls.__name__}: unsupported config file type {path.suffix!r}")

    def to_toml(self) -> str:
        """TOML form: nested configs become ``[a.b]`` tables; values are JSON-compatible."""
        return toml_text(self.model_dump(mode="json"))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # inside an array: an inline table
        items = (f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise ConfigError(f"cannot write {type(value).__name__} value {value!r} to TOML")


def toml_text(data: dict[str, Any], prefix: str = "") -> str:
    """TOML document of JSON-able ``data``; None values are left out.

    Scalars and arrays come first, then one ``[a.b]`` table per nested dict; dicts inside
    arrays become inline tables.

    Examples
    --------
    >>> print(toml_text({"name": "x", "rules": [{"a": 1}], "log": {"file": None, "level": "INFO"}}))
    name = "x"
    rules = [{a = 1}]
    <BLANKLINE>
    [log]
    level = "INFO"
    <BLANKLINE>
    """
    lines = [
        f"{k} = {_toml_value(v)}"
        for k, v in data.items()
        if v is not None and not isinstance(v, dict)
    ]
    for key, table in data.items():
        if isinstance(table, dict):
            name = f"{prefix}{key}"
            lines.append(f"\n[{name}]")
            lines.append(toml_text(table, f"{name}.").rstrip("\n"))
    return "\n".join(line for line in lines if line) + "\n"
