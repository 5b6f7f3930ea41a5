"""Alert rules evaluated on service metrics: dedup, resolve, automatic responses.

:class:`AlertEvaluator` is a pure state machine over :class:`AlertInputs` snapshots: a rule
goes *pending* when its condition starts to hold, *fires* once it has held for ``for_s``
seconds, stays firing without repeating itself while the condition holds, and emits one
*resolved* event when it stops holding. A NaN input means "unknown": the rule is not
evaluated (it never fires or resolves on NaN, and a pending rule restarts its ``for_s`` wait).

:class:`AlertManager` wires the evaluator to the sinks of :mod:`l2trader.deploy.alert_sinks`
through an :class:`~l2trader.deploy.alert_sinks.AlertDispatcher` (a background thread, so a
slow webhook never delays the caller) and calls the rule's automatic response (``halt``,
``cancel_all``, ``flatten``, ``restart_feed``) once per firing, on the caller's thread.

Examples
--------
>>> from l2trader.deploy.settings import AlertRuleSpec
>>> rule = AlertRuleSpec(name="dd", metric="drawdown", threshold=100.0, for_s=1.0)
>>> ev = AlertEvaluator([rule])
>>> ev.evaluate(AlertInputs(ts_ns=0, drawdown=150.0))  # pending
[]
>>> [e.state for e in ev.evaluate(AlertInputs(ts_ns=1_000_000_000, drawdown=150.0))]
['firing']
>>> ev.evaluate(AlertInputs(ts_ns=2_000_000_000, drawdown=160.0))  # still firing: no duplicate
[]
>>> [e.state for e in ev.evaluate(AlertInputs(ts_ns=3_000_000_000, drawdown=10.0))]
['resolved']
"""

from __future__ import annotations

import hashlib
import logging
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType
from typing import Any, Final, Literal

from l2trader.deploy.alert_sinks import (
    AlertDispatcher,
    AlertSink,
    FileSink,
    LogSink,
    WebhookSink,
)
from l2trader.deploy.settings import AlertRuleSpec, AlertsSpec
from l2trader.errors import ConfigError

__all__ = [
    "METRICS",
    "AlertEvaluator",
    "AlertEvent",
    "AlertInputs",
    "AlertManager",
    "Responder",
    "build_sinks",
]

logger = logging.getLogger(__name__)

_NAN: Final = math.nan
_NS_PER_S: Final = 1_000_000_000
_OPS: Final[Mapping[str, Callable[[float, float], bool]]] = MappingProxyType(
    {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
)

Responder = Callable[[str, "AlertEvent"], None]
"""Automatic response hook: ``respond(response, event)``, e.g. ``("halt", event)``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertInputs:
    """One snapshot of the metrics the alert rules read; NaN means unknown.

    Parameters
    ----------
    ts_ns
        Wall-clock time of the snapshot, ns since the epoch (UTC).
    drawdown
        Current drawdown from the equity peak, quote currency (positive = loss).
    feed_stale_s
        Seconds since the last market-data message (``inf`` if none yet).
    latency_p99_ms
        99th percentile of the decision latency, ms.
    error_rate
        Errors per minute.
    kill_switch
        1.0 when the risk manager's kill switch has fired, else 0.0.
    disk_free_gib
        Free disk space where the journal lives, GiB.
    queue_overflows
        Feed or alert queue overflows (count).
    """

    ts_ns: int
    drawdown: float = _NAN
    feed_stale_s: float = _NAN
    latency_p99_ms: float = _NAN
    error_rate: float = _NAN
    kill_switch: float = _NAN
    disk_free_gib: float = _NAN
    queue_overflows: float = _NAN

    def value(self, metric: str) -> float:
        """Value of ``metric`` (one of :data:`METRICS`) as a float."""
        if metric not in METRICS:
            raise ConfigError(f"alert metric {metric!r} is not one of {METRICS}")
        return float(getattr(self, metric))


METRICS: Final[tuple[str, ...]] = tuple(f.name for f in fields(AlertInputs) if f.name != "ts_ns")
"""Names of the metrics a rule may watch (the float fields of :class:`AlertInputs`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """A rule that started (``firing``) or stopped (``resolved``) holding.

    ``value`` is the metric at ``ts_ns`` (ns since the epoch); ``fingerprint`` is a stable id of
    the rule (the same across restarts), ``seq`` is monotonic per evaluator.
    """

    rule: str
    state: Literal["firing", "resolved"]
    severity: str
    metric: str
    value: float
    threshold: float
    op: str
    ts_ns: int
    message: str
    response: str
    fingerprint: str
    seq: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field (non-finite floats become ``None``)."""
        out = asdict(self)
        for key in ("value", "threshold"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertEvent:
        """Inverse of :meth:`to_dict` (``None`` floats become NaN)."""
        values = dict(data)
        for key in ("value", "threshold"):
            values[key] = _NAN if values[key] is None else float(values[key])
        return cls(**values)


def rule_fingerprint(rule: AlertRuleSpec) -> str:
    """Stable 16-hex id of a rule: sha256 of its name, metric, op and threshold."""
    key = f"{rule.name}|{rule.metric}|{rule.op}|{rule.threshold!r}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(slots=True)
class _RuleState:
    """Mutable state of one rule: when its condition started holding, its firing event."""

    rule: AlertRuleSpec
    fingerprint: str
    pending_since_ns: int | None = None
    firing: AlertEvent | None = None
    fired: int = 0


class AlertEvaluator:
    """Pure state machine turning metric snapshots into firing/resolved events.

    Parameters
    ----------
    rules
        Alert rules; names must be unique.

    Raises
    ------
    ConfigError
        Duplicate rule names or an unknown metric.
    """

    def __init__(self, rules: Sequence[AlertRuleSpec]) -> None:
        names = [r.name for r in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"alerts.rules: duplicate rule names {duplicates}")
        for rule in rules:
            if rule.metric not in METRICS or rule.op not in _OPS:
                raise ConfigError(f"alerts.rules[{rule.name!r}]: bad metric/op {rule.metric!r}")
        self._states = [_RuleState(rule, rule_fingerprint(rule)) for rule in rules]
        self._seq = 0

    @property
    def rules(self) -> tuple[AlertRuleSpec, ...]:
        """The rules, in evaluation order."""
        return tuple(s.rule for s in self._states)

    def evaluate(self, inputs: AlertInputs) -> list[AlertEvent]:
        """Advance every rule to ``inputs.ts_ns``; return the new firing/resolved events."""
        events = []
        for state in self._states:
            event = self._step(state, inputs)
            if event is not None:
                events.append(event)
        return events

    def active(self) -> list[AlertEvent]:
        """Firing events of the rules that are currently firing, in rule order."""
        return [s.firing for s in self._states if s.firing is not None]

    def fired_counts(self) -> dict[str, int]:
        """Number of times each rule has fired (rule name -> count)."""
        return {s.rule.name: s.fired for s in self._states}

    def _step(self, state: _RuleState, inputs: AlertInputs) -> AlertEvent | None:
        rule = state.rule
        value = inputs.value(rule.metric)
        if math.isnan(value):
            state.pending_since_ns = None  # unknown: the for_s wait restarts
            return None
        if not _OPS[rule.op](value, rule.threshold):
            state.pending_since_ns = None
            if state.firing is None:
                return None
            state.firing = None
            return self._event(state, "resolved", value, inputs.ts_ns, 0)
        if state.firing is not None:
            return None
        if state.pending_since_ns is None:
            state.pending_since_ns = inputs.ts_ns
        held_ns = inputs.ts_ns - state.pending_since_ns
        if held_ns < rule.for_s * _NS_PER_S:
            return None
        state.firing = self._event(state, "firing", value, inputs.ts_ns, held_ns)
        state.fired += 1
        return state.firing

    def _event(
        self,
        state: _RuleState,
        kind: Literal["firing", "resolved"],
        value: float,
        ts_ns: int,
        held_ns: int,
    ) -> AlertEvent:
        rule = state.rule
        self._seq += 1
        if kind == "firing":
            message = (
                f"[{rule.severity.upper()}] {rule.name}: {rule.metric} = {value:g} "
                f"{rule.op} {rule.threshold:g} for {held_ns / _NS_PER_S:g} s"
            )
        else:
            message = (
                f"[RESOLVED] {rule.name}: {rule.metric} = {value:g} "
                f"(no longer {rule.op} {rule.threshold:g})"
            )
        return AlertEvent(
            rule=rule.name,
            state=kind,
            severity=rule.severity,
            metric=rule.metric,
            value=value,
            threshold=rule.threshold,
            op=rule.op,
            ts_ns=ts_ns,
            message=message,
            response=rule.response,
            fingerprint=state.fingerprint,
            seq=self._seq,
        )


def build_sinks(settings: AlertsSpec, token: str | None) -> list[AlertSink]:
    """Sinks named by ``settings``: log (if ``log``), file (if ``file``), one per webhook."""
    sinks: list[AlertSink] = []
    if settings.log:
        sinks.append(LogSink())
    if settings.file is not None:
        sinks.append(FileSink(settings.file))
    sinks.extend(WebhookSink(spec, token) for spec in settings.webhooks)
    return sinks


class AlertManager:
    """Evaluate the configured rules, dispatch events off-thread, trigger responses.

    Parameters
    ----------
    settings
        The ``alerts`` section of the deploy settings.
    token
        Bearer token for the webhooks (a secret; never logged).
    journal
        Called with every event on the dispatcher thread, before any sink.
    respond
        ``respond(response, event)``: called once per firing of a rule whose ``response`` is
        not ``"none"``, on the thread that calls :meth:`evaluate`.
    sinks
        Sinks to use instead of those built from ``settings`` (tests, custom sinks).

    Raises
    ------
    ConfigError
        A rule has an automatic response but no ``respond`` hook was given.
    """

    def __init__(
        self,
        settings: AlertsSpec,
        token: str | None = None,
        journal: Callable[[AlertEvent], None] | None = None,
        respond: Responder | None = None,
        *,
        sinks: Sequence[AlertSink] | None = None,
    ) -> None:
        with_response = [r.name for r in settings.rules if r.response != "none"]
        if with_response and respond is None:
            raise ConfigError(
                f"alerts.rules {with_response} have an automatic response but no responder"
            )
        self._evaluator = AlertEvaluator(settings.rules)
        self._respond = respond
        chosen = list(sinks) if sinks is not None else build_sinks(settings, token)
        self._dispatcher = AlertDispatcher(chosen, queue_size=settings.queue_size, journal=journal)

    @property
    def dispatcher(self) -> AlertDispatcher:
        """The dispatcher (its counters feed ``/metrics``)."""
        return self._dispatcher

    def evaluate(self, inputs: AlertInputs) -> list[AlertEvent]:
        """Evaluate the rules, queue the events for the sinks, run new responses.

        Every event is submitted before any response runs. A response that raises is logged;
        the others still run, then the first error is raised again.
        """
        events = self._evaluator.evaluate(inputs)
        for event in events:
            self._dispatcher.submit(event)
        errors: list[Exception] = []
        for event in events:
            if event.state == "firing" and event.response != "none" and self._respond:
                try:
                    self._respond(event.response, event)
                except Exception as exc:
                    logger.exception("alert response %s of %s failed", event.response, event.rule)
                    errors.append(exc)
        if errors:
            raise errors[0]
        return events

    def active(self) -> list[AlertEvent]:
        """Currently firing alerts."""
        return self._evaluator.active()

    def fired_counts(self) -> dict[str, int]:
        """Number of firings per rule name (for ``/metrics``)."""
        return self._evaluator.fired_counts()

    def close(self, timeout: float = 5.0) -> bool:
        """Drain the queued events into the sinks and stop; True if all were delivered."""
        return self._dispatcher.close(timeout)

    def __enter__(self) -> AlertManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
