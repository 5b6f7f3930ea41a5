"""run_many: equal results on a process pool, a Dask LocalCluster and in-process; crashes kept."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from l2trader.cli.stress_cmd import SyntheticLoader
from l2trader.errors import ConfigError
from l2trader.stress.runner import CaseResult, run_case, run_many
from l2trader.stress.suites import (
    StressCase,
    SystemStress,
    broken_market_maker,
    build_suite,
    reference_market_maker,
)

LOADER = SyntheticLoader(seed=7, n_events=30_000)


def _cases() -> list[StressCase]:
    return build_suite("quick", [reference_market_maker(), broken_market_maker()], duration_s=30.0)


@pytest.fixture(scope="module")
def serial_results() -> list[CaseResult]:
    return run_many(_cases(), LOADER, executor="serial")


def test_process_pool_gives_the_serial_results_in_input_order(
    serial_results: list[CaseResult],
) -> None:
    cases = _cases()

    results = run_many(cases, LOADER, executor="process", workers=2)

    assert [r.case_id for r in results] == [c.case_id for c in cases]
    assert results == serial_results
    assert len({r.digest for r in results}) > 1


def test_dask_local_cluster_gives_the_process_pool_results(
    serial_results: list[CaseResult],
) -> None:
    pytest.importorskip("distributed")
    done: list[int] = []

    results = run_many(
        _cases(), LOADER, executor="dask", workers=2, progress=lambda d, t: done.append(d)
    )

    assert results == serial_results
    assert sorted(done) == list(range(1, len(results) + 1))


def test_every_quick_case_runs_and_the_reference_keeps_its_invariants(
    serial_results: list[CaseResult],
) -> None:
    ref = [r for r in serial_results if r.strategy == "reference_mm"]

    assert [r.scenario for r in ref] == [
        "baseline", "flash_crash", "liquidity_drought", "duplicates", "crossed_book",
        "system_latency_spike",
    ]  # fmt: skip
    assert all(r.error is None for r in serial_results)
    failed = [(r.case_id, i.name) for r in ref for i in r.invariants if i.passed is False]
    assert failed == []


def test_duplicates_are_quarantined_and_leave_the_run_unchanged(
    serial_results: list[CaseResult],
) -> None:
    by_id = {r.case_id: r for r in serial_results}
    base, dup = by_id["reference_mm/baseline"], by_id["reference_mm/duplicates"]

    assert dup.counts["events_stressed"] == base.counts["events_base"] + dup.counts["quarantined"]
    assert dup.counts["quarantined"] == dup.counts["issue_duplicate_seq"] > 0
    assert dup.counts["events_kept"] == base.counts["events_kept"]
    assert dup.digest == base.digest


@dataclass(frozen=True)
class _Broken:
    tick_size: float = 1.0

    def load(self) -> np.ndarray:
        raise ValueError("no data here")


def test_a_crash_is_recorded_with_its_type_and_scores_no_survival() -> None:
    case = StressCase(reference_market_maker())

    result = run_case(case, _Broken())

    assert result.error == "ValueError: no data here"
    assert [(i.name, i.passed) for i in result.invariants] == [("no_crash", False)]


def test_restart_mid_run_gives_the_uninterrupted_outputs() -> None:
    strategy = reference_market_maker()
    base = run_case(StressCase(strategy), LOADER)

    restart = run_case(StressCase(strategy, system=SystemStress(kind="restart")), LOADER)

    checks = {i.name: i.passed for i in restart.invariants}
    assert checks["restart_identical"] is True
    assert restart.digest == base.digest


def test_lost_acks_are_delivered_late_and_the_equity_still_reconciles() -> None:
    lost = SystemStress(kind="lost_ack", frac=0.05, delay_ns=3_600_000_000_000)

    result = run_case(StressCase(broken_market_maker(), system=lost), LOADER)

    checks = {i.name: i.passed for i in result.invariants}
    assert result.metrics["late_reports"] > 0
    assert checks["equity_reconciles"] is True


def test_unknown_executor_and_bad_worker_count_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="executor"):
        run_many([], LOADER, executor="threads")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="workers"):
        run_many([], LOADER, workers=0)
