"""End to end: our own server (embedded SmolLM2-135M, a real subprocess) reached through LiteLLM.

One server per module. An LLM agent plays a short StreetFighter match against a built-in fighter
and a short HFTBench session against the market maker (every order valid, from the constrained
order menu); calibration in quick mode writes a valid profile.
"""

import os

import pytest

from splitsecond.agents import ChainOfThought, LLMAgent, PlanThenAct, Reflex, TokenLatency, load_profile
from splitsecond.agents.arena import MatchConfig, read_episode_log, run_match
from splitsecond.agents.calibrate import CalibrationConfig, calibrate
from splitsecond.envs.streetfighter.actions import N_ACTIONS
from splitsecond.envs.streetfighter.frame_data import frame_time_us, latency_frames
from splitsecond.envs.timing import ms_to_us

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    from splitsecond.serving.server import start_server_subprocess

    with start_server_subprocess("smollm2-135m", timeout_s=300) as s:
        yield s


def test_llm_agent_plays_a_match_against_a_builtin(server, tmp_path):
    agent = LLMAgent(
        "openai/smollm2-135m",
        api_base=server.api_base,
        structured="choice",
        thinking="reflex",
        prompt="compact",
    )
    profile = load_profile("smollm2-135m-cpu")
    result = run_match(
        {"player_0": agent, "player_1": "turtle"},
        MatchConfig(
            seed=0, env_kwargs={"round_seconds": 12, "rounds_to_win": 1}, out_dir=tmp_path, act_timeout_s=120
        ),
        latency={"player_0": TokenLatency(profile)},
    )
    assert result.end_reason == "terminated"
    records = [r for r in read_episode_log(result.log_path) if r["type"] == "decision"]
    mine = [r for r in records if r["agent"] == "player_0"]
    assert len(mine) >= 3
    for r in mine:  # every decision is a valid, constrained action with real token usage
        assert 0 <= r["action"] < N_ACTIONS and not r["fallback"] and r["error"] is None
        assert r["raw"].strip() == r["action_name"]
        assert r["usage"]["requests"] == 1 and r["usage"]["prompt"] > 50 and r["usage"]["completion"] >= 1
        u = r["usage"]
        assert r["latency_ms"] == pytest.approx(
            profile.latency_ms(u["prompt"], u["cached"], u["completion"], 1)
        )
    # the prefix cache serves the stable system prompt after the first call
    assert sum(r["usage"]["cached"] > 0 for r in mine[1:]) >= len(mine[1:]) // 2
    # the logged latencies add up to the simulated time
    for prev, nxt in zip(mine, mine[1:], strict=False):
        frame = -(-prev["t_us"] * 60 // 1_000_000)
        assert nxt["t_us"] == frame_time_us(frame + latency_frames(ms_to_us(prev["latency_ms"])) + 1)
    stats = result.agents["player_0"]
    assert stats.fallbacks == 0 and stats.errors == 0 and agent.stats.call_errors == 0
    assert stats.usage.completion_tokens >= len(mine)


def test_llm_agent_trades_hftbench_with_valid_orders(server, tmp_path):
    from splitsecond.envs.hftbench import parse_orders

    agent = LLMAgent(
        "openai/smollm2-135m", api_base=server.api_base, structured="auto", prompt="compact", history=0
    )
    result = run_match(
        {"trader_0": agent, "trader_1": "hft-market-maker"},
        MatchConfig(
            env_id="HFTBench-v0",
            seed=0,
            env_kwargs={"session_seconds": 0.5},
            out_dir=tmp_path,
            act_timeout_s=120,
        ),
        latency={"trader_0": "fixed:100"},
    )
    assert result.end_reason == "terminated"
    mine = [
        r for r in read_episode_log(result.log_path) if r["type"] == "decision" and r["agent"] == "trader_0"
    ]
    assert len(mine) >= 3
    for r in mine:  # each decision is one order of the menu, written by the model, not a fallback
        assert not r["fallback"] and r["error"] is None
        assert r["raw"].strip() == r["action_name"]
        assert len(parse_orders(r["raw"])) == (0 if r["raw"] == "HOLD" else 1)
        assert r["usage"]["requests"] == 1 and r["usage"]["completion"] >= 1
    assert agent.stats.fallbacks == 0 and agent.stats.parse_failures == 0 and agent.stats.call_errors == 0
    assert agent.stats.structured_mode == "choice"
    assert result.agents["trader_0"].fallbacks == 0


def test_other_thinking_styles_never_crash(server):
    from splitsecond.agents.arena.games import StreetFighterGame
    from splitsecond.envs.streetfighter.multi_env import StreetFighterMultiEnv

    env = StreetFighterMultiEnv(clock="explicit")
    env.reset(seed=0)
    game = StreetFighterGame()
    spec = game.spec(env, "player_0")
    obs = game.observation("player_0", env.observe("player_0"), env.infos["player_0"])
    styles = (
        (PlanThenAct(every=2, plan_tokens=8), "choice", 3),
        (ChainOfThought(max_tokens=16), "auto", 1),
        (Reflex(), "json", 1),
    )
    for thinking, structured, n in styles:
        agent = LLMAgent(
            "openai/smollm2-135m",
            api_base=server.api_base,
            thinking=thinking,
            structured=structured,
            prompt="compact",
        )
        agent.reset(spec, seed=0)
        decisions = [agent.act(obs) for _ in range(n)]
        assert all(0 <= d.action < N_ACTIONS for d in decisions)
        assert agent.stats.decisions == n and agent.stats.call_errors == 0
        assert agent.stats.fallbacks == sum(d.fallback for d in decisions)
        if isinstance(thinking, PlanThenAct):
            assert decisions[0].usage.requests == 2 and decisions[0].trace.plan is not None
        if structured == "json":
            assert all(not d.fallback and d.trace.parsed["method"] == "json" for d in decisions)


def test_calibrate_quick_writes_a_valid_profile(server, tmp_path):
    report = calibrate(
        CalibrationConfig.quick("openai/smollm2-135m", api_base=server.api_base, name="e2e-cpu")
    )
    profile = report.profile
    assert profile.source == "measured" and profile.name == "e2e-cpu"
    assert profile.tpot_ms > 0 and profile.ttft_base_ms + profile.rtt_ms > 0
    assert len(report.samples) == 2 * (2 * 2 + 2)
    assert report.cache_hits > 0
    path = profile.save(tmp_path / "e2e-cpu.toml")
    assert load_profile(path) == profile
