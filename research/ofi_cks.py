"""Reproduce Cont, Kukanov & Stoikov (2014): mid changes are linear in order-flow imbalance.

For each sample and interval (1 s, 10 s) the time-clock feature frame gives, per interval
``k``, ``dP_k`` = change of the mid since the previous sample (ticks) and ``OFI_k`` =
``ofi_l1`` (CKS OFI summed over the interval, base units). We fit
``dP_k = alpha + beta OFI_k + eps`` by OLS over the whole sample and in every 30-minute
window (the paper's design), and the same with ``mlofi_l5`` (sum of the level-1..5 OFIs) and
with the vector of the five per-level OFIs (Xu, Gould & Howison 2019; in-sample R², adjusted
R² beside it). Per window we also record the mean level-1 depth, to check the paper's
``beta ~ 1 / depth``.

Run: ``.venv/bin/python research/ofi_cks.py [--datasets amzn ...] [--no-plots]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from _data import Dataset, Ols, data_root, describe, feature_frame, load, ols, parse_args, save_png
from numpy.typing import NDArray

INTERVALS: Final = ("1s", "10s")
WINDOW_NS: Final = 30 * 60 * 1_000_000_000
MIN_WINDOW_N: Final = 20
"""Windows with fewer intervals than this are left out of the per-window statistics."""
MODELS: Final = ("ofi_l1", "mlofi_l5", "xgh_l1..5")


@dataclass(frozen=True)
class Intervals:
    """Per-interval arrays of one sample on one clock (interval end time in ns)."""

    ts: NDArray[np.int64]
    dp_ticks: NDArray[np.float64]
    ofi: NDArray[np.float64]
    mlofi: NDArray[np.float64]
    per_level: NDArray[np.float64]

    def regressor(self, model: str) -> NDArray[np.float64]:
        """The regressor(s) of ``model`` (one of :data:`MODELS`)."""
        return {"ofi_l1": self.ofi, "mlofi_l5": self.mlofi, "xgh_l1..5": self.per_level}[model]


@dataclass(frozen=True)
class Window:
    """One 30-minute window: start (ns), fits per model, mean level-1 depth (base units)."""

    start_ns: int
    fits: dict[str, Ols]
    depth_l1: float


def intervals(data: Dataset, interval: str) -> Intervals:
    """``dP`` (ticks) and the OFI regressors per interval; the NaN first row is dropped."""
    frame = feature_frame(data, f"time:{interval}")
    cols = frame.columns
    mid = np.asarray(cols["mid"], np.float64)
    cum = np.column_stack([np.asarray(cols[_flow(m)], np.float64) for m in range(1, 6)])
    per_level = np.diff(np.column_stack([np.zeros(len(mid)), cum]), axis=1)
    return Intervals(
        ts=np.asarray(cols["ts_recv"], np.int64)[1:],
        dp_ticks=np.diff(mid) / data.tick_size,
        ofi=cum[1:, 0],
        mlofi=cum[1:, 4],
        per_level=per_level[1:],
    )


def _flow(m: int) -> str:
    return "ofi_l1" if m == 1 else f"mlofi_l{m}"


def fit_all(iv: Intervals, rows: NDArray[np.bool_] | None = None) -> dict[str, Ols]:
    """OLS of ``dP`` on each model's regressor(s), over ``rows`` (all when None)."""
    sel = np.ones(len(iv.ts), bool) if rows is None else rows
    return {m: ols(iv.regressor(m)[sel], iv.dp_ticks[sel]) for m in MODELS}


def windows(data: Dataset, iv: Intervals) -> list[Window]:
    """Fits per epoch-aligned 30-minute window (09:30 ET is aligned), with its L1 depth."""
    win = (iv.ts - 1) // WINDOW_NS
    book_win = data.frame.ts_recv // WINDOW_NS
    depth = 0.5 * (data.frame.bid_qty[:, 0] + data.frame.ask_qty[:, 0])
    out = []
    for w in np.unique(win).tolist():
        rows = win == w
        in_book = book_win == w
        d = float(depth[in_book].mean()) if in_book.any() else np.nan
        out.append(Window(int(w) * WINDOW_NS, fit_all(iv, rows), d))
    return out


def window_stats(wins: Sequence[Window], model: str) -> tuple[int, float, float]:
    """(windows with >= MIN_WINDOW_N intervals, mean R², median R²) for ``model``."""
    r2 = np.array([w.fits[model].r2 for w in wins if w.fits[model].n >= MIN_WINDOW_N])
    r2 = r2[np.isfinite(r2)]
    if not len(r2):
        return 0, np.nan, np.nan
    return len(r2), float(r2.mean()), float(np.median(r2))


def depth_check(wins: Sequence[Window]) -> tuple[int, float]:
    """(windows, corr(log beta, log depth_l1)) over windows with beta > 0: CKS predict < 0."""
    pairs = [
        (w.fits["ofi_l1"].beta, w.depth_l1)
        for w in wins
        if w.fits["ofi_l1"].n >= MIN_WINDOW_N and w.fits["ofi_l1"].beta > 0 and w.depth_l1 > 0
    ]
    if len(pairs) < 3:
        return len(pairs), np.nan
    b, d = np.log(np.array(pairs)).T
    return len(pairs), float(np.corrcoef(b, d)[0, 1])


def print_pooled(data: Dataset, interval: str, iv: Intervals, fits: dict[str, Ols]) -> None:
    """One line per model: the whole-sample fit."""
    moved = float(np.mean(iv.dp_ticks[np.isfinite(iv.dp_ticks)] != 0))
    print(f"  {interval}: {len(iv.ts)} intervals, {moved:.1%} with a mid change")
    for model, f in fits.items():
        print(
            f"    pooled {model:10s} n={f.n:6d} R2={f.r2:.3f} R2adj={f.r2_adj:.3f}"
            f" beta={f.beta:.4g} ticks/{data.size_unit} t={f.t_beta:.1f} alpha={f.alpha:.4f}"
        )


def print_windows(wins: Sequence[Window]) -> None:
    """Per-window R² summary per model, and the beta-depth check."""
    for model in MODELS:
        k, mean, median = window_stats(wins, model)
        print(f"    30-min windows {model:10s} k={k:2d} mean R2={mean:.3f} median R2={median:.3f}")
    k, corr = depth_check(wins)
    print(f"    corr(log beta, log mean L1 depth) over {k} windows = {corr:.2f}")


def run(data: Dataset) -> dict[str, tuple[Intervals, list[Window]]]:
    """Fit and print everything for one sample; return what the plots need."""
    print(describe(data))
    out = {}
    for interval in INTERVALS:
        iv = intervals(data, interval)
        wins = windows(data, iv)
        print_pooled(data, interval, iv, fit_all(iv))
        print_windows(wins)
        out[interval] = (iv, wins)
    return out


def plot_scatter(
    results: dict[str, dict[str, tuple[Intervals, list[Window]]]],
    datasets: Sequence[Dataset],
    folder: Path,
) -> Path:
    """Scatter of dP vs OFI with the pooled fit line, per sample and interval.

    The x axis shows the 0.1-99.9 % range of OFI (a few AMZN outliers fall outside).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(datasets), len(INTERVALS), squeeze=False,
                             figsize=(4.2 * len(INTERVALS), 3.0 * len(datasets)))  # fmt: skip
    for i, data in enumerate(datasets):
        for j, interval in enumerate(INTERVALS):
            iv, _ = results[data.name][interval]
            fit = ols(iv.ofi, iv.dp_ticks)
            ax = axes[i, j]
            ax.scatter(iv.ofi, iv.dp_ticks, s=2, alpha=0.25, rasterized=True, lw=0)
            lo, hi = np.nanpercentile(iv.ofi, [0.1, 99.9])
            grid = np.array([lo, hi])
            ax.plot(grid, fit.alpha + fit.beta * grid, color="C3", lw=1.2)
            ax.set_xlim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
            ax.set_title(f"{data.name} {interval}: R²={fit.r2:.2f}, n={fit.n}", fontsize=9)
            ax.set_xlabel(f"OFI ({data.size_unit})", fontsize=8)
            ax.set_ylabel("ΔP (ticks)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    path = save_png(fig, folder, "ofi_cks_scatter.png")
    plt.close(fig)
    return path


def plot_windows(
    results: dict[str, dict[str, tuple[Intervals, list[Window]]]], folder: Path
) -> Path | None:
    """R² per 30-minute window over the AMZN day, per interval and model."""
    import matplotlib.pyplot as plt

    if "amzn" not in results:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for j, interval in enumerate(INTERVALS):
        _, wins = results["amzn"][interval]
        # window start -> hours after 09:30 ET (13:30 UTC on 2012-06-21)
        hours = [(w.start_ns % (86_400 * 10**9)) / 3.6e12 - 13.5 for w in wins]
        for k, model in enumerate(MODELS):
            r2 = [w.fits[model].r2 for w in wins]
            ax.plot(hours, r2, marker="os^"[k], ls="-" if j else "--", color=f"C{k}",
                    label=f"{model} {interval}", ms=4)  # fmt: skip
    ax.set_xticks(np.arange(0, 6.5, 0.5), [f"{9.5 + h:g}" for h in np.arange(0, 6.5, 0.5)])
    ax.set_xlabel("window start (hour, ET; 9.5 = 09:30)")
    ax.set_ylabel("in-window R²")
    ax.set_ylim(0, 1)
    ax.set_title("AMZN 2012-06-21: R² of ΔP on OFI per 30-minute window", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = save_png(fig, folder, "ofi_cks_windows.png")
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Load, fit, print, plot."""
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", argv)
    datasets = load(data_root(args.data), args.datasets)
    results = {d.name: run(d) for d in datasets}
    if not args.no_plots:
        for path in (plot_scatter(results, datasets, args.img_dir),
                     plot_windows(results, args.img_dir)):  # fmt: skip
            if path is not None:
                print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
