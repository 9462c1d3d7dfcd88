"""A 1 ms agent captures a news-driven stale quote that a 500 ms agent misses (single-agent env)."""

from __future__ import annotations

import pytest

from splitsecond.envs.hftbench import HFTBenchEnv, ScheduledNews


def _react(latency_ms, seed, direction):
    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=latency_ms,
        news_rate_per_min=0.0,
        session_seconds=12.0,
        warmup_seconds=2.0,
        news_schedule=(ScheduledNews(6.0, "BOLT", direction, 1.5),),
    )
    obs, info = env.reset(seed=seed)
    term = False
    sent = False
    while not term:
        action = None
        if not sent and info["new_headlines"]:
            assert info["new_headlines"][0]["direction"] == direction
            action = ("BUY" if direction > 0 else "SELL") + " 200 BOLT @ MKT"
            sent = True
        obs, _, term, _, info = env.step(action)
    return env.summary()


@pytest.mark.parametrize("seed,direction", [(0, +1), (1, -1), (2, +1)])
def test_fast_agent_captures_stale_quote_slow_agent_misses(seed, direction):
    fast = _react(1.0, seed, direction)
    slow = _react(500.0, seed, direction)
    assert fast["opportunities"] == slow["opportunities"] == 1
    assert fast["opportunities_captured"] == 1 and fast["stale_shares"] > 0 and fast["stale_edge"] > 0
    assert slow["opportunities_captured"] == 0 and slow["stale_shares"] == 0
    assert fast["pnl"] > slow["pnl"] + 50


def test_etf_lags_its_component_so_a_fast_agent_can_trade_it():
    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=1.0,
        news_rate_per_min=0.0,
        session_seconds=10.0,
        warmup_seconds=2.0,
        news_schedule=(ScheduledNews(5.0, "CHIP", +1, 2.0),),
    )
    obs, info = env.reset(seed=4)
    term = False
    sent = False
    while not term:
        action = None
        if not sent and info["new_headlines"]:
            action = "BUY 200 IDX @ MKT"  # the ETF holds CHIP; its makers are slower than CHIP's
            sent = True
        obs, _, term, _, info = env.step(action)
    s = env.summary()
    assert s["opportunities_captured"] == 1 and s["stale_edge"] > 0
