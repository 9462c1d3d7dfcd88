"""LLMAgent without a server: LiteLLM's own ``mock_response`` answers, a dead endpoint, bad input.

The end-to-end test against our real server is in ``test_llm_e2e.py``.
"""

import asyncio
import os

import gymnasium
import pytest

from splitsecond.agents import LLMAgent
from splitsecond.agents.base import EnvSpec, Observation
from splitsecond.envs.streetfighter.actions import ACTION_NAMES

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SPEC = EnvSpec(
    env_id="splitsecond/StreetFighter-v0",
    action_space=gymnasium.spaces.Discrete(len(ACTION_NAMES)),
    observation_space=gymnasium.spaces.Box(0, 1, (3,)),
    agent_id="player_0",
    action_names=ACTION_NAMES,
    rules="Reduce the opponent's health to zero.",
)


def obs(t_us=0):
    return Observation(data=None, text="distance 2000, you 100 hp, opponent 100 hp", time_us=t_us)


def agent(answer, **kwargs):
    a = LLMAgent("openai/test-model", extra_params={"mock_response": answer}, **kwargs)
    a.reset(SPEC, seed=1)
    return a


def test_reflex_valid_answer():
    a = agent("HP")
    d = a.act(obs())
    assert ACTION_NAMES[d.action] == "HP" and not d.fallback
    assert d.usage.requests == 1 and d.usage.completion_tokens > 0
    assert d.trace.raw_output == "HP" and d.trace.parsed["method"] == "exact"
    assert d.trace.prompt[0]["role"] == "system" and "HP" in d.trace.prompt[0]["content"]
    assert a.stats.decisions == 1 and a.stats.fallbacks == 0 and a.stats.structured_mode == "choice"


def test_unparseable_answer_falls_back_to_previous_then_idle():
    a = agent("a fireball!!")
    d = a.act(obs())
    assert d.fallback and ACTION_NAMES[d.action] == "idle"
    assert a.stats.fallbacks == 1 and a.stats.parse_failures == 1
    assert "parse" in d.trace.error
    # after a valid action, the fallback keeps it
    a.extra_params["mock_response"] = "walk_forward"
    assert ACTION_NAMES[a.act(obs(1000)).action] == "walk_forward"
    a.extra_params["mock_response"] = "???"
    d = a.act(obs(2000))
    assert d.fallback and ACTION_NAMES[d.action] == "walk_forward"
    assert a.stats.fallbacks == 2 and a.stats.decisions == 3


def test_idle_and_index_fallbacks():
    assert ACTION_NAMES[agent("nope", fallback="idle").act(obs()).action] == "idle"
    assert agent("nope", fallback=5).act(obs()).action == 5


def test_dead_endpoint_never_raises():
    a = LLMAgent("openai/test-model", api_base="http://127.0.0.1:9/v1", timeout_s=5, structured="none")
    a.reset(SPEC, seed=0)
    d = a.act(obs())
    assert d.fallback and a.stats.call_errors == 1 and d.trace.error
    assert d.usage.requests == 0
    # a failed call is reported as an error (the arena counts it), an unusable answer is not
    assert d.error is not None and "Connection" in d.error
    assert agent("no idea").act(obs()).error is None


def test_chain_of_thought_parses_final_answer():
    a = agent("They are far away, so I zone.\nAction: projectile", thinking="cot:64")
    d = a.act(obs())
    assert ACTION_NAMES[d.action] == "projectile" and d.trace.parsed["method"] == "final"
    assert "Action: <name>" in d.trace.prompt[-1]["content"]


def test_plan_then_act_plans_every_n_decisions():
    a = agent("walk_forward", thinking="plan-then-act:3")
    decisions = [a.act(obs(i * 1000)) for i in range(7)]
    requests = [d.usage.requests for d in decisions]
    assert requests == [2, 1, 1, 2, 1, 1, 2]
    assert all(d.trace.plan == "walk_forward" for d in decisions)
    assert "Plan in force: walk_forward" in decisions[1].trace.prompt[-1]["content"]


def test_plan_follow_plays_the_plans_actions_in_order_without_act_calls():
    a = agent("Walk forward, then crouch_LK and HP.", thinking="plan-follow:4")
    decisions = [a.act(obs(i * 1000)) for i in range(6)]
    played = [ACTION_NAMES[d.action] for d in decisions]
    assert played == ["walk_forward", "crouch_LK", "HP", "walk_forward", "walk_forward", "crouch_LK"]
    assert [d.usage.requests for d in decisions] == [1, 0, 0, 0, 1, 0]  # the plan is the only call
    assert not any(d.fallback for d in decisions) and decisions[1].trace.parsed["method"] == "plan"
    assert "action names, in order" in decisions[0].trace.prompt[-1]["content"]
    assert a.stats.usage.requests == 2 and a.stats.fallbacks == 0


def test_plan_follow_falls_back_when_the_plan_names_no_action():
    a = agent("Stay patient and look for an opening.", thinking="plan-follow:2")
    d = a.act(obs())
    assert d.fallback and ACTION_NAMES[d.action] == "idle" and d.trace.error == "the plan names no action"
    assert d.trace.plan == "Stay patient and look for an opening."


def test_plan_follow_needs_named_actions():
    text_spec = EnvSpec(
        env_id="splitsecond/HFTBench-v0",
        action_space=gymnasium.spaces.Text(64),
        observation_space=gymnasium.spaces.Box(0, 1, (3,)),
        metadata={"text_action_grammar": "BUY <qty> <symbol>"},
    )
    a = LLMAgent("openai/test-model", thinking="plan-follow")
    with pytest.raises(ValueError, match="plan-follow"):
        a.reset(text_spec)


def test_history_is_bounded_and_in_the_prompt():
    a = agent("LP", history=2)
    for i in range(5):
        d = a.act(obs(i * 100_000))
    user = d.trace.prompt[-1]["content"]
    assert user.count(": LP") == 2 and "t=0.30s" in user and "t=0.10s" not in user


def test_async_aact():
    a = agent("block_low")
    d = asyncio.run(a.aact(obs()))
    assert ACTION_NAMES[d.action] == "block_low" and d.usage.requests == 1


def test_reset_is_required_and_options_are_validated():
    a = LLMAgent("openai/x")
    with pytest.raises(RuntimeError, match="reset"):
        a.act(obs())
    for bad in (
        {"structured": "regex"},
        {"fallback": "random"},
        {"history": -1},
        {"thinking": "deep"},
        {"temperature": -1},
    ):
        with pytest.raises(ValueError):
            LLMAgent("openai/x", **bad)
    with pytest.raises(ValueError):
        LLMAgent("")
    no_names = EnvSpec("x", gymnasium.spaces.Discrete(3), gymnasium.spaces.Discrete(3))
    with pytest.raises(ValueError, match="action_names"):
        LLMAgent("openai/x").reset(no_names)


def test_plan_follow_asks_for_a_json_plan_of_action_names():
    from splitsecond.agents.llm_agent import _Call, plan_schema

    a = agent('{"steps": ["crouch_MK", "HP", "anti_air"]}', thinking="plan-follow:3")
    played = [ACTION_NAMES[a.act(obs(i * 1000)).action] for i in range(3)]
    assert played == ["crouch_MK", "HP", "anti_air"]
    assert a.act(obs(4000)).trace.plan == "crouch_MK, HP, anti_air"
    kwargs = a._request(_Call([], 48, constrained=True, plan_steps=3), "json")
    schema = kwargs["response_format"]["json_schema"]["schema"]
    assert schema == plan_schema(list(ACTION_NAMES), 3) and schema["properties"]["steps"]["maxItems"] == 3
    assert a._modes(_Call([], 48, constrained=True, plan_steps=3)) == ("json", "none")
    assert a.stats.structured_mode == "auto"  # a plan's schema does not decide the action constraint
