"""Pass/fail thresholds over a report's flat metrics (issue 5, item 12).

A :class:`ChecksConfig` is a list of :class:`CheckSpec` rows (``metric op threshold``), loadable
from TOML or JSON like every config::

    [[checks]]
    metric = "sharpe"
    op = ">="
    threshold = 1.0

:func:`evaluate_checks` turns each row into a :class:`CheckResult` with the value found, and
:func:`verdict` is True only when every check passed. A metric that is missing from the report,
NaN (undefined: no trades, zero variance...) or not a number FAILS with a reason saying so: a
check never passes silently. Comparisons are exact (``==`` and ``!=`` included).
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import Field

from l2trader.config import FrozenConfig

__all__ = [
    "DEFAULT_CHECKS",
    "MARKET_MAKER_CHECKS",
    "TAKER_CHECKS",
    "CheckResult",
    "CheckSpec",
    "ChecksConfig",
    "evaluate_checks",
    "verdict",
]

Op = Literal[">=", "<=", ">", "<", "==", "!="]

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


class CheckSpec(FrozenConfig):
    """One threshold: ``metrics[metric] <op> threshold`` must hold.

    Examples
    --------
    >>> CheckSpec(metric="sharpe", op=">=", threshold=1.0).label
    'sharpe >= 1'
    """

    metric: Annotated[str, Field(min_length=1)]
    op: Op
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    name: str | None = None

    @property
    def label(self) -> str:
        """The check's name, or ``"<metric> <op> <threshold>"`` when it has none."""
        return self.name or f"{self.metric} {self.op} {self.threshold:g}"


class ChecksConfig(FrozenConfig):
    r"""An ordered set of checks (TOML: one ``[[checks]]`` table per check).

    Examples
    --------
    >>> text = '[[checks]]\nmetric = "sharpe"\nop = ">="\nthreshold = 1.0\n'
    >>> ChecksConfig.from_toml(text).checks[0].metric
    'sharpe'
    """

    checks: tuple[CheckSpec, ...] = ()

    def to_toml(self) -> str:
        """TOML form, one ``[[checks]]`` table per check (core ``to_toml`` has no table arrays)."""
        if not self.checks:
            return "checks = []\n"
        blocks = []
        for spec in self.checks:
            lines = ["[[checks]]", f"metric = {json.dumps(spec.metric)}"]
            lines += [f"op = {json.dumps(spec.op)}", f"threshold = {spec.threshold!r}"]
            if spec.name is not None:
                lines.append(f"name = {json.dumps(spec.name)}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: the value found, the threshold and why it passed or failed.

    ``value`` is NaN when the metric was missing or not a number.
    """

    name: str
    metric: str
    value: float
    threshold: float
    op: str
    passed: bool
    reason: str


def _evaluate_one(metrics: Mapping[str, object], spec: CheckSpec) -> CheckResult:
    """Evaluate one spec; missing, non-numeric and NaN values fail with their reason."""
    nan = math.nan
    raw = metrics.get(spec.metric, None)
    value = nan
    if spec.metric not in metrics:
        passed, reason = False, f"metric {spec.metric!r} is missing from the report"
    elif isinstance(raw, bool) or not isinstance(raw, numbers.Real):
        passed, reason = False, f"metric {spec.metric!r} is not a number: {raw!r}"
    elif math.isnan(float(raw)):
        passed, reason = False, f"metric {spec.metric!r} is NaN (undefined for this run)"
    else:
        value = float(raw)  # numpy scalars are registered as numbers.Real
        passed = _OPS[spec.op](value, spec.threshold)
        verb = "holds" if passed else "violated"
        reason = f"{spec.metric} = {value:.6g} {spec.op} {spec.threshold:g}: {verb}"
    return CheckResult(spec.label, spec.metric, value, spec.threshold, spec.op, passed, reason)


def evaluate_checks(
    metrics: Mapping[str, object], config: ChecksConfig | Sequence[CheckSpec]
) -> list[CheckResult]:
    """Evaluate every check of ``config`` against a flat metrics dict, in config order.

    Parameters
    ----------
    metrics
        Flat ``name -> value`` metrics of a report (numbers; numpy scalars accepted).
    config
        The checks, as a :class:`ChecksConfig` or a sequence of :class:`CheckSpec`.

    Returns
    -------
    list[CheckResult]
        One result per check. Missing, non-numeric or NaN metrics fail with a reason.

    Examples
    --------
    >>> cfg = ChecksConfig(checks=(CheckSpec(metric="sharpe", op=">=", threshold=1.0),
    ...                            CheckSpec(metric="fill_ratio", op=">", threshold=0.1)))
    >>> [(r.passed, r.reason) for r in evaluate_checks({"sharpe": 1.5}, cfg)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(True, 'sharpe = 1.5 >= 1: holds'),
     (False, "metric 'fill_ratio' is missing from the report")]
    """
    specs = config.checks if isinstance(config, ChecksConfig) else tuple(config)
    return [_evaluate_one(metrics, spec) for spec in specs]


def verdict(results: Sequence[CheckResult]) -> bool:
    """True when every check passed (vacuously True for no checks).

    Examples
    --------
    >>> verdict(evaluate_checks({"sharpe": 0.5}, [CheckSpec(metric="sharpe", op=">", threshold=0)]))
    True
    """
    return all(r.passed for r in results)


def _spec(metric: str, op: Op, threshold: float, name: str) -> CheckSpec:
    return CheckSpec(metric=metric, op=op, threshold=threshold, name=name)


MARKET_MAKER_CHECKS: Final = ChecksConfig(
    checks=(
        _spec("sharpe", ">=", 1.0, "annualized Sharpe >= 1"),
        _spec("max_drawdown", ">=", -0.05, "max drawdown no worse than -5% of capital"),
        _spec("markout_bps_1s_maker", ">=", 0.0, "maker fills not adversely selected at 1 s"),
        _spec("spread_capture_ratio", ">=", 0.0, "realized spread captured is non-negative"),
        _spec("fill_ratio", ">=", 0.01, "at least 1% of quoted size fills"),
        _spec("round_trips", ">=", 30.0, "at least 30 round trips (statistical minimum)"),
    )
)
"""Defaults for a passive market maker: positive risk-adjusted PnL, bounded drawdown, fills
not adversely selected one second out, non-negative spread capture and enough activity."""

TAKER_CHECKS: Final = ChecksConfig(
    checks=(
        _spec("sharpe", ">=", 1.0, "annualized Sharpe >= 1"),
        _spec("max_drawdown", ">=", -0.10, "max drawdown no worse than -10% of capital"),
        _spec("profit_factor", ">=", 1.1, "gross wins exceed gross losses by 10%"),
        _spec("signal_ic_spearman", ">", 0.0, "signal rank IC at its horizon is positive"),
        _spec("signal_hit_rate", ">=", 0.5, "signal direction right at least half the time"),
        _spec("microstructure_alpha_bps_10s", ">=", 0.0, "10 s markout edge covers the fees"),
        _spec("round_trips", ">=", 30.0, "at least 30 round trips (statistical minimum)"),
    )
)
"""Defaults for a signal-driven taker: positive risk-adjusted PnL net of fees, a profit factor
above 1.1, a signal that predicts direction at its own horizon (positive rank IC, hit rate >=
50%), fills whose 10 s markout edge is not eaten by fees, and enough round trips."""

DEFAULT_CHECKS: Final[Mapping[str, ChecksConfig]] = {
    "market_maker": MARKET_MAKER_CHECKS,
    "taker": TAKER_CHECKS,
}
"""Default checks by strategy kind (``market_maker`` or ``taker``)."""
