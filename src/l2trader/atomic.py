"""Atomic file replacement: readers see the old file or the new one, never a partial one.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = Path(tmp) / "sub" / "status.json"
...     write_text_atomic(path, '{"state": "running"}')
...     path.read_text(), sorted(p.name for p in path.parent.iterdir())
('{"state": "running"}', ['status.json'])
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to a temp file beside ``path``, then ``os.replace`` it.

    The parent directory is created if missing; the temp name carries the pid, so two
    processes never share one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
