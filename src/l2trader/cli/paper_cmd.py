"""``l2trader paper start|resume|stop|status|report``: paper sessions from the command line.

- ``start CONFIG [--feed replay|binance] [--speed X] [--journal PATH] [--service]`` runs a
  new session in the foreground until the feed ends or it is stopped (SIGTERM/SIGINT or
  ``paper stop``); ``--service`` also serves health, Prometheus metrics and the dashboard on
  the config's ``[service]`` address.
- ``resume [--journal PATH]`` continues the session of a journal from its latest
  checkpoint (its configuration is read from the journal, so nothing can drift).
- ``stop`` creates the stop file and signals the pid in the pid file (graceful: working
  orders cancelled, journal flushed, final checkpoint); ``--wait`` seconds for it to exit.
- ``status`` prints the running state (status file, pid liveness) and the journal's counts.
- ``report [--out DIR] [--checks FILE]`` analyses the journal (``report.json`` and
  ``report.html`` by the analyzer) and, for a finished replay, the parity with a backtest of
  the same events (``parity.json``); exit 1 when a check fails or parity does not hold.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import numpy as np
import typer
from rich.table import Table

from l2trader.analysis.analyze import analyze, write_report
from l2trader.analysis.checks import ChecksConfig
from l2trader.analysis.inputs import RunInputs
from l2trader.atomic import write_text_atomic
from l2trader.cli.market_series import EXCHANGE_SESSION_S, build_market_series
from l2trader.cli.progress import console
from l2trader.data.catalog import Catalog
from l2trader.engine.backtest import data_fingerprint
from l2trader.errors import ConfigError, JournalError
from l2trader.paper.config import PaperConfig, resolve_instrument
from l2trader.paper.journal import Journal, JournalRows
from l2trader.paper.live_metrics import LiveMetrics
from l2trader.paper.recovery import checkpoint_position
from l2trader.paper.service import create_app, serve
from l2trader.paper.session import Session, SessionResult
from l2trader.paper.validate import ParityReport, backtest_output, compare_outputs, output_tables
from l2trader.paper.validation_task import MarketSampler, start_live_validation
from l2trader.paper.warmup import warm_up

__all__ = [
    "app",
    "journal_config",
    "report_session",
    "run_session",
    "session_inputs",
    "write_paper_report",
]

app = typer.Typer(
    name="paper",
    no_args_is_help=True,
    add_completion=False,
    help="Paper trading: the backtest engine on a real-time feed, journaled.",
)

DEFAULT_JOURNAL: Final = Path("paper/journal.sqlite")
JournalOption = Annotated[Path, typer.Option(help="the session's SQLite journal")]
_TABLES: Final = ("intents", "order_events", "fills", "state")


def journal_config(journal: Path) -> PaperConfig:
    """The configuration a journal's session was started with (from its ``meta`` row)."""
    if not journal.is_file():
        raise JournalError(f"no journal at {journal}")
    with Journal(journal) as j:
        return PaperConfig.from_json(j.meta.config_json)


def run_session(config: PaperConfig, *, resume: bool, service: bool = False) -> SessionResult:
    """Run a session in the foreground (signals stop it gracefully); print its summary."""
    inst = resolve_instrument(config.data)
    metrics = LiveMetrics(inst.tick_size, book_in_ticks=True) if service else None
    sampler = MarketSampler(lambda: session.engine, inst.tick_size, config.engine.grid_ns)
    session = Session(config, resume=resume, metrics=metrics,
                      on_arrival=sampler.sample if service else None)  # fmt: skip

    async def main() -> SessionResult:
        if metrics is None:
            return await session.run(handle_signals=True)
        return await _served(session, metrics, sampler)

    result = asyncio.run(main())
    _print_result(result)
    return result


async def _served(session: Session, metrics: LiveMetrics, sampler: MarketSampler) -> SessionResult:
    """The session with its HTTP service and live validation; print the live verdict."""
    cfg = session.config
    warm_up(session.new_engine)  # compile first: the service never stalls on it
    handle = await serve(create_app(metrics), cfg.service.host, cfg.service.port)
    console.print(f"service: {handle.url} (dashboard, /metrics, /healthz)")
    task = start_live_validation(session, metrics, sampler)
    async with handle:
        try:
            result = await session.run(handle_signals=True)
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    live = metrics.validation
    if live is not None:
        verdict = "PASS" if live["passed"] else "FAIL"
        console.print(f"live validation (last, {live['n_state']} states, {live['n_fills']} "
                      f"fills): {verdict}")  # fmt: skip
    return result


def _print_result(result: SessionResult) -> None:
    s, lat = result.stats, result.latency
    table = Table(title=f"paper session: {result.status}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows: dict[str, Any] = {
        "arrivals (this run)": s.arrivals, "events (this run)": s.events,
        "events consumed (session)": result.position.events, "commits": s.commits,
        "checkpoints": s.checkpoints, "journal last seq": result.last_seq,
        "feed->decision p50 (us)": lat.get("p50_ns", float("nan")) / 1e3,
        "feed->decision p99 (us)": lat.get("p99_ns", float("nan")) / 1e3,
        "queue max depth": s.queue_max_depth, "feed blocked (ms)": s.blocked_ns / 1e6,
        "alerts": len(s.alerts), **result.portfolio,
    }  # fmt: skip
    for key, value in rows.items():
        table.add_row(key, f"{value:,.6g}" if isinstance(value, float) else f"{value:,}")
    console.print(table)
    for alert in s.alerts[-10:]:
        console.print(f"[yellow]alert {alert['kind']}: {alert['message']}[/yellow]")


@app.command("start")
def start(
    config: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="TOML or JSON")],
    feed: Annotated[str | None, typer.Option(help="replay | binance")] = None,
    speed: Annotated[float | None, typer.Option(help="replay speed (omit: max)")] = None,
    journal: Annotated[Path | None, typer.Option(help="override the config's journal")] = None,
    service: Annotated[bool, typer.Option(help="serve health/metrics/dashboard")] = False,
) -> None:  # fmt: skip
    """Start a new paper session (foreground; stop it with ``paper stop`` or SIGTERM)."""
    cfg = PaperConfig.from_file(config)
    updates: dict[str, Any] = {}
    if feed is not None:
        if feed not in ("replay", "binance"):
            raise ConfigError(f"--feed must be 'replay' or 'binance', got {feed!r}")
        updates["kind"] = feed
    if speed is not None:
        updates["speed"] = speed
    data = cfg.model_dump(mode="json")
    data["feed"] = {**data["feed"], **updates}
    if journal is not None:
        data["journal"] = str(journal)
    run_session(PaperConfig(**data), resume=False, service=service)


@app.command("resume")
def resume(
    journal: JournalOption = DEFAULT_JOURNAL,
    service: Annotated[bool, typer.Option(help="serve health/metrics/dashboard")] = False,
) -> None:
    """Continue the journal's session from its latest checkpoint."""
    run_session(journal_config(journal), resume=True, service=service)


def _pid(cfg: PaperConfig) -> int | None:
    """The running session's pid (None when no pid file or the process is gone)."""
    try:
        pid = int(cfg.pid_path.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


@app.command("stop")
def stop(
    journal: JournalOption = DEFAULT_JOURNAL,
    wait: Annotated[float, typer.Option(help="seconds to wait for the exit")] = 30.0,
) -> None:
    """Stop the running session gracefully (stop file + SIGTERM to its pid)."""
    cfg = journal_config(journal)
    cfg.stop_path.touch()
    pid = _pid(cfg)
    if pid is None:
        console.print("no running session (stop file left for its next start)")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while _pid(cfg) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    console.print("stopped" if _pid(cfg) is None else f"still running after {wait} s")


@app.command("status")
def status(journal: JournalOption = DEFAULT_JOURNAL) -> None:
    """Print the session's state, counters and journal row counts."""
    cfg = journal_config(journal)
    info: dict[str, Any] = {}
    if cfg.status_path.is_file():
        info = json.loads(cfg.status_path.read_text())
    with Journal(cfg.journal_path) as j:
        report = j.verify(raise_on_error=False)
        pos = checkpoint_position(j.latest_checkpoint())
    state = info.get("state", "unknown")
    if state == "running" and _pid(cfg) is None:
        state = "dead (resume it)"
    console.print(f"session {cfg.name}: {state}; journal {cfg.journal_path}")
    console.print(f"journal ok={report.ok} last_seq={report.last_seq} counts={report.counts}")
    console.print(f"latest checkpoint: events={pos.events} arrivals={pos.arrivals} "
                  f"finished={pos.finished} stopped={pos.stopped}")  # fmt: skip
    if info:
        console.print_json(data={k: info[k] for k in ("stats", "latency", "portfolio")
                                 if k in info})  # fmt: skip


def _rows_dict(rows: JournalRows) -> dict[str, np.ndarray]:
    return {t: getattr(rows, t) for t in _TABLES}


def _capital(cfg: PaperConfig, equity: np.ndarray, given: float | None) -> float:
    if given is not None:
        return given
    if cfg.engine.initial_cash > 0:
        return cfg.engine.initial_cash
    notional = np.abs(equity["position"] * equity["mid"])
    notional = notional[np.isfinite(notional)]
    if notional.size and notional.max() > 0:
        return float(notional.max())
    raise ConfigError("capital undefined (no initial cash, never a position): pass --capital")


def session_inputs(cfg: PaperConfig, rows: JournalRows, session_id: str,
                   capital: float | None = None, code_version: str = "") -> RunInputs:  # fmt: skip
    """Analyzer inputs of a journal: its C5-C7 rows, the replayed market when it has one."""
    inst = resolve_instrument(cfg.data)
    calendar: Literal["24/7", "exchange"] = "exchange" if inst.kind == "equity" else "24/7"
    d, market, fingerprint = cfg.data, None, ""
    if cfg.feed.kind == "replay" and Catalog(d.catalog).partitions(d.venue, d.symbol):
        catalog = Catalog(d.catalog)
        market = build_market_series(catalog, d.venue, d.symbol, d.start, d.end,
                                     tick_size=inst.tick_size)  # fmt: skip
        fingerprint = data_fingerprint(catalog, d.venue, d.symbol, d.start, d.end)
    return RunInputs(
        run_id=session_id, config_id=cfg.id, code_version=code_version,
        data_fingerprint=fingerprint, strategy_id=cfg.strategy.strategy_id(cfg.engine),
        tick_size=inst.tick_size, capital=_capital(cfg, rows.state, capital), calendar=calendar,
        session_s=EXCHANGE_SESSION_S if calendar == "exchange" else 86_400.0,
        equity=rows.state, fills=rows.fills, orders=rows.intents,
        order_events=rows.order_events, market=market,
    )  # fmt: skip


def _parity(cfg: PaperConfig, rows: JournalRows, events: int) -> ParityReport:
    d = cfg.data
    chunks = Catalog(d.catalog).read(d.venue, d.symbol, d.start, d.end)
    return compare_outputs(_rows_dict(rows), output_tables(backtest_output(cfg, chunks, events)))


def _print_parity(parity: ParityReport) -> None:
    table = Table(title=f"parity with a backtest: {'IDENTICAL' if parity.identical else 'DIFFERS'}")
    for name in ("table", "paper rows", "backtest rows", "equal rows", "first differences"):
        table.add_column(name)
    for t in parity.tables.values():
        first = "; ".join(f"row {d['row']}: {d['fields']}" for d in t.differences[:3])
        table.add_row(t.table, str(t.paper_rows), str(t.backtest_rows), str(t.equal_rows), first)
    console.print(table)


@app.command("report")
def report(
    journal: JournalOption = DEFAULT_JOURNAL,
    out: Annotated[Path | None, typer.Option(help="directory (default: by the journal)")] = None,
    checks: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    capital: Annotated[float | None, typer.Option(help="returns' base, quote")] = None,
) -> None:  # fmt: skip
    """Analyse the session (report.json/html) and check parity with a backtest (parity.json)."""
    spec = ChecksConfig.from_file(checks) if checks is not None else None
    ok, _ = report_session(journal, out, spec, capital)
    if not ok:
        raise typer.Exit(1)


def report_session(journal: Path, out: Path | None = None, spec: ChecksConfig | None = None,
                   capital: float | None = None) -> tuple[bool, Path]:  # fmt: skip
    """Analyse a journal's session, check parity (finished replay), write ``paper_report.json``.

    Returns the verdict (checks passed and parity identical when checked) and the path of
    ``paper_report.json`` (default directory: ``report-<session id>`` beside the journal).
    """
    cfg = journal_config(journal)
    with Journal(journal) as j:
        j.verify()
        rows, session_id, version = j.read_all(), j.meta.session_id, j.meta.code_version
        pos = checkpoint_position(j.latest_checkpoint())
    out_dir = out if out is not None else journal.parent / f"report-{session_id}"
    result = analyze(session_inputs(cfg, rows, session_id, capital, version), spec,
                     feed_ns=cfg.engine.feed_ns)  # fmt: skip
    json_path, html_path = write_report(result, out_dir)
    console.print(f"report: {json_path}\nhtml:   {html_path}; checks passed={result.passed}")
    parity: ParityReport | None = None
    if cfg.feed.kind == "replay" and pos.finished:
        parity = _parity(cfg, rows, pos.events)
        (out_dir / "parity.json").write_text(json.dumps(parity.to_dict(), indent=1, default=str))
        _print_parity(parity)
    else:
        console.print("parity: skipped (needs a finished replay session)")
    paper = write_paper_report(result.to_dict(), parity, out_dir)
    console.print(f"paper report (deployment evidence): {paper}")
    return result.passed and (parity is None or parity.identical), paper


def write_paper_report(report: dict[str, Any], parity: ParityReport | None, out_dir: Path) -> Path:
    """``paper_report.json``: the analysis report plus ``parity`` (null without a replay).

    Its ``passed`` is the analysis verdict and parity together: the evidence deployment
    readiness reads.
    """
    body = {**report, "parity": None if parity is None else parity.to_dict()}
    body["passed"] = bool(report.get("passed")) and (parity is None or parity.identical)
    path = out_dir / "paper_report.json"
    write_text_atomic(path, json.dumps(body, indent=1, sort_keys=True, default=str))
    return path
