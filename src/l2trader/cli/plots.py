"""Pictures for the CLI: a book-frame overview (mid, spread, depth) as PNG."""

from __future__ import annotations

from pathlib import Path

import polars as pl

__all__ = ["plot_book_frame"]

MAX_POINTS = 20_000


def plot_book_frame(frame_path: Path, png: Path, title: str) -> Path | None:
    """Plot mid price, spread and top-of-book depth of a replay Parquet file.

    Returns the PNG path, or None when matplotlib (the ``plot`` extra) is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    df = pl.read_parquet(frame_path)
    n_states = df.height
    step = max(1, n_states // MAX_POINTS)
    df = df.gather_every(step)
    ts = df["ts_recv"].to_numpy().astype("datetime64[ns]")
    bid, ask = df["bid_px_1"].to_numpy(), df["ask_px_1"].to_numpy()
    depth_cols = [c for c in df.columns if c.startswith(("bid_sz_", "ask_sz_"))]
    bid_depth = df.select(pl.sum_horizontal([c for c in depth_cols if c.startswith("bid")]))
    ask_depth = df.select(pl.sum_horizontal([c for c in depth_cols if c.startswith("ask")]))
    mid = (bid + ask) / 2
    spread_bps = 1e4 * (ask - bid) / mid
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    axes[0].plot(ts, mid, lw=0.6, color="black")
    axes[0].set_ylabel("mid price")
    axes[1].plot(ts, spread_bps, lw=0.4, color="tab:purple")
    axes[1].set_ylabel("spread (bps)")
    axes[2].plot(ts, bid_depth.to_numpy().ravel(), lw=0.4, color="tab:green", label="bid")
    axes[2].plot(ts, ask_depth.to_numpy().ravel(), lw=0.4, color="tab:red", label="ask")
    n_levels = len(depth_cols) // 2
    axes[2].set_ylabel(f"depth, top {n_levels} (base units)")
    axes[2].legend(loc="upper right")
    fig.suptitle(f"{title}: {n_states:,} book states (every {step}th shown)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
