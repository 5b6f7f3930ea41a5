"""Signal-report pictures: IC decay by horizon, IC stability over time, calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from l2trader.cli.feature_plots import _pyplot
from l2trader.features.frame import FeatureFrame
from l2trader.features.labels import LABEL_PREFIX
from l2trader.signals.evaluate import EvaluationReport

__all__ = ["plot_signal_report"]


def plot_signal_report(
    report: EvaluationReport,
    score: NDArray[np.float64],
    frame: FeatureFrame,
    out: Path,
    title: str,
) -> list[Path]:
    """Three PNGs in ``out``; none when matplotlib (the ``plot`` extra) is missing."""
    plt = _pyplot()
    if plt is None:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    _decay(axes[0], report)
    _stability(axes[1], report)
    _calibration(axes[2], score, frame, report)
    fig.suptitle(title)
    fig.tight_layout()
    png = out / "signal_report.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return [png]


def _decay(ax: Any, report: EvaluationReport) -> None:
    h = report.decay.horizons_ns / 1e9
    ax.plot(h, report.decay.ic, "o-", label="IC (Spearman)")
    ax.plot(h, report.decay.hit_rate - 0.5, "s--", label="hit rate - 0.5")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("horizon (s)")
    hl = report.half_life_ns
    ax.set_title("signal decay" + (f" (half-life {hl / 1e9:.2f} s)" if np.isfinite(hl) else ""))
    ax.legend()


def _stability(ax: Any, report: EvaluationReport) -> None:
    t = report.bucket_start_ns.astype("datetime64[ns]")
    for k, h in enumerate(report.decay.horizons_ns.tolist()):
        ic = report.bucket_ic[:, k]
        ax.plot(t, np.nancumsum(ic), lw=1, label=f"{h / 1e9:g} s")
    ax.set_title(f"cumulative IC per {report.bucket_ns / 1e9:g} s bucket")
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.legend(fontsize=7)


def _calibration(
    ax: Any, score: NDArray[np.float64], frame: FeatureFrame, report: EvaluationReport
) -> None:
    h = int(report.decay.horizons_ns[0])
    label = next((c for c in frame.labels if c.startswith(LABEL_PREFIX) and _h(c) == h), None)
    if label is None:
        return
    y = np.asarray(frame.columns[label], dtype=np.float64)
    ok = np.isfinite(score) & np.isfinite(y)
    if ok.sum() < 20:
        return
    edges = np.unique(np.quantile(score[ok], np.linspace(0, 1, 11)))
    which = np.clip(np.searchsorted(edges, score[ok], side="right") - 1, 0, len(edges) - 2)
    mean_s = np.array([score[ok][which == b].mean() for b in range(len(edges) - 1)])
    mean_y = np.array([y[ok][which == b].mean() for b in range(len(edges) - 1)])
    ax.plot(mean_s, mean_y, "o-")
    lim = np.nanmax(np.abs(np.concatenate([mean_s, mean_y])))
    ax.plot([-lim, lim], [-lim, lim], color="grey", lw=0.5, label="y = x")
    ax.set_xlabel("score decile mean (bps)")
    ax.set_ylabel(f"realized {label.removeprefix(LABEL_PREFIX)} return (bps)")
    ax.set_title("calibration")
    ax.legend()


def _h(label: str) -> int:
    from l2trader.features.clocks import parse_duration

    return parse_duration(label.removeprefix(LABEL_PREFIX))
