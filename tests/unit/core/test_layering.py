"""Enforce the stage dependency table of docs/architecture.md by parsing every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "l2trader"
CORE = {"schema", "units", "errors", "config", "_numba", "__init__", "version", "atomic"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "data": {"core"},
    "book": {"core", "data"},
    "synth": {"core", "data"},
    "ingest": {"core", "data", "book"},
    "testing": {"core", "data", "book"},
    "features": {"core", "book"},
    "signals": {"core", "features"},
    "engine": {"core", "data", "book", "features", "signals"},
    "analysis": {"core"},
    "paper": {"core", "data", "book", "features", "signals", "engine", "analysis"},
    "stress": {"core", "data", "book", "engine", "analysis"},
    "deploy": {"core", "data", "book", "features", "signals", "engine", "analysis", "paper"},
    "cli": {
        "core",
        "data",
        "book",
        "synth",
        "ingest",
        "testing",
        "features",
        "signals",
        "engine",
        "analysis",
        "paper",
        "stress",
        "deploy",
    },
}


def _stage(module: str) -> str:
    head = module.split(".")[0]
    return "core" if head in CORE else head


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("l2trader."):
            found.add(node.module.removeprefix("l2trader."))
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("l2trader.")
                for a in node.names
                if a.name.startswith("l2trader.")
            )
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_respect_stage_table(path: Path) -> None:
    stage = _stage(str(path.relative_to(SRC).with_suffix("")).replace("/", "."))
    assert stage in ALLOWED, f"{path}: stage {stage!r} missing from the dependency table"
    bad = {m for m in _imports(path) if _stage(m) not in ALLOWED[stage] | {stage, "core"}}
    assert not bad, f"{path.relative_to(SRC)} ({stage}) may not import {sorted(bad)}"
