"""A backtest run end to end: catalog -> engine -> run directory -> run registry.

:func:`run_backtest` reads the configured catalog partitions chunk by chunk (bounded
memory), runs the engine, writes the run directory (C5-C7 Parquet files, the signal series
and ``run.json``) atomically and records the run in the SQLite run registry of
``config.runs_root``. The run directory's content depends only on the configuration, the
data and the code version: the same inputs give byte-identical files. Wall-clock times
live only in the registry.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from l2trader.data.catalog import Catalog
from l2trader.engine.config import BacktestConfig
from l2trader.engine.engine import Engine, EngineOutput
from l2trader.engine.fees import FeeConfig
from l2trader.engine.registry import RunRegistry, new_run_id, registry_path
from l2trader.engine.run_dir import RunData, run_summary, write_run
from l2trader.engine.strategy import Strategy
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.schema import SIGNAL_DTYPE
from l2trader.version import code_version

__all__ = ["BacktestResult", "data_fingerprint", "load_signals", "run_backtest", "save_signals"]


@dataclass(frozen=True)
class BacktestResult:
    """What a run produced: its id, directory, outputs and ``run.json`` content."""

    run_id: str
    run_dir: Path
    output: EngineOutput
    meta: dict[str, Any]


def load_signals(path: str | Path) -> NDArray[np.void]:
    """Read a C4 Parquet file (``ts_recv`` i8 ns, ``score`` f8 bps) sorted by ``ts_recv``."""
    try:
        table = pq.read_table(path, columns=["ts_recv", "score"])
    except (OSError, KeyError, ValueError) as exc:
        raise InvalidValueError(f"cannot read signals {path}: {exc}", source=str(path)) from exc
    out = np.empty(table.num_rows, SIGNAL_DTYPE)
    out["ts_recv"] = table.column("ts_recv").to_numpy().astype(np.int64)
    out["score"] = table.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    return out[np.argsort(out["ts_recv"], kind="stable")]


def save_signals(path: str | Path, signals: NDArray[np.void]) -> Path:
    """Write C4 rows (``SIGNAL_DTYPE``) as the Parquet file :func:`load_signals` reads."""
    table = pa.table({"ts_recv": signals["ts_recv"], "score": signals["score"]})
    pq.write_table(table, path, compression="zstd")
    return Path(path)


def data_fingerprint(catalog: Catalog, venue: str, symbol: str, start: str | None,
                     end: str | None) -> str:  # fmt: skip
    """Sha256 of the bytes of every catalog file a run reads (names and contents, sorted)."""
    digest = hashlib.sha256()
    for part in catalog.partitions(venue, symbol, start, end):
        for file in sorted(part.path.glob("events-*.parquet")):
            digest.update(f"{part.date}/{file.name}\n".encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def run_backtest(
    config: BacktestConfig,
    *,
    strategy: Strategy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Run ``config`` and record it; ``strategy`` replaces the built-in one (Python object).

    ``progress(events_done, events_total)`` is called after each chunk.
    """
    d = config.data
    catalog = Catalog(d.catalog)
    key = f"{d.venue}/{d.symbol}"
    instrument = catalog.instruments().get(key)
    if instrument is None:
        raise ConfigError(f"instrument {key!r} is not in {catalog.instruments_path}")
    fees = config.engine.fees or FeeConfig.from_instrument(instrument)
    signals = load_signals(config.signal.path) if config.signal.path else np.zeros(0, SIGNAL_DTYPE)
    spec = config.strategy
    engine = Engine(
        config.engine, tick_size=instrument.tick_size, fees=fees, signals=signals,
        strategy=strategy if strategy is not None else spec.kind,
        taker=spec.taker, market_maker=spec.market_maker,
    )  # fmt: skip
    total = sum(p.rows for p in catalog.partitions(d.venue, d.symbol, d.start, d.end))
    root = Path(config.runs_root)
    root.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    fingerprint = data_fingerprint(catalog, d.venue, d.symbol, d.start, d.end)
    with RunRegistry(registry_path(root)) as registry:
        registry.start(run_id=run_id, kind="backtest", config_json=config.to_json(),
                       config_id=config.id, code_version=code_version(),
                       data_fingerprint=fingerprint, run_dir=str(root / run_id),
                       started_ns=time.time_ns())  # fmt: skip
        try:
            done = 0
            for chunk in catalog.read(d.venue, d.symbol, d.start, d.end):
                engine.run(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            output = engine.finish()
            meta = _meta(config, fingerprint, output, strategy)
            data = RunData(output.orders, output.order_events, output.fills, output.equity,
                           signals, meta)  # fmt: skip
            meta["summary"] = run_summary(data)
            write_run(root / run_id, data)
        except BaseException:
            registry.finish(run_id, status="failed", finished_ns=time.time_ns())
            raise
        registry.finish(run_id, status="finished", finished_ns=time.time_ns())
    return BacktestResult(run_id, root / run_id, output, meta)


def _meta(
    config: BacktestConfig, fingerprint: str, output: EngineOutput, strategy: Strategy | None
) -> dict[str, Any]:
    return {
        "kind": "backtest",
        "config": config.model_dump(mode="json"),
        "config_id": config.id,
        "code_version": code_version(),
        "strategy_id": config.strategy.strategy_id(config.engine) if strategy is None else "",
        "data_fingerprint": fingerprint,
        "seed": config.engine.latency.seed,
        "strategy": type(strategy).__name__ if strategy is not None else config.strategy.kind,
        "counters": output.counters,
    }
