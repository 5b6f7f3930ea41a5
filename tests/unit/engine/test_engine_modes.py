"""Decision clocks, the strategy's book features, signals and empirical latency, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from l2trader.engine import strategy as st
from l2trader.engine.config import DecisionConfig, EngineConfig
from l2trader.engine.engine import Engine
from l2trader.engine.latency import LatencyConfig
from l2trader.engine.loop_kernels import DRAIN_ROWS
from l2trader.schema import SIGNAL_DTYPE
from tests.unit.engine.scripted import TICK, ScriptedStrategy, Tape, cancel, market, new

BID, ASK = 1, -1


def _tape() -> np.ndarray:
    # five batches at 1_000 .. 5_000 ns; batch 3 has two rows
    tape = Tape().book(1_000, (99, 1.0, BID), (100, 3.0, ASK))
    tape.book(2_000, (98, 2.0, BID)).book(3_000, (101, 4.0, ASK), (97, 1.0, BID))
    return tape.book(4_000, (99, 2.0, BID)).book(5_000, (100, 1.0, ASK)).events()


def _run(mode: str, every: int = 0, signals: np.ndarray | None = None) -> ScriptedStrategy:
    strat = ScriptedStrategy({})
    cfg = EngineConfig(decision=DecisionConfig(mode=mode, every=every), grid_ns=1_000)  # type: ignore[arg-type]
    eng = Engine(cfg, tick_size=TICK, strategy=strat, signals=signals)
    eng.run(_tape())
    eng.finish()
    return strat


def test_book_mode_decides_at_every_consistent_state() -> None:
    assert [c.ts_recv for c in _run("book").seen] == [1_000, 2_000, 3_000, 4_000, 5_000]


def test_time_mode_decides_at_the_first_state_at_or_after_each_multiple() -> None:
    # every 2_000 ns: first state (1_000) decides, next due at 2_000, then 4_000, then 6_000
    assert [c.ts_recv for c in _run("time", 2_000).seen] == [1_000, 2_000, 4_000]


def test_changes_mode_decides_after_n_book_rows() -> None:
    # rows: 2 (t=1000), 1 (2000), 2 (3000), 1 (4000), 1 (5000); every 3 rows
    assert [c.ts_recv for c in _run("changes", 3).seen] == [2_000, 4_000]


def test_signal_mode_decides_when_a_new_row_is_visible_with_its_score_and_age() -> None:
    sig = np.array([(1_500, 2.5), (1_600, -1.0), (4_000, 3.0)], dtype=SIGNAL_DTYPE)

    seen = _run("signal", signals=sig).seen

    assert [c.ts_recv for c in seen] == [2_000, 4_000]
    assert [c.score for c in seen] == [-1.0, 3.0]  # the latest row wins
    assert seen[0].features[st.FEAT_SCORE_AGE_NS] == 400.0
    assert seen[1].features[st.FEAT_SCORE_AGE_NS] == 0.0


def test_features_at_a_decision_are_worked_by_hand() -> None:
    seen = _run("book").seen
    f = seen[2].features  # after t=3000: bids 99x1, 98x2, 97x1; asks 100x3, 101x4

    assert f[st.FEAT_MID_TICKS] == 99.5
    assert f[st.FEAT_SPREAD_TICKS] == 1.0
    assert f[st.FEAT_MICRO_TICKS] == pytest.approx((99 * 3.0 + 100 * 1.0) / 4.0)
    assert f[st.FEAT_IMB1] == pytest.approx((1.0 - 3.0) / 4.0)
    assert f[st.FEAT_BID_DEPTH5] == 4.0
    assert f[st.FEAT_ASK_DEPTH5] == 7.0
    assert f[st.FEAT_IMB5] == pytest.approx((4.0 - 7.0) / 11.0)
    assert (f[st.FEAT_BID_QTY1], f[st.FEAT_ASK_QTY1]) == (1.0, 3.0)
    assert math.isnan(f[st.FEAT_AVG_ENTRY_TICKS])
    assert math.isnan(f[st.FEAT_POS_AGE_NS])
    assert math.isnan(f[st.FEAT_VOL_BPS])  # the mid has not moved yet
    assert f[st.FEAT_SCORE_AGE_NS] == math.inf


def test_volatility_feature_is_the_decayed_mean_square_of_mid_log_returns() -> None:
    # mid 99.5 at t=1000, 100.0 at t=3000 (ask 100 removed, bid 99 stays), 99.5 at t=6000
    tape = Tape().book(1_000, (99, 1.0, BID), (100, 1.0, ASK), (101, 1.0, ASK))
    tape.book(3_000, (100, 0.0, ASK)).book(6_000, (100, 2.0, ASK)).book(7_000, (90, 1.0, BID))
    strat = ScriptedStrategy({})
    cfg = EngineConfig(grid_ns=1_000, vol_halflife_ns=4_000)
    eng = Engine(cfg, tick_size=TICK, strategy=strat)
    eng.run(tape.events())
    eng.finish()

    r1 = math.log(100.0 / 99.5) * 1e4  # bps
    r2 = math.log(99.5 / 100.0) * 1e4
    dt1, dt2 = 2_000e-9, 3_000e-9  # s
    decay = math.exp(-dt2 * math.log(2.0) / 4_000e-9)
    s_, t_ = r1 * r1 * decay + r2 * r2, dt1 * decay + dt2
    assert math.isnan(strat.ctx_at(1_000).features[st.FEAT_VOL_BPS])
    assert strat.ctx_at(3_000).features[st.FEAT_VOL_BPS] == pytest.approx(abs(r1) / math.sqrt(dt1))
    assert strat.ctx_at(7_000).features[st.FEAT_VOL_BPS] == pytest.approx(math.sqrt(s_ / t_))


def test_position_average_entry_and_age_follow_the_notified_fill() -> None:
    strat = ScriptedStrategy({1_000: [market(1, 2.0)]})
    cfg = EngineConfig(latency=LatencyConfig(entry_ns=100, response_ns=50), grid_ns=1_000)
    eng = Engine(cfg, tick_size=TICK, strategy=strat)
    eng.run(_tape())
    eng.finish()

    # the buy takes 3.0 @ 100 available: 2.0 @ 100, notified at 1_150
    ctx = strat.ctx_at(2_000)
    assert ctx.position == 2.0
    assert ctx.features[st.FEAT_AVG_ENTRY_TICKS] == pytest.approx(100.0)
    assert ctx.features[st.FEAT_POS_AGE_NS] == 2_000 - 1_150
    # marked at the mid 99.5 (bid 99 and ask 100 both still there at t=2000)
    assert ctx.features[st.FEAT_UNREALIZED] == pytest.approx(2.0 * (99.5 - 100.0) * TICK)


def test_empirical_latency_is_seeded_and_never_reorders_reports() -> None:
    def run(seed: int) -> np.ndarray:
        schedule = {t: [new(1, 1.0, 90)] for t in (1_000, 2_000, 3_000, 4_000)}
        lat = LatencyConfig(kind="empirical", entry_ns=100, response_ns=50, seed=seed)
        cfg = EngineConfig(latency=lat, grid_ns=1_000)
        eng = Engine(cfg, tick_size=TICK, strategy=ScriptedStrategy(schedule),
                     latency_samples_ns=np.array([0, 10, 500, 2_000]))  # fmt: skip
        eng.run(_tape())
        return eng.finish().order_events

    a, b, c = run(1), run(1), run(2)

    np.testing.assert_array_equal(a["ts_recv"], b["ts_recv"])
    assert np.all(np.diff(a["ts_recv"]) >= 0)
    assert np.all(a["ts_recv"] - a["ts_exch"] >= 50)
    assert not np.array_equal(a["ts_exch"], c["ts_exch"])


def test_injected_latency_draws_replace_the_model_and_a_lost_ack_holds_later_reports() -> None:
    schedule = {1_000: [new(1, 1.0, 90)], 2_000: [new(1, 1.0, 91)]}
    entry = np.array([100, 1_000], np.int64)  # the second order is delayed 1 us
    response = np.array([10**15, 50, 50], np.int64)  # the first report never arrives in the run
    strat = ScriptedStrategy(schedule)
    eng = Engine(EngineConfig(grid_ns=1_000), tick_size=TICK, strategy=strat,
                 latency_draws_ns=(entry, response))  # fmt: skip
    eng.run(_tape())
    out = eng.finish()

    assert out.order_events["ts_exch"].tolist() == [1_100, 3_000]
    assert out.order_events["ts_recv"].tolist() == [1_100 + 10**15] * 2  # in-order delivery
    assert len(strat.ctx_at(5_000).open_orders) == 2  # no ack seen: both still "in flight"
    assert out.counters["late_reports"] == 2  # delivered at the end, not on a 10**15 ns grid
    assert out.equity.size <= DRAIN_ROWS + 10  # the grid waits at most DRAIN_ROWS rows


def test_a_fill_and_its_order_event_reach_the_strategy_together_under_latency_spikes() -> None:
    # spiky response delays: reports share one in-order channel, so a fill and the order
    # event of the same venue match reach the strategy at the same time (with one clamp per
    # stream an ack spike delayed the event but not the fill: a transient double count)
    from l2trader.testing import realistic_events
    from tests.unit.engine.scripted import RandomStrategy

    rng = np.random.default_rng(5)
    response = np.where(rng.random(4096) < 0.1, 200_000, 50).astype(np.int64)
    entry = rng.integers(50, 5_000, 4096).astype(np.int64)
    events = realistic_events(np.random.default_rng(9), 30_000)
    eng = Engine(EngineConfig(grid_ns=10**9), tick_size=1.0, strategy=RandomStrategy(seed=4),
                 latency_draws_ns=(entry, response))  # fmt: skip
    eng.run(events)
    out = eng.finish()

    assert out.fills.size > 50
    oev = {
        (int(e["order_id"]), int(e["ts_exch"])): int(e["ts_recv"])
        for e in out.order_events
        if e["status"] in (4, 5, 6)
    }  # fmt: skip (expired, filled, partially filled)
    for f in out.fills:
        assert oev[(int(f["order_id"]), int(f["ts_exch"]))] == f["ts_recv"]


def test_a_cancel_never_overtakes_its_new_even_with_a_faster_entry_draw() -> None:
    # NEW at 1_000 with a 2_500 ns entry delay (venue at 3_500); CANCEL at 2_000 drawing 100 ns
    # (would reach the venue at 2_100, before the order exists): actions keep sending order
    schedule = {1_000: [new(1, 1.0, 90)], 2_000: [cancel(0)]}
    entry = np.array([2_500, 100], np.int64)
    response = np.array([50], np.int64)
    eng = Engine(EngineConfig(grid_ns=1_000), tick_size=TICK, strategy=ScriptedStrategy(schedule),
                 latency_draws_ns=(entry, response))  # fmt: skip
    eng.run(_tape())
    out = eng.finish()

    statuses = out.order_events[["ts_exch", "status", "reason"]].tolist()
    assert statuses == [(3_500, 1, 0), (3_500, 3, 0)]  # ACCEPTED, then CANCELED (not UNKNOWN)
