"""Dotted keys over nested dicts, TOML text, and ``key.sub=value`` assignments.

Helpers of :mod:`l2trader.deploy.settings`: a settings tree is a nested dict of JSON-able
values addressed by dotted keys (``"paper.queue_size"``).

Examples
--------
>>> tree = nest({"paper.queue_size": 64, "paper.data.symbol": "BTCUSDT"})
>>> tree
{'paper': {'queue_size': 64, 'data': {'symbol': 'BTCUSDT'}}}
>>> list(leaves(tree)), get_path(tree, ["paper", "queue_size"]), depth(tree, ("paper", "x"))
(['paper.queue_size', 'paper.data.symbol'], 64, 0)
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

from l2trader.config import toml_text
from l2trader.errors import ConfigError

__all__ = [
    "depth", "get_path", "leaves", "nest", "nulls", "parse_assignment", "put_path", "toml_text",
]  # fmt: skip


def nulls(data: Any) -> Any:
    """``data`` with each string ``"null"`` replaced by None (TOML has no null)."""
    if isinstance(data, dict):
        return {k: nulls(v) for k, v in data.items()}
    if isinstance(data, list):
        return [nulls(v) for v in data]
    return None if data == "null" else data


def get_path(data: Any, parts: list[str]) -> Any:
    """The value at ``parts`` in nested dicts ``data``; None if absent."""
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def put_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    """Set the value at ``parts`` (its parent dicts must exist)."""
    for part in parts[:-1]:
        data = data[part]
    data[parts[-1]] = value


def nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys -> nested dicts (later keys deep-merge into earlier ones)."""
    out: dict[str, Any] = {}
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {dotted}: {'.'.join(parts[: i + 1])} is not a table")
        if isinstance(value, Mapping):
            value = nest({f"{k}": v for k, v in value.items()})
            if isinstance(node.get(parts[-1]), dict):
                value = {**node[parts[-1]], **value}
        node[parts[-1]] = value
    return out


def leaves(data: Any, prefix: str = "") -> Iterator[str]:
    """Dotted keys of the non-dict values (and empty dicts) of ``data``, in order."""
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from leaves(value, f"{prefix}{key}.")
    elif prefix:
        yield prefix[:-1]


def depth(data: Any, loc: tuple[str, ...]) -> int:
    """How many parts of ``loc`` a layer's data sets (its value covers the rest); 0 = none."""
    for n, part in enumerate(loc):
        if not isinstance(data, dict):
            return n
        if part not in data:
            return 0
        data = data[part]
    return len(loc)


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"key.sub=value"`` -> ``("key.sub", value)``: value as a TOML scalar, else JSON, else text.

    Examples
    --------
    >>> parse_assignment("paper.queue_size=64"), parse_assignment("name=demo")
    (('paper.queue_size', 64), ('name', 'demo'))
    >>> parse_assignment("backup.every_s=null"), parse_assignment('log.file="a=b.log"')
    (('backup.every_s', None), ('log.file', 'a=b.log'))
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or any(not part for part in key.split(".")):
        raise ConfigError("--set: expected key.sub=value (a dotted key, '=', a value)")
    raw = raw.strip()
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw
