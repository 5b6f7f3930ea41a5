"""The pre/during/post deployment checklist (``l2trader deploy checklist``).

:func:`build_checklist` lists what an operator must confirm before, during and after a
deployment, and ticks what the tool can verify itself: the settings load, the bundle verifies,
the readiness score (from a :class:`~l2trader.deploy.readiness.ReadinessReport`), the secrets
are in the environment, backups are scheduled into a writable directory, alert sinks are
configured, the kill switch has a limit, the journal verifies and a backup is newer than it.
Everything else is ``manual``; an item the tool could verify but lacks the input for (no
settings, no bundle, no journal yet) is ``manual`` too, with the reason in ``detail``.

Examples
--------
>>> items = build_checklist(None, None)
>>> sorted({i.phase for i in items}), {i.status for i in items}
(['during', 'post', 'pre'], {'manual'})
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from rich.table import Table
from rich.text import Text

from l2trader.deploy.bundle_archive import verify_bundle
from l2trader.deploy.settings import DeploySettings

__all__ = ["ChecklistItem", "Phase", "Status", "build_checklist", "render_checklist"]

Phase = Literal["pre", "during", "post"]
Status = Literal["ok", "fail", "manual"]
_MARK: Final = {"ok": "[green]✔ ok", "fail": "[bold red]✘ FAIL", "manual": "[yellow]☐ manual"}


@dataclass(frozen=True)
class ChecklistItem:
    """One checklist line; ``verifiable`` = the tool can check it itself."""

    phase: Phase
    text: str
    verifiable: bool
    status: Status
    detail: str = ""


def _check(phase: Phase, text: str, ok: bool | None, detail: str) -> ChecklistItem:
    """A verifiable item: ``ok`` None = not checkable now (``manual``)."""
    status: Status = "manual" if ok is None else "ok" if ok else "fail"
    return ChecklistItem(phase, text, True, status, detail)


def _manual(phase: Phase, text: str, detail: str = "") -> ChecklistItem:
    return ChecklistItem(phase, text, False, "manual", detail)


def _writable_dir(path: Path) -> tuple[bool, str]:
    """Whether ``path`` is (or can be created as) a writable directory."""
    path = path.absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return False, f"{existing or path} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return False, f"{existing} is not writable"
    return True, f"{path} writable" + ("" if existing == path else f" (created under {existing})")


def _settings_item(settings: DeploySettings | None, error: str | None) -> ChecklistItem:
    text = "settings valid (defaults < file < L2TRADER_* environment)"
    if error is not None:
        return _check("pre", text, False, error)
    if settings is None:
        return _check("pre", text, None, "no settings given (--settings or --bundle)")
    return _check("pre", text, True, f"settings {settings.name!r} loaded")


def _bundle_item(bundle: Path | None) -> ChecklistItem:
    text = "bundle verified: checksums, manifest complete, bundle.json consistent"
    if bundle is None:
        return _check("pre", text, None, "no bundle given (--bundle)")
    report = verify_bundle(bundle)
    return _check("pre", text, report.ok, str(report))


def _readiness_items(readiness: object | None) -> list[ChecklistItem]:
    score_text = "readiness score at least readiness.min_score (`l2trader deploy check`)"
    evidence_text = "validation evidence present, fresh, passing, for this strategy and code"
    if readiness is None:
        why = "run `l2trader deploy check`"
        return [_check("pre", score_text, None, why), _check("pre", evidence_text, None, why)]
    score = float(getattr(readiness, "score", math.nan))
    ready = bool(getattr(readiness, "ready", False))
    detail = f"score {score:.1f} (min {getattr(readiness, 'min_score', '?')})"
    items = getattr(readiness, "items", ())
    evidence = [i for i in items if getattr(i, "group", "") == "evidence"]
    failing = [f"{i.name}: {i.value}" for i in evidence if not getattr(i, "passed", False)]
    ev_ok = bool(evidence) and not failing
    ev_detail = "; ".join(failing) or ("all passing" if evidence else "no evidence items")
    return [
        _check("pre", score_text, ready, detail),
        _check("pre", evidence_text, ev_ok, ev_detail),
    ]


def _secrets_item(settings: DeploySettings | None) -> ChecklistItem:
    text = "secrets set in the environment, never in files (L2TRADER_WEBHOOK_TOKEN)"
    if settings is None:
        return _check("pre", text, None, "no settings")
    if not settings.alerts.webhooks:
        return _check("pre", text, True, "no webhook configured: no secret needed")
    if settings.webhook_token is None:
        return _check("pre", text, False, "webhooks configured but L2TRADER_WEBHOOK_TOKEN unset")
    return _check("pre", text, True, "L2TRADER_WEBHOOK_TOKEN set")


def _backup_item(settings: DeploySettings | None) -> ChecklistItem:
    text = "backups scheduled (backup.every_s) into a writable backup.dir"
    if settings is None:
        return _check("pre", text, None, "no settings")
    ok, detail = _writable_dir(Path(settings.backup.dir))
    if settings.backup.every_s is None:
        return _check("pre", text, False, "backup.every_s is null: no scheduled backup")
    return _check("pre", text, ok, f"every {settings.backup.every_s:g} s; {detail}")


def _sinks_item(settings: DeploySettings | None) -> ChecklistItem:
    text = "alert sinks configured (log, file, webhooks) and the file sink writable"
    if settings is None:
        return _check("pre", text, None, "no settings")
    alerts = settings.alerts
    sinks = (["log"] if alerts.log else []) + (["file"] if alerts.file else [])
    sinks += [f"webhook {w.url}" for w in alerts.webhooks]
    if not sinks:
        return _check("pre", text, False, "no sink: alerts would go nowhere")
    if alerts.file:
        ok, detail = _writable_dir(Path(alerts.file).parent)
        if not ok:
            return _check("pre", text, False, f"alerts.file: {detail}")
    return _check("pre", text, True, ", ".join(sinks))


def _kill_switch_item(settings: DeploySettings | None) -> ChecklistItem:
    text = "kill switch armed: risk.max_drawdown or risk.max_daily_loss finite"
    if settings is None:
        return _check("during", text, None, "no settings")
    risk = settings.paper.engine.risk
    limits = {"max_drawdown": risk.max_drawdown, "max_daily_loss": risk.max_daily_loss}
    armed = {k: v for k, v in limits.items() if math.isfinite(v)}
    detail = ", ".join(f"{k} {v:g}" for k, v in armed.items()) or "both limits are inf"
    return _check("during", text, bool(armed), detail)


def _journal_item(settings: DeploySettings | None) -> ChecklistItem:
    text = "journal verified after the stop (seqs gapless, commits complete)"
    if settings is None:
        return _check("post", text, None, "no settings")
    path = settings.paper.journal_path
    if not path.is_file():
        return _check("post", text, None, f"no journal yet at {path}")
    from l2trader.errors import JournalError
    from l2trader.paper.journal import Journal

    try:
        with Journal(path) as journal:
            report = journal.verify(raise_on_error=False)
    except JournalError as exc:
        return _check("post", text, False, str(exc))
    detail = "; ".join(report.issues[:3]) or f"ok: {report.commits} commits, seq {report.last_seq}"
    return _check("post", text, report.ok, detail)


def _backup_taken_item(settings: DeploySettings | None) -> ChecklistItem:
    text = "backup taken after the stop (`l2trader deploy backup`), newer than the journal"
    if settings is None:
        return _check("post", text, None, "no settings")
    journal = settings.paper.journal_path
    if not journal.is_file():
        return _check("post", text, None, f"no journal yet at {journal}")
    from l2trader.deploy.backup_schedule import list_backups

    since = journal.stat().st_mtime_ns
    newer = [p for p, _ in list_backups(Path(settings.backup.dir)) if p.stat().st_mtime_ns >= since]
    if not newer:
        return _check("post", text, False, f"no archive in {settings.backup.dir} newer than it")
    return _check("post", text, True, str(newer[-1]))


def _phase_items(settings: DeploySettings | None) -> list[ChecklistItem]:
    stale = f"{settings.paper.feed.stale_after_s:g} s" if settings is not None else "the limit"
    return [
        _manual("pre", "test alert sent; each webhook receiver confirmed it"),
        _manual("pre", "operator on call knows the runbook: scripts/stop.sh, deploy restore"),
        _manual(
            "during",
            "/healthz 200 (scripts/healthcheck.sh); /readyz 200: feed fresh, "
            "journal writable, risk not halted",
        ),
        _manual("during", "Prometheus scrapes /metrics; l2t_events_total increasing"),
        _manual("during", "no critical alert firing; alert deliveries succeeding"),
        _manual(
            "during", f"feed lag (l2t_feed_stale_seconds) below paper.feed.stale_after_s = {stale}"
        ),
        _manual("during", "scheduled backups succeeding (l2t_backup_last_success_timestamp)"),
        _manual(
            "post", "graceful stop: scripts/stop.sh (SIGTERM) exits 0; log says 'service stopped'"
        ),
        _manual("post", "session report archived (`l2trader paper report JOURNAL`) with logs"),
    ]


def build_checklist(
    settings: DeploySettings | None,
    bundle: Path | None,
    readiness: object | None = None,
    *,
    settings_error: str | None = None,
) -> list[ChecklistItem]:
    """The deployment checklist, pre then during then post, verifiable items ticked.

    Parameters
    ----------
    settings
        Effective deploy settings (None: the settings items are ``manual``).
    bundle
        Bundle archive to verify (None: ``manual``).
    readiness
        A :class:`~l2trader.deploy.readiness.ReadinessReport` (``score``, ``ready``,
        ``min_score``, ``items``); None: ``manual``.
    settings_error
        Why the settings failed to load (the settings item then fails).
    """
    checks: list[Callable[[DeploySettings | None], ChecklistItem]] = [
        _secrets_item, _backup_item, _sinks_item, _kill_switch_item, _journal_item,
        _backup_taken_item,
    ]  # fmt: skip
    items = [_settings_item(settings, settings_error), _bundle_item(bundle)]
    items += _readiness_items(readiness) + [check(settings) for check in checks]
    items += _phase_items(settings)
    order = {"pre": 0, "during": 1, "post": 2}
    return sorted(items, key=lambda i: order[i.phase])


def render_checklist(items: list[ChecklistItem]) -> Table:
    """A rich table: phase, status mark, item, who checks it, detail."""
    failed = sum(i.status == "fail" for i in items)
    ok = sum(i.status == "ok" for i in items)
    table = Table(title=f"deployment checklist: {ok} ok, {failed} failing, "
                        f"{len(items) - ok - failed} manual")  # fmt: skip
    for column in ("phase", "status", "item", "checked by", "detail"):
        table.add_column(column, overflow="fold")
    for i in items:
        by = "tool" if i.verifiable else "operator"
        table.add_row(i.phase, _MARK[i.status], Text(i.text), by, Text(i.detail))
    return table
