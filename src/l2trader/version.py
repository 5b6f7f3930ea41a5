"""The code version written into every report, run record and bundle.

``code_version()`` is ``"<package version>+<12 hex>"``: the hex is the sha256 of the package's
own files (``*.py`` and ``*.html``, by relative path), so two installs report the same version
only when they run the same code, whether installed from a wheel or editable from a checkout.
Deployment readiness compares it with the version each piece of validation evidence was
produced by.

Examples
--------
>>> v = code_version()
>>> v.startswith(__version__ + "+"), len(v.split("+")[1])
(True, 12)
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from l2trader import __version__

__all__ = ["__version__", "code_version", "source_digest"]

_SUFFIXES = (".py", ".html")


@lru_cache(maxsize=1)
def source_digest() -> str:
    """Sha256 (hex) of the package's ``.py`` and ``.html`` files, in relative-path order."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    files = sorted(
        p for p in root.rglob("*") if p.suffix in _SUFFIXES and "__pycache__" not in p.parts
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_version() -> str:
    """``"<__version__>+<first 12 hex of source_digest()>"``."""
    return f"{__version__}+{source_digest()[:12]}"
