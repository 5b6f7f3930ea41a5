"""Report (C9) JSON: numpy types converted, NaN/inf written as explicit strings, round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2trader.analysis.report import Report, decode_number, encode_value
from l2trader.errors import ArtifactError


def _report(**metrics: float) -> Report:
    return Report(
        run_id="20240102-000000-abcdef",
        config_id="cfg",
        code_version="0.1.0",
        data_fingerprint="fp",
        periods_per_year=31_536_000.0,
        calendar="24/7",
        session_s=86_400.0,
        grid_step_ns=1_000_000_000,
        capital=1_000.0,
        metrics={"risk": dict(metrics)},
        checks=[
            {
                "name": "sharpe >= 1",
                "metric": "sharpe",
                "value": math.nan,
                "threshold": 1.0,
                "op": ">=",
                "passed": False,
                "reason": "NaN",
            }
        ],
        tables={"drawdown_periods": [{"start_ns": 5, "depth": -math.inf}]},
        artifacts=["report.json"],
    )


def test_to_json_writes_nonfinite_floats_as_strings_and_stays_valid_json() -> None:
    report = _report(
        var=np.float64(-math.inf), cvar=math.inf, skew=np.float32(np.nan), n=np.int64(3)
    )

    text = report.to_json()
    raw = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))

    assert raw["metrics"]["risk"] == {"var": "-Infinity", "cvar": "Infinity", "skew": "NaN", "n": 3}
    assert raw["checks"][0]["value"] == "NaN"
    assert raw["tables"]["drawdown_periods"][0]["depth"] == "-Infinity"
    assert raw["periods_per_year"] == 31_536_000.0
    assert raw["calendar"] == "24/7"
    assert raw["capital"] == 1_000.0
    assert set(raw) == {
        "run_id",
        "config_id",
        "code_version",
        "data_fingerprint",
        "metrics",
        "checks",
        "artifacts",
        "tables",
        "periods_per_year",
        "calendar",
        "session_s",
        "grid_step_ns",
        "capital",
        "strategy_id",
        "created_ns",
        "passed",
    }
    assert text.endswith("}\n")


def test_json_round_trip_restores_nan_and_infinities() -> None:
    report = _report(var=-math.inf, cvar=math.inf, skew=math.nan, sharpe=1.25)

    back = Report.from_json(report.to_json())

    risk = back.metrics["risk"]
    assert risk["var"] == -math.inf
    assert risk["cvar"] == math.inf
    assert math.isnan(risk["skew"])
    assert risk["sharpe"] == 1.25
    assert math.isnan(back.checks[0]["value"])
    assert back.checks[0]["reason"] == "NaN"  # a free-text field that happens to read "NaN"
    assert back.tables["drawdown_periods"][0] == {"start_ns": 5, "depth": -math.inf}
    assert back.to_json() == report.to_json()


def test_passed_is_true_without_checks_and_false_when_one_fails() -> None:
    assert Report("r", "c", "v", "f", 1.0, "24/7", 86_400.0, 1, 1.0).passed
    assert not _report().passed


def test_encode_value_converts_numpy_arrays_and_scalars() -> None:
    encoded = encode_value({"a": np.array([1.5, np.nan]), "b": np.bool_(True), "c": (np.int32(2),)})

    assert encoded == {"a": [1.5, "NaN"], "b": True, "c": [2]}
    assert json.dumps(encoded, allow_nan=False)


def test_encode_value_rejects_an_object_with_a_typed_error() -> None:
    with pytest.raises(ArtifactError, match="not JSON-serialisable"):
        encode_value({"x": object()})


def test_from_json_of_a_non_report_raises_artifact_error() -> None:
    with pytest.raises(ArtifactError, match="not a valid report"):
        Report.from_json('{"run_id": "x"}')


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_survives_the_round_trip(x: float) -> None:
    back = decode_number(json.loads(json.dumps(encode_value(x), allow_nan=False)))

    assert (math.isnan(back) and math.isnan(x)) or back == x
