"""Typed wrapper around ``numba.njit`` so strict mypy keeps kernel signatures.

Nothing is compiled at import time: kernels compile lazily on first call and are
cached on disk (``cache=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def njit_cached(func: F) -> F:
    """Compile ``func`` lazily in nopython mode with an on-disk cache."""
    return cast(F, numba.njit(cache=True, nogil=True)(func))


_NRT_FREE: Final[dict[str, Any]] = {"cache": True, "nogil": True, "_nrt": False}
_FORCE_INLINE: Final[dict[str, Any]] = {**_NRT_FREE, "forceinline": True}


def njit_nrt_free(func: F) -> F:
    """Like :func:`njit_cached` but without the numba runtime (NRT).

    Kernels compiled this way cannot allocate; in exchange numba emits no reference
    counting around calls between them, which otherwise costs atomic increments per
    event and blocks inlining (measured 5x slower book replay).
    """
    return cast(F, numba.njit(**_NRT_FREE)(func))


def njit_inline(func: F) -> F:
    """:func:`njit_nrt_free` plus LLVM ``alwaysinline``: for small helpers of hot loops."""
    return cast(F, numba.njit(**_FORCE_INLINE)(func))
