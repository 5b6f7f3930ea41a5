"""Pass/fail checks (issue 5, item 12): every op, and failures that never pass silently."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from l2trader.analysis.checks import (
    DEFAULT_CHECKS,
    MARKET_MAKER_CHECKS,
    TAKER_CHECKS,
    CheckResult,
    ChecksConfig,
    CheckSpec,
    evaluate_checks,
    verdict,
)
from l2trader.errors import ConfigError


@pytest.mark.parametrize(
    ("op", "value", "passed"),
    [
        (">=", 1.0, True),
        (">=", 0.999, False),
        ("<=", 1.0, True),
        ("<=", 1.001, False),
        (">", 1.0, False),
        (">", 1.5, True),
        ("<", 1.0, False),
        ("<", 0.5, True),
        ("==", 1.0, True),
        ("==", 1.0000001, False),
        ("!=", 1.0, False),
        ("!=", 2.0, True),
    ],
)
def test_each_operator_compares_value_to_threshold(op, value, passed):
    spec = CheckSpec(metric="m", op=op, threshold=1.0)

    (result,) = evaluate_checks({"m": value}, [spec])

    assert result == CheckResult(
        name=f"m {op} 1",
        metric="m",
        value=value,
        threshold=1.0,
        op=op,
        passed=passed,
        reason=f"m = {value:.6g} {op} 1: {'holds' if passed else 'violated'}",
    )


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ({}, "metric 'sharpe' is missing from the report"),
        ({"sharpe": float("nan")}, "metric 'sharpe' is NaN (undefined for this run)"),
        ({"sharpe": np.float64("nan")}, "metric 'sharpe' is NaN (undefined for this run)"),
        ({"sharpe": None}, "metric 'sharpe' is not a number: None"),
        ({"sharpe": "2.0"}, "metric 'sharpe' is not a number: '2.0'"),
        ({"sharpe": True}, "metric 'sharpe' is not a number: True"),
    ],
)
def test_missing_nan_or_non_numeric_metric_fails_with_reason(metrics, reason):
    spec = CheckSpec(metric="sharpe", op="<=", threshold=1e9, name="loose")

    (result,) = evaluate_checks(metrics, ChecksConfig(checks=(spec,)))

    assert not result.passed
    assert result.reason == reason
    assert math.isnan(result.value)
    assert result.name == "loose"


def test_numpy_scalars_and_infinities_compare_normally():
    specs = [
        CheckSpec(metric="a", op=">=", threshold=2.0),
        CheckSpec(metric="b", op="==", threshold=3.0),
        CheckSpec(metric="c", op="<", threshold=0.0),
    ]

    results = evaluate_checks({"a": np.float64(2.5), "b": np.int64(3), "c": -np.inf}, specs)

    assert [r.passed for r in results] == [True, True, True]
    assert [r.value for r in results] == [2.5, 3.0, -math.inf]


def test_verdict_is_all_passed_and_vacuously_true():
    specs = [
        CheckSpec(metric="a", op=">", threshold=0.0),
        CheckSpec(metric="b", op=">", threshold=0.0),
    ]

    mixed = evaluate_checks({"a": 1.0, "b": -1.0}, specs)
    good = evaluate_checks({"a": 1.0, "b": 1.0}, specs)

    assert verdict(mixed) is False
    assert verdict(good) is True
    assert verdict([]) is True


def test_results_keep_config_order():
    specs = tuple(CheckSpec(metric=m, op=">", threshold=0.0) for m in ("z", "a", "m"))

    results = evaluate_checks({"a": 1, "m": 1, "z": 1}, ChecksConfig(checks=specs))

    assert [r.metric for r in results] == ["z", "a", "m"]


def test_config_loads_from_toml_and_json_files(tmp_path: Path):
    toml = tmp_path / "checks.toml"
    toml.write_text(
        '[[checks]]\nmetric = "sharpe"\nop = ">="\nthreshold = 1.5\n\n'
        '[[checks]]\nmetric = "max_drawdown"\nop = ">="\nthreshold = -0.05\nname = "dd"\n'
    )
    expected = ChecksConfig(
        checks=(
            CheckSpec(metric="sharpe", op=">=", threshold=1.5),
            CheckSpec(metric="max_drawdown", op=">=", threshold=-0.05, name="dd"),
        )
    )
    json_path = tmp_path / "checks.json"
    json_path.write_text(expected.to_json())

    from_toml = ChecksConfig.from_file(toml)
    from_json = ChecksConfig.from_file(json_path)

    assert from_toml == expected
    assert from_json == expected
    assert from_toml.id == expected.id
    assert ChecksConfig.from_toml(expected.to_toml()) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"checks": [{"metric": "sharpe", "op": "=>", "threshold": 1.0}]}',
        '{"checks": [{"metric": "sharpe", "op": ">=", "threshold": NaN}]}',
        '{"checks": [{"metric": "sharpe", "op": ">=", "threshold": Infinity}]}',
        '{"checks": [{"metric": "", "op": ">=", "threshold": 1.0}]}',
        '{"checks": [{"metric": "sharpe", "op": ">=", "threshold": 1.0, "typo": 1}]}',
        '{"checks": [{"metric": "sharpe", "op": ">="}]}',
        '{"check": []}',
    ],
)
def test_invalid_config_raises_config_error(text):
    with pytest.raises(ConfigError):
        ChecksConfig.from_json(text)


def test_default_checks_cover_both_kinds_and_fail_on_an_empty_report():
    assert set(DEFAULT_CHECKS) == {"market_maker", "taker"}
    assert DEFAULT_CHECKS["market_maker"] is MARKET_MAKER_CHECKS
    assert DEFAULT_CHECKS["taker"] is TAKER_CHECKS

    for config in DEFAULT_CHECKS.values():
        results = evaluate_checks({}, config)
        assert len(results) == len(config.checks) >= 5
        assert not any(r.passed for r in results)
        assert verdict(results) is False


def test_empty_config_round_trips_through_toml():
    empty = ChecksConfig()

    assert ChecksConfig.from_toml(empty.to_toml()) == empty
    assert evaluate_checks({"sharpe": 1.0}, empty) == []


def test_default_check_metrics_are_names_the_analyzer_reports():
    from l2trader.analysis.analyze import analyze, flat_metrics
    from l2trader.analysis.inputs import RunInputs
    from l2trader.schema import STATE_DTYPE

    ts = 1_704_153_600 * 10**9 + np.arange(30, dtype=np.int64) * 10**9
    state = np.zeros(30, STATE_DTYPE)
    state["ts_recv"], state["mid"], state["equity"] = ts, 100.0, np.arange(30.0)
    inputs = RunInputs(
        run_id="r",
        config_id="c",
        code_version="v",
        data_fingerprint="d",
        tick_size=0.01,
        capital=100.0,
        calendar="24/7",
        session_s=86_400.0,
        equity=state,
    )

    reported = flat_metrics(analyze(inputs).metrics)

    for kind, config in DEFAULT_CHECKS.items():
        missing = [c.metric for c in config.checks if c.metric not in reported]
        assert missing == [], kind
