"""HFTBenchEnv: Gymnasium API, timing, determinism, action forms, rejections, rendering."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import splitsecond.envs  # noqa: F401  (registers the ids)
from splitsecond.envs.hftbench import (
    RULES,
    Cancel,
    HFTBenchEnv,
    Order,
    SpaceDims,
    build_action,
    noop_action,
)
from splitsecond.envs.timing import TimedAction

SHORT = {"session_seconds": 10.0, "warmup_seconds": 1.0}


@pytest.mark.parametrize("clock", ["explicit", "fixed"])
def test_check_env_deterministic_clocks(clock):
    env = gymnasium.make("splitsecond/HFTBench-v0", clock=clock, latency_ms=5.0, **SHORT).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)


@pytest.mark.parametrize("make", ["direct", "gymnasium.make"])
def test_check_env_wall_clock_declares_itself_nondeterministic(make):
    # The wall clock measures real latency, so two identical runs differ by design (timing.py);
    # the env's own spec says so, built directly or through gymnasium.make.
    if make == "direct":
        env = HFTBenchEnv(clock="wall", **SHORT)
    else:
        env = gymnasium.make("splitsecond/HFTBench-v0", clock="wall", **SHORT).unwrapped
    assert env.spec is not None and env.spec.nondeterministic is True
    assert HFTBenchEnv(clock="explicit", **SHORT).spec is None
    for _ in range(3):  # it used to fail about half the time
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(env)
    obs, info = env.reset(seed=0)
    _, _, _, _, info = env.step(None)
    assert info["latency_us"] >= 0


def _run(latency_ms, seed=3, steps=60):
    env = HFTBenchEnv(clock="explicit", **SHORT)
    env.action_space.seed(5)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(1)
    trace = []
    for k in range(steps):
        a = env.action_space.sample() if k % 3 else "BUY 5 ACME @ MKT"
        obs, r, term, trunc, info = env.step(TimedAction(a, latency_ms * (1 + rng.random())))
        trace.append(
            (info["time_us"], r, tuple(sorted((f["order_id"], f["price"], f["qty"]) for f in info["fills"])))
        )
        if term:
            break
    return trace, env.summary()


def test_same_seed_and_latencies_give_identical_fills_and_pnl():
    a = _run(20)
    b = _run(20)
    assert a == b
    c = _run(20, seed=4)
    assert c[0] != a[0]


def test_cadence_orders_land_after_latency_then_interval():
    env = HFTBenchEnv(clock="explicit", decision_interval_ms=100, news_rate_per_min=0.0, **SHORT)
    _, info = env.reset(seed=0)
    assert info["time_us"] == 0
    _, _, _, _, info = env.step(TimedAction(None, 250.0))
    assert info["time_us"] == 350_000
    _, _, _, _, info = env.step(TimedAction("BUY 1 ACME", 1.0))
    assert info["time_us"] == 451_000
    assert info["fills"] and info["fills"][0]["time_us"] == 351_000  # landed at t_obs + 1 ms


def test_wake_on_news_brings_observation_forward():
    from splitsecond.envs.hftbench import ScheduledNews

    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=1.0,
        decision_interval_ms=1000.0,
        news_rate_per_min=0.0,
        news_schedule=(ScheduledNews(0.5, "ACME", 1, 1.0),),
        **SHORT,
    )
    env.reset(seed=0)
    _, _, _, _, info = env.step(None)
    assert info["time_us"] == 500_000
    assert info["new_headlines"][0]["symbol"] == "ACME"
    assert "ACME" in info["new_headlines"][0]["text"]
    assert "News:" in info["text"] and info["new_headlines"][0]["text"] in info["text"]


def test_friendly_action_forms():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, news_rate_per_min=0.0, **SHORT)
    obs, _ = env.reset(seed=1)
    bid = float(obs["bid_px"][0, 0])
    _, _, _, _, info = env.step([Order("buy", "ACME", 10, round(bid - 0.05, 2)), Order("buy", "BOLT", 3)])
    accepted = info["accepted"]
    assert len(accepted) == 2 and not info["rejections"]
    resting = accepted[0]["order_id"]
    obs, _, _, _, info = env.step(None)
    assert resting in obs["order_id"].tolist()
    assert int(obs["position"][1]) == 3
    obs, _, _, _, info = env.step(Cancel(resting))
    assert info["accepted"][0]["cancelled_qty"] == 10
    assert resting not in obs["order_id"].tolist()
    obs, _, _, _, info = env.step("SELL 3 BOLT @ MKT; HOLD")
    assert int(obs["position"][1]) == 0


def test_array_action_offsets_are_relative_to_the_observed_touch():
    env = HFTBenchEnv(clock="fixed", latency_ms=0.0, news_rate_per_min=0.0, **SHORT)
    obs, _ = env.reset(seed=2)
    bid = float(obs["bid_px"][1, 0])
    action = build_action(env.dims, [(1, 1, -2, 4, 0)])  # limit buy BOLT 2 ticks below the bid, 4 lots
    obs, _, _, _, info = env.step(action)
    j = obs["order_id"].tolist().index(info["accepted"][0]["order_id"])
    assert obs["order_px"][j] == pytest.approx(bid - 0.02)
    assert obs["order_qty"][j] == 4
    assert env.action_space.contains(noop_action(env.dims))


def test_invalid_orders_are_rejected_with_reasons_and_counted():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, news_rate_per_min=0.0, short_limit_shares=100, **SHORT)
    env.reset(seed=0)
    bad = [
        Order("buy", "NOPE", 10),
        Order("buy", "ACME", 0),
        Order("buy", "ACME", -5),
        Order("buy", "ACME", 10, 100.005),
        Order("buy", "ACME", 5000),  # ~$500k > $100k cash
        Order("sell", "ACME", 101),  # short limit 100
        Cancel(999_999),
    ]
    _, _, _, _, info = env.step(bad)
    codes = [r["code"] for r in info["rejections"]]
    assert codes == [
        "unknown_symbol",
        "bad_quantity",
        "bad_quantity",
        "off_tick",
        "insufficient_buying_power",
        "short_limit",
        "unknown_order",
    ]
    assert "buying power $" in info["rejections"][4]["reason"] and "cash" in info["rejections"][4]["reason"]
    assert "NOPE" in info["rejections"][0]["reason"] and "ACME" in info["rejections"][0]["reason"]
    assert "tick size 0.01" in info["rejections"][3]["reason"]
    assert env.summary()["rejections"] == 7
    # array form: zero quantity, and an offset beyond the declared bound (refused, not clamped)
    action = build_action(env.dims, [(3, 0, 0, 0, 0), (1, 0, -1_000, 1, 0)])
    action["price_offset"][1] = -1_000_000
    _, _, _, _, info = env.step(action)
    assert [r["code"] for r in info["rejections"]] == ["bad_quantity", "outside_action_space"]
    # a price pushed below zero inside a wider declared offset range
    wide = HFTBenchEnv(
        clock="fixed", dims=SpaceDims(max_offset_ticks=100_000), news_rate_per_min=0.0, **SHORT
    )
    wide.reset(seed=0)
    _, _, _, _, info = wide.step(build_action(wide.dims, [(1, 0, -50_000, 1, 0)]))
    assert [r["code"] for r in info["rejections"]] == ["bad_price"]


def test_cancel_too_late_after_fill():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, news_rate_per_min=0.0, **SHORT)
    obs, _ = env.reset(seed=0)
    ask = float(obs["ask_px"][0, 0])
    _, _, _, _, info = env.step(Order("buy", "ACME", 1, ask))  # marketable limit: fills at once
    oid = info["accepted"][0]["order_id"]
    assert info["fills"][0]["order_id"] == oid
    _, _, _, _, info = env.step(Cancel(oid))
    assert info["rejections"][0]["code"] == "cancel_too_late"


@pytest.mark.parametrize(
    "action",
    [
        {"type": np.zeros(4, dtype=np.int64)},  # missing keys
        {**noop_action(SpaceDims()), "type": np.zeros(3, dtype=np.int64)},  # wrong shape
        {**noop_action(SpaceDims()), "type": np.array([9, 0, 0, 0])},  # type code out of range
        {**noop_action(SpaceDims()), "quantity": np.array([0.5, 0, 0, 0])},  # not integers
        42,
        [Order("buy", "ACME", 1), 3.14],
        "BUY ten ACME",
        Order("hold", "ACME", 1),
    ],
)
def test_malformed_action_raises_value_error(action):
    env = HFTBenchEnv(clock="fixed", **SHORT)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(action)


def test_episode_ends_with_liquidation_and_summary():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, decision_interval_ms=500.0, **SHORT)
    env.reset(seed=0)
    env.step("BUY 100 ACME; SELL 50 BOLT")
    total = 0.0
    term = False
    while not term:
        obs, r, term, trunc, info = env.step(None)
        total += r
        assert not trunc
    assert obs["position"].tolist() == [0, 0, 0, 0]
    assert {f["liquidity"] for f in info["fills"]} == {"close"}
    s = info["summary"]
    assert s["pnl"] == pytest.approx(float(obs["pnl"][0]), abs=1e-6)
    assert s["fees"] > 0 and s["fill_ratio"] == 1.0
    assert set(s) >= {
        "daily_yield_pct",
        "sharpe",
        "max_drawdown_pct",
        "latency_p99_ms",
        "opportunities_captured",
    }
    with pytest.raises(RuntimeError):
        env.step(None)


def test_render_rgb_array_and_summary_table():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, render_mode="rgb_array", **SHORT)
    env.reset(seed=0)
    for _ in range(25):
        env.step("BUY 5 ACME")
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] > 100 and img.std() > 0
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(env.summary_table())
    assert "yield" in console.export_text()
    assert "BUY" in RULES and "latency" in RULES


def test_bad_options_raise():
    with pytest.raises(ValueError, match="unknown HFTBench option"):
        HFTBenchEnv(sesion_seconds=3)
    with pytest.raises(ValueError, match="clock"):
        HFTBenchEnv(clock="sundial")
    with pytest.raises(ValueError, match="fill_model"):
        HFTBenchEnv(fill_model="magic")
    with pytest.raises(ValueError, match="decision_interval_ms"):
        HFTBenchEnv(decision_interval_ms=0)
