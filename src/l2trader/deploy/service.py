"""``deploy run``: the paper session of a deployment, supervised as a long-running service.

One asyncio loop on one thread runs the :class:`~l2trader.paper.session.Session` (feed ->
bounded queue -> engine -> journal), the HTTP service of :mod:`l2trader.paper.service` and
the alert evaluation. Off that thread: the alert sinks (the dispatcher thread of
:mod:`l2trader.deploy.alert_sinks`, so a slow webhook never delays a decision) and the
scheduled backups (:class:`~l2trader.deploy.backup.BackupScheduler`, SQLite online backup).

- ``/healthz``: liveness; ``/readyz``: 200 only when the feed is fresh (an arrival within
  ``paper.feed.stale_after_s``), the journal is writable and the risk manager has not
  halted trading; otherwise 503 with every failing reason.
- ``/metrics``: the session's ``l2t_*`` families plus ``l2t_halted``,
  ``l2t_alerts_active``, ``l2t_alert_firings_total{rule}``,
  ``l2t_alert_deliveries_total{sink,outcome}``, ``l2t_feed_stale_seconds`` and
  ``l2t_backup_last_success_timestamp_seconds``.
- Live validation: every ``paper.validate_every_s`` the analyzer's metrics and checks over
  the rows so far (:mod:`l2trader.paper.validation_task`), on the dashboard and ``/metrics``.
- Alerts: every ``alerts.eval_every_s`` the rules see :class:`AlertInputs` built from the
  live metrics; each event is journaled (``events`` table, kind ``"alert"``) on the loop
  thread, then queued for the sinks; a rule's automatic response goes through
  :meth:`Session.operate` (journaled, applied by the engine's risk manager).
- SIGTERM/SIGINT: graceful stop (working orders cancelled, journal flushed, final
  checkpoint), then the alert queue is drained, a last backup is taken when backups are
  configured, and the service file is removed.
- ``<journal>.service.json`` holds the service URL and pid while it runs (the port may be
  ephemeral), for scripts and tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from l2trader.atomic import write_text_atomic
from l2trader.deploy.alerts import AlertEvent, AlertInputs, AlertManager
from l2trader.deploy.backup_schedule import BackupScheduler
from l2trader.deploy.logs import configure_logging
from l2trader.deploy.settings import DeploySettings
from l2trader.paper.config import resolve_instrument
from l2trader.paper.journal import Journal
from l2trader.paper.live_metrics import LiveMetrics
from l2trader.paper.service import create_app, serve
from l2trader.paper.session import Session, SessionResult
from l2trader.paper.validation_task import MarketSampler, start_live_validation
from l2trader.paper.warmup import warm_up

__all__ = ["DeployedService", "RecentIncrease", "has_session", "service_file"]

logger = logging.getLogger("l2trader.deploy")
_WINDOW_NS: Final = 60_000_000_000  # error rate and queue overflows: the last minute


def service_file(settings: DeploySettings) -> Path:
    """``<journal>.service.json``: URL and pid of the running service."""
    journal = settings.paper.journal_path
    return journal.with_name(journal.name + ".service.json")


def has_session(journal: Path) -> bool:
    """True when ``journal`` already holds a session (the service then resumes it)."""
    if not journal.is_file():
        return False
    with Journal(journal) as j:
        return j.holds_session


class DeployedService:
    """The supervised paper session of ``settings`` (see the module docstring).

    Parameters
    ----------
    settings
        Effective deploy settings (``paper`` is the session; ``alerts``, ``backup``, ``log``).
    port
        HTTP port; None = ``paper.service.port`` (0 = an ephemeral port).
    """

    def __init__(self, settings: DeploySettings, *, port: int | None = None) -> None:
        self.settings = settings
        self.port = settings.paper.service.port if port is None else port
        token = settings.webhook_token.get_secret_value() if settings.webhook_token else None
        self._token = token
        inst = resolve_instrument(settings.paper.data)
        self.metrics = LiveMetrics(inst.tick_size, book_in_ticks=True)
        resume = has_session(settings.paper.journal_path)
        self.session = Session(settings.paper, resume=resume, metrics=self.metrics,
                               on_arrival=self._arrived)  # fmt: skip
        self.alerts = AlertManager(settings.alerts, token, respond=self._respond)
        self.backups = _scheduler(settings)
        self.metrics.add_collector(_ServiceCollector(self))
        paper = settings.paper
        self.sampler = MarketSampler(lambda: self.session.engine, inst.tick_size,
                                     paper.engine.grid_ns)  # fmt: skip
        self.last_arrival_ns = time.monotonic_ns()
        self._errors = RecentIncrease(_WINDOW_NS)
        self._overflows = RecentIncrease(_WINDOW_NS)
        self.url = ""

    # ------------------------------------------------------------------ state for probes

    def _arrived(self, arrivals: int) -> None:
        self.last_arrival_ns = time.monotonic_ns()
        self.sampler.sample()

    def feed_stale_s(self) -> float:
        """Seconds since the last arrival was processed (wall clock)."""
        return (time.monotonic_ns() - self.last_arrival_ns) / 1e9

    def ready(self) -> tuple[bool, str]:
        """``/readyz``: feed fresh, journal writable, risk not halted (reasons either way)."""
        stale_after = self.settings.paper.feed.stale_after_s
        journal = self.settings.paper.journal_path
        checks = {
            "feed fresh": self.metrics.batches > 0 and self.feed_stale_s() <= stale_after,
            "journal writable": os.access(journal, os.W_OK) and os.access(journal.parent, os.W_OK),
            "risk not halted": not self.session.engine.halted,
        }
        failing = [name for name, ok in checks.items() if not ok]
        if failing:
            return False, "not " + ", not ".join(failing)
        return True, "feed fresh, journal writable, risk not halted"

    def inputs(self) -> AlertInputs:
        """The alert rules' view of the service now."""
        now, stats = time.monotonic_ns(), self.session.stats
        p99 = self.metrics.decision_latency.percentiles()[1]
        counters = self.session.engine.counters()
        disk = shutil.disk_usage(self.settings.paper.journal_path.parent)
        return AlertInputs(
            ts_ns=time.time_ns(),
            drawdown=self.metrics.drawdown if self.metrics.state_ts_ns >= 0 else math.nan,
            feed_stale_s=self.feed_stale_s(),
            latency_p99_ms=p99 / 1e6 if p99 is not None else math.nan,
            # session alerts (feed gaps, disconnects, backpressure) per minute (60 s window)
            error_rate=float(self._errors.update(now, len(stats.alerts))),
            kill_switch=float(counters["risk_kill_switch"] > 0),
            disk_free_gib=disk.free / 2**30,
            queue_overflows=float(self._overflows.update(now, stats.blocked_puts)),
        )

    # ------------------------------------------------------------------ alerts

    def _respond(self, response: str, event: AlertEvent) -> None:
        """Run an automatic response through the session; a failure is logged, never raised."""
        try:
            changed = self.session.operate(response, f"alert {event.rule}: {event.message}")
        except Exception:
            logger.exception("automatic response %s of %s failed", response, event.rule)
            return
        logger.warning("automatic response", extra={"response": response, "rule": event.rule,
                                                    "changed": changed})  # fmt: skip

    def evaluate_alerts(self) -> list[AlertEvent]:
        """One evaluation: journal each event, dispatch it, run responses."""
        events = self.alerts.evaluate(self.inputs())
        for event in events:
            detail = dataclasses.asdict(event)
            self.session.journal.record_event("alert", event.rule, event.state, detail)
            self.metrics.on_alert(f"{event.rule}:{event.state}", event.message, time.time_ns())
        return events

    async def _alert_loop(self) -> None:
        period = self.settings.alerts.eval_every_s
        while True:
            await asyncio.sleep(period)
            try:
                self.evaluate_alerts()
            except Exception:
                logger.exception("alert evaluation failed")

    # ------------------------------------------------------------------ run

    async def run(self) -> SessionResult:
        """Serve and trade until the feed ends or SIGTERM/SIGINT; then shut down cleanly."""
        paper = self.settings.paper
        started = time.monotonic()
        warm_up(self.session.new_engine)  # compile before serving: probes never stall on it
        logger.info("engine ready", extra={"compile_s": round(time.monotonic() - started, 2)})
        self.last_arrival_ns = time.monotonic_ns()
        app = create_app(self.metrics, ready=self.ready)
        handle = await serve(app, paper.service.host, self.port)
        self.url = handle.url
        write_text_atomic(service_file(self.settings),
                          json.dumps({"url": self.url, "pid": os.getpid()}))  # fmt: skip
        logger.info("service started", extra={"url": self.url, "journal": str(paper.journal)})
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._alert_loop())]
        validation = start_live_validation(self.session, self.metrics, self.sampler)
        tasks += [validation] if validation is not None else []
        try:
            result = await self.session.run(handle_signals=True)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await handle.stop()
            self._shutdown()
        logger.info(
            "service stopped",
            extra={"status": result.status, "position": result.portfolio["position"]},
        )
        return result

    def _shutdown(self) -> None:
        delivered = self.alerts.close()
        if not delivered:
            logger.error("alert queue not fully delivered at shutdown")
        if self.backups is not None:
            self.backups.close()
            try:
                info = self.backups.backup_now()
                logger.info("backup at shutdown", extra={"archive": str(info.path)})
            except Exception:
                logger.exception("backup at shutdown failed")
        service_file(self.settings).unlink(missing_ok=True)


class RecentIncrease:
    """Increase of a running total over the last ``window_ns``, from samples of it.

    An increase counts from the sample that first saw it until that sample is older than
    the window; the total is 0 at construction.

    >>> r = RecentIncrease(60)
    >>> r.update(10, 2), r.update(50, 3), r.update(75, 3), r.update(111, 3)
    (2, 3, 1, 0)
    """

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self._samples: deque[tuple[int, int]] = deque([(-(2**62), 0)])

    def update(self, now_ns: int, total: int) -> int:
        """Record ``total`` at ``now_ns``; return its increase within the window."""
        self._samples.append((now_ns, total))
        while len(self._samples) > 1 and now_ns - self._samples[1][0] > self.window_ns:
            self._samples.popleft()  # the oldest kept sample is the baseline before the window
        return total - self._samples[0][1]


def _scheduler(settings: DeploySettings) -> BackupScheduler | None:
    spec = settings.backup
    if spec.every_s is None:
        return None
    registry = Path(spec.registry) if spec.registry else None
    return BackupScheduler(spec, journal=settings.paper.journal_path, registry=registry,
                           catalog=Path(settings.paper.data.catalog))  # fmt: skip


class _ServiceCollector(Collector):
    """The deploy service's own ``/metrics`` families (see the module docstring)."""

    def __init__(self, service: DeployedService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        """Yield the families at scrape time."""
        s = self.service
        yield GaugeMetricFamily("l2t_halted", "1 when trading is halted.", s.session.engine.halted)
        yield GaugeMetricFamily("l2t_feed_stale_seconds", "Seconds since the last arrival.",
                                s.feed_stale_s())  # fmt: skip
        yield GaugeMetricFamily("l2t_alerts_active", "Alerts firing now.", len(s.alerts.active()))
        fired = CounterMetricFamily("l2t_alert_firings", "Alert firings by rule.", labels=["rule"])
        for rule, n in sorted(s.alerts.fired_counts().items()):
            fired.add_metric([rule], n)
        yield fired
        sent = CounterMetricFamily("l2t_alert_deliveries", "Alert deliveries by sink.",
                                   labels=["sink", "outcome"])  # fmt: skip
        for c in s.alerts.dispatcher.counters():
            for outcome in ("sent", "failed", "dropped"):
                sent.add_metric([c.name, outcome], getattr(c, outcome))
        yield sent
        yield CounterMetricFamily("l2t_alerts_dropped", "Alerts refused by a full queue.",
                                  value=s.alerts.dispatcher.dropped)  # fmt: skip
        last = s.backups.status.last_success_ns if s.backups is not None else None
        yield GaugeMetricFamily("l2t_backup_last_success_timestamp_seconds",
                                "Wall time of the last good backup (NaN: none).",
                                last / 1e9 if last else math.nan)  # fmt: skip


def configure(settings: DeploySettings) -> None:
    """Structured JSON logs per ``settings.log``, the webhook token redacted everywhere."""
    secrets = [settings.webhook_token.get_secret_value()] if settings.webhook_token else []
    configure_logging(settings.log, secrets=secrets)
