"""The analysis report (contract C9): one JSON object, rendered as HTML by :mod:`.html`.

JSON keys: ``run_id``, ``config_id``, ``code_version``, ``data_fingerprint``,
``metrics{section: {name: value}}``, ``checks[{name, value, threshold, op, passed, reason}]``,
``artifacts[]`` (C9), plus the conventions every number depends on: ``periods_per_year``,
``calendar``, ``session_s`` (s), ``grid_step_ns`` (ns) and ``capital`` (quote currency),
and ``tables{name: [row dicts]}`` (drawdown periods, regime splits ...).

JSON has no NaN or infinity. :meth:`Report.to_json` writes them explicitly as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (so the file stays valid JSON for every parser
and an undefined metric is never confused with a missing one, unlike ``null``);
:meth:`Report.from_json` turns those strings back into floats wherever a number is expected
(metric values, check values and thresholds, table cells and the top-level numbers; text
fields such as a check's ``reason`` stay strings, see :data:`TEXT_KEYS`).
numpy scalars become Python numbers, numpy arrays lists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from l2trader.analysis.inputs import MarketSeries
from l2trader.errors import ArtifactError

__all__ = [
    "NONFINITE",
    "TEXT_KEYS",
    "PlotData",
    "Report",
    "decode_number",
    "encode_value",
    "json_nulls",
]

NONFINITE: Final[dict[str, float]] = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}
"""JSON spelling of the non-finite floats (string -> value)."""

TEXT_KEYS: Final = frozenset({"name", "metric", "op", "reason", "dimension", "regime", "unit"})
"""Row keys whose values are text, never decoded as numbers (a reason may read ``"NaN"``)."""

Metrics = dict[str, dict[str, float | int]]
Rows = list[dict[str, Any]]


def encode_value(value: Any) -> Any:
    """``value`` made JSON-safe: numpy -> Python, non-finite floats -> their string name.

    Examples
    --------
    >>> encode_value({"a": np.float64("nan"), "b": [np.int64(2), -math.inf]})
    {'a': 'NaN', 'b': [2, '-Infinity']}
    """
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [encode_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ArtifactError(f"report: {type(value).__name__} value {value!r} is not JSON-serialisable")


def json_nulls(value: Any) -> Any:
    """``value`` as strict-JSON data: NaN/inf -> None, numpy scalars -> Python, recursively.

    The null convention of the stress report, the journal's events and live validation
    (:func:`encode_value` is the analysis report's string convention).

    Examples
    --------
    >>> json_nulls({"a": [np.float64("nan"), np.int64(2)], "b": (math.inf, "x")})
    {'a': [None, 2], 'b': [None, 'x']}
    """
    if isinstance(value, Mapping):
        return {str(k): json_nulls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_nulls(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def decode_number(value: Any) -> Any:
    """Inverse of :func:`encode_value` for one cell: ``"NaN"`` -> nan etc., else unchanged.

    Examples
    --------
    >>> decode_number("Infinity"), decode_number(1.5), decode_number("x")
    (inf, 1.5, 'x')
    """
    if isinstance(value, str) and value in NONFINITE:
        return NONFINITE[value]
    return value


@dataclass(frozen=True)
class PlotData:
    """Arrays the report figures are drawn from (not written to JSON).

    Times are ns, money quote currency, returns fractions of capital, markouts bps.
    ``markout_curves`` maps a label (``maker buy`` ...) to bps per ``markout_horizons_s``;
    ``var_lines`` maps a label (``VaR 95% historical`` ...) to a return threshold.
    """

    ts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    equity: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    position: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    underwater: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    returns: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    var_lines: dict[str, float] = field(default_factory=dict)
    markout_horizons_s: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    markout_curves: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    decay_horizons_s: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    decay_ic: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    decay_half_life_s: float = math.nan
    regimes: Rows = field(default_factory=list)
    market: MarketSeries | None = None
    fill_ts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    fill_price: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    fill_side: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))
    tick_size: float = math.nan


@dataclass(frozen=True)
class Report:
    """One run's analysis (C9). ``plot_data`` feeds the figures and is not serialised.

    ``checks`` rows are ``{name, value, threshold, op, passed, reason}``;
    :attr:`passed` is True when every check passed (or there are none).
    """

    run_id: str
    config_id: str
    code_version: str
    data_fingerprint: str
    periods_per_year: float
    calendar: str
    session_s: float
    grid_step_ns: int
    capital: float
    metrics: Metrics = field(default_factory=dict)
    checks: Rows = field(default_factory=list)
    tables: dict[str, Rows] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    strategy_id: str = ""
    """Identity of the strategy + engine the run used (``engine.config.strategy_id``)."""
    created_ns: int = 0
    """Wall-clock time the report was computed (ns since the epoch)."""
    plot_data: PlotData | None = field(default=None, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        """True when every check passed (vacuously True without checks)."""
        return all(bool(c.get("passed")) for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as Python values (non-finite floats as strings)."""
        keys = ("run_id", "config_id", "code_version", "data_fingerprint", "periods_per_year",
                "calendar", "session_s", "grid_step_ns", "capital", "metrics", "checks",
                "tables", "artifacts", "strategy_id", "created_ns", "passed")  # fmt: skip
        return {k: encode_value(getattr(self, k)) for k in keys}

    def to_json(self) -> str:
        """Canonical JSON text: sorted keys, indent 2, final newline; NaN as ``"NaN"``."""
        text = json.dumps(self.to_dict(), sort_keys=True, indent=2, allow_nan=False)
        return text + "\n"

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Read :meth:`to_json` output back (ArtifactError on invalid JSON or keys).

        Examples
        --------
        >>> r = Report("r", "c", "v", "f", 31536000.0, "24/7", 86400.0, 10**9, math.nan,
        ...            metrics={"risk": {"var": -math.inf}})
        >>> back = Report.from_json(r.to_json())
        >>> back.metrics, math.isnan(back.capital)
        ({'risk': {'var': -inf}}, True)
        """
        try:
            raw = json.loads(text)
            return cls(
                run_id=str(raw["run_id"]),
                config_id=str(raw["config_id"]),
                code_version=str(raw["code_version"]),
                data_fingerprint=str(raw["data_fingerprint"]),
                periods_per_year=float(decode_number(raw["periods_per_year"])),
                calendar=str(raw["calendar"]),
                session_s=float(decode_number(raw["session_s"])),
                grid_step_ns=int(raw["grid_step_ns"]),
                capital=float(decode_number(raw["capital"])),
                metrics={s: _decode_row(m) for s, m in raw["metrics"].items()},
                checks=[_decode_row(c) for c in raw["checks"]],
                tables={
                    name: [_decode_row(r) for r in rows] for name, rows in raw["tables"].items()
                },
                artifacts=[str(a) for a in raw["artifacts"]],
                strategy_id=str(raw.get("strategy_id", "")),
                created_ns=int(raw.get("created_ns", 0)),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"report JSON is not a valid report ({exc!r})") from exc


def _decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """One flat dict with its ``"NaN"``/``"Infinity"`` strings turned back into floats.

    Keys of :data:`TEXT_KEYS` hold free text and are kept as written.
    """
    return {str(k): v if k in TEXT_KEYS else decode_number(v) for k, v in row.items()}
