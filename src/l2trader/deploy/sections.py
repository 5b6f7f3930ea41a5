"""The sections of :class:`~l2trader.deploy.settings.DeploySettings` (frozen configs).

Import them from :mod:`l2trader.deploy.settings`, which re-exports every name here.

Examples
--------
>>> [r.name for r in DEFAULT_RULES if r.severity == "critical"]
['feed_stale', 'kill_switch', 'disk_low']
>>> LogSpec(level="debug").level
'DEBUG'
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, field_validator

from l2trader.config import FrozenConfig

__all__ = [
    "DEFAULT_RULES",
    "AlertRuleSpec",
    "AlertsSpec",
    "BackupSpec",
    "EvidenceSpec",
    "LogSpec",
    "ReadinessSpec",
    "WebhookSpec",
]


class AlertRuleSpec(FrozenConfig):
    """Fire when ``metric op threshold`` has held for ``for_s`` seconds."""

    name: str = Field(min_length=1)
    metric: Literal["drawdown", "feed_stale_s", "latency_p99_ms", "error_rate",
                    "kill_switch", "disk_free_gib", "queue_overflows"]  # fmt: skip
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float
    for_s: float = Field(default=0.0, ge=0)
    severity: Literal["info", "warning", "critical"] = "warning"
    response: Literal["none", "halt", "cancel_all", "flatten", "restart_feed"] = "none"


DEFAULT_RULES: Final = (
    AlertRuleSpec(name="drawdown", metric="drawdown", threshold=1000.0),
    AlertRuleSpec(name="feed_stale", metric="feed_stale_s", threshold=10.0,
                  severity="critical", response="restart_feed"),
    AlertRuleSpec(name="latency_p99", metric="latency_p99_ms", threshold=50.0),
    AlertRuleSpec(name="kill_switch", metric="kill_switch", threshold=0.0, severity="critical"),
    AlertRuleSpec(name="disk_low", metric="disk_free_gib", op="<", threshold=1.0,
                  severity="critical"),
    AlertRuleSpec(name="queue_overflows", metric="queue_overflows", threshold=0.0),
)  # fmt: skip
"""Drawdown > 1000 quote, feed stale > 10 s (restart it), p99 > 50 ms, kill switch, disk < 1 GiB,
queue overflows."""


class WebhookSpec(FrozenConfig):
    """An HTTP endpoint alerts are POSTed to (JSON), retried with exponential backoff."""

    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=2.0, gt=0)
    retries: int = Field(default=3, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)


class AlertsSpec(FrozenConfig):
    """Alert rules, evaluation period (s) and sinks (log, JSON-lines file, webhooks)."""

    rules: tuple[AlertRuleSpec, ...] = DEFAULT_RULES
    eval_every_s: float = Field(default=1.0, gt=0)
    log: bool = True
    file: str | None = None
    webhooks: tuple[WebhookSpec, ...] = ()
    queue_size: int = Field(default=1000, ge=1)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[AlertRuleSpec, ...]) -> tuple[AlertRuleSpec, ...]:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique, got {names}")
        return rules


class BackupSpec(FrozenConfig):
    """Where backups go, how often (s; None = never scheduled) and how many are kept."""

    dir: str = "backups"
    every_s: float | None = Field(default=3600.0, gt=0)
    keep_last: int = Field(default=7, ge=1)
    keep_days: float | None = Field(default=30.0, gt=0)
    registry: str | None = None
    """Run-registry SQLite file to back up with the journal."""


class EvidenceSpec(FrozenConfig):
    """Validation evidence: backtest ``report.json``, stress and paper reports."""

    backtest: str | None = None
    stress: str | None = None
    paper: str | None = None
    max_age_days: float = Field(default=7.0, gt=0)
    min_stress_score: float = Field(default=70.0, ge=0, le=100)


class ReadinessSpec(FrozenConfig):
    """System minimums and the readiness score (0-100) needed to deploy."""

    min_cores: int = Field(default=2, ge=1)
    min_memory_gib: float = Field(default=4.0, ge=0)
    min_free_disk_gib: float = Field(default=1.0, ge=0)
    min_score: float = Field(default=80.0, ge=0, le=100)


class LogSpec(FrozenConfig):
    """Log level, line format (``json`` lines or plain ``text``) and file (None = stderr)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["json", "text"] = "json"
    file: str | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
