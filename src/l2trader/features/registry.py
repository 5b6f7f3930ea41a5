"""The feature registry: name, formula, units, parameters and source of every C3 column.

:func:`feature_specs` expands a :class:`FeatureConfig` into the concrete columns
:func:`l2trader.features.build.build_features` writes, in order. ``docs/features.md`` is
generated from :data:`FAMILIES` (a drift test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from l2trader.features.clocks import format_ns as format_window
from l2trader.features.config import FeatureConfig

__all__ = ["FAMILIES", "Family", "FeatureSpec", "feature_specs", "format_window", "markdown_table"]

Kind = Literal["state", "flow", "window"]


@dataclass(frozen=True)
class Family:
    """One feature formula; its columns differ only by parameter.

    ``kind``: ``state`` is read from the sampled book state; ``flow`` sums the per-row
    increments since the previous sample; ``window`` is evaluated over (t - w, t].
    """

    name: str
    formula: str
    units: str
    kind: Kind
    warmup: str
    source: str = ""


@dataclass(frozen=True)
class FeatureSpec:
    """One C3 column: its family and the parameter values that name it."""

    name: str
    family: Family
    params: dict[str, float] = field(default_factory=dict)


_SIDES: Final = ("bid", "ask")
_CKS: Final = "Cont, Kukanov & Stoikov (2014), The price impact of order book events"
_XGH: Final = "Xu, Gould & Howison (2019), Multi-level order-flow imbalance"
_STOIKOV: Final = "Stoikov (2018), The micro-price"

FAMILIES: Final[dict[str, Family]] = {
    f.name: f
    for f in (
        Family("mid", "(b1 + a1) / 2", "price", "state", "NaN while a side is empty"),
        Family("spread_ticks", "a1 - b1", "ticks", "state", "NaN while a side is empty"),
        Family("spread_bps", "1e4 (a1 - b1) / mid", "bps", "state", "NaN while a side is empty"),
        Family(
            "wmid",
            "(b1 qa1 + a1 qb1) / (qb1 + qa1): size-weighted mid",
            "price",
            "state",
            "NaN while a side is empty",
        ),
        Family(
            "microprice",
            "mid + g*(spread, qb1 / (qb1 + qa1)), g* estimated by the Markov-chain method",
            "price",
            "state",
            "NaN while a side is empty or the spread is outside the fitted range",
            _STOIKOV,
        ),
        Family(
            "imbalance",
            "(sum qb_1..n - sum qa_1..n) / (sum qb_1..n + sum qa_1..n)",
            "[-1, 1]",
            "state",
            "NaN when both sides are empty",
        ),
        Family(
            "imbalance_dw",
            "as imbalance with weights 1/k on level k = 1..L",
            "[-1, 1]",
            "state",
            "NaN when both sides are empty",
        ),
        Family(
            "depth_ticks",
            "sum of one side's sizes at most k ticks from the mid (over the frame's L levels)",
            "base units",
            "state",
            "NaN while a side is empty",
        ),
        Family(
            "depth_bps",
            "sum of one side's sizes at most x bps from the mid (over the frame's L levels)",
            "base units",
            "state",
            "NaN while a side is empty",
        ),
        Family(
            "slope",
            "OLS slope of cumulative size on distance from mid (ticks) over levels 1..n",
            "base units / tick",
            "state",
            "NaN with fewer than 2 levels on the side or an empty other side",
        ),
        Family(
            "ofi",
            "sum since the previous sample of e = 1{Pb>=Pb'} qb - 1{Pb<=Pb'} qb'"
            " - 1{Pa<=Pa'} qa + 1{Pa>=Pa'} qa' at level 1 (' = previous book state)",
            "base units",
            "flow",
            "NaN on the first sample",
            _CKS,
        ),
        Family(
            "mlofi",
            "as ofi, summed over levels 1..n (level m compares the m-th best prices)",
            "base units",
            "flow",
            "NaN on the first sample",
            _XGH,
        ),
        Family(
            "ofi_window",
            "ofi (or mlofi) summed over the book states in (t - w, t]",
            "base units",
            "window",
            "NaN until t - w >= first book state",
            _CKS,
        ),
        Family(
            "rv",
            "sqrt(sum r^2) over (t - w, t], r = 1e4 log(mid / previous mid) per book state",
            "bps",
            "window",
            "NaN until t - w >= first book state",
        ),
        Family(
            "intensity",
            "C1 events (book rows and trades) in (t - w, t] / w",
            "events / s",
            "window",
            "NaN until t - w >= first book state",
        ),
        Family(
            "l1_queue",
            "size removed from (depl) / added to (repl) the best queue of one side in"
            " (t - w, t], / w; a new better best counts its size as added, a worse best"
            " counts the old queue as removed",
            "base units / s",
            "window",
            "NaN until t - w >= first book state",
        ),
        Family(
            "mid_age_s",
            "t - time of the last book state whose mid differs from the one before",
            "s",
            "state",
            "NaN until the mid first changes",
        ),
    )
}


def _bps_name(x: float) -> str:
    return f"{x:g}".replace(".", "p")


def feature_specs(config: FeatureConfig, *, microprice: bool = False) -> list[FeatureSpec]:
    """The C3 feature columns ``config`` produces, in output order.

    Examples
    --------
    >>> names = [s.name for s in feature_specs(FeatureConfig())]
    >>> names[:5], len(names)
    (['mid', 'spread_ticks', 'spread_bps', 'wmid', 'imbalance_l1'], 36)
    """
    f = FAMILIES
    out = [FeatureSpec(n, f[n]) for n in ("mid", "spread_ticks", "spread_bps", "wmid")]
    if microprice:
        out.append(FeatureSpec("microprice", f["microprice"]))
    out += [
        FeatureSpec(f"imbalance_l{n}", f["imbalance"], {"n": n}) for n in config.imbalance_levels
    ]
    lv = config.levels
    out.append(FeatureSpec(f"imbalance_dw_l{lv}", f["imbalance_dw"], {"n": lv}))
    for k in config.depth_ticks:
        out += [FeatureSpec(f"depth_{s}_t{k}", f["depth_ticks"], {"k": k}) for s in _SIDES]
    for x in config.depth_bps:
        tag = _bps_name(x)
        out += [FeatureSpec(f"depth_{s}_bps{tag}", f["depth_bps"], {"x": x}) for s in _SIDES]
    n = config.slope_levels
    out += [FeatureSpec(f"slope_{s}_l{n}", f["slope"], {"n": n}) for s in _SIDES]
    flows = [(_flow_name(n), n) for n in config.ofi_levels]
    out += [FeatureSpec(name, f["ofi" if n == 1 else "mlofi"], {"n": n}) for name, n in flows]
    for w in config.windows_ns:
        out += _window_specs(w, [name for name, _ in flows])
    out.append(FeatureSpec("mid_age_s", f["mid_age_s"]))
    return out


def _window_specs(w: int, flows: list[str]) -> list[FeatureSpec]:
    f = FAMILIES
    tag = format_window(w)
    win = {"w_ns": float(w)}
    out = [FeatureSpec(f"{name}_{tag}", f["ofi_window"], win) for name in flows]
    out += [FeatureSpec(f"rv_{tag}", f["rv"], win)]
    out += [FeatureSpec(f"intensity_{tag}", f["intensity"], win)]
    out += [
        FeatureSpec(f"l1_{what}_{s}_{tag}", f["l1_queue"], win)
        for s in _SIDES
        for what in ("depl", "repl")
    ]
    return out


def _flow_name(n: int) -> str:
    return "ofi_l1" if n == 1 else f"mlofi_l{n}"


def markdown_table() -> str:
    """The registry as a markdown table (the body of ``docs/features.md``)."""
    rows = ["| family | kind | formula | units | warm-up | source |", "|---|---|---|---|---|---|"]
    for fam in FAMILIES.values():
        rows.append(
            f"| `{fam.name}` | {fam.kind} | {fam.formula} | {fam.units} | {fam.warmup} | "
            f"{fam.source} |"
        )
    return "\n".join(rows) + "\n"
