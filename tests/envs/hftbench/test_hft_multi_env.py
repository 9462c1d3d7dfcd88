"""HFTBenchMultiEnv: PettingZoo API, arrival-time interleaving, the fast agent takes the stale quote."""

from __future__ import annotations

import warnings

import pytest
from pettingzoo.test import api_test

from splitsecond.envs.hftbench import HFTBenchMultiEnv, ScheduledNews, multi_env

SHORT = {"session_seconds": 8.0, "warmup_seconds": 1.0}


def test_pettingzoo_api():
    env = multi_env(n_agents=2, clock="fixed", latency_ms=[1.0, 30.0], **SHORT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api_test(env, num_cycles=200)


def test_turn_order_follows_observation_times():
    env = multi_env(
        n_agents=2,
        clock="fixed",
        latency_ms={"trader_0": 1.0, "trader_1": 300.0},
        news_rate_per_min=0.0,
        **SHORT,
    )
    env.reset(seed=0)
    seen = []
    for _ in range(12):
        agent = env.agent_selection
        seen.append((env.infos[agent]["time_us"], agent))
        env.step(None)
    times = [t for t, _ in seen]
    assert times == sorted(times)
    # the 1 ms agent decides every 101 ms, the 300 ms agent every 400 ms
    assert sum(a == "trader_0" for _, a in seen) > 2 * sum(a == "trader_1" for _, a in seen)


def _race(lat_fast, lat_slow, seed):
    env = HFTBenchMultiEnv(
        agent_names=["fast_0", "slow_1"],
        clock="fixed",
        latency_ms={"fast_0": lat_fast, "slow_1": lat_slow},
        news_rate_per_min=0.0,
        news_schedule=(ScheduledNews(3.0, "ACME", +1, 1.5),),
        **SHORT,
    )
    env.reset(seed=seed)
    done = set()
    for agent in env.agent_iter():
        obs, _, term, trunc, info = env.last()
        action = None
        if not (term or trunc) and info["new_headlines"] and agent not in done:
            action = "BUY 300 ACME @ MKT"
            done.add(agent)
        env.step(None if (term or trunc) else action)
    return env


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_agent_takes_the_stale_quote_the_slow_one_misses(seed):
    env = _race(1.0, 500.0, seed)
    market = env.market
    fast, slow = (market.stats[o] for o in market.agents)
    fast_buys = [f for f in fast.fills if f.liquidity == "taker"]
    slow_buys = [f for f in slow.fills if f.liquidity == "taker"]
    assert fast_buys and slow_buys
    assert max(f.time_us for f in fast_buys) < min(f.time_us for f in slow_buys)
    assert (
        max(f.price for f in fast_buys) < min(f.price for f in slow_buys) - 0.5
    )  # before vs after repricing
    s = {name: market.summary(o) for name, o in zip(env.possible_agents, market.agents, strict=True)}
    assert s["fast_0"]["opportunities_captured"] == 1 and s["slow_1"]["opportunities_captured"] == 0
    assert s["fast_0"]["pnl"] > 100 > s["slow_1"]["pnl"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="latency_ms"):
        multi_env(n_agents=2, latency_ms=[1.0])
    with pytest.raises(ValueError, match="unknown agents"):
        multi_env(n_agents=2, latency_ms={"nobody": 1.0})
    with pytest.raises(ValueError, match="agent_names"):
        multi_env(agent_names=["a", "a"])
