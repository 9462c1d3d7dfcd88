"""End to end: an unchanged LLMAgent reaches our real server (SmolLM2-135M subprocess) through the
``apc/`` LiteLLM provider; plan calls go through the cache, action calls pass straight through."""

import asyncio
import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    from splitsecond.serving.server import start_server_subprocess

    with start_server_subprocess("smollm2-135m", timeout_s=300) as s:
        yield s


def _spec_and_observation():
    from splitsecond.agents.arena.games import StreetFighterGame
    from splitsecond.envs.streetfighter.multi_env import StreetFighterMultiEnv

    env = StreetFighterMultiEnv(clock="explicit")
    env.reset(seed=0)
    game = StreetFighterGame()
    return game.spec(env, "player_0"), game.observation(
        "player_0", env.observe("player_0"), env.infos["player_0"]
    )


def test_llm_agent_plans_through_the_cache_layer(server, tmp_path):
    import litellm

    from splitsecond.agents import LLMAgent, PlanThenAct
    from splitsecond.cache import (
        Adapter,
        LLMKeywordExtractor,
        LLMTemplateExtractor,
        MatcherConfig,
        PlanCache,
        PlanFeedback,
        register,
    )
    from splitsecond.cache.layer import unregister

    cache = PlanCache(
        tmp_path / "plans.db",
        keywords=LLMKeywordExtractor(vocabulary=("approach", "attack", "defend", "zone"), max_tokens=4),
        templates=LLMTemplateExtractor(max_tokens=24),
        adapter=Adapter(max_tokens=16),
        matcher=MatcherConfig(semantic=False),
    )
    handler = register(cache)
    try:
        agent = LLMAgent(
            "apc/openai/smollm2-135m",
            api_base=server.api_base,
            thinking=PlanThenAct(every=2, plan_tokens=16),
            structured="choice",
        )
        wrapped = PlanFeedback(agent, cache, reward_fn=lambda previous, observation: 1.0)
        spec, obs = _spec_and_observation()
        wrapped.reset(spec, seed=0)
        first = [wrapped.act(obs) for _ in range(2)]
        assert agent.stats.call_errors == 0 and all(not d.fallback for d in first)
        assert handler.plan_calls == 1 and handler.passthrough_calls == 2
        miss = handler.recent[-1]
        assert miss.source == "planner" and miss.keyword in ("approach", "attack", "defend", "zone")
        assert (
            first[0].trace.plan == miss.plan and first[0].usage.prompt_tokens > miss.usage.prompt_tokens / 2
        )
        assert wrapped.flush() == "inserted"  # two decisions, reward 2 > 0: the plan becomes a template
        (entry,) = cache.entries()
        assert entry.keyword == miss.keyword and not any(ch.isdigit() for ch in entry.template)

        # Same situation again: the keyword matches and the template is reused (adapted by the cheap
        # model, or, if its answer fails validation, rejected and replaced by the planner).
        second = asyncio.run(agent.aact(obs))  # the asynchronous path of the layer
        again = handler.recent[-1]
        assert handler.plan_calls == 2 and cache.metrics.hits == 1 and again.entry_id == entry.id
        assert again.source == "cache" or (again.source == "planner" and again.rejected)
        assert second.trace.plan == again.plan and not second.fallback
        if again.usage.requests >= 2:  # a model call after the keyword (a template with no slots needs none)
            # The adaptation (or the planner after a rejection) continued the agent's own prompt,
            # which the server had cached from the first decisions: most of the hit's prompt
            # tokens were not computed again (measured: 1360 of 1612).
            assert again.usage.cached_tokens >= again.usage.prompt_tokens / 2

        # Anything that is not a plan call passes through unchanged.
        reply = litellm.completion(
            model="apc/openai/smollm2-135m",
            messages=[{"role": "user", "content": "Say hello."}],
            api_base=server.api_base,
            api_key="unused",
            max_tokens=4,
        )
        assert reply.choices[0].message.content and handler.passthrough_calls == 4
        totals = cache.totals()
        assert totals.lookups == 2 and totals.keyword_tokens > 0 and totals.planner_calls >= 1
    finally:
        unregister()
        cache.close()


def test_slot_filling_through_our_server(server):
    """The cheap model answers only the values, held to their forms by the server's regex constraint."""
    import re

    from splitsecond.cache import Adapter, ModelClient

    client = ModelClient("openai/smollm2-135m", api_base=server.api_base)
    situation = "ACME trades at 100.5 and you hold 30 shares; BOLT trades at 50.2."
    done = Adapter().adapt("Sell <num> shares of <name> above <num>.", situation, client)
    assert done.called and re.fullmatch(
        r"Sell [-$0-9.%]+ shares of [A-Za-z][\w.-]* above [-$0-9.%]+\.", done.plan
    )
    assert done.usage.requests == 1 and 0 < done.usage.completion_tokens <= 3 * 14


def test_a_refused_output_constraint_falls_back_to_free_text(server):
    """A backend that refuses the constraint (here: our server, 400 on an invalid regex) is asked again
    without it; the client remembers and sends no constraint afterwards."""
    from splitsecond.cache import ModelClient

    client = ModelClient("openai/smollm2-135m", api_base=server.api_base)
    messages = [{"role": "user", "content": "Say a number."}]
    assert "structured_outputs" in str(client._kwargs(messages, 4, None, regex="[0-9]+"))
    done = client.complete(messages, 4, regex="([0-9]")  # unbalanced: the server answers 400
    assert done.text is not None and done.error is None and done.usage.requests == 1
    assert client.choice_constraint is False
    assert "extra_body" not in client._kwargs(messages, 4, ["a", "b"], regex="[0-9]+")


def test_plan_follow_plans_go_through_the_cache_and_a_hit_needs_no_call(server, tmp_path):
    """A plan-follow plan is JSON-constrained, yet the agent marks it as a plan (``apc_role``); its
    outcome is reported under the names the agent plays, so it becomes a template; the same situation
    then gets it back with rule keywords and no model call at all."""
    from splitsecond.agents import LLMAgent
    from splitsecond.cache import MatcherConfig, PlanCache, PlanFeedback, RuleTemplateExtractor, register
    from splitsecond.cache.layer import unregister
    from splitsecond.cache.rule_first import RuleFirstKeywordExtractor
    from splitsecond.cache.situation_rules import rules_for
    from splitsecond.envs.streetfighter.actions import ACTION_NAMES

    cache = PlanCache(
        tmp_path / "plans.db",
        keywords=RuleFirstKeywordExtractor(rules_for("StreetFighter-v0")),
        templates=RuleTemplateExtractor(protected=tuple(n for n in ACTION_NAMES if n.isupper())),
        matcher=MatcherConfig(semantic=False),
    )
    handler = register(cache)
    try:
        agent = LLMAgent("apc/openai/smollm2-135m", api_base=server.api_base, thinking="plan-follow:2",
                         structured="choice", prompt="compact", history=0)  # fmt: skip
        wrapped = PlanFeedback(agent, cache, reward_fn=lambda previous, observation: 1.0)
        spec, obs = _spec_and_observation()
        wrapped.reset(spec, seed=0)
        first = [wrapped.act(obs) for _ in range(2)]
        assert handler.plan_calls == 1 and handler.passthrough_calls == 0 and not first[0].fallback
        assert handler.recent[-1].source == "planner" and cache.keywords.counts == {"rules": 1}
        assert wrapped.flush() == "inserted"
        hit = wrapped.act(obs)
        assert handler.recent[-1].source == "cache" and handler.recent[-1].usage.requests == 0
        assert hit.usage.prompt_tokens == hit.usage.completion_tokens == 0  # no model computed anything
        assert hit.trace.plan == first[0].trace.plan and not hit.fallback
    finally:
        unregister()
        cache.close()
