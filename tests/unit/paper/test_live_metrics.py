"""LiveMetrics: counters, latency percentiles, equity thinning, fills, alerts, Prometheus text."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from l2trader.errors import ConfigError
from l2trader.paper.live_metrics import ALERTS_KEPT, BOOK_LEVELS, LATENCY_WINDOW, LiveMetrics
from l2trader.schema import FILL_DTYPE

BIDS = [(100.0 - 0.01 * i, 1.0 + i) for i in range(12)]
ASKS = [(100.02 + 0.01 * i, 2.0 + i) for i in range(12)]


def _fills(rows: list[tuple[int, int, int, int, int, float, float]]) -> np.ndarray:
    """Rows of (ts_recv, order_id, side, liquidity, price_ticks, qty, fee)."""
    out = np.zeros(len(rows), dtype=FILL_DTYPE)
    for i, (ts, oid, side, liq, px, qty, fee) in enumerate(rows):
        out[i] = (ts - 5, ts, oid, side, liq, 0 if liq == 1 else 1, px, qty, fee)
    return out


def _lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"tick_size": 0.0}, "tick_size"),
        ({"tick_size": float("nan")}, "tick_size"),
        ({"tick_size": 0.01, "max_fills": 0}, "max_fills"),
        ({"tick_size": 0.01, "max_points": 1}, "max_points"),
    ],
)
def test_bad_constructor_arguments_raise_config_error_naming_them(
    kwargs: dict[str, float], word: str
) -> None:
    with pytest.raises(ConfigError, match=word):
        LiveMetrics(**kwargs)  # type: ignore[arg-type]


def test_empty_snapshot_is_json_without_nan_and_not_ready_values() -> None:
    m = LiveMetrics(tick_size=0.01)

    snap = m.snapshot()

    assert json.loads(json.dumps(snap, allow_nan=False)) == snap
    assert snap["version"] == 0
    assert snap["equity"] is None
    assert snap["position"] is None
    assert snap["equity_series"] == {"ts_ns": [], "equity": []}
    assert snap["book"] == {"ts_ns": None, "bids": [], "asks": [], "mid": None, "spread": None}
    assert snap["latency"]["decision_p50_ns"] is None


def test_on_batch_counts_events_and_keeps_top_levels() -> None:
    m = LiveMetrics(tick_size=0.01)

    m.on_batch(1_000, 3, 500_000, 20_000, 2, BIDS[:2], ASKS[:2])
    m.on_batch(2_000, 7, 700_000, 30_000, 5, BIDS, ASKS)
    snap = m.snapshot()

    assert snap["counters"] == {
        "events": 10, "batches": 2, "fills": 0, "alerts": 0, "queue_depth": 5, "fees": 0.0,
    }  # fmt: skip
    assert snap["version"] == 2
    assert snap["ts_ns"] == 2_000
    assert snap["book"]["ts_ns"] == 2_000
    assert len(snap["book"]["bids"]) == BOOK_LEVELS
    assert snap["book"]["bids"][0] == [100.0, 1.0]
    assert snap["book"]["asks"][1] == [100.03, 3.0]
    assert snap["book"]["mid"] == 100.01
    assert snap["book"]["spread"] == 0.02


def test_book_in_ticks_is_converted_to_quote_on_read() -> None:
    m = LiveMetrics(tick_size=0.01, book_in_ticks=True)

    m.on_batch(1_000, 1, 0, 0, 0, [(10_000, 1.5), (9_999, 2.0)], [(10_003, 0.5)])
    book = m.snapshot()["book"]

    assert book["bids"] == [[100.0, 1.5], [99.99, 2.0]]
    assert book["asks"] == [[100.03, 0.5]]
    assert (book["mid"], book["spread"]) == (100.015, 0.03)


def test_negative_event_count_is_rejected() -> None:
    m = LiveMetrics(tick_size=0.01)

    with pytest.raises(ConfigError, match="n_events"):
        m.on_batch(1, -1, 0, 0, 0, [], [])


def test_latency_percentiles_equal_numpy_over_the_window() -> None:
    m = LiveMetrics(tick_size=0.01)
    for i in range(1, 101):
        m.on_batch(i, 1, 1_000 * i, 10_000 * i, 0, [], [])

    lat = m.snapshot()["latency"]

    assert lat["window"] == 100
    assert lat["feed_lag_last_ns"] == 100_000
    assert lat["feed_lag_p50_ns"] == 50_500.0
    assert lat["feed_lag_p99_ns"] == pytest.approx(99_010.0, abs=1e-6)
    assert lat["decision_p50_ns"] == 505_000.0
    assert lat["decision_p99_ns"] == pytest.approx(990_100.0, abs=1e-6)


def test_latency_window_keeps_only_the_latest_samples() -> None:
    m = LiveMetrics(tick_size=0.01)
    for i in range(LATENCY_WINDOW + 10):
        m.on_batch(i, 1, 0, 1 if i < 10 else 1_000, 0, [], [])

    lat = m.snapshot()["latency"]

    assert lat["window"] == LATENCY_WINDOW
    assert lat["decision_p50_ns"] == 1_000.0
    assert lat["decision_p99_ns"] == 1_000.0


def test_state_tracks_pnl_drawdown_and_max_drawdown() -> None:
    m = LiveMetrics(tick_size=0.01)
    for ts, equity in enumerate([100.0, 105.0, 98.0, 101.0]):
        m.on_state(ts, equity, position=0.5, cash=50.0)

    snap = m.snapshot()

    assert (snap["equity"], snap["pnl"], snap["drawdown"], snap["max_drawdown"]) == (
        101.0, 1.0, 4.0, 7.0,
    )  # fmt: skip
    assert (snap["position"], snap["cash"]) == (0.5, 50.0)
    assert snap["equity_series"] == {"ts_ns": [0, 1, 2, 3], "equity": [100.0, 105.0, 98.0, 101.0]}


def test_equity_series_is_halved_past_the_cap_and_ends_at_the_latest_state() -> None:
    m = LiveMetrics(tick_size=0.01, max_points=4)
    for ts in range(10):
        m.on_state(ts, float(ts), 0.0, 0.0)

    series = m.snapshot()["equity_series"]

    assert series == {"ts_ns": [0, 4, 8, 9], "equity": [0.0, 4.0, 8.0, 9.0]}


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3000), max_points=st.integers(2, 300))
def test_equity_series_never_exceeds_max_points_and_spans_the_session(
    n: int, max_points: int
) -> None:
    m = LiveMetrics(tick_size=0.01, max_points=max_points)
    for ts in range(n):
        m.on_state(ts, float(ts), 0.0, 0.0)

    ts_ns = m.snapshot()["equity_series"]["ts_ns"]

    assert 1 <= len(ts_ns) <= max_points
    assert ts_ns[0] == 0
    assert ts_ns[-1] == n - 1
    assert all(a < b for a, b in pairwise(ts_ns))


def test_fills_are_listed_newest_first_in_quote_and_capped() -> None:
    m = LiveMetrics(tick_size=0.01, max_fills=2)

    m.on_fills(_fills([(10, 1, 1, 1, 10_000, 0.5, -0.01), (20, 2, -1, 2, 10_003, 0.25, 0.02)]))
    m.on_fills(_fills([(30, 3, 1, 2, 9_999, 1.0, 0.04)]))
    snap = m.snapshot()

    assert snap["fills"] == [
        {"ts_ns": 30, "order_id": 3, "side": "buy", "liquidity": "taker", "levels": 1,
         "price": 99.99, "qty": 1.0, "fee": 0.04},
        {"ts_ns": 20, "order_id": 2, "side": "sell", "liquidity": "taker", "levels": 1,
         "price": 100.03, "qty": 0.25, "fee": 0.02},
    ]  # fmt: skip
    assert snap["counters"]["fills"] == 3
    assert snap["counters"]["fees"] == pytest.approx(0.05, abs=1e-12)
    assert m.fill_qty_by_side == {"buy": 1.5, "sell": 0.25}


def test_fills_with_another_dtype_raise_type_error() -> None:
    m = LiveMetrics(tick_size=0.01)

    with pytest.raises(TypeError, match="FILL_DTYPE"):
        m.on_fills(np.zeros(2, dtype=np.float64))


def test_alerts_are_counted_by_kind_and_the_latest_listed() -> None:
    m = LiveMetrics(tick_size=0.01)
    for i in range(ALERTS_KEPT + 3):
        m.on_alert("stale_feed" if i % 2 else "gap", f"alert {i}", 1_000 + i)

    snap = m.snapshot()

    assert len(snap["alerts"]) == ALERTS_KEPT
    assert snap["alerts"][0] == {"kind": "gap", "message": "alert 52", "ts_ns": 1_052}
    assert snap["counters"]["alerts"] == ALERTS_KEPT + 3
    assert m.alerts_by_kind == {"gap": 27, "stale_feed": 26}


def test_prometheus_text_has_exact_series() -> None:
    m = LiveMetrics(tick_size=0.01)
    m.on_batch(1_000, 4, 200_000, 40_000, 3, BIDS, ASKS)
    m.on_batch(2_000, 6, 300_000, 2_000_000, 1, BIDS, ASKS)
    m.on_state(2_000, 1_000.0, -0.5, 1_050.0)
    m.on_state(3_000, 990.0, -0.5, 1_040.0)
    m.on_fills(_fills([(10, 1, -1, 1, 10_000, 0.5, -0.01)]))
    m.on_alert("stale_feed", "no message for 5 s", 4_000)

    text = m.prometheus()

    assert _lines(text, "l2t_events_total") == ["l2t_events_total 10.0"]
    assert _lines(text, "l2t_batches_total") == ["l2t_batches_total 2.0"]
    assert _lines(text, "l2t_queue_depth") == ["l2t_queue_depth 1.0"]
    assert _lines(text, "l2t_feed_lag_seconds ") == ["l2t_feed_lag_seconds 0.0003"]
    assert _lines(text, "l2t_position") == ["l2t_position -0.5"]
    assert _lines(text, "l2t_equity") == ["l2t_equity 990.0"]
    assert _lines(text, "l2t_pnl") == ["l2t_pnl -10.0"]
    assert _lines(text, "l2t_drawdown") == ["l2t_drawdown 10.0"]
    assert _lines(text, "l2t_fills_total") == [
        'l2t_fills_total{side="buy"} 0.0',
        'l2t_fills_total{side="sell"} 1.0',
    ]
    assert _lines(text, "l2t_alerts_total") == ['l2t_alerts_total{kind="stale_feed"} 1.0']
    assert "# TYPE l2t_decision_latency_seconds histogram" in text
    assert _lines(text, "l2t_decision_latency_seconds_bucket")[1:3] == [
        'l2t_decision_latency_seconds_bucket{le="2.5e-05"} 0.0',
        'l2t_decision_latency_seconds_bucket{le="5e-05"} 1.0',
    ]
    assert 'l2t_decision_latency_seconds_bucket{le="0.0025"} 2.0' in text
    assert 'l2t_decision_latency_seconds_bucket{le="+Inf"} 2.0' in text
    assert "l2t_decision_latency_seconds_count 2.0" in text
    assert "l2t_decision_latency_seconds_sum 0.00204" in text


def test_prometheus_text_parses_back_with_every_family() -> None:
    m = LiveMetrics(tick_size=0.01)
    m.on_batch(1_000, 4, 200_000, 40_000, 3, BIDS, ASKS)
    m.on_alert("gap", 'seq 5 -> 9 "resync"', 2_000)

    families = {f.name: f for f in text_string_to_metric_families(m.prometheus())}

    assert set(families) == {
        "l2t_events", "l2t_batches", "l2t_queue_depth", "l2t_feed_lag_seconds",
        "l2t_feed_lag_hist_seconds", "l2t_decision_latency_seconds", "l2t_position",
        "l2t_equity", "l2t_cash", "l2t_pnl", "l2t_drawdown", "l2t_max_drawdown", "l2t_fees",
        "l2t_fills", "l2t_fill_qty", "l2t_alerts",
    }  # fmt: skip
    (alert,) = families["l2t_alerts"].samples
    assert (alert.labels, alert.value) == ({"kind": "gap"}, 1.0)


def test_every_update_moves_the_version() -> None:
    m = LiveMetrics(tick_size=0.01)

    m.on_batch(1, 1, 0, 0, 0, [], [])
    m.on_state(2, 1.0, 0.0, 1.0)
    m.on_fills(_fills([(3, 1, 1, 1, 100, 1.0, 0.0), (4, 2, 1, 1, 100, 1.0, 0.0)]))
    m.on_alert("x", "y", 5)

    assert m.version == 5
    assert m.snapshot()["ts_ns"] == 5
