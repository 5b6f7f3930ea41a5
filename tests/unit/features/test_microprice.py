"""Stoikov micro-price: hand-computed chains, a simulated book with a known g*, real data."""

from __future__ import annotations

import bisect
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.book.replay import replay
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.sources import SourceFormat, open_source
from l2trader.errors import ConfigError, DataError, InvalidValueError, OutOfOrderError
from l2trader.features.microprice import (
    FitStats,
    MicropriceConfig,
    MicropriceModel,
    fit_microprice,
    solve_g_star,
)
from l2trader.schema import NO_BID_TICKS

K = np.array([-1.0, -0.5, 0.5, 1.0])

# -- a simulated book whose true g* is known -------------------------------------------------
# States x = (S - 1) * N + k with k the imbalance bucket; the book shows qb = k + 0.5,
# qa = N - k - 0.5, so I = (k + 0.5) / N falls in bucket k. Moves are in half ticks.

N = 10


def _reset(weights: np.ndarray, p: float, move2: int) -> list[tuple[float, int, int]]:
    """Mid moves by move2 half ticks into spread 1 with bucket drawn from weights."""
    return [(p * w, j, move2) for j, w in enumerate(weights / weights.sum())]


def _queue_walk(s: int, k: int, p: float) -> list[tuple[float, int, int]]:
    lo, hi = max(k - 1, 0), min(k + 1, N - 1)
    x = (s - 1) * N
    return [(0.25 * p, x + lo, 0), (0.25 * p, x + hi, 0), (0.5 * p, x + k, 0)]


@cache
def _kernel() -> tuple[tuple[tuple[float, int, int], ...], ...]:
    """(probability, next state, mid move in half ticks) for every state; symmetric."""
    up_w, down_w = np.arange(1.0, N + 1), np.arange(N, 0.0, -1)
    rows = []
    for s in (1, 2):
        for k in range(N):
            u = (k + 0.5) / N
            if s == 1:  # trade-through up/down (reset queues) or one side retreats
                out = _reset(up_w, 0.10 * u, 2) + _reset(down_w, 0.10 * (1 - u), -2)
                out += [(0.06 * u, N + k, 1), (0.06 * (1 - u), N + k, -1)]
            else:  # the gap fills from the bid (new small bid queue) or from the ask
                out = _reset(down_w, 0.2 * u, 1) + _reset(up_w, 0.2 * (1 - u), -1)
            rest = 1.0 - sum(p for p, _, _ in out)
            rows.append(tuple(out + _queue_walk(s, k, rest)))  # row index (s - 1) * N + k
    return tuple(rows)


def _true_matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = 2 * N
    q, t, r = np.zeros((m, m)), np.zeros((m, m)), np.zeros((m, 4))
    for x, row in enumerate(_kernel()):
        for p, y, move2 in row:
            if move2 == 0:
                q[x, y] += p
            else:
                t[x, y] += p
                r[x, {-2: 0, -1: 1, 1: 2, 2: 3}[move2]] += p
    return q, t, r


def _simulate_book(steps: int, seed: int) -> tuple[np.ndarray, ...]:
    cum = [np.cumsum([p for p, _, _ in row]).tolist() for row in _kernel()]
    rng = np.random.default_rng(seed)
    draws = rng.random(steps).tolist()
    x, bid, states, bids = 0, 10_000, [], []
    for u in draws:
        row = _kernel()[x]
        _, y, move2 = row[min(bisect.bisect_right(cum[x], u), len(row) - 1)]
        spread_before, spread_after = x // N + 1, y // N + 1
        bid += (move2 - (spread_after - spread_before)) // 2
        states.append(y)
        bids.append(bid)
        x = y
    x_arr, b = np.array(states), np.array(bids, dtype=np.int64)
    k, s = x_arr % N, x_arr // N + 1
    ts = np.arange(steps, dtype=np.int64) * 1_000
    return ts, b, k + 0.5, b + s, N - k - 0.5


@cache
def _fitted_simulation() -> MicropriceModel:
    cfg = MicropriceConfig(dt_ns=1_000)
    return fit_microprice(*_simulate_book(300_000, seed=7), cfg)


def _true_g_star() -> np.ndarray:
    q, t, r = _true_matrices()
    g, _, converged = solve_g_star(q, t, r, K, MicropriceConfig())
    assert converged
    return g


def test_true_g_star_equals_forward_expected_mid_over_a_long_horizon() -> None:
    # Arrange: oracle = sum_{h < H} P^h d (expected mid change after H steps), P = Q + T.
    q, t, r = _true_matrices()
    p, drift = q + t, r @ K
    forward, term = np.zeros(2 * N), drift.copy()
    for _ in range(20_000):
        forward += term
        term = p @ term

    g = _true_g_star()

    np.testing.assert_allclose(g, forward, atol=1e-9)


def test_true_g_star_equals_monte_carlo_forward_mid() -> None:
    # Arrange: brute force, 20000 simulated paths per start state, realized mid after 60 steps
    # (the exact forward expectation is within 1e-5 ticks of its limit by then).
    width = max(len(row) for row in _kernel())
    pad = [row + ((0.0, row[-1][1], 0),) * (width - len(row)) for row in _kernel()]
    cum = np.array([np.cumsum([p for p, _, _ in row]) for row in pad])
    nxt = np.array([[y for _, y, _ in row] for row in pad])
    move = np.array([[m / 2 for _, _, m in row] for row in pad])
    rng = np.random.default_rng(11)
    x = np.repeat(np.arange(2 * N), 20_000)
    mid = np.zeros(x.size)
    for _ in range(60):
        j = np.minimum((rng.random(x.size)[:, None] > cum[x]).sum(axis=1), width - 1)
        mid += move[x, j]
        x = nxt[x, j]
    mc = mid.reshape(2 * N, -1)
    se = mc.std(axis=1) / np.sqrt(mc.shape[1])

    g = _true_g_star()

    assert np.all(np.abs(mc.mean(axis=1) - g) < 4 * se + 1e-4)  # se <= 0.02 ticks


def test_fit_on_simulated_book_recovers_true_g_star() -> None:
    model = _fitted_simulation()

    assert model.converged
    assert model.stats is not None
    assert model.stats.n_transitions == 299_999
    np.testing.assert_allclose(model.g_star.ravel(), _true_g_star(), atol=0.03)


def test_fit_on_simulated_book_is_monotone_in_imbalance() -> None:
    model = _fitted_simulation()

    assert np.all(np.diff(_true_g_star().reshape(2, N), axis=1) > 0)
    assert np.all(np.diff(model.g_star, axis=1) > 0)


def test_iterated_sum_equals_deflated_solve_for_stochastic_b() -> None:
    # B is row-stochastic (spectral radius 1): I - B is singular, so solve instead the
    # well-posed (I - B + 1 pi^T) g = G1, valid because pi^T G1 = 0 on a symmetric chain.
    q, t, r = _true_matrices()
    inv = np.linalg.inv(np.eye(2 * N) - q)
    b, g1 = inv @ t, inv @ r @ K
    vals, vecs = np.linalg.eig(b.T)
    pi = np.real(vecs[:, np.argmax(np.real(vals))])
    pi /= pi.sum()

    g, _, _ = solve_g_star(q, t, r, K, MicropriceConfig())

    assert np.max(np.abs(vals)) == pytest.approx(1.0)
    assert abs(pi @ g1) < 1e-12
    direct = np.linalg.solve(np.eye(2 * N) - b + np.outer(np.ones(2 * N), pi), g1)
    np.testing.assert_allclose(g, direct, atol=1e-9)


def test_iterated_sum_equals_direct_solve_when_spectral_radius_below_one() -> None:
    rng = np.random.default_rng(3)
    q, t, r = rng.random((6, 6)), rng.random((6, 6)), rng.random((6, 4))
    total = q.sum(1) + t.sum(1)
    q, t = 0.9 * q / total[:, None], 0.9 * t / total[:, None]  # 10% of mass leaks away
    b = np.linalg.solve(np.eye(6) - q, t)
    g1 = np.linalg.solve(np.eye(6) - q, r @ K)

    g, iterations, converged = solve_g_star(q, t, r, K, MicropriceConfig())

    assert converged
    assert iterations > 0
    assert np.max(np.abs(np.linalg.eigvals(b))) < 1
    np.testing.assert_allclose(g, np.linalg.solve(np.eye(6) - b, g1), atol=1e-9)


def test_g_star_is_not_bounded_by_half_the_spread() -> None:
    # Momentum chain: the high-imbalance state moves up and stays high with prob 0.5 per
    # step and flips only with prob 0.01, so E[future mid] is ~50 ticks up. No clipping.
    q = np.array([[0.49, 0.01], [0.01, 0.49]])
    t = np.array([[0.5, 0.0], [0.0, 0.5]])
    r = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    r[0, 0], r[1, 3] = 0.5, 0.5

    g, _, converged = solve_g_star(q, t, r, K, MicropriceConfig())

    assert converged
    assert g[1] > 0.5
    assert g[1] == pytest.approx(-g[0])
    assert _true_g_star()[N - 1] > 0.5  # the simulated book too: 0.796 ticks at spread 1


# -- hand-computed chains --------------------------------------------------------------------

# grid 0, 10, 20, 30 ns samples rows 0, 2, 2, 4: states 1 -> 0 -> 0 -> 1, last move +1 tick.
HAND = (
    np.array([0, 5, 10, 25, 30]),
    np.array([100, 100, 100, 101, 101]),
    np.array([3.0, 1.0, 1.0, 1.0, 2.0]),
    np.array([101, 101, 101, 102, 102]),
    np.array([1.0, 3.0, 3.0, 1.0, 2.0]),
)
HAND_CFG = {"n_imbalance": 2, "n_spread": 1, "dt_ns": 10, "min_transitions": 1}


def test_hand_chain_symmetrized_gives_exact_g_star() -> None:
    # Q = [[1/3, 1/3], [1/3, 1/3]], G1 = [1/3, -1/3], B G1 = -G1 / 3 => g* = 3/4 G1.
    model = fit_microprice(*HAND, MicropriceConfig(**HAND_CFG))

    assert model.converged
    assert model.counts.tolist() == [[3, 3]]
    np.testing.assert_allclose(model.g_star, [[0.25, -0.25]], atol=1e-12)


def test_hand_chain_without_symmetry_drifts_and_reports_no_convergence() -> None:
    # G1 = [1, 1] and B = [[0, 1], [0, 1]]: every term adds 1 tick, the sum diverges.
    cfg = MicropriceConfig(**HAND_CFG, symmetrize=False, max_iter=5)

    model = fit_microprice(*HAND, cfg)

    assert not model.converged
    assert model.iterations == 5
    np.testing.assert_allclose(model.g_star, [[6.0, 6.0]], atol=1e-12)


def test_empty_side_wide_spread_and_big_moves_are_dropped_and_counted() -> None:
    # pairs: ok, ok (+1 tick), empty bid, empty bid, spread 3, +4 ticks, ok
    bid = np.array([100, 100, 101, NO_BID_TICKS, 101, 101, 105, 105])
    bid_qty = np.array([3.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 3.0])
    ask = np.array([101, 101, 102, 102, 104, 102, 106, 106])
    ask_qty = np.array([1.0, 3.0, 1.0, 1.0, 1.0, 3.0, 3.0, 1.0])
    cfg = MicropriceConfig(**{**HAND_CFG, "dt_ns": 1})

    model = fit_microprice(np.arange(8), bid, bid_qty, ask, ask_qty, cfg)

    assert model.stats is not None
    assert model.stats == FitStats(8, 3, n_dropped_invalid=2, n_dropped_spread=1, n_dropped_move=1)
    assert model.counts.tolist() == [[3, 3]]


# -- bad input -------------------------------------------------------------------------------


BAD = {"n_imbalance": 1, "n_spread": 0, "dt_ns": 0, "max_move_ticks": 0.3, "tol": 0.0}
BAD |= {"max_iter": 0, "min_transitions": 0, "bogus": 1}


@pytest.mark.parametrize("key", sorted(BAD))
def test_config_rejects_bad_values(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        MicropriceConfig(**{key: BAD[key]})


def test_fit_rejects_bad_columns() -> None:
    ts, b, qb, a, qa = HAND
    with pytest.raises(OutOfOrderError, match="row 2"):
        fit_microprice(ts[[0, 2, 1, 3, 4]], b, qb, a, qa)
    with pytest.raises(InvalidValueError, match="equal length"):
        fit_microprice(ts, b[:3], qb, a, qa)
    with pytest.raises(InvalidValueError, match=r"ask_qty\[1\]=nan"):
        fit_microprice(ts, b, qb, a, np.array([1.0, np.nan, 1.0, 1.0, 1.0]))


def test_fit_without_any_mid_move_raises() -> None:
    ts = np.arange(200, dtype=np.int64)
    qb = np.where(np.arange(200) % 3 == 0, 1.0, 3.0)
    const = np.full(200, 100), np.full(200, 101)

    with pytest.raises(DataError, match="no mid move is ever reached"):
        fit_microprice(ts, const[0], qb, const[1], np.ones(200), MicropriceConfig(dt_ns=1))


# -- properties and the model API ------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 7), st.integers(1, 3))
def test_symmetrized_fit_is_exactly_antisymmetric(
    seed: int, n_imbalance: int, n_spread: int
) -> None:
    rng = np.random.default_rng(seed)
    n = 1500
    bid = 1000 + np.cumsum(rng.choice([-1, 0, 0, 0, 1], n))
    ask = bid + rng.integers(1, n_spread + 2, n)
    qb, qa = rng.integers(0, 6, n).astype(float), rng.integers(1, 6, n).astype(float)
    cfg = MicropriceConfig(n_imbalance=n_imbalance, n_spread=n_spread, dt_ns=1, min_transitions=1)

    model = fit_microprice(np.arange(n), bid, qb, ask, qa, cfg)

    np.testing.assert_array_equal(model.counts, model.counts[:, ::-1])
    np.testing.assert_allclose(model.g_star, -model.g_star[:, ::-1], atol=1e-12)


def test_adjustment_is_nan_outside_the_fitted_states() -> None:
    g = np.array([[-0.2, 0.0, 0.2], [np.nan, 0.0, np.nan]])
    model = MicropriceModel(
        MicropriceConfig(n_imbalance=3, n_spread=2), g, np.array([[1, 1, 1], [0, 1, 0]]), 1, True
    )
    spread = np.array([1, 1, 1, 2, 2, 0, 3, 1, -1])
    imb = np.array([0.0, 0.5, 1.0, 0.5, 0.1, 0.5, 0.5, np.nan, 0.5])

    adj = model.adjustment_ticks(spread, imb)

    np.testing.assert_array_equal(
        adj, [-0.2, 0.0, 0.2, 0.0, np.nan, np.nan, np.nan, np.nan, np.nan]
    )
    micro = model.microprice_ticks(
        np.array([100, 100, NO_BID_TICKS]),
        np.array([3.0, 1.0, 0.0]),
        np.array([101, 102, 101]),
        np.array([1.0, 1.0, 1.0]),
    )
    np.testing.assert_array_equal(micro, [100.7, 101.0, np.nan])


def test_model_round_trips_through_json() -> None:
    model = _fitted_simulation()
    nan_model = MicropriceModel(
        MicropriceConfig(n_imbalance=2, n_spread=1),
        np.array([[np.nan, 1.0]]),
        np.array([[0, 2]]),
        0,
        True,
    )

    for original in (model, nan_model):
        back = MicropriceModel.from_dict(
            json.loads(json.dumps(original.to_dict(), allow_nan=False))
        )
        assert back.config == original.config
        assert back.stats == original.stats
        assert (back.iterations, back.converged) == (original.iterations, original.converged)
        np.testing.assert_array_equal(back.g_star, original.g_star)
        np.testing.assert_array_equal(back.counts, original.counts)


# -- real data -------------------------------------------------------------------------------


def _level1_frame(events: np.ndarray) -> tuple[np.ndarray, ...]:
    f = replay(events, levels=1)
    return f.ts_recv, f.bid_ticks[:, 0], f.bid_qty[:, 0], f.ask_ticks[:, 0], f.ask_qty[:, 0]


@pytest.mark.shared_data
def test_binance_usdm_btcusdt_g_star_increases_with_imbalance(shared_data: Path) -> None:
    path = shared_data / "hftbacktest-binance-hyperliquid" / "binance_usdm_btcusdt_20240808.gz"
    source = open_source(
        SourceFormat.BINANCE, [path], instrument=lookup("binance-futures", "BTCUSDT")
    )
    columns = _level1_frame(collect(source.chunks()))

    model = fit_microprice(*columns, MicropriceConfig())

    assert model.converged
    assert model.stats is not None
    assert model.stats.n_transitions > 3000
    spread1 = model.g_star[0]
    assert np.all(np.diff(spread1) > -0.01)  # measured: strictly increasing, steps >= 0.014
    assert np.all(spread1[5:] > 0)
    assert np.all(np.abs(spread1) < 0.5)


@pytest.mark.shared_data
def test_lobster_amzn_g_star_sign_follows_imbalance(shared_data: Path) -> None:
    folder = shared_data / "lobster-amzn-2012-06-21"
    path = folder / "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"
    source = open_source(SourceFormat.LOBSTER, [path], instrument=lookup("nasdaq", "AMZN"))
    columns = _level1_frame(collect(source.chunks()))
    cfg = MicropriceConfig(n_imbalance=4, n_spread=20, max_move_ticks=10.0)

    model = fit_microprice(*columns, cfg)

    assert model.converged
    assert np.all(model.g_star[:, -1] > 0)  # highest-imbalance bucket: up, for every spread
    weighted = (model.g_star * model.counts).sum(axis=0) / model.counts.sum(axis=0)
    assert np.all(np.diff(weighted) > 0)
