"""LiveValidator: the analyzer's own metrics and checks on a session's rows so far.

Oracle: :func:`l2trader.analysis.analyze.analyze` on the same rows and market; the live-only
current losing streak is checked against a pure-Python loop.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from l2trader.analysis.analyze import analyze, flat_metrics
from l2trader.analysis.checks import ChecksConfig, CheckSpec
from l2trader.analysis.inputs import MarketSeries, RunInputs
from l2trader.errors import ConfigError, InvalidValueError
from l2trader.paper.live_metrics import LiveMetrics
from l2trader.paper.live_validation import (
    LIVE_METRICS,
    LIVE_SECTIONS,
    LiveValidation,
    LiveValidator,
    consecutive_losses,
    validation_families,
)
from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, STATE_DTYPE

T0 = 1_704_153_600_000_000_000
S = 1_000_000_000
TICK = 0.01
CAPITAL = 100.0
N_S = 600
SECTION_OF = {  # headline metric -> the analyzer section it must equal
    "pnl_total": "performance", "total_return": "performance", "sharpe": "performance",
    "n_periods": "performance", "periods_per_year": "performance", "max_drawdown": "risk",
    "max_drawdown_quote": "risk", "current_drawdown": "drawdowns",
    "var_95_historical": "risk", "cvar_95_historical": "risk", "round_trips": "trades",
    "win_rate": "trades", "max_consecutive_losses": "trades",
    "slippage_arrival_bps": "execution", "slippage_decision_bps": "execution",
    "correlation": "benchmark",
}  # fmt: skip


def _market(n_s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """100 ms mids walking +-1 tick (seeded), 1-tick spread: (ts ns, mid quote, spread)."""
    rng = np.random.default_rng(11)
    n = 10 * n_s
    ts = T0 + S // 10 * np.arange(n, dtype=np.int64)
    mid = (10_000.5 + np.cumsum(rng.choice([-1, 0, 0, 1], n))) * TICK
    return ts, mid, np.full(n, TICK)


def _at(ts: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``values`` of the last sample at or before each ``t``."""
    out: np.ndarray = values[np.searchsorted(ts, t, side="right") - 1]
    return out


def _rows(n_s: int = N_S) -> dict[str, np.ndarray]:
    """A maker session: alternating buy/sell fills at the mid -+ half a tick, every 10 s."""
    mts, mid, spread = _market(n_s)
    eq = np.zeros(n_s, STATE_DTYPE)
    eq["ts_recv"] = T0 + S * np.arange(n_s, dtype=np.int64)
    eq["mid"] = _at(mts, mid, eq["ts_recv"])
    k = n_s // 20
    f = np.zeros(2 * k, FILL_DTYPE)
    f["ts_exch"] = T0 + S * (5 + 10 * np.arange(2 * k))
    f["ts_recv"] = f["ts_exch"] + 1_000_000
    f["order_id"] = np.arange(1, 2 * k + 1)
    f["side"] = np.tile([1, -1], k)
    f["liquidity"], f["qty"], f["fee"] = 1, 1.0, -0.0005
    f["price_ticks"] = np.round(_at(mts, mid, f["ts_exch"]) / TICK - 0.5 * f["side"])
    pos = np.cumsum(f["side"].astype(float))
    cash = np.cumsum(-f["side"] * f["price_ticks"] * TICK - f["fee"])
    j = np.searchsorted(f["ts_recv"], eq["ts_recv"], side="right") - 1
    eq["position"] = np.where(j >= 0, pos[np.maximum(j, 0)], 0.0)
    eq["cash"] = np.where(j >= 0, cash[np.maximum(j, 0)], 0.0)
    eq["equity"] = eq["cash"] + eq["position"] * eq["mid"]
    o = np.zeros(2 * k, ORDER_DTYPE)
    o["ts_recv"], o["order_id"], o["action"] = f["ts_exch"] - S, f["order_id"], 1
    o["side"], o["order_type"], o["tif"], o["qty"] = f["side"], 1, 4, 1.0
    o["price_ticks"] = f["price_ticks"]
    ev = np.zeros(2 * k, ORDER_EVENT_DTYPE)
    ev["ts_exch"], ev["ts_recv"], ev["order_id"], ev["status"] = (
        f["ts_exch"],
        f["ts_recv"],
        f["order_id"],
        5,
    )
    return {"state": eq, "fills": f, "orders": o, "order_events": ev, "mid_ts": mts, "mid": mid,
            "spread": spread}  # fmt: skip


def _oracle(rows: dict[str, np.ndarray], checks: ChecksConfig | None = None) -> Any:
    market = MarketSeries(ts=rows["mid_ts"], mid=rows["mid"], spread=rows["spread"],
                          bid_depth=np.full(rows["mid"].shape, np.nan),
                          ask_depth=np.full(rows["mid"].shape, np.nan), step_ns=S // 10,
                          depth_levels=0)  # fmt: skip
    inputs = RunInputs(run_id="o", config_id="c", code_version="v", data_fingerprint="d",
                       tick_size=TICK, capital=CAPITAL, calendar="24/7", session_s=86_400.0,
                       equity=rows["state"], fills=rows["fills"], orders=rows["orders"],
                       order_events=rows["order_events"], market=market)  # fmt: skip
    return analyze(inputs, checks)


def _update(v: LiveValidator, rows: dict[str, np.ndarray]) -> LiveValidation:
    return v.update(rows["state"], rows["fills"], rows["mid_ts"], rows["mid"],
                    spread=rows["spread"], orders=rows["orders"],
                    order_events=rows["order_events"])  # fmt: skip


def _same(a: float, b: float) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or (
        a == b
    )


@pytest.fixture(scope="module")
def live() -> tuple[LiveValidation, Any, dict[str, np.ndarray]]:
    rows = _rows()
    return _update(LiveValidator(None, CAPITAL, TICK), rows), _oracle(rows), rows


def test_headline_metrics_equal_the_analyzers_sections_exactly(live: Any) -> None:
    v, report, rows = live

    got = {k: v.metrics[k] for k in SECTION_OF}

    assert got == {k: report.metrics[s][k] for k, s in SECTION_OF.items()}
    assert v.metrics["equity"] == float(rows["state"]["equity"][-1])
    assert list(v.metrics) == list(LIVE_METRICS)
    assert v.metrics["round_trips"] == 30
    assert v.metrics["n_periods"] == N_S - 1
    assert v.metrics["periods_per_year"] == 365 * 86_400.0
    assert all(math.isfinite(float(v.metrics[k])) for k in LIVE_METRICS)


def test_every_flat_metric_of_the_live_sections_equals_the_analyzers(live: Any) -> None:
    v, report, _ = live
    want = flat_metrics({s: report.metrics[s] for s in LIVE_SECTIONS})
    live_only_nan = {k for k in want if k.removeprefix("trades.").startswith(("mae_", "mfe_"))}

    differ = [k for k in want if k not in live_only_nan and not _same(v.flat[k], want[k])]

    assert differ == []
    assert len(want) - len(live_only_nan) > 200
    assert all(math.isnan(float(v.flat[k])) for k in live_only_nan)


def test_state_grid_is_the_default_market_for_slippage() -> None:
    rows = _rows()
    v = LiveValidator(None, CAPITAL, TICK)

    got = v.update(rows["state"], rows["fills"], orders=rows["orders"])
    grid = {**rows, "mid_ts": rows["state"]["ts_recv"], "mid": rows["state"]["mid"],
            "spread": np.full(N_S, np.nan),
            "order_events": np.zeros(0, ORDER_EVENT_DTYPE)}  # fmt: skip
    want = _oracle(grid).metrics["execution"]

    assert got.metrics["slippage_arrival_bps"] == want["slippage_arrival_bps"]
    assert got.metrics["slippage_decision_bps"] == want["slippage_decision_bps"]
    assert math.isfinite(got.metrics["slippage_arrival_bps"])


def test_checks_pass_and_fail_as_the_thresholds_say_and_match_the_analyzer() -> None:
    rows = _rows()
    sharpe = _oracle(rows).metrics["performance"]["sharpe"]
    cfg = ChecksConfig(checks=(
        CheckSpec(metric="sharpe", op=">=", threshold=sharpe),
        CheckSpec(metric="sharpe", op=">", threshold=sharpe),
        CheckSpec(metric="round_trips", op=">=", threshold=31.0),
        CheckSpec(metric="max_drawdown", op=">=", threshold=-0.05),
        CheckSpec(metric="signal_ic_spearman", op=">", threshold=0.0),
    ))  # fmt: skip

    v = _update(LiveValidator(cfg, CAPITAL, TICK), rows)

    assert [c.passed for c in v.checks] == [True, False, False, True, False]
    assert v.checks[2].reason == "round_trips = 30 >= 31: violated"
    assert "missing" in v.checks[4].reason
    assert v.passed is False
    oracle = _oracle(rows, cfg).checks
    assert [(c.passed, c.value) for c in v.checks[:4]] == [
        (c["passed"], c["value"]) for c in oracle[:4]
    ]


def test_live_only_metrics_are_checkable() -> None:
    rows = _rows()
    cfg = ChecksConfig(checks=(
        CheckSpec(metric="consecutive_losses", op="<=", threshold=0.0),
        CheckSpec(metric="live.equity", op=">", threshold=-1e9),
    ))  # fmt: skip

    v = _update(LiveValidator(cfg, CAPITAL, TICK), rows)

    assert [c.passed for c in v.checks] == [v.metrics["consecutive_losses"] == 0, True]
    assert v.checks[1].value == v.metrics["equity"]


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_rows_give_nan_metrics_and_failing_checks(n: int) -> None:
    rows = _rows()
    cfg = ChecksConfig(checks=(CheckSpec(metric="sharpe", op=">=", threshold=1.0),))
    v = LiveValidator(cfg, CAPITAL, TICK)

    got = v.update(rows["state"][:n], rows["fills"][:n])

    floats = [k for k in LIVE_METRICS if isinstance(got.metrics[k], float)]
    finite = {k for k in floats if math.isfinite(got.metrics[k])}
    assert got.error is None
    assert finite == (
        {"equity", "max_drawdown", "max_drawdown_quote", "current_drawdown"} if n else set()
    )
    assert got.metrics["round_trips"] == 0
    assert got.metrics["consecutive_losses"] == 0
    assert (got.n_state, got.n_fills, got.passed) == (n, n, False)
    assert got.checks[0].reason == "metric 'sharpe' is NaN (undefined for this run)"
    d = got.to_dict()
    assert d["metrics"]["sharpe"] is None
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_two_rows_give_the_analyzers_values() -> None:
    rows = _rows()
    two = {**rows, "state": rows["state"][:2], "fills": rows["fills"][:0],
           "orders": rows["orders"][:0], "order_events": rows["order_events"][:0]}  # fmt: skip

    got = _update(LiveValidator(None, CAPITAL, TICK), two)
    report = _oracle(two)

    assert got.metrics["n_periods"] == 1
    assert all(_same(got.metrics[k], report.metrics[s][k]) for k, s in SECTION_OF.items())
    assert math.isnan(got.metrics["sharpe"])
    assert math.isnan(got.metrics["var_95_historical"])


def test_to_dict_round_trips_through_strict_json(live: Any) -> None:
    v, _, _ = live
    cfg = ChecksConfig(checks=(CheckSpec(metric="win_rate", op=">", threshold=0.0),))
    v2 = LiveValidator(cfg, CAPITAL, TICK).update(np.zeros(0, STATE_DTYPE), np.zeros(0, FILL_DTYPE))

    for d in (v.to_dict(), v2.to_dict()):
        assert json.loads(json.dumps(d, allow_nan=False)) == d
    d = v.to_dict()
    assert set(d) == {"metrics", "checks", "passed", "n_state", "n_fills", "computed_ns",
                      "elapsed_ns", "error"}  # fmt: skip
    assert d["metrics"]["sharpe"] == v.metrics["sharpe"]
    assert (d["n_state"], d["n_fills"], d["passed"]) == (N_S, 60, True)
    assert v2.to_dict()["checks"][0]["value"] is None
    assert v2.to_dict()["checks"][0]["passed"] is False


def test_rows_the_analyzer_rejects_are_reported_not_raised() -> None:
    rows = _rows()
    bad = rows["state"].copy()
    bad["ts_recv"][5] += 1  # off the 1 s grid
    cfg = ChecksConfig(checks=(CheckSpec(metric="round_trips", op=">=", threshold=0.0),))

    got = LiveValidator(cfg, CAPITAL, TICK).update(bad, rows["fills"])

    assert got.error is not None
    assert got.error == (
        "InvalidValueError: equity:1: invalid_value: gap of 1000000000 ns is not a multiple"
        " of the 999999999 ns grid step"
    )
    assert got.passed is False
    assert all(math.isnan(float(got.metrics[k])) for k in LIVE_METRICS)
    assert "missing" in got.checks[0].reason


def test_misuse_raises_typed_errors() -> None:
    v = LiveValidator(None, CAPITAL, TICK)
    with pytest.raises(InvalidValueError, match="fills must be"):
        v.update(np.zeros(0, STATE_DTYPE), np.zeros(0, STATE_DTYPE))
    with pytest.raises(ConfigError, match="capital"):
        LiveValidator(None, 0.0, TICK)
    with pytest.raises(ConfigError, match="tick_size"):
        LiveValidator(None, CAPITAL, float("nan"))
    with pytest.raises(ConfigError, match="calendar"):
        LiveValidator(None, CAPITAL, TICK, calendar="weekdays")  # type: ignore[arg-type]


def test_update_does_not_modify_its_inputs() -> None:
    rows = _rows()
    before = {k: a.copy() for k, a in rows.items()}

    _update(LiveValidator(None, CAPITAL, TICK), rows)

    for k, a in rows.items():
        for name in a.dtype.names or ():
            assert np.array_equal(a[name], before[k][name], equal_nan=a[name].dtype.kind == "f")
        if a.dtype.names is None:
            assert np.array_equal(a, before[k])


def _slow_streak(pnl: list[float]) -> int:
    n = 0
    for x in pnl:
        n = n + 1 if x < 0 else 0
    return n


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([-2.0, -1.0, 0.0, 1.0]), max_size=30))
def test_consecutive_losses_equals_a_python_loop(pnl: list[float]) -> None:
    assert consecutive_losses(np.array(pnl, dtype=np.float64)) == _slow_streak(pnl)


def _gauges(text: str) -> dict[str, float]:
    return {f.name: f.samples[0].value for f in text_string_to_metric_families(text) if f.samples}


def test_live_metrics_snapshot_and_prometheus_carry_the_validation(live: Any) -> None:
    v, _, _ = live
    m = LiveMetrics(tick_size=TICK)
    empty = _gauges(m.prometheus())
    assert m.snapshot()["validation"] is None
    assert [k for k in empty if k.startswith("l2t_live_")] == []

    m.on_validation(v.to_dict())

    snap = m.snapshot()
    assert snap["version"] == 1
    assert snap["validation"] == v.to_dict()
    assert json.loads(json.dumps(snap, allow_nan=False)) == snap
    got = _gauges(m.prometheus())
    assert got["l2t_live_sharpe"] == v.metrics["sharpe"]
    assert got["l2t_live_var95"] == v.metrics["var_95_historical"]
    assert got["l2t_live_win_rate"] == v.metrics["win_rate"]
    assert got["l2t_live_checks_passed"] == 1.0


def test_failed_checks_give_a_zero_gauge() -> None:
    families = list(validation_families({"metrics": {}, "passed": False}))

    names = ["l2t_live_sharpe", "l2t_live_var95", "l2t_live_win_rate", "l2t_live_checks_passed"]
    assert [f.name for f in families] == names
    assert families[3].samples[0].value == 0.0
