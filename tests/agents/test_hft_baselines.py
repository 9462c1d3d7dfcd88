"""HFTBench baseline agents run whole sessions through the Agent contract."""

from __future__ import annotations

import pytest

from splitsecond.agents.base import Agent, EnvSpec, Observation
from splitsecond.agents.baselines.hftbench import HFTMarketMaker, HFTMomentumTrader, HFTNewsReactor
from splitsecond.envs.hftbench import RULES, HFTBenchEnv
from splitsecond.envs.hftbench.env import ENV_ID
from splitsecond.envs.timing import TimedAction


def _session(agent, latency_ms=5.0, seed=0, **kw):
    env = HFTBenchEnv(clock="explicit", session_seconds=30.0, warmup_seconds=2.0, **kw)
    obs, info = env.reset(seed=seed)
    spec = EnvSpec(ENV_ID, env.action_space, env.observation_space, rules=RULES, metadata=env.spec_metadata)
    agent.reset(spec, seed=seed)
    term = False
    while not term:
        decision = agent.act(Observation(obs, info["text"], info["time_us"], info))
        assert env.action_space.contains(decision.action)
        obs, _, term, _, info = env.step(TimedAction(decision.action, latency_ms))
    return env.summary()


@pytest.mark.parametrize(
    "agent", [HFTMarketMaker(), HFTMomentumTrader(), HFTNewsReactor()], ids=lambda a: a.name
)
def test_baseline_runs_a_session(agent):
    assert isinstance(agent, Agent)
    s = _session(agent, news_rate_per_min=6.0)
    assert s["orders_submitted"] > 0 and s["fills"] > 0
    assert s["rejections"] <= s["orders_submitted"]


def test_news_reactor_is_worth_more_when_fast():
    fast = _session(HFTNewsReactor(), latency_ms=1.0, seed=3, news_rate_per_min=8.0)
    slow = _session(HFTNewsReactor(), latency_ms=800.0, seed=3, news_rate_per_min=8.0)
    assert fast["opportunities"] == slow["opportunities"] > 0
    assert fast["opportunities_captured"] > slow["opportunities_captured"]
    assert fast["pnl"] > slow["pnl"]


def test_bad_parameters():
    with pytest.raises(ValueError):
        HFTMarketMaker(lots=0)
    with pytest.raises(ValueError):
        HFTNewsReactor(max_age_s=0)
