"""Report figures as PNG bytes (matplotlib, Agg backend, imported lazily).

matplotlib is the optional ``plot`` extra. :func:`render_figures` returns an empty dict and
:func:`plots_unavailable` a one-line reason when it is missing; the report is still written,
without pictures. PNGs carry no metadata (no software string, no URL), so the HTML report
embeds them without any external reference.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.report import PlotData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["FIGURE_TITLES", "plots_unavailable", "render_figures"]

FIGURE_TITLES: Final[dict[str, str]] = {
    "equity": "Equity and underwater curve",
    "returns": "Returns histogram with VaR lines",
    "markouts": "Markout curves by side and liquidity",
    "inventory": "Inventory",
    "signal_decay": "Signal decay (IC vs horizon)",
    "regimes": "Performance by regime",
    "l2_panel": "L2 microstructure: depth heatmap around the mid, fills overlaid",
}
"""Figure key -> caption, in report order."""

_DPI: Final = 90
_MAX_LINE_POINTS: Final = 20_000


def plots_unavailable() -> str | None:
    """None when matplotlib imports, else the reason and how to fix it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return (
            "plots omitted: matplotlib (the 'plot' extra) is not installed; "
            "pip install 'l2trader[plot]'"
        )
    return None


def render_figures(data: PlotData) -> dict[str, bytes]:
    """Every figure there is data for, as PNG bytes keyed like :data:`FIGURE_TITLES`.

    A figure without data (no fills, no signal, no market series ...) is left out.
    Empty when matplotlib is missing (see :func:`plots_unavailable`).
    """
    if plots_unavailable() is not None:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    makers: dict[str, Callable[[Any, PlotData], bool]] = {
        "equity": _equity,
        "returns": _returns,
        "markouts": _markouts,
        "inventory": _inventory,
        "signal_decay": _decay,
        "regimes": _regimes,
        "l2_panel": _l2_panel,
    }
    return {k: png for k, make in makers.items() if (png := _render(make, data)) is not None}


def _render(make: Callable[[Any, PlotData], bool], data: PlotData) -> bytes | None:
    """Run one figure maker on a fresh figure; PNG bytes, or None if it had nothing to draw."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10, 4.2))
    try:
        if not make(fig, data):
            return None
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
        return buf.getvalue()
    finally:
        plt.close(fig)


def _thin(n: int) -> slice:
    """Every k-th point so at most ``_MAX_LINE_POINTS`` are drawn."""
    return slice(None, None, max(1, math.ceil(n / _MAX_LINE_POINTS)))


def _times(ts: NDArray[np.int64]) -> NDArray[np.datetime64]:
    return ts.astype("datetime64[ns]")


def _equity(fig: Figure, data: PlotData) -> bool:
    if data.ts.size == 0:
        return False
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    s = _thin(data.ts.size)
    t = _times(data.ts[s])
    top.plot(t, data.equity[s], lw=0.8, color="black")
    top.set_ylabel("equity (quote)")
    if data.underwater.size == data.ts.size:
        bottom.fill_between(t, 100.0 * data.underwater[s], 0.0, color="tab:red", alpha=0.5)
    bottom.set_ylabel("underwater (% capital)")
    return True


def _returns(fig: Figure, data: PlotData) -> bool:
    r = data.returns[np.isfinite(data.returns)]
    if r.size == 0:
        return False
    ax = fig.subplots()
    ax.hist(r, bins=min(100, max(10, r.size // 20)), color="tab:blue", alpha=0.7)
    colors = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
    for (label, value), color in zip(data.var_lines.items(), colors * 4, strict=False):
        if math.isfinite(value):
            ax.axvline(value, color=color, lw=1.0, ls="--", label=f"{label}: {value:.3g}")
    ax.set_xlabel("return per grid step (fraction of capital)")
    ax.set_ylabel("count")
    if data.var_lines:
        ax.legend(fontsize=7)
    return True


def _markouts(fig: Figure, data: PlotData) -> bool:
    curves = {k: v for k, v in data.markout_curves.items() if np.isfinite(v).any()}
    if data.markout_horizons_s.size == 0 or not curves:
        return False
    ax = fig.subplots()
    for label, bps in curves.items():
        ax.plot(data.markout_horizons_s, bps, marker="o", lw=1.0, label=label)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("horizon after fill (s)")
    ax.set_ylabel("markout (bps, + = in our favour)")
    ax.legend(fontsize=7)
    return True


def _inventory(fig: Figure, data: PlotData) -> bool:
    if data.position.size == 0:
        return False
    ax = fig.subplots()
    s = _thin(data.ts.size)
    ax.step(_times(data.ts[s]), data.position[s], where="post", lw=0.8, color="tab:green")
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_ylabel("position (base units)")
    return True


def _decay(fig: Figure, data: PlotData) -> bool:
    if data.decay_horizons_s.size == 0 or not np.isfinite(data.decay_ic).any():
        return False
    ax = fig.subplots()
    ax.plot(data.decay_horizons_s, data.decay_ic, marker="o", color="tab:purple")
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("horizon (s)")
    ax.set_ylabel("information coefficient")
    if math.isfinite(data.decay_half_life_s):
        ax.set_title(f"fitted half-life {data.decay_half_life_s:.3g} s", fontsize=9)
    return True


def _regimes(fig: Figure, data: PlotData) -> bool:
    """PnL per regime row (``dimension``, ``regime``, ``pnl`` keys of ``regime_table``)."""
    rows = [r for r in data.regimes if isinstance(r.get("pnl"), int | float)]
    if not rows:
        return False
    ax = fig.subplots()
    labels = [f"{r.get('dimension', '?')}:{r.get('regime', '?')}" for r in rows]
    values = np.nan_to_num(np.array([float(r["pnl"]) for r in rows]))
    colors = ["tab:green" if v >= 0 else "tab:red" for v in values]
    ax.bar(np.arange(len(rows)), values, color=colors)
    ax.set_xticks(np.arange(len(rows)), labels, rotation=60, ha="right", fontsize=7)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_ylabel("PnL (quote)")
    return True


def _l2_panel(fig: Figure, data: PlotData) -> bool:
    market = data.market
    if market is None or market.heat_qty.size == 0 or not math.isfinite(data.tick_size):
        return False
    ax = fig.subplots()
    n_heat = market.heat_qty.shape[0]
    heat_ts = _heat_times(market.ts, n_heat)
    _draw_heat(ax, heat_ts, market.heat_ticks, market.heat_qty)
    if data.fill_ts.size:
        keep = _thin(data.fill_ts.size)  # every k-th fill: at most _MAX_LINE_POINTS markers
        fill_ts, fill_side = data.fill_ts[keep], data.fill_side[keep]
        mid_ticks = np.round(market.mid_at(fill_ts) / data.tick_size)
        offset = data.fill_price[keep] / data.tick_size - mid_ticks
        for side, color, marker in ((1, "lime", "^"), (-1, "magenta", "v")):
            m = fill_side == side
            ax.scatter(_times(fill_ts[m]), offset[m], s=9, c=color, marker=marker,
                       label="buy fills" if side == 1 else "sell fills")  # fmt: skip
        ax.legend(fontsize=7, loc="upper right")
    ax.set_ylabel("price - mid (ticks)")
    return True


def _heat_times(ts: NDArray[np.int64], n_heat: int) -> NDArray[np.int64]:
    """Times of the heatmap rows (ns).

    Row ``j`` is the book at ``ts[j * (n // n_heat)]`` when ``n_heat`` divides ``n`` (what
    the CLI's market series builder produces); otherwise rows are taken as evenly spaced
    over the series span.
    """
    n = ts.size
    if n and n_heat and n % n_heat == 0:
        return ts[:: n // n_heat]
    if n == 0:
        return np.zeros(n_heat, np.int64)
    return np.linspace(ts[0], ts[-1], n_heat).astype(np.int64)


def _draw_heat(
    ax: Axes, ts: NDArray[np.int64], ticks: NDArray[np.int64], qty: NDArray[np.float64]
) -> None:
    """Heatmap of visible size (time x offset from the mid), log colour scale."""
    t = _times(ts)
    image = ax.pcolormesh(t, ticks, np.log1p(qty.T), shading="nearest", cmap="viridis")
    ax.figure.colorbar(image, ax=ax, label="log(1 + size)")
