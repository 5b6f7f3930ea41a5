"""A resumable xoshiro256++ generator whose whole state is one ``uint64[4]`` array.

numba's own ``np.random`` keeps hidden per-thread state, so two generators in one
process would disturb each other and a stream could not be resumed exactly. Here the
state lives in an array the caller owns: the same seed gives the same stream whatever
the chunking.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached

__all__ = [
    "exponential_nb",
    "geometric_nb",
    "lognormal_int_nb",
    "normal_nb",
    "pareto_int_nb",
    "seed_state",
    "uniform_nb",
]

_MASK64 = (1 << 64) - 1


def seed_state(seed: int) -> NDArray[np.uint64]:
    """Expand ``seed`` into a xoshiro256++ state with splitmix64 (Vigna's recommendation).

    Examples
    --------
    >>> seed_state(7).dtype, len(seed_state(7))
    (dtype('uint64'), 4)
    """
    x = seed & _MASK64
    words = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & _MASK64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        words.append(z ^ (z >> 31))
    return np.array(words, dtype=np.uint64)


@njit_cached
def _rotl_nb(x: np.uint64, k: int) -> np.uint64:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit_cached
def next_u64_nb(s: NDArray[np.uint64]) -> np.uint64:
    """Next 64-bit output of xoshiro256++; advances ``s`` in place.

    Oracle: the reference C code of Blackman & Vigna (prng.di.unimi.it).
    """
    result = _rotl_nb(s[0] + s[3], 23) + s[0]
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl_nb(s[3], 45)
    return np.uint64(result)


@njit_cached
def uniform_nb(s: NDArray[np.uint64]) -> float:
    """Uniform draw in the open interval (0, 1) (53 random bits, never 0 or 1)."""
    return (float(next_u64_nb(s) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit_cached
def exponential_nb(s: NDArray[np.uint64], rate: float) -> float:
    """Exponential draw with the given ``rate`` (mean ``1 / rate``)."""
    return -math.log(uniform_nb(s)) / rate


@njit_cached
def normal_nb(s: NDArray[np.uint64]) -> float:
    """Standard normal draw (Box-Muller, one value per call)."""
    u1 = uniform_nb(s)
    u2 = uniform_nb(s)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit_cached
def lognormal_int_nb(s: NDArray[np.uint64], median: float, sigma: float) -> float:
    """Whole number >= 1: ``round(median * exp(sigma * Z))`` with Z standard normal."""
    return max(1.0, float(round(median * math.exp(sigma * normal_nb(s)))))


@njit_cached
def pareto_int_nb(s: NDArray[np.uint64], x_min: float, alpha: float, cap: float) -> float:
    """Whole number in [x_min, cap]: floor of a Pareto(x_min, alpha) draw, capped."""
    return float(min(cap, math.floor(x_min * uniform_nb(s) ** (-1.0 / alpha))))


@njit_cached
def geometric_nb(s: NDArray[np.uint64], mean: float) -> int:
    """Geometric count >= 0 with the given mean (failures before the first success)."""
    if mean <= 0.0:
        return 0
    p = 1.0 / (1.0 + mean)
    return math.floor(math.log(uniform_nb(s)) / math.log(1.0 - p))
