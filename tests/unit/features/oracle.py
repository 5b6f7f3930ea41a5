"""Slow, obviously-correct re-implementation of the event-clock features (test oracle).

Written straight from the formulas in ``docs/features.md``: plain Python per book state for
the state features and increments, pandas time-based ``rolling`` for the trailing windows.
It shares no code with ``l2trader.features`` except the registry's column names.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from l2trader.book.replay import BookFrame
from l2trader.features.config import FeatureConfig
from l2trader.features.registry import format_window


def _side(ticks: np.ndarray, qty: np.ndarray) -> list[tuple[int, float]]:
    return [(int(p), float(q)) for p, q in zip(ticks, qty, strict=True) if q > 0]


def _state(cfg: FeatureConfig, bids: list, asks: list, tick: float) -> dict[str, float]:
    nan = math.nan
    out: dict[str, float] = {}
    two = bool(bids) and bool(asks)
    mid = (bids[0][0] + asks[0][0]) / 2 if two else nan
    out["mid"] = mid * tick
    out["spread_ticks"] = asks[0][0] - bids[0][0] if two else nan
    out["spread_bps"] = 1e4 * out["spread_ticks"] / mid if two else nan
    if two:
        (pb, qb), (pa, qa) = bids[0], asks[0]
        out["wmid"] = (pb * qa + pa * qb) / (qb + qa) * tick
    else:
        out["wmid"] = nan
    for n in cfg.imbalance_levels:
        b = sum(q for _, q in bids[:n])
        a = sum(q for _, q in asks[:n])
        out[f"imbalance_l{n}"] = (b - a) / (b + a) if b + a > 0 else nan
    b = sum(q / (k + 1) for k, (_, q) in enumerate(bids[: cfg.levels]))
    a = sum(q / (k + 1) for k, (_, q) in enumerate(asks[: cfg.levels]))
    out[f"imbalance_dw_l{cfg.levels}"] = (b - a) / (b + a) if b + a > 0 else nan
    for k in cfg.depth_ticks:
        out[f"depth_bid_t{k}"] = sum(q for p, q in bids if mid - p <= k) if two else nan
        out[f"depth_ask_t{k}"] = sum(q for p, q in asks if p - mid <= k) if two else nan
    for x in cfg.depth_bps:
        name = f"{x:g}".replace(".", "p")
        lim = x * 1e-4 * abs(mid) if two else nan
        out[f"depth_bid_bps{name}"] = sum(q for p, q in bids if mid - p <= lim) if two else nan
        out[f"depth_ask_bps{name}"] = sum(q for p, q in asks if p - mid <= lim) if two else nan
    n = cfg.slope_levels
    for s, levels in (("bid", bids), ("ask", asks)):
        pts = levels[:n]
        if not two or len(pts) < 2:
            out[f"slope_{s}_l{n}"] = nan
            continue
        x = np.array([abs(p - mid) for p, _ in pts])
        y = np.cumsum([q for _, q in pts])
        out[f"slope_{s}_l{n}"] = float(np.polyfit(x, y, 1)[0])
    return out


def _level(ticks: np.ndarray, qty: np.ndarray, m: int, empty: int) -> tuple[int, float]:
    return (int(ticks[m]), float(qty[m])) if qty[m] > 0 else (empty, 0.0)


def _ofi_level(now: tuple, before: tuple) -> float:
    (pb, qb, pa, qa), (pb0, qb0, pa0, qa0) = now, before
    e = (qb if pb >= pb0 else 0.0) - (qb0 if pb <= pb0 else 0.0)
    return e - (qa if pa <= pa0 else 0.0) + (qa0 if pa >= pa0 else 0.0)


def _flows(frame: BookFrame, i: int, cfg: FeatureConfig) -> dict[str, float]:
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    out: dict[str, float] = {}

    def lv(row: int, m: int) -> tuple:
        b = _level(frame.bid_ticks[row], frame.bid_qty[row], m, lo)
        a = _level(frame.ask_ticks[row], frame.ask_qty[row], m, hi)
        return (*b, *a)

    for n in cfg.ofi_levels:
        total = sum(_ofi_level(lv(i, m), lv(i - 1, m)) for m in range(n))
        out["ofi_l1" if n == 1 else f"mlofi_l{n}"] = total
    for s, col in (("bid", 0), ("ask", 2)):
        p, q = lv(i, 0)[col : col + 2]
        p0, q0 = lv(i - 1, 0)[col : col + 2]
        better = (p > p0) if s == "bid" else (p < p0)
        if p == p0:
            depl, repl = max(q0 - q, 0.0), max(q - q0, 0.0)
        else:
            depl, repl = (0.0, q) if better else (q0, 0.0)
        out[f"depl_{s}"], out[f"repl_{s}"] = depl, repl
    return out


def event_clock_features(frame: BookFrame, cfg: FeatureConfig, tick: float) -> pd.DataFrame:
    """Every feature of ``feature_specs(cfg)`` (no microprice) at every book state."""
    rows = []
    last_mid, last_change = math.nan, -1
    for i in range(len(frame)):
        bids = _side(frame.bid_ticks[i, : cfg.levels], frame.bid_qty[i, : cfg.levels])
        asks = _side(frame.ask_ticks[i, : cfg.levels], frame.ask_qty[i, : cfg.levels])
        row = _state(cfg, bids, asks, tick)
        flows = _flows(frame, i, cfg) if i else None
        for name in _flow_names(cfg):
            row[name] = flows[name] if flows else math.nan
        mid = row["mid"] / tick
        ret2 = 0.0
        if not math.isnan(mid):
            if not math.isnan(last_mid) and mid != last_mid:
                ret2 = (1e4 * math.log(mid / last_mid)) ** 2
                last_change = int(frame.ts_recv[i])
            last_mid = mid
        row["_ret2"] = ret2
        prev_ev = int(frame.event_idx[i - 1]) if i else -1
        row["_events"] = int(frame.event_idx[i]) - prev_ev
        for k in ("depl_bid", "repl_bid", "depl_ask", "repl_ask"):
            row[f"_{k}"] = flows[k] if flows else 0.0
        t = int(frame.ts_recv[i])
        row["mid_age_s"] = (t - last_change) / 1e9 if last_change >= 0 else math.nan
        rows.append(row)
    df = pd.DataFrame(rows)
    return _windows(df, frame.ts_recv, cfg)


def _flow_names(cfg: FeatureConfig) -> list[str]:
    return ["ofi_l1" if n == 1 else f"mlofi_l{n}" for n in cfg.ofi_levels]


def _windows(df: pd.DataFrame, ts: np.ndarray, cfg: FeatureConfig) -> pd.DataFrame:
    idx = pd.to_datetime(ts, unit="ns")
    src = df.copy()
    for name in _flow_names(cfg):
        src[name] = src[name].fillna(0.0)
    src.index = idx
    for w in cfg.windows_ns:
        tag, secs = format_window(w), w / 1e9
        roll = src.rolling(pd.Timedelta(w, unit="ns"), closed="right")
        warm = ts - w < ts[0]

        def put(name: str, values: np.ndarray, warm: np.ndarray = warm) -> None:
            df[name] = np.where(warm, np.nan, values)

        for name in _flow_names(cfg):
            put(f"{name}_{tag}", roll[name].sum().to_numpy())
        put(f"rv_{tag}", np.sqrt(roll["_ret2"].sum().to_numpy()))
        put(f"intensity_{tag}", roll["_events"].sum().to_numpy() / secs)
        for s in ("bid", "ask"):
            for what in ("depl", "repl"):
                put(f"l1_{what}_{s}_{tag}", roll[f"_{what}_{s}"].sum().to_numpy() / secs)
    return df.drop(columns=[c for c in df.columns if c.startswith("_")])
