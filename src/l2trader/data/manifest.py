"""The catalog's ``manifest.json``: one entry per ingest, written atomically.

Layout::

    {"version": 1, "ingests": [entry, ...]}

An entry records ``key`` (first 16 hex of the sha256 over the sorted source sha256s),
``venue``, ``symbol``, ``sources`` (path, sha256, bytes), ``partitions`` (date, path
relative to the root, rows, min/max ``ts_recv`` in ns), ``quarantine`` (path and rows, or
None), ``report`` (``ValidationReport.to_dict()``), ``instrument``, ``l2trader_version``
and ``created`` (ISO 8601 UTC). Re-ingesting the same sources replaces the entry with the
same venue, symbol and key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from l2trader.atomic import write_text_atomic
from l2trader.data.io import sha256_file
from l2trader.errors import CatalogError

__all__ = [
    "MANIFEST_VERSION",
    "hash_sources",
    "ingest_key",
    "read_manifest",
    "upsert_entry",
    "write_json_atomic",
]

MANIFEST_VERSION = 1


def hash_sources(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """``[{"path", "sha256", "bytes"}]`` for each source file (missing file: CatalogError)."""
    out = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise CatalogError(f"source file {str(path)!r} does not exist")
        out.append({"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size})
    return out


def ingest_key(sources: Sequence[dict[str, Any]]) -> str:
    """First 16 hex digits of the sha256 over the sorted source sha256s.

    Examples
    --------
    >>> ingest_key([{"sha256": "b"}, {"sha256": "a"}]) == ingest_key([{"sha256": "a"},
    ...                                                                  {"sha256": "b"}])
    True
    """
    digest = hashlib.sha256("\n".join(sorted(s["sha256"] for s in sources)).encode())
    return digest.hexdigest()[:16]


def read_manifest(path: Path) -> dict[str, Any]:
    """Load ``manifest.json`` (an empty manifest if absent); bad JSON raises CatalogError."""
    if not path.exists():
        return {"version": MANIFEST_VERSION, "ingests": []}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("ingests"), list):
        raise CatalogError(f"{path}: manifest must be an object with an 'ingests' list")
    return data


def upsert_entry(manifest: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Replace the entry with the same venue, symbol and key (or append it)."""
    ident = (entry["venue"], entry["symbol"], entry["key"])
    kept = [e for e in manifest["ingests"] if (e["venue"], e["symbol"], e["key"]) != ident]
    return {"version": MANIFEST_VERSION, "ingests": [*kept, entry]}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temp file in the same directory and ``os.replace``."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
