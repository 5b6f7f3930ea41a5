"""Feature-frame statistics (rich table) and pictures (distributions, correlations, IC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.table import Table

from l2trader.features.build import LABEL_END_PREFIX
from l2trader.features.labels import LABEL_PREFIX
from l2trader.signals.evaluate import information_coefficient

__all__ = ["describe_table", "ic_matrix", "plot_feature_report"]


def _numeric(df: pl.DataFrame) -> list[str]:
    skip = ("ts_recv", "event_idx")
    return [c for c in df.columns if c not in skip and not c.startswith(LABEL_END_PREFIX)]


def describe_table(path: Path) -> Table:
    """Count, NaN share, mean, std and 1/50/99 % quantiles of every column of ``path``."""
    df = pl.read_parquet(path)
    table = Table(title=f"{path.name}: {df.height:,} rows")
    table.add_column("column", no_wrap=True)
    for name in ("NaN %", "mean", "std", "p1", "p50", "p99"):
        table.add_column(name, justify="right")
    for col in _numeric(df):
        x = df[col].to_numpy().astype(np.float64)
        ok = x[np.isfinite(x)]
        nan_pct = 100.0 * (1 - len(ok) / max(len(x), 1))
        if len(ok):
            q = np.quantile(ok, [0.01, 0.5, 0.99])
            stats = [ok.mean(), ok.std(), *q]
            table.add_row(col, f"{nan_pct:.1f}", *(f"{v:.4g}" for v in stats))
        else:
            table.add_row(col, f"{nan_pct:.1f}", *([""] * 5))
    return table


def ic_matrix(df: pl.DataFrame) -> tuple[list[str], list[str], np.ndarray]:
    """Spearman IC of every feature (rows) against every label column (columns)."""
    labels = [c for c in df.columns if c.startswith(LABEL_PREFIX)]
    feats = [c for c in _numeric(df) if c not in labels]
    ic = np.array(
        [
            [information_coefficient(df[f].to_numpy(), df[lab].to_numpy()) for lab in labels]
            for f in feats
        ]
    )
    return feats, labels, ic.reshape(len(feats), len(labels))


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_feature_report(path: Path, out: Path) -> list[Path]:
    """Histograms, correlation heatmap and IC-by-horizon heatmap of a feature file (PNGs)."""
    plt = _pyplot()
    if plt is None:
        return []
    df = pl.read_parquet(path)
    out.mkdir(parents=True, exist_ok=True)
    pngs = [
        _histograms(plt, df, out / "feature_hist.png"),
        _correlations(plt, df, out / "feature_corr.png"),
    ]
    if any(c.startswith(LABEL_PREFIX) for c in df.columns):
        pngs.append(_ic_heatmap(plt, df, out / "feature_ic.png"))
    return pngs


def _histograms(plt: Any, df: pl.DataFrame, png: Path) -> Path:
    cols = [c for c in _numeric(df) if not c.startswith(LABEL_PREFIX)]
    ncol = 6
    nrow = -(-len(cols) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 1.9 * nrow), squeeze=False)
    for ax, col in zip(axes.ravel(), cols, strict=False):
        x = df[col].to_numpy().astype(np.float64)
        x = x[np.isfinite(x)]
        if len(x):
            lo, hi = np.quantile(x, [0.005, 0.995])
            ax.hist(np.clip(x, lo, hi), bins=50, color="tab:blue")
        ax.set_title(col, fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(cols) :]:
        ax.axis("off")
    fig.suptitle(f"feature distributions (0.5-99.5 % range), {df.height:,} rows")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def _correlations(plt: Any, df: pl.DataFrame, png: Path) -> Path:
    cols = [c for c in _numeric(df) if not c.startswith(LABEL_PREFIX)]
    x = df.select(cols).to_numpy().astype(np.float64)
    ok = np.isfinite(x).all(axis=1)
    corr = np.corrcoef(x[ok], rowvar=False) if ok.sum() > 2 else np.full((len(cols),) * 2, np.nan)
    fig, ax = plt.subplots(figsize=(10, 9))
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=6)
    ax.set_yticks(range(len(cols)), cols, fontsize=6)
    fig.colorbar(im, ax=ax, shrink=0.7, label="Pearson correlation")
    ax.set_title(f"feature correlations ({int(ok.sum()):,} complete rows)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def _ic_heatmap(plt: Any, df: pl.DataFrame, png: Path) -> Path:
    feats, labels, ic = ic_matrix(df)
    fig, ax = plt.subplots(figsize=(4 + 0.8 * len(labels), 0.25 * len(feats) + 1.5))
    lim = np.nanmax(np.abs(ic)) if np.isfinite(ic).any() else 1.0
    im = ax.imshow(ic, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(labels)), [c.removeprefix(LABEL_PREFIX) for c in labels])
    ax.set_yticks(range(len(feats)), feats, fontsize=7)
    for i in range(len(feats)):
        for j in range(len(labels)):
            if np.isfinite(ic[i, j]):
                ax.text(j, i, f"{ic[i, j]:.3f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="Spearman IC")
    ax.set_title("IC of each feature vs forward mid return")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
