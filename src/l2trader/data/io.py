"""Line-oriented reading of plain, ``.gz`` and single-member ``.zip`` files (streaming)."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from l2trader.errors import DataError

__all__ = ["iter_lines", "open_binary", "sha256_file"]


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` pairs (1-based, newline stripped) from a text file.

    ``.gz`` is decompressed on the fly; a ``.zip`` must hold exactly one file. Memory
    use is bounded by the longest line whatever the file size.
    """
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        for number, line in enumerate(text, start=1):
            yield number, line.rstrip("\r\n")


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a plain, ``.gz`` or single-member ``.zip`` file for binary reading.

    A missing file raises :class:`DataError` naming it.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file does not exist", source=str(path))
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.suffix == ".zip":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            raise DataError(
                f"zip must hold exactly one file, found {len(members)}", source=str(path)
            )
        return archive.open(members[0])
    return open(path, "rb")


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Sha256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()
