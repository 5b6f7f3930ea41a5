"""Typed wrapper around ``numba.njit`` so strict mypy keeps kernel signatures.

Nothing is compiled at import time: kernels compile lazily on first call and are
cached on disk (``cache=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def njit_cached(func: F) -> F:
    """Compile ``func`` lazily in nopython mode with an on-disk cache."""
    return cast(F, numba.njit(cache=True, nogil=True)(func))
