"""Stoikov (2018) micro-price, estimated from level-1 data by the discrete Markov-chain method.

Reference: S. Stoikov, "The micro-price: a high-frequency estimator of future prices",
Quantitative Finance 18(12), 2018. ``P_micro = mid + g*(I, S)`` where ``I = qb / (qb + qa)``
is the level-1 imbalance, ``S`` the spread (ticks) and ``g*`` (ticks) the expected mid change
over all future mid moves. Method (choices of this implementation in brackets):

1. Sample the book as-of a fixed grid ``t0 + j * dt_ns`` (``t0`` = first ``ts_recv``).
2. State ``x = (S, I bucket)``: ``bucket = min(floor(I * n), n - 1)`` and ``1 <= S <=
   n_spread``. [A sample with an empty or crossed/locked side is invalid; a consecutive pair
   of samples is dropped (and counted) when either end is invalid, has ``S > n_spread``, or
   the mid moves more than ``max_move_ticks``.]
3. Symmetrize: add the mirror of every pair, bucket ``k -> n - 1 - k``, ``dM -> -dM``.
   [Mirrored on the discrete bucket, so the fitted chain is exactly symmetric.]
4. From the pairs: ``Q`` (x -> y, dM = 0), ``T`` (x -> y, dM != 0) and ``R`` (x -> dM = k
   for k in ``K``, every nonzero half-tick multiple up to ``max_move_ticks``), each count
   divided by the pairs leaving x.
5. ``G1 = (I - Q)^-1 R K``, ``B = (I - Q)^-1 T`` and ``g* = sum_i B^i G1``, summed until
   the largest term is below ``tol`` (``converged``) or ``max_iter`` terms.

``B`` is row-stochastic on visited states, so the sum converges only when the stationary
mean of ``G1`` is zero (symmetrized data gives that); otherwise ``converged`` is False.
States never left by a pair have NaN ``g*`` (no estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from l2trader.config import FrozenConfig
from l2trader.errors import ArtifactError, DataError, InvalidValueError, OutOfOrderError
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS

__all__ = [
    "FitStats",
    "MarkovChain",
    "MicropriceConfig",
    "MicropriceModel",
    "estimate_chain",
    "fit_microprice",
    "solve_g_star",
]

_SOURCE = "fit_microprice"


class MicropriceConfig(FrozenConfig):
    """Parameters of :func:`fit_microprice`.

    ``dt_ns`` defaults to 100 ms: adding no-move samples only makes the chain lazier (``Q``
    gains self-loops, ``G1`` and ``B`` are unchanged), so a grid finer than the paper's is
    harmless, while a coarse grid lumps several mid moves into one step (dropped when larger
    than ``max_move_ticks``). 100 ms is the update cadence of most crypto depth feeds.

    Examples
    --------
    >>> MicropriceConfig().n_imbalance, MicropriceConfig().dt_ns
    (10, 100000000)
    >>> MicropriceConfig(max_move_ticks=0.3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    l2trader.errors.ConfigError: MicropriceConfig: ...multiple of 0.5...
    """

    n_imbalance: int = 10
    """Equal-width imbalance buckets on [0, 1] (>= 2)."""
    n_spread: int = 2
    """Spreads 1..n_spread ticks are modelled (>= 1); wider spreads are dropped from the fit."""
    dt_ns: int = 100_000_000
    """Sampling grid step, ns (> 0)."""
    max_move_ticks: float = 1.0
    """Largest mid move per step kept in ``K`` (ticks, positive multiple of 0.5)."""
    symmetrize: bool = True
    """Add the mirror image of the data (I -> 1 - I, dM -> -dM)."""
    max_iter: int = 10_000
    """Most terms ``B^i G1`` summed (>= 1)."""
    tol: float = 1e-10
    """Stop when max |B^i G1| < tol (ticks, > 0)."""
    min_transitions: int = 100
    """Fewest usable sample pairs (before mirroring) accepted by the fit (>= 1)."""

    def model_post_init(self, __context: object) -> None:
        """Check value ranges (a violation raises :class:`ConfigError` naming the key)."""
        lows = {"n_imbalance": 2, "n_spread": 1, "dt_ns": 1, "max_iter": 1, "min_transitions": 1}
        for name, low in lows.items():
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if not self.tol > 0:
            raise ValueError(f"tol must be > 0, got {self.tol}")
        h = 2 * self.max_move_ticks
        if not (h > 0 and math.isclose(h, round(h))):
            raise ValueError(f"max_move_ticks must be a positive multiple of 0.5, got {h / 2}")

    @property
    def k_ticks(self) -> NDArray[np.float64]:
        """Mid moves ``K`` (ticks): nonzero half-tick multiples in [-max, max], ascending."""
        h = round(2 * self.max_move_ticks)
        half = np.concatenate([np.arange(-h, 0), np.arange(1, h + 1)])
        return half.astype(np.float64) / 2.0


class FitStats(NamedTuple):
    """Grid samples, pairs used (before mirroring) and pairs dropped by the fit.

    Drops are checked in order: empty/crossed/locked side, spread outside 1..n_spread,
    mid move over ``max_move_ticks``.
    """

    n_samples: int
    n_transitions: int
    n_dropped_invalid: int
    n_dropped_spread: int
    n_dropped_move: int


class MarkovChain(NamedTuple):
    """Estimated chain over ``m = n_spread * n_imbalance`` states ``(S - 1) * n + bucket``.

    ``q[x, y]`` = P(next state y, no mid move | x); ``t[x, y]`` = P(next state y, mid moved |
    x); ``r[x, j]`` = P(mid move = K[j] | x); ``counts[x]`` = pairs leaving x (after mirroring).
    """

    q: NDArray[np.float64]
    t: NDArray[np.float64]
    r: NDArray[np.float64]
    counts: NDArray[np.int64]


@dataclass(frozen=True)
class MicropriceModel:
    """A fitted micro-price: ``g_star[S - 1, bucket]`` in ticks, NaN where unobserved.

    Examples
    --------
    >>> g = np.array([[-0.25, 0.25]])
    >>> model = MicropriceModel(MicropriceConfig(n_imbalance=2, n_spread=1), g,
    ...                         np.array([[5, 5]]), 3, True)
    >>> model.adjustment_ticks(np.array([1, 1, 2]), np.array([0.1, 0.9, 0.5])).tolist()
    [-0.25, 0.25, nan]
    >>> model.microprice_ticks(np.array([100]), np.array([3.0]), np.array([101]),
    ...                        np.array([1.0])).tolist()
    [100.75]
    """

    config: MicropriceConfig
    g_star: NDArray[np.float64]
    """(n_spread, n_imbalance): adjustment to the mid, ticks."""
    counts: NDArray[np.int64]
    """(n_spread, n_imbalance): sample pairs leaving each state (after mirroring)."""
    iterations: int
    """Terms ``B^i G1`` (i >= 1) summed."""
    converged: bool
    """True when the last term fell below ``config.tol``."""
    stats: FitStats | None = None

    def adjustment_ticks(
        self, spread_ticks: NDArray[np.int64], imbalance: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``g*(S, I)`` in ticks; NaN for spreads outside 1..n_spread or I outside [0, 1]."""
        cfg = self.config
        s = np.asarray(spread_ticks, dtype=np.int64)
        imb = np.asarray(imbalance, dtype=np.float64)
        ok = (s >= 1) & (s <= cfg.n_spread) & (imb >= 0.0) & (imb <= 1.0)
        bucket = _bucket(np.where(ok, imb, 0.0), cfg.n_imbalance)
        row = np.where(ok, s - 1, 0)
        return np.where(ok, self.g_star[row, bucket], np.nan)

    def microprice_ticks(
        self,
        bid_ticks: NDArray[np.int64],
        bid_qty: NDArray[np.float64],
        ask_ticks: NDArray[np.int64],
        ask_qty: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Mid plus ``g*`` (ticks) of level-1 columns; NaN where a side is empty or S is out."""
        valid, spread, imb, mid2 = _level1(bid_ticks, bid_qty, ask_ticks, ask_qty)
        adj = self.adjustment_ticks(np.where(valid, spread, 0), np.where(valid, imb, np.nan))
        return np.where(valid, mid2 / 2.0 + adj, np.nan)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN written as None); inverse of :meth:`from_dict`."""
        g = [[None if math.isnan(v) else v for v in row] for row in self.g_star.tolist()]
        return {
            "config": self.config.model_dump(mode="json"),
            "g_star": g,
            "counts": self.counts.tolist(),
            "iterations": self.iterations,
            "converged": self.converged,
            "stats": None if self.stats is None else self.stats._asdict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MicropriceModel:
        """Rebuild a model written by :meth:`to_dict` (``ArtifactError`` if malformed)."""
        try:
            g = np.array([[np.nan if v is None else v for v in r] for r in data["g_star"]], float)
            stats = data.get("stats")
            return cls(
                config=MicropriceConfig(**data["config"]),
                g_star=g,
                counts=np.asarray(data["counts"], dtype=np.int64),
                iterations=int(data["iterations"]),
                converged=bool(data["converged"]),
                stats=None if stats is None else FitStats(**stats),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"not a micro-price model: {type(exc).__name__}: {exc}") from exc


def fit_microprice(
    ts_recv: ArrayLike,
    bid_ticks: ArrayLike,
    bid_qty: ArrayLike,
    ask_ticks: ArrayLike,
    ask_qty: ArrayLike,
    config: MicropriceConfig | None = None,
) -> MicropriceModel:
    """Estimate ``g*`` from level-1 book states (one row per state, C2 columns ``[:, 0]``).

    Raises
    ------
    OutOfOrderError
        ``ts_recv`` (ns) decreases.
    InvalidValueError
        Columns of different lengths, or a NaN / negative size.
    DataError
        Fewer than ``min_transitions`` usable pairs, no mid move, or a state from which no
        mid move was ever observed (``I - Q`` singular).
    """
    cfg = MicropriceConfig() if config is None else config
    ts, cols = _check_inputs(ts_recv, bid_ticks, bid_qty, ask_ticks, ask_qty)
    grid_idx = _grid_index(ts, cfg.dt_ns)
    valid, spread, imb, mid2 = _level1(*(c[grid_idx] for c in cols))
    state = (spread - 1) * cfg.n_imbalance + _bucket(np.where(valid, imb, 0.0), cfg.n_imbalance)
    in_range = valid & (spread >= 1) & (spread <= cfg.n_spread)
    x0, x1, move2, stats = _pairs(cfg, state, valid, in_range, mid2)
    if stats.n_transitions < cfg.min_transitions:
        raise DataError(
            f"{stats.n_transitions} usable sample pairs < min_transitions="
            f"{cfg.min_transitions} ({stats})",
            source=_SOURCE,
        )
    chain = estimate_chain(x0, x1, move2, cfg)
    g, iterations, converged = solve_g_star(chain.q, chain.t, chain.r, cfg.k_ticks, cfg)
    g = np.where(chain.counts > 0, g, np.nan).reshape(cfg.n_spread, cfg.n_imbalance)
    counts = chain.counts.reshape(g.shape)
    return MicropriceModel(cfg, g, counts, iterations, converged, stats)


def estimate_chain(
    x0: NDArray[np.int64], x1: NDArray[np.int64], move2: NDArray[np.int64], cfg: MicropriceConfig
) -> MarkovChain:
    """``Q``, ``T``, ``R`` from state pairs ``x0 -> x1`` with mid moves ``move2`` (half ticks).

    Mirrors the pairs first when ``cfg.symmetrize``; ``|move2| <= 2 * max_move_ticks``.
    """
    n, m = cfg.n_imbalance, cfg.n_imbalance * cfg.n_spread
    h = round(2 * cfg.max_move_ticks)
    if cfg.symmetrize:
        x0, x1, move2 = (
            np.concatenate([x0, _mirror(x0, n)]),
            np.concatenate([x1, _mirror(x1, n)]),
            np.concatenate([move2, -move2]),
        )
    moved = move2 != 0
    q = np.bincount(x0[~moved] * m + x1[~moved], minlength=m * m).reshape(m, m)
    t = np.bincount(x0[moved] * m + x1[moved], minlength=m * m).reshape(m, m)
    k = np.where(move2[moved] < 0, move2[moved] + h, move2[moved] + h - 1)
    r = np.bincount(x0[moved] * (2 * h) + k, minlength=m * 2 * h).reshape(m, 2 * h)
    counts = np.bincount(x0, minlength=m).astype(np.int64)
    scale = 1.0 / np.maximum(counts, 1)[:, None]
    return MarkovChain(q * scale, t * scale, r * scale, counts)


def solve_g_star(
    q: NDArray[np.float64],
    t: NDArray[np.float64],
    r: NDArray[np.float64],
    k_ticks: NDArray[np.float64],
    cfg: MicropriceConfig,
) -> tuple[NDArray[np.float64], int, bool]:
    """``(g*, iterations, converged)``: ``g* = sum_i B^i G1`` with ``G1 = (I-Q)^-1 R K``.

    Raises :class:`DataError` when a state that is left by some pair can never reach a mid
    move through ``Q`` (``I - Q`` singular).
    """
    _check_absorbing(q, r)
    a = np.eye(len(q)) - q
    sol = np.linalg.solve(a, np.column_stack([r @ k_ticks, t]))
    g1, b = sol[:, 0], sol[:, 1:]
    g: NDArray[np.float64] = g1.astype(np.float64)
    term = g1
    for i in range(1, cfg.max_iter + 1):
        if np.max(np.abs(term), initial=0.0) < cfg.tol:
            return g, i - 1, True
        term = b @ term
        g += term
    return g, cfg.max_iter, bool(np.max(np.abs(term), initial=0.0) < cfg.tol)


def _check_absorbing(q: NDArray[np.float64], r: NDArray[np.float64]) -> None:
    """Every state with outgoing mass must reach a mid move through no-move transitions."""
    reach = r.sum(axis=1) > 0
    left = (q.sum(axis=1) + r.sum(axis=1)) > 0
    for _ in range(len(q)):
        grown = reach | ((q > 0) & reach[None, :]).any(axis=1)
        if np.array_equal(grown, reach):
            break
        reach = grown
    stuck = np.flatnonzero(left & ~reach)
    if stuck.size:
        raise DataError(
            f"no mid move is ever reached from states {stuck.tolist()} (index "
            "(S-1)*n_imbalance+bucket): too few transitions to estimate I - Q",
            source=_SOURCE,
        )


def _mirror(x: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """Mirror state index: bucket k -> n - 1 - k, same spread."""
    return (x // n) * n + (n - 1 - x % n)


def _bucket(imb: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    """Equal-width bucket of I in [0, 1]: ``min(floor(I * n), n - 1)``."""
    return np.minimum(np.floor(imb * n), n - 1).astype(np.int64)


def _level1(
    bid_ticks: ArrayLike, bid_qty: ArrayLike, ask_ticks: ArrayLike, ask_qty: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """``(valid, spread ticks, imbalance, bid + ask in ticks = 2 * mid)``; junk where invalid."""
    b = np.asarray(bid_ticks, dtype=np.int64)
    a = np.asarray(ask_ticks, dtype=np.int64)
    qb = np.asarray(bid_qty, dtype=np.float64)
    qa = np.asarray(ask_qty, dtype=np.float64)
    valid = (b != NO_BID_TICKS) & (a != NO_ASK_TICKS) & (qb > 0) & (qa > 0) & (a > b)
    b, a = np.where(valid, b, 0), np.where(valid, a, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        imb = np.where(valid, qb / (qb + qa), np.nan)
    return valid, a - b, imb, a + b


def _check_inputs(*arrays: ArrayLike) -> tuple[NDArray[np.int64], tuple[NDArray[Any], ...]]:
    """Validate and convert ``ts_recv, bid_ticks, bid_qty, ask_ticks, ask_qty``."""
    ts = np.asarray(arrays[0], dtype=np.int64)
    cols = tuple(
        np.asarray(c, dtype=d) for c, d in zip(arrays[1:], ("i8", "f8", "i8", "f8"), strict=True)
    )
    if any(c.shape != ts.shape for c in cols) or ts.ndim != 1:
        shapes = [ts.shape, *(c.shape for c in cols)]
        raise InvalidValueError(
            f"columns must be 1-D of equal length, got {shapes}", source=_SOURCE
        )
    back = np.flatnonzero(np.diff(ts) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise OutOfOrderError(
            f"ts_recv decreases at row {i}: {ts[i - 1]} -> {ts[i]}", source=_SOURCE
        )
    for name, qty in (("bid_qty", cols[1]), ("ask_qty", cols[3])):
        bad = np.flatnonzero(~(qty >= 0))
        if bad.size:
            raise InvalidValueError(f"{name}[{bad[0]}]={qty[bad[0]]} is NaN or < 0", source=_SOURCE)
    return ts, cols


def _grid_index(ts: NDArray[np.int64], dt_ns: int) -> NDArray[np.int64]:
    """Row index of the book as-of each grid time ``ts[0] + j * dt_ns`` (j = 0, 1, ...)."""
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    grid = ts[0] + dt_ns * np.arange((ts[-1] - ts[0]) // dt_ns + 1, dtype=np.int64)
    idx: NDArray[np.int64] = np.searchsorted(ts, grid, side="right").astype(np.int64) - 1
    return idx


def _pairs(
    cfg: MicropriceConfig,
    state: NDArray[np.int64],
    valid: NDArray[np.bool_],
    in_range: NDArray[np.bool_],
    mid2: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], FitStats]:
    """Consecutive sample pairs kept for the fit, with their mid moves (half ticks)."""
    both_valid = valid[:-1] & valid[1:]
    both_in = both_valid & in_range[:-1] & in_range[1:]
    move2 = np.diff(mid2)
    small = np.abs(move2) <= round(2 * cfg.max_move_ticks)
    keep = both_in & small
    stats = FitStats(
        n_samples=int(state.size),
        n_transitions=int(keep.sum()),
        n_dropped_invalid=int((~both_valid).sum()),
        n_dropped_spread=int((both_valid & ~both_in).sum()),
        n_dropped_move=int((both_in & ~small).sum()),
    )
    return state[:-1][keep], state[1:][keep], move2[keep], stats
