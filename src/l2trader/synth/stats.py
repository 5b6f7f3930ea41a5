"""Stylized facts of a C1 stream: the numbers quoted in ``docs/synth.md`` and tested."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from l2trader.schema import F_LAST, KIND_TRADE
from l2trader.synth.stats_kernels import replay_top_nb

__all__ = ["SynthStats", "measure"]

NS_PER_MINUTE = 60_000_000_000


@dataclass(frozen=True)
class SynthStats:
    """Measured facts of one stream (shares in [0, 1], spread in ticks, vol in bps)."""

    n_events: int
    n_batches: int
    events_per_s: float
    share_add: float
    share_reduce: float
    share_trade: float
    spread_share_1: float
    spread_share_2: float
    spread_share_3: float
    spread_mean_ticks: float
    trade_size_mean: float
    trade_size_median: float
    trade_size_p99: float
    mid_changes_per_min: float
    mid_vol_1m_bps: float
    variance_ratio_10m_1m: float
    interarrival_cv: float
    sign_acf_1: float
    sign_acf_10: float
    sign_acf_100: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict of the fields (for reports and docs)."""
        return {k: float(v) for k, v in asdict(self).items()}


def _acf(x: NDArray[np.float64], lag: int) -> float:
    if len(x) <= lag + 1:
        return float("nan")
    x = x - x.mean()
    return float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x))


def _top_of_book(
    events: np.ndarray,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    prices = events["price_ticks"][events["kind"] != 4]
    lo = int(prices.min()) - 1
    book = np.zeros((2, int(prices.max()) - lo + 2), dtype=np.float64)
    nb = int(np.count_nonzero(events["flags"] & F_LAST))
    bid = np.empty(nb, dtype=np.int64)
    ask = np.empty(nb, dtype=np.int64)
    counts = np.zeros(4, dtype=np.int64)
    replay_top_nb(events, lo, book, bid, ask, counts)
    return bid, ask, counts


def _mid_returns_bps(
    ts: NDArray[np.int64], mid: NDArray[np.float64], step_ns: int
) -> NDArray[np.float64]:
    grid = np.arange(ts[0] + step_ns, ts[-1], step_ns)
    sampled = mid[np.searchsorted(ts, grid, side="right") - 1]
    return np.asarray(np.diff(np.log(sampled)) * 1e4)


def _spread_shares(ts: NDArray[np.int64], spread: NDArray[np.int64]) -> list[float]:
    dwell = np.diff(ts).astype(np.float64)
    s = spread[:-1]
    total = dwell.sum()
    return [float(dwell[s == k].sum() / total) for k in (1, 2, 3)] + [
        float((dwell * s).sum() / total)
    ]


def measure(events: np.ndarray) -> SynthStats:
    """Measure the stylized facts of a generated stream (needs a few minutes of data).

    Spread shares are time-weighted; the mid is sampled every minute on ``ts_exch``;
    inter-arrival times are between batches; trade signs are one per trade batch.
    """
    bid, ask, counts = _top_of_book(events)
    last = (events["flags"] & F_LAST) != 0
    ts = events["ts_exch"][last][1:]
    bid, ask = bid[1:], ask[1:]
    spread = ask - bid
    mid = 0.5 * (bid + ask).astype(np.float64)
    trades = events[events["kind"] == KIND_TRADE]
    _, first = np.unique(trades["seq"], return_index=True)
    signs = trades["side"][first].astype(np.float64)
    r1 = _mid_returns_bps(ts, mid, NS_PER_MINUTE)
    r10 = _mid_returns_bps(ts, mid, 10 * NS_PER_MINUTE)
    gaps = np.diff(ts).astype(np.float64)
    rows = counts[:3].sum()
    minutes = (ts[-1] - ts[0]) / NS_PER_MINUTE
    return SynthStats(
        n_events=len(events),
        n_batches=int(last.sum()),
        events_per_s=len(events) / (minutes * 60.0),
        share_add=float(counts[0] / rows),
        share_reduce=float(counts[1] / rows),
        share_trade=float(counts[2] / rows),
        spread_share_1=_spread_shares(ts, spread)[0],
        spread_share_2=_spread_shares(ts, spread)[1],
        spread_share_3=_spread_shares(ts, spread)[2],
        spread_mean_ticks=_spread_shares(ts, spread)[3],
        trade_size_mean=float(trades["qty"].mean()),
        trade_size_median=float(np.median(trades["qty"])),
        trade_size_p99=float(np.quantile(trades["qty"], 0.99)),
        mid_changes_per_min=float(np.count_nonzero(np.diff(mid)) / minutes),
        mid_vol_1m_bps=float(r1.std()),
        variance_ratio_10m_1m=float(r10.var() / (10.0 * r1.var())) if len(r10) > 2 else np.nan,
        interarrival_cv=float(gaps.std() / gaps.mean()),
        sign_acf_1=_acf(signs, 1),
        sign_acf_10=_acf(signs, 10),
        sign_acf_100=_acf(signs, 100),
    )
