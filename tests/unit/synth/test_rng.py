from __future__ import annotations

import numpy as np

from l2trader.synth.rng_kernels import next_u64_nb, seed_state, uniform_nb

M = (1 << 64) - 1


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & M


def _xoshiro_reference(s: list[int], n: int) -> list[int]:
    out = []
    for _ in range(n):
        out.append((_rotl((s[0] + s[3]) & M, 23) + s[0]) & M)
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
    return out


def test_xoshiro_matches_the_reference_algorithm() -> None:
    state = seed_state(42)
    expected = _xoshiro_reference([int(x) for x in state], 5)

    got = [int(next_u64_nb(state)) for _ in range(5)]

    assert got == expected


def test_splitmix_seeding_of_zero_gives_known_first_word() -> None:
    # splitmix64(0) first output, from Vigna's reference implementation
    assert int(seed_state(0)[0]) == 0xE220A8397B1DCDAF


def test_uniform_is_in_open_unit_interval() -> None:
    state = seed_state(1)

    draws = np.array([uniform_nb(state) for _ in range(10_000)])

    assert draws.min() > 0.0
    assert draws.max() < 1.0
    assert abs(draws.mean() - 0.5) < 0.02
