"""System stresses that need more than one engine run: CPU contention, a memory cap, a long stream.

Each function takes what the runner already has (the case, an engine factory, the kept
events and the unstressed run's outputs) and returns a :class:`SystemRun`: invariants whose
evidence is deterministic on success (so results still compare equal across executors) and
``measurements`` (wall times, RSS, address space: machine-dependent, kept out of the
comparison).

- :func:`cpu_contention`: the run again while ``hogs`` busy-loop processes compete for the
  cores; the outputs must equal the uncontended run's. The slowdown is a measurement.
- :func:`memory_cap`: the run in a child process under ``RLIMIT_AS``. The child imports
  everything and warms the JIT on the first batches, then caps its address space at its
  current size + ``headroom_mb`` and runs. Outcomes (the ``memory_cap_*`` evidence):
  ``completed`` (exit 0; outputs written to a temp name, then renamed: complete or absent),
  ``memory_error`` (Python ``MemoryError``, exit :data:`EXIT_MEMORY`, or a native
  allocation abort: LLVM "out of memory", ``std::bad_alloc``), ``timeout`` (killed after
  ``timeout_s``) and ``crashed`` (anything else).
- :func:`large_stream`: a long stream made chunk by chunk by :func:`repeated_stream` (the
  case's events repeated, shifted in time and seq, each repetition after a CLEAR of both
  sides) fed through one engine; RSS is sampled after each chunk.

Hogs and the capped child are started with :mod:`subprocess`, not :mod:`multiprocessing`:
a Dask worker is a daemonic process and may not have multiprocessing children.

Measured (2-core box, warm numba cache, ``OPENBLAS_NUM_THREADS=1``): ~485 MB of address
space after the imports, ~590 MB once the kernels are loaded (~810 MB if they compile). A
cap set before they load must be >= ~850 MB (below, LLVM aborts): hence headroom after it.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import psutil

from l2trader.engine.engine import Engine, EngineOutput
from l2trader.errors import ConfigError
from l2trader.schema import EVENT_DTYPE, F_LAST, KIND_CLEAR
from l2trader.stress.invariants import InvariantResult, output_digest
from l2trader.stress.suites import StressCase

__all__ = [
    "EXIT_MEMORY", "SystemRun", "capped_child_main", "cpu_contention", "large_stream",
    "memory_cap", "repeated_runs", "repeated_stream", "restart", "rss_slope", "run_system",
]  # fmt: skip

EXIT_MEMORY: Final = 3
"""Exit code of the capped child when the run raised ``MemoryError``."""
_OUTPUTS: Final = "outputs.npz"
_REP_GAP_NS: Final = 1_000_000_000
"""Clock gap between two repetitions of :func:`repeated_stream` (ns)."""
_WARM: Final = 2_000
_NATIVE_OOM: Final = ("out of memory", "bad_alloc", "Cannot allocate memory", "MemoryError")
_THREAD_ENV: Final = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class SystemRun:
    """Invariants of one system stress and its machine-dependent measurements."""

    invariants: tuple[InvariantResult, ...]
    measurements: dict[str, float]


def run_system(
    case: StressCase, make: Callable[[], Engine], events: np.ndarray, tick_size: float
) -> tuple[EngineOutput, SystemRun]:
    """The case's outputs and its system stress's checks (restart, memory and the rest)."""
    sys = case.system
    assert sys is not None
    if sys.kind == "restart":
        return restart(make, events)
    if sys.kind == "memory":
        return repeated_runs(sys.repeats, make, events)
    out, _ = _run(make, events)  # the plain run's outputs feed every other check
    if sys.kind == "cpu_contention":
        return out, cpu_contention(make, events, out, sys.hogs)
    if sys.kind == "memory_cap":
        return out, memory_cap(case, tick_size, events, out, sys.cap_headroom_mb, sys.timeout_s)
    if sys.kind == "large_stream":
        args = (sys.stream_events, sys.chunk_events, sys.max_rss_slope_mb)
        return out, large_stream(make, events, *args)
    raise ConfigError(f"system stress kind={sys.kind!r} has no runner")


def restart(make: Callable[[], Engine], events: np.ndarray) -> tuple[EngineOutput, SystemRun]:
    """Stop at half the batches, copy the state into a fresh engine, finish: same outputs."""
    whole, _ = _run(make, events)
    ends = np.flatnonzero(events["flags"] & F_LAST)
    cut = int(ends[len(ends) // 2]) + 1 if len(ends) else 0
    first, second = make(), make()
    first.run(events[:cut])  # then every state array of ``first`` (a copy) into ``second``
    second.book, second.trader = copy.deepcopy(first.book), copy.deepcopy(first.trader)
    second.scratch, second.rec = copy.deepcopy(first.scratch), copy.deepcopy(first.rec)
    second.run(events[cut:])
    out = second.finish()
    same = output_digest(out) == output_digest(whole)
    text = f"stopped after {cut} of {len(events)} events; outputs identical: {same}"
    return out, SystemRun((InvariantResult("restart_identical", same, text),), {})


def repeated_runs(
    repeats: int, make: Callable[[], Engine], events: np.ndarray
) -> tuple[EngineOutput, SystemRun]:
    """Run ``repeats`` times; RSS growth from the 2nd run on must stay under 64 MB."""
    proc = psutil.Process()
    rss: list[float] = []
    for _ in range(max(repeats, 2)):
        out, _ = _run(make, events)
        rss.append(proc.memory_info().rss / 2**20)
    growth = rss[-1] - rss[1]
    ok = growth <= 64.0
    text = f"RSS growth from run 2 to run {len(rss)} within 64 MB"  # deterministic when it passes
    if not ok:
        text = f"RSS after each run (MB): {[round(r, 1) for r in rss]}; growth {growth:.1f} MB"
    return out, SystemRun((InvariantResult("memory_growth", ok, text),), {"rss_growth_mb": growth})


def _run(make: Callable[[], Engine], events: np.ndarray) -> tuple[EngineOutput, float]:
    t0 = time.perf_counter()
    engine = make()
    engine.run(events)
    return engine.finish(), time.perf_counter() - t0


def _start_hogs(n: int, life_s: float = 900.0) -> list[subprocess.Popen[bytes]]:
    """``n`` busy-loop processes (each exits after ``life_s``, should the worker be killed)."""
    loop = f"import time\nend = time.monotonic() + {life_s}\nwhile time.monotonic() < end: pass"
    cmd = [sys.executable, "-S", "-c", loop]
    procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
             for _ in range(n)]  # fmt: skip
    deadline = time.monotonic() + 2.0
    for p in procs:
        while time.monotonic() < deadline and psutil.Process(p.pid).cpu_times().user < 0.02:
            time.sleep(0.005)
    return procs


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.kill()
        p.wait(timeout=10)


def cpu_contention(
    make: Callable[[], Engine], events: np.ndarray, reference: EngineOutput, hogs: int,
    min_wall_s: float = 0.5,
) -> SystemRun:  # fmt: skip
    """Run under ``hogs`` busy loops (0: one per core); outputs must equal ``reference``.

    The slowdown compares the same number of runs alone and contended (as many as fill
    ``min_wall_s`` alone, at least one).
    """
    n, runs, alone = hogs or (os.cpu_count() or 1), 0, 0.0
    while runs == 0 or alone < min_wall_s:
        alone += _run(make, events)[1]
        runs += 1
    procs = _start_hogs(n)
    try:
        timed = [_run(make, events) for _ in range(runs)]
    finally:
        _stop(procs)
    ref = output_digest(reference)
    same = all(output_digest(out) == ref for out, _ in timed)
    contended = sum(wall for _, wall in timed)
    text = f"{n} busy-loop processes competing for the cores; outputs identical: {same}"
    return SystemRun(
        (InvariantResult("cpu_contention_identical", same, text),),
        {"cpu_hogs": float(n), "cpu_runs": float(runs), "wall_s_alone": alone,
         "wall_s_contended": contended, "cpu_slowdown": contended / alone},
    )  # fmt: skip


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: "1" for name in _THREAD_ENV})
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def _outcome(code: int | None, stderr: str) -> str:
    if code is None:
        return "timeout"
    if code == 0:
        return "completed"
    if code == EXIT_MEMORY or (code < 0 and any(s in stderr for s in _NATIVE_OOM)):
        return "memory_error"
    return "crashed"


def _spawn(args: list[str], timeout_s: float) -> tuple[int | None, str, str]:
    """Run the capped child; ``(returncode or None on timeout, stdout, stderr)``."""
    code = "import sys; from l2trader.stress.system import capped_child_main as m; sys.exit(m())"
    cmd = [sys.executable, "-c", code, *args]
    try:
        done = subprocess.run(cmd, env=_child_env(), capture_output=True, timeout=timeout_s,
                              check=False, text=True, errors="replace")  # fmt: skip
    except subprocess.TimeoutExpired:  # run() has killed the child
        return None, "", ""
    return done.returncode, done.stdout, done.stderr


def memory_cap(
    case: StressCase, tick_size: float, events: np.ndarray, reference: EngineOutput,
    headroom_mb: float, timeout_s: float,
) -> SystemRun:  # fmt: skip
    """Run the case in a child capped at its warmed-up size + ``headroom_mb`` (module doc)."""
    with tempfile.TemporaryDirectory(prefix="l2trader-cap-") as tmp:
        inp, out_dir = Path(tmp) / "input.pkl", Path(tmp) / "out"
        with inp.open("wb") as f:
            pickle.dump((case, tick_size, events), f, protocol=pickle.HIGHEST_PROTOCOL)
        out_dir.mkdir()
        t0 = time.perf_counter()
        code, stdout, stderr = _spawn([str(inp), str(out_dir), repr(headroom_mb)], timeout_s)
        wall = time.perf_counter() - t0
        outcome = _outcome(code, stderr)
        present = (out_dir / _OUTPUTS).exists()
        same = present and _digest_file(out_dir / _OUTPUTS) == output_digest(reference)
    clean = (outcome == "completed" and same) or (outcome == "memory_error" and not present)
    what = "complete and identical" if same else ("absent" if not present else "differ")
    error = "MemoryError" if outcome == "memory_error" else f"exit code {code}"
    text = f"outcome {outcome} ({'no error' if outcome == 'completed' else error}); outputs {what}"
    sizes = _last_json(stdout)
    return SystemRun(
        (InvariantResult("memory_cap_clean", clean, text),
         InvariantResult("memory_cap_completed", outcome == "completed" and same, text)),
        {"cap_headroom_mb": headroom_mb, "cap_mb": sizes.get("cap_mb", float("nan")),
         "vm_warm_mb": sizes.get("vm_warm_mb", float("nan")),
         "vm_peak_mb": sizes.get("vm_peak_mb", float("nan")), "child_wall_s": wall},
    )  # fmt: skip


def _last_json(stdout: str) -> dict[str, float]:
    """Merge of the JSON lines the child printed (sizes in MB)."""
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {key: float(value) for row in rows for key, value in row.items()}


def _digest_file(path: Path) -> str:
    with np.load(path) as data:
        out = EngineOutput(data["orders"], data["order_events"], data["fills"], data["equity"], {})
        return output_digest(out)


def _vm_mb(field: str) -> float:
    """``VmSize`` / ``VmPeak`` of this process from /proc/self/status (MB; Linux)."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return next((int(x.split()[1]) / 1024 for x in lines if x.startswith(f"{field}:")), np.nan)


def _write_outputs(out: EngineOutput, out_dir: Path) -> None:
    """Write the outputs under a temp name, then rename: the file is complete or absent."""
    tmp = out_dir / (_OUTPUTS + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, orders=out.orders, order_events=out.order_events, fills=out.fills,
                 equity=out.equity)  # fmt: skip
    os.replace(tmp, out_dir / _OUTPUTS)


def capped_child_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the capped child: ``INPUT_PKL OUT_DIR HEADROOM_MB`` (module doc)."""
    from l2trader.stress.runner import make_engine  # the runner imports this module

    inp, out_dir, headroom = argv if argv is not None else sys.argv[1:]
    with Path(inp).open("rb") as f:
        case, tick, loaded = pickle.load(f)
    events = np.array(loaded, dtype=EVENT_DTYPE)  # aligned copy: an unaligned one recompiles
    make = make_engine(case, tick, events)
    ends = np.flatnonzero(events["flags"] & F_LAST)
    warm = make()  # loads every kernel (LLVM) before the cap
    if ends.size:
        warm.run(events[: int(ends[min(int(np.searchsorted(ends, _WARM)), ends.size - 1)]) + 1])
    warm.finish()
    del warm
    vm = _vm_mb("VmSize")
    cap = int((vm + float(headroom)) * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    print(json.dumps({"vm_warm_mb": vm, "cap_mb": cap / 2**20}), flush=True)
    try:
        out = make()
        out.run(events)
        _write_outputs(out.finish(), Path(out_dir))
    except MemoryError as exc:
        sys.stderr.write(f"MemoryError: {exc}\n")
        return EXIT_MEMORY
    print(json.dumps({"vm_peak_mb": _vm_mb("VmPeak")}), flush=True)
    return 0


def repeated_stream(unit: np.ndarray, n_events: int, chunk_events: int) -> Iterator[np.ndarray]:
    """Up to ``n_events`` C1 rows: ``unit`` repeated, in chunks of <= ``chunk_events`` rows.

    Repetition ``r`` is ``unit`` with ``ts_recv``/``ts_exch`` moved by ``r`` times (its span
    + 1 s) and ``seq`` (>= 0) by ``r`` times its range, after one CLEAR (both sides) row:
    each repetition starts from an empty book, like the first. Chunks end on ``F_LAST``;
    the stream stops at the last batch that fits in ``n_events``.
    """
    ends = np.flatnonzero(unit["flags"] & F_LAST) + 1
    if ends.size == 0:
        return
    ts = unit["ts_recv"]
    period = int(ts[ends[-1] - 1] - ts[0]) + _REP_GAP_NS
    seqs = unit["seq"][unit["seq"] >= 0]
    seq_step = int(seqs.max() - seqs.min()) + 1 if seqs.size else 0
    emitted, rep = 0, 0
    while True:
        pos = 0
        while pos < ends[-1]:
            lead = 1 if rep and pos == 0 else 0
            room = min(chunk_events, n_events - emitted) - lead
            k = int(np.searchsorted(ends, pos + room, side="right")) - 1
            if k < 0 or ends[k] <= pos:
                if room + lead >= chunk_events:
                    raise ConfigError(f"chunk_events={chunk_events}: smaller than a batch")
                return
            chunk = _shifted(unit[pos : ends[k]], rep, period, seq_step, lead)
            emitted, pos = emitted + len(chunk), int(ends[k])
            yield chunk
        rep += 1


def _shifted(rows: np.ndarray, rep: int, period: int, seq_step: int, lead: int) -> np.ndarray:
    out = np.zeros(len(rows) + lead, dtype=EVENT_DTYPE)
    out[lead:] = rows
    body = out[lead:]
    body["ts_recv"] += rep * period
    body["ts_exch"] = np.where(body["ts_exch"] >= 0, body["ts_exch"] + rep * period, -1)
    body["seq"] = np.where(body["seq"] >= 0, body["seq"] + rep * seq_step, -1)
    if lead:
        t = int(body["ts_recv"][0]) - 1
        out[0] = (t, t, -1, 0, 0.0, KIND_CLEAR, 0, F_LAST)
    return out


def rss_slope(events_done: Sequence[int], rss_mb: Sequence[float], warmup: float = 0.25) -> float:
    """Least-squares slope of RSS (MB) per million events after the first ``warmup`` share.

    NaN with fewer than 3 samples after the warm-up.

    Examples
    --------
    >>> round(rss_slope([1, 2, 3, 4, 5], [100.0, 101.0, 102.0, 103.0, 104.0], 0.0) / 1e6, 6)
    1.0
    """
    x = np.asarray(events_done, dtype=np.float64)
    y = np.asarray(rss_mb, dtype=np.float64)
    keep = x > warmup * x[-1] if x.size else np.zeros(0, np.bool_)
    if int(keep.sum()) < 3:
        return float("nan")
    return float(np.polyfit(x[keep] / 1e6, y[keep], 1)[0])


def large_stream(
    make: Callable[[], Engine], unit: np.ndarray, n_events: int, chunk_events: int,
    max_slope_mb: float,
) -> SystemRun:  # fmt: skip
    """Feed :func:`repeated_stream` through one engine; bounded RSS, every event processed."""
    engine, proc = make(), psutil.Process()
    done: list[int] = []
    rss: list[float] = []
    t0 = time.perf_counter()
    for chunk in repeated_stream(unit, n_events, chunk_events):
        engine.run(chunk)
        done.append((done[-1] if done else 0) + len(chunk))
        rss.append(proc.memory_info().rss / 2**20)
    out = engine.finish()
    wall = time.perf_counter() - t0
    n_in = done[-1] if done else 0
    processed = int(out.counters["events"])
    slope = rss_slope(done, rss)
    ok = bool(slope <= max_slope_mb) if np.isfinite(slope) else None
    text = f"RSS slope after warm-up within {max_slope_mb:g} MB per million events"
    if ok is None:
        text = f"too few chunks after warm-up ({len(done)} chunks) to fit an RSS slope"
    elif not ok:
        text = f"RSS slope {slope:.2f} MB per million events > {max_slope_mb:g}; RSS {rss}"
    return SystemRun(
        (InvariantResult("stream_conservation", n_in == processed,
                         f"events in {n_in} = events processed {processed}"),
         InvariantResult("stream_memory_bounded", ok, text)),
        {"stream_events": float(n_in), "stream_chunks": float(len(done)), "stream_wall_s": wall,
         "rss_slope_mb_per_m": slope, "rss_first_mb": rss[0] if rss else float("nan"),
         "rss_last_mb": rss[-1] if rss else float("nan"), "stream_fills": float(out.fills.size)},
    )  # fmt: skip
