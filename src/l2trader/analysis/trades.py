"""Round trips (C8) by FIFO matching of C6 fills, and the trade section of the report.

A fill first closes the oldest open lots of the opposite side (FIFO), splitting a lot when it
closes only part of it; what is left of the fill opens a new lot. So one fill may close
several lots and open one, and each (lot, closing fill) pair is one round trip.

Clock: ``entry_ts``/``exit_ts`` are the fills' ``ts_exch`` (match time at the venue). In a
backtest the simulated venue clock is the strategy clock (``ts_recv`` of the market events)
shifted by the feed latency (``feed_ns``, 0 by default), so it can be compared with
:class:`~l2trader.analysis.inputs.MarketSeries` times.

Units: prices quote currency, ``qty`` base units, ``pnl``/``fees`` quote currency, times ns.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_cached
from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.analysis.kernels import streaks_nb
from l2trader.analysis.returns import column
from l2trader.errors import InvalidValueError
from l2trader.schema import FILL_DTYPE

__all__ = [
    "ROUND_TRIP_DTYPE",
    "excursions_nb",
    "fifo_match_nb",
    "fill_prices",
    "mark_price",
    "open_lots",
    "round_trips",
    "trade_metrics",
    "validate_fills",
]

ROUND_TRIP_DTYPE: Final = np.dtype(
    [
        ("entry_ts", "i8"),  # ns, ts_exch of the opening fill
        ("exit_ts", "i8"),  # ns, ts_exch of the closing fill
        ("side", "i1"),  # +1 long (bought first), -1 short
        ("qty", "f8"),  # base units
        ("entry_price", "f8"),  # quote
        ("exit_price", "f8"),  # quote
        ("pnl", "f8"),  # quote, net of fees: side * (exit - entry) * qty - fees
        ("fees", "f8"),  # quote, pro-rata share of the opening and closing fills' fees
        ("return_bps", "f8"),  # 1e4 * pnl / (entry_price * qty)
        ("duration_ns", "i8"),  # exit_ts - entry_ts
        ("mae_bps", "f8"),  # max adverse excursion of the mid vs entry, bps (<= 0); NaN: no market
        ("mfe_bps", "f8"),  # max favourable excursion, bps (>= 0); NaN without market
    ],
    align=True,
)
"""C8 round trip, one per (open lot, closing fill) pair of the FIFO matching."""

QTY_RTOL: Final = 1e-9
"""Sizes below ``QTY_RTOL`` times the largest fill are float dust and count as zero."""


def validate_fills(fills: NDArray[np.void]) -> None:
    """Raise :class:`InvalidValueError` on a fill that cannot be accounted (names the row).

    Checks: dtype is ``FILL_DTYPE``, ``side`` is +1/-1, ``price_ticks`` > 0, ``qty`` > 0 and
    finite, ``fee`` finite.
    """
    if fills.dtype != FILL_DTYPE:
        raise InvalidValueError(
            f"fills dtype must be FILL_DTYPE, got {fills.dtype}", source="fills"
        )
    checks = (
        (np.abs(fills["side"]) != 1, "side must be +1 or -1"),
        (fills["price_ticks"] <= 0, "price_ticks must be > 0"),
        (~(np.isfinite(fills["qty"]) & (fills["qty"] > 0)), "qty must be finite and > 0"),
        (~np.isfinite(fills["fee"]), "fee must be finite"),
    )
    for bad, what in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidValueError(f"{what}, got row {fills[i]!r}", source="fills", line=i)


def fill_prices(fills: NDArray[np.void], tick_size: float) -> NDArray[np.float64]:
    """Execution prices of ``fills`` in quote currency (``price_ticks * tick_size``)."""
    if not (math.isfinite(tick_size) and tick_size > 0):
        raise InvalidValueError(f"tick_size must be finite and > 0, got {tick_size!r}")
    return np.asarray(fills["price_ticks"], dtype=np.float64) * tick_size


@njit_cached
def fifo_match_nb(
    ts: NDArray[np.int64],
    side: NDArray[np.int8],
    price: NDArray[np.float64],
    qty: NDArray[np.float64],
    fee: NDArray[np.float64],
    qty_eps: float,
    out_i: NDArray[np.int64],
    out_f: NDArray[np.float64],
    lot_i: NDArray[np.int64],
    lot_f: NDArray[np.float64],
) -> tuple[int, int, int]:
    """FIFO-match fills (in venue order) into round trips; return ``(n_trips, head, tail)``.

    ``out_i[k] = (entry_ts, exit_ts, side)``, ``out_f[k] = (qty, entry, exit, pnl, fees)``
    (``2 * n`` rows suffice). Open lots are rows ``head:tail`` of ``lot_i = (ts, side)`` and
    ``lot_f = (qty, price, fee per unit)`` (``n`` rows). Oracle: the pure-Python deque FIFO
    ``slow_fifo`` in ``tests/unit/analysis/test_trades.py``.
    """
    n_trips, head, tail = 0, 0, 0
    for i in range(ts.shape[0]):
        rem, rate = qty[i], fee[i] / qty[i]
        while rem > qty_eps and head < tail and lot_i[head, 1] == -side[i]:
            q = min(rem, lot_f[head, 0])
            lot_side = lot_i[head, 1]
            fees = (lot_f[head, 2] + rate) * q
            out_i[n_trips, 0], out_i[n_trips, 1], out_i[n_trips, 2] = (
                lot_i[head, 0],
                ts[i],
                lot_side,
            )
            out_f[n_trips, 0], out_f[n_trips, 1], out_f[n_trips, 2] = q, lot_f[head, 1], price[i]
            out_f[n_trips, 3] = lot_side * (price[i] - lot_f[head, 1]) * q - fees
            out_f[n_trips, 4] = fees
            n_trips += 1
            lot_f[head, 0] -= q
            rem -= q
            if lot_f[head, 0] <= qty_eps:
                head += 1
        if rem > qty_eps:
            lot_i[tail, 0], lot_i[tail, 1] = ts[i], side[i]
            lot_f[tail, 0], lot_f[tail, 1], lot_f[tail, 2] = rem, price[i], rate
            tail += 1
    return n_trips, head, tail


@njit_cached
def excursions_nb(
    entry_ts: NDArray[np.int64],
    exit_ts: NDArray[np.int64],
    side: NDArray[np.int8],
    entry_price: NDArray[np.float64],
    exit_price: NDArray[np.float64],
    mkt_ts: NDArray[np.int64],
    mkt_mid: NDArray[np.float64],
    out: NDArray[np.float64],
) -> int:
    """MAE/MFE (bps of entry) of each round trip into ``out[k] = (mae, mfe)``; return rows.

    The path is the mid in force at entry (last sample at or before ``entry_ts``), every
    sample in ``(entry_ts, exit_ts]`` and the exit price; NaN mids are skipped. MAE is
    ``min(0, min side*(p - entry)/entry)``, MFE ``max(0, max ...)``, times 1e4. Oracle: the
    pure-Python loop ``slow_excursions`` in ``tests/unit/analysis/test_trades.py``.
    """
    for k in range(entry_ts.shape[0]):
        lo = np.searchsorted(mkt_ts, entry_ts[k], side="right") - 1
        hi = np.searchsorted(mkt_ts, exit_ts[k], side="right")
        e = entry_price[k]
        worst = min(0.0, side[k] * (exit_price[k] - e) / e)
        best = max(0.0, side[k] * (exit_price[k] - e) / e)
        for j in range(max(lo, 0), hi):
            m = mkt_mid[j]
            if m == m:
                x = side[k] * (m - e) / e
                worst = min(worst, x)
                best = max(best, x)
        out[k, 0], out[k, 1] = 1e4 * worst, 1e4 * best
    n: int = entry_ts.shape[0]
    return n


def _venue_order(fills: NDArray[np.void]) -> NDArray[np.void]:
    """Fills stably sorted by ``ts_exch`` (the order the venue matched them)."""
    return fills[np.argsort(fills["ts_exch"], kind="stable")]


def _match(
    fills: NDArray[np.void], tick_size: float
) -> tuple[NDArray[np.void], NDArray[np.int64], NDArray[np.float64]]:
    """Run the FIFO kernel; return (round trips without MAE/MFE, open lot_i, open lot_f)."""
    validate_fills(fills)
    f = _venue_order(fills)
    n = f.shape[0]
    eps = QTY_RTOL * float(f["qty"].max()) if n else 0.0
    out_i, out_f = np.zeros((2 * n, 3), np.int64), np.zeros((2 * n, 5))
    lot_i, lot_f = np.zeros((n, 2), np.int64), np.zeros((n, 3))
    price = fill_prices(f, tick_size)
    m, head, tail = fifo_match_nb(
        np.ascontiguousarray(f["ts_exch"]), np.ascontiguousarray(f["side"]), price,
        np.ascontiguousarray(f["qty"]), np.ascontiguousarray(f["fee"]), eps,
        out_i, out_f, lot_i, lot_f,
    )  # fmt: skip
    rt = np.zeros(m, ROUND_TRIP_DTYPE)
    rt["entry_ts"], rt["exit_ts"], rt["side"] = out_i[:m, 0], out_i[:m, 1], out_i[:m, 2]
    for j, name in enumerate(("qty", "entry_price", "exit_price", "pnl", "fees")):
        rt[name] = out_f[:m, j]
    rt["return_bps"] = 1e4 * rt["pnl"] / (rt["entry_price"] * rt["qty"])
    rt["duration_ns"] = rt["exit_ts"] - rt["entry_ts"]
    rt["mae_bps"] = rt["mfe_bps"] = np.nan
    return rt, lot_i[head:tail], lot_f[head:tail]


def round_trips(
    fills: NDArray[np.void], tick_size: float, market: MarketSeries | None = None
) -> NDArray[np.void]:
    """C8 round trips of ``fills`` by FIFO matching, in exit order (``ROUND_TRIP_DTYPE``).

    ``mae_bps``/``mfe_bps`` come from ``market`` mids between entry and exit (NaN without a
    market). Raises :class:`InvalidValueError` on a bad fill or ``tick_size``.

    Examples
    --------
    >>> f = np.zeros(2, FILL_DTYPE)
    >>> f["ts_exch"], f["side"], f["price_ticks"], f["qty"] = [1, 5], [1, -1], [100, 103], 2.0
    >>> rt = round_trips(f, tick_size=0.5)
    >>> float(rt["pnl"][0]), int(rt["duration_ns"][0]), float(rt["return_bps"][0])
    (3.0, 4, 300.0)
    """
    return _with_excursions(_match(fills, tick_size)[0], market)


def _with_excursions(rt: NDArray[np.void], market: MarketSeries | None) -> NDArray[np.void]:
    """Fill ``mae_bps``/``mfe_bps`` of round trips ``rt`` from ``market`` (in place)."""
    if market is not None and rt.shape[0]:
        out = np.zeros((rt.shape[0], 2))
        excursions_nb(
            np.ascontiguousarray(rt["entry_ts"]), np.ascontiguousarray(rt["exit_ts"]),
            np.ascontiguousarray(rt["side"]), np.ascontiguousarray(rt["entry_price"]),
            np.ascontiguousarray(rt["exit_price"]), market.ts, market.mid, out,
        )  # fmt: skip
        rt["mae_bps"], rt["mfe_bps"] = out[:, 0], out[:, 1]
    return rt


def open_lots(fills: NDArray[np.void], tick_size: float) -> NDArray[np.float64]:
    """Lots still open after FIFO matching: float64[k, 4] rows ``(side, qty, price, fees)``.

    ``fees`` is the part of the opening fill's fee (quote) not yet charged to a round trip.
    """
    _, lot_i, lot_f = _match(fills, tick_size)
    return _lots(lot_i, lot_f)


def _lots(lot_i: NDArray[np.int64], lot_f: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([lot_i[:, 1], lot_f[:, 0], lot_f[:, 1], lot_f[:, 0] * lot_f[:, 2]])


def mark_price(inputs: RunInputs) -> float:
    """Price (quote) marking the final position: the last C7 ``mid``, else the last market mid.

    NaN when neither is known.
    """
    for mids in (column(inputs.equity, "mid"), inputs.market.mid if inputs.market else np.zeros(0)):
        finite = np.asarray(mids, dtype=np.float64)
        if finite.size and math.isfinite(finite[-1]):  # the usual case: no scan of the grid
            return float(finite[-1])
        finite = finite[np.isfinite(finite)]
        if finite.size:
            return float(finite[-1])
    return math.nan


def _streaks(sign: NDArray[np.float64], target: float) -> int:
    """Longest run of consecutive entries equal to ``target`` (+1 wins, -1 losses)."""
    return int(streaks_nb(np.ascontiguousarray(sign, dtype=np.float64), target))


def _ratio(num: float, den: float) -> float:
    """``num / den`` with NaN for 0/0 and +-inf for x/0 (profit factor, payoff ratio)."""
    if den == 0.0:
        return math.nan if num == 0.0 else math.copysign(math.inf, num)
    return num / den


def _nanstat(x: NDArray[np.float64], fn: str) -> float:
    """``mean``/``median``/``max``/``p90`` of the finite values of ``x``; NaN when none."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan
    if fn == "p90":
        return float(np.percentile(x, 90))
    return float(getattr(np, fn)(x))


def _pnl_stats(pnl: NDArray[np.float64]) -> dict[str, float | int]:
    """Win/loss statistics of round-trip net PnL (quote); NaN when undefined."""
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    n = pnl.size
    avg_win = float(wins.mean()) if wins.size else math.nan
    avg_loss = float(losses.mean()) if losses.size else math.nan
    sign = np.sign(pnl)
    return {
        "round_trips": n,
        "round_trip_pnl": float(pnl.sum()),
        "win_rate": wins.size / n if n else math.nan,
        "profit_factor": _ratio(float(wins.sum()), -float(losses.sum())) if n else math.nan,
        "expectancy": float(pnl.mean()) if n else math.nan,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": avg_win / -avg_loss if wins.size and losses.size else math.nan,
        "max_consecutive_wins": _streaks(sign, 1.0),
        "max_consecutive_losses": _streaks(sign, -1.0),
    }


def trade_metrics(inputs: RunInputs) -> dict[str, float | int]:
    """Trade section: round-trip counts, win/loss stats, holding times (s), MAE/MFE (bps).

    ``pnl`` is net of fees (quote). ``profit_factor`` = gross wins / gross losses (``inf``
    with wins and no losses); a zero-PnL trip is neither a win nor a loss and breaks both
    streaks. ``open_*`` describe the lots left open, marked at :func:`mark_price`.
    """
    matched, lot_i, lot_f = _match(inputs.fills, inputs.tick_size)  # FIFO once for both
    rt = _with_excursions(matched, inputs.market)
    lots = _lots(lot_i, lot_f)
    out = _pnl_stats(rt["pnl"])
    hold_s = rt["duration_ns"] / 1e9
    for fn in ("mean", "median", "p90", "max"):
        out[f"holding_time_s_{fn}"] = _nanstat(hold_s, fn)
    for col in ("mae_bps", "mfe_bps"):
        out[f"{col.removesuffix('_bps')}_bps_mean"] = _nanstat(rt[col], "mean")
        out[f"{col.removesuffix('_bps')}_bps_median"] = _nanstat(rt[col], "median")
    out["return_bps_mean"] = _nanstat(rt["return_bps"], "mean")
    out["round_trip_fees"] = float(rt["fees"].sum())
    mark = mark_price(inputs)
    position = float((lots[:, 0] * lots[:, 1]).sum())
    open_pnl = (lots[:, 0] * (mark - lots[:, 2]) * lots[:, 1]).sum() - lots[:, 3].sum()
    out["open_position"] = position
    out["open_pnl"] = float(open_pnl) if lots.shape[0] else 0.0
    return out
