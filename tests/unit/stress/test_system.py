"""System stresses: CPU contention, memory cap, large streamed input, lost-data detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2trader.cli.stress_cmd import SyntheticLoader
from l2trader.errors import ConfigError
from l2trader.schema import F_LAST, KIND_CLEAR
from l2trader.stress.faults import DropMessages, SequenceGap, StaleFeed
from l2trader.stress.runner import CaseResult, gap_rules, run_case
from l2trader.stress.suites import StressCase, SystemStress, reference_market_maker, suite_scenarios
from l2trader.stress.system import repeated_stream
from tests.unit.stress import assert_c1, synthetic_events, usdm_events

LOADER = SyntheticLoader(seed=7, n_events=30_000)


@pytest.fixture(scope="module")
def baseline() -> CaseResult:
    return run_case(StressCase(reference_market_maker()), LOADER)


def _run(system: SystemStress) -> tuple[CaseResult, dict[str, bool | None]]:
    result = run_case(StressCase(reference_market_maker(), system=system), LOADER)
    return result, {i.name: i.passed for i in result.invariants}


def test_repeated_stream_is_valid_c1_with_each_repetition_after_a_clear() -> None:
    unit = synthetic_events(n=8_000)
    n = len(unit)

    chunks = list(repeated_stream(unit, 3 * n + 2, 500))
    whole = np.concatenate(chunks)

    assert len(whole) == 3 * n + 2  # three repetitions, two CLEAR rows between them
    assert all(len(c) <= 500 and c["flags"][-1] & F_LAST for c in chunks)
    assert np.flatnonzero(whole["kind"] == KIND_CLEAR).tolist() == [n, 2 * n + 1]
    assert_c1(whole)
    span = int(unit["ts_recv"][-1] - unit["ts_recv"][0]) + 1_000_000_000
    assert int(whole["ts_recv"][n + 1] - unit["ts_recv"][0]) == span
    assert whole[n + 1 :][["price_ticks", "qty", "kind", "side"]].tolist()[:n] == (
        unit[["price_ticks", "qty", "kind", "side"]].tolist()
    )


def test_repeated_stream_stops_at_the_last_batch_that_fits() -> None:
    unit = synthetic_events(n=8_000)

    rows = sum(len(c) for c in repeated_stream(unit, 1_234, 10_000))

    ends = np.flatnonzero(unit["flags"] & F_LAST) + 1
    assert rows == int(ends[ends <= 1_234][-1])


def test_a_chunk_smaller_than_a_batch_is_a_config_error() -> None:
    unit = synthetic_events(n=8_000)

    with pytest.raises(ConfigError, match="chunk_events"):
        list(repeated_stream(unit, 10_000, 1))


def test_cpu_contention_gives_the_uncontended_outputs(baseline: CaseResult) -> None:
    result, checks = _run(SystemStress(kind="cpu_contention", hogs=2))

    assert checks["cpu_contention_identical"] is True
    assert result.digest == baseline.digest
    assert result.measurements["cpu_hogs"] == 2.0
    assert result.measurements["cpu_slowdown"] > 0.0  # measured, never a threshold


def test_memory_cap_with_headroom_completes_with_identical_outputs(baseline: CaseResult) -> None:
    result, checks = _run(SystemStress(kind="memory_cap", cap_headroom_mb=256.0))

    assert checks["memory_cap_completed"] is True
    assert checks["memory_cap_clean"] is True
    assert result.digest == baseline.digest
    m = result.measurements
    assert m["cap_mb"] == pytest.approx(m["vm_warm_mb"] + 256.0)
    assert m["vm_peak_mb"] <= m["cap_mb"]


def test_memory_cap_far_too_small_fails_as_a_memory_error_with_no_output() -> None:
    result, checks = _run(SystemStress(kind="memory_cap", cap_headroom_mb=0.5))

    assert result.error is None  # the case itself ran: the child's failure is its result
    assert checks["memory_cap_completed"] is False
    assert checks["memory_cap_clean"] is True
    evidence = {i.name: i.evidence for i in result.invariants}["memory_cap_clean"]
    assert evidence == "outcome memory_error (MemoryError); outputs absent"


def test_large_stream_processes_every_event_with_bounded_rss() -> None:
    stress = SystemStress(kind="large_stream", stream_events=600_000, chunk_events=30_000)

    result, checks = _run(stress)

    assert checks["stream_conservation"] is True
    assert checks["stream_memory_bounded"] is True
    chunks = [len(c) for c in repeated_stream(LOADER.load(), 600_000, 30_000)]
    assert result.measurements["stream_events"] == sum(chunks) == 599_993
    assert result.measurements["stream_chunks"] == len(chunks) == 23


def test_the_full_suite_runs_every_system_stress_and_quick_adds_none() -> None:
    full = [s.name for s in suite_scenarios("full") if isinstance(s, SystemStress)]
    quick = [s.name for s in suite_scenarios("quick") if isinstance(s, SystemStress)]

    assert full == [
        "system_latency_spike", "system_lost_ack", "system_restart", "system_memory",
        "system_cpu_contention", "system_memory_cap", "system_large_stream",
    ]  # fmt: skip
    assert quick == ["system_latency_spike"]


@pytest.mark.parametrize(
    "fault",
    [DropMessages(seed=10), SequenceGap(seed=11), StaleFeed(seed=12)],
    ids=lambda f: f.name,
)
def test_lost_data_faults_are_detected_by_the_gap_rules(fault: object) -> None:
    result = run_case(StressCase(reference_market_maker(), scenario=fault), LOADER)  # type: ignore[arg-type]

    checks = {i.name: i.passed for i in result.invariants}
    assert checks["lost_data_detected"] is True
    assert checks["conservation"] is True


def test_other_scenarios_get_no_lost_data_check(baseline: CaseResult) -> None:
    assert "lost_data_detected" not in {i.name for i in baseline.invariants}


@pytest.mark.shared_data
def test_gap_rules_follow_trade_ids_on_binance_and_every_seq_on_synthetic_data(
    shared_data: Path,
) -> None:
    assert gap_rules(usdm_events(shared_data)) == (1_000_000_000, "trade")
    assert gap_rules(synthetic_events()) == (1_000_000_000, "all")
