"""Information coefficient of every feature against forward mid returns, on the real samples.

Feature frames on a 100 ms time clock (and on the event clock, every book state) with
labels at 100 ms, 1 s, 10 s and 60 s (exact forward mid return, bps). The IC is Spearman's
rho (``scipy.stats.spearmanr``) of a feature against a label over the rows where both are
finite. Labels at horizon ``h`` sampled every ``dt < h`` overlap, so neighbouring rows are
far from independent; next to the naive standard error ``1/sqrt(n - 3)`` we give
``n_eff = span / h`` (the number of non-overlapping labels) and a block standard error: the
IC in each of ``K`` contiguous blocks, ``SE = sd(block ICs) / sqrt(K)``.

Run: ``.venv/bin/python research/feature_ic.py [--datasets amzn ...] [--no-plots]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from _data import Dataset, S, data_root, describe, feature_frame, load, parse_args, save_png
from numpy.typing import NDArray
from scipy import stats

from l2trader.features.config import FeatureConfig
from l2trader.features.frame import FeatureFrame
from l2trader.features.labels import label_columns

HORIZONS_NS: Final = (S // 10, S, 10 * S, 60 * S)
CLOCKS: Final = ("time:100ms", "event")
BLOCKS: Final = 20
MIN_N_EFF: Final = 30
"""Horizons with fewer non-overlapping labels than this are faded in the heatmaps."""
IC_CONFIG: Final = FeatureConfig(
    levels=5,
    imbalance_levels=(1, 3, 5),
    ofi_levels=(1, 5),
    depth_ticks=(5, 20),
    depth_bps=(5.0,),
    slope_levels=5,
    windows_ns=(S, 10 * S),
)
PRICE_LEVELS: Final = ("mid", "wmid")
"""Price-level columns: left out (their rank correlation with a return is meaningless)."""


@dataclass(frozen=True)
class Ic:
    """IC of one feature vs one label: rho, complete pairs, naive and block SE, n_eff."""

    ic: float
    n: int
    se_naive: float
    se_block: float
    n_eff: float


@dataclass(frozen=True)
class IcTable:
    """All ICs of one sample on one clock, with the span (s) and block length (s)."""

    dataset: str
    clock: str
    rows: int
    features: list[str]
    labels: list[str]
    ics: dict[tuple[str, str], Ic]
    span_s: float

    def block_ok(self, label: str) -> bool:
        """Block SE trusted for ``label``: blocks at least twice its horizon long."""
        h_s = HORIZONS_NS[self.labels.index(label)] / S
        return self.span_s / BLOCKS >= 2 * h_s

    def matrix(self) -> NDArray[np.float64]:
        """``(features, labels)`` array of IC values."""
        return np.array([[self.ics[f, lab].ic for lab in self.labels] for f in self.features])


def spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Spearman's rho of two complete arrays; NaN if too short or either is constant."""
    if len(x) < 10 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(x, y).statistic)


def ic_of(x: NDArray[np.float64], y: NDArray[np.float64], span_s: float, h_s: float) -> Ic:
    """IC of ``x`` vs ``y`` over complete pairs, with its naive and block standard errors."""
    ok = np.isfinite(x) & np.isfinite(y)
    xs, ys = x[ok], y[ok]
    n = len(xs)
    rho = spearman(xs, ys)
    blocks = [spearman(a, b) for a, b in zip(np.array_split(xs, BLOCKS),
                                             np.array_split(ys, BLOCKS), strict=True)]  # fmt: skip
    finite = np.array([b for b in blocks if np.isfinite(b)])
    se_block = float(finite.std(ddof=1) / np.sqrt(len(finite))) if len(finite) > 2 else np.nan
    se_naive = 1.0 / np.sqrt(n - 3) if n > 3 else np.nan
    return Ic(rho, n, se_naive, se_block, span_s / h_s)


def ic_table(data: Dataset, frame: FeatureFrame, clock: str) -> IcTable:
    """Every feature (price levels excepted) against every label of ``frame``."""
    features = [f for f in frame.feature_names if f not in PRICE_LEVELS]
    labels = label_columns(HORIZONS_NS)
    ics = {}
    for lab, h in zip(labels, HORIZONS_NS, strict=True):
        y = np.asarray(frame.columns[lab], np.float64)
        for f in features:
            x = np.asarray(frame.columns[f], np.float64)
            ics[f, lab] = ic_of(x, y, data.span_s, h / S)
    return IcTable(data.name, clock, len(frame), features, labels, ics, data.span_s)


def short(label: str) -> str:
    """``label_fwd_ret_bps_10s`` -> ``10s``."""
    return label.rsplit("_", 1)[-1]


def print_table(t: IcTable) -> None:
    """IC (block SE) per feature and horizon; ``*`` when |IC| > 2 block SE.

    ``?`` instead of ``*``/blank: blocks are shorter than twice the horizon, the block SE
    is not trusted (neighbouring blocks share labels).
    """
    print(f"  clock {t.clock}: {t.rows:,} rows; {BLOCKS} blocks of {t.span_s / BLOCKS:,.1f} s")
    print("    " + " " * 18 + "".join(f"{short(lab):>18s}" for lab in t.labels))
    for f in t.features:
        cells = []
        for lab in t.labels:
            c = t.ics[f, lab]
            star = ("*" if abs(c.ic) > 2 * c.se_block else " ") if t.block_ok(lab) else "?"
            cells.append(f"{c.ic:+.3f} ({c.se_block:.3f}){star}")
        print(f"    {f:18s}" + "".join(f"{x:>18s}" for x in cells))
    first = t.ics[t.features[0], t.labels[0]]
    print(f"    naive SE at n={first.n:,}: {first.se_naive:.4f}; n_eff per horizon: "
          + ", ".join(f"{short(lab)}={t.ics[t.features[0], lab].n_eff:,.0f}"
                      for lab in t.labels))  # fmt: skip


def run(data: Dataset) -> list[IcTable]:
    """IC tables of one sample on every clock."""
    print(describe(data))
    tables = []
    for clock in CLOCKS:
        frame = feature_frame(data, clock, HORIZONS_NS, IC_CONFIG)
        table = ic_table(data, frame, clock)
        print_table(table)
        tables.append(table)
    return tables


def plot_heatmaps(tables: Sequence[IcTable], clock: str, folder: Path) -> Path:
    """One heatmap panel (features x horizons) per sample for ``clock``."""
    import matplotlib.pyplot as plt

    mine = [t for t in tables if t.clock == clock]
    fig, axes = plt.subplots(1, len(mine), figsize=(2.3 * len(mine) + 1.6, 9.0),
                             sharey=True, squeeze=False)  # fmt: skip
    image = None
    for ax, t in zip(axes[0], mine, strict=True):
        m = t.matrix()
        image = ax.imshow(m, cmap="RdBu_r", vmin=-0.5, vmax=0.5, aspect="auto")
        for (i, j), v in np.ndenumerate(m):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5.5)
        for j, lab in enumerate(t.labels):
            if t.ics[t.features[0], lab].n_eff < MIN_N_EFF:
                ax.axvspan(j - 0.5, j + 0.5, color="white", alpha=0.65, lw=0)
        ax.set_xticks(range(len(t.labels)), [short(lab) for lab in t.labels], fontsize=7)
        ax.set_title(f"{t.dataset}\n({t.rows:,} rows)", fontsize=8)
    axes[0, 0].set_yticks(range(len(mine[0].features)), mine[0].features, fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.5, label="Spearman IC")
    fig.suptitle(
        f"IC of each feature vs forward mid return, clock {clock}\n"
        f"(faded: fewer than {MIN_N_EFF} non-overlapping labels)",
        fontsize=10,
    )
    path = save_png(fig, folder, f"feature_ic_{clock.replace(':', '_')}.png")
    plt.close(fig)
    return path


DECAY_FEATURES: Final = ("imbalance_l1", "imbalance_l5", "ofi_l1_1s", "mlofi_l5_10s")


def plot_decay(tables: Sequence[IcTable], folder: Path) -> Path:
    """IC vs horizon (100 ms clock) for a few features, one line per sample, +-2 block SE."""
    import matplotlib.pyplot as plt

    mine = [t for t in tables if t.clock == CLOCKS[0]]
    fig, axes = plt.subplots(1, len(DECAY_FEATURES), figsize=(11, 2.9), sharey=True)
    hs = np.array(HORIZONS_NS) / S
    for ax, f in zip(axes, DECAY_FEATURES, strict=True):
        for k, t in enumerate(mine):
            ic = np.array([t.ics[f, lab].ic for lab in t.labels])
            se = np.array([t.ics[f, lab].se_block for lab in t.labels])
            ax.errorbar(hs * (1 + 0.06 * k), ic, yerr=2 * se, marker="o", ms=3, capsize=2,
                        label=t.dataset, lw=1)  # fmt: skip
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(f, fontsize=9)
        ax.set_xlabel("horizon (s)", fontsize=8)
    axes[0].set_ylabel("Spearman IC (±2 block SE)", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = save_png(fig, folder, "feature_ic_decay.png")
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Load, compute, print, plot."""
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", argv)
    datasets = load(data_root(args.data), args.datasets)
    tables = [t for d in datasets for t in run(d)]
    if not args.no_plots:
        paths = [plot_heatmaps(tables, c, args.img_dir) for c in CLOCKS]
        paths.append(plot_decay(tables, args.img_dir))
        for path in paths:
            print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
