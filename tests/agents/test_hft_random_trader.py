"""The random trader (``hft-random``): HFTBench's noise baseline, reproducible, always a valid action."""

from __future__ import annotations

import pytest

from splitsecond.agents.base import EnvSpec, Observation
from splitsecond.agents.baselines import HFTRandomTrader, builtin_agents
from splitsecond.agents.baselines.hftbench import MARKET_BUY, MARKET_SELL, NONE
from splitsecond.envs.hftbench import RULES, HFTBenchEnv
from splitsecond.envs.hftbench.env import ENV_ID
from splitsecond.envs.timing import TimedAction


def _session(agent, seed=0, decisions=300):
    env = HFTBenchEnv(clock="explicit", session_seconds=60.0, warmup_seconds=2.0, decision_interval_ms=100)
    obs, info = env.reset(seed=seed)
    spec = EnvSpec(ENV_ID, env.action_space, env.observation_space, rules=RULES, metadata=env.spec_metadata)
    agent.reset(spec, seed=seed)
    orders = []
    for _ in range(decisions):
        action = agent.act(Observation(obs, info["text"], info["time_us"], info)).action
        assert env.action_space.contains(action)
        orders.append(
            [(int(t), int(s)) for t, s in zip(action["type"], action["symbol"], strict=True) if t != NONE]
        )
        obs, _, term, _, info = env.step(TimedAction(action, 5.0))
        if term:
            break
    return orders, env.summary()


def test_random_trader_sends_market_orders_at_its_rate_and_is_reproducible():
    orders, summary = _session(HFTRandomTrader(trade_prob=0.3))
    flat = [o for step in orders for o in step]
    assert all(t in (MARKET_BUY, MARKET_SELL) for t, _ in flat) and all(len(step) <= 1 for step in orders)
    assert 0.2 < len(flat) / len(orders) < 0.4
    assert {t for t, _ in flat} == {MARKET_BUY, MARKET_SELL} and len({s for _, s in flat}) > 1
    assert summary["fills"] > 0
    again, _ = _session(HFTRandomTrader(trade_prob=0.3))
    other, _ = _session(HFTRandomTrader(trade_prob=0.3), seed=1)
    assert again == orders and other != orders
    never, _ = _session(HFTRandomTrader(trade_prob=0.0), decisions=50)
    assert not any(never)


def test_random_trader_is_a_builtin_and_checks_its_options():
    assert isinstance(builtin_agents()["hft-random"](), HFTRandomTrader)
    for bad in (
        {"trade_prob": 1.5},
        {"trade_prob": "x"},
        {"shares": 0},
        {"shares": True},
        {"latency_ms": -1},
    ):
        with pytest.raises(ValueError):
            HFTRandomTrader(**bad)
