"""No hit ever crosses scopes: env, model, action set and prompt version must all match, on both
stores, for exact and semantic matches, through the facade and the LiteLLM layer's scope."""

import pytest

from splitsecond.cache import (
    Adapter,
    MatcherConfig,
    Outcome,
    PlanCache,
    PlannerReply,
    RuleKeywordExtractor,
    RuleTemplateExtractor,
    Scope,
    Usage,
)
from splitsecond.cache.layer import scope_of
from splitsecond.cache.matcher import Matcher
from splitsecond.cache.stores import SQLiteStore

ACTIONS = ["idle", "walk_forward", "LP", "HP"]
BASE = dict(
    env="StreetFighter-v0", model="openai/qwen2.5-coder-1.5b", actions=ACTIONS, prompt="sys", version="sf-2"
)
VARIANTS = {
    "env": {"env": "HFTBench-v0"},
    "model": {"model": "openai/smollm2-135m"},
    "action set": {"actions": [*ACTIONS, "throw"]},
    "prompt text": {"prompt": "sys, reworded"},
    "prompt version": {"version": "sf-3"},
}
RULES = RuleKeywordExtractor(rules=((r"Situation: PUNISH", "punish"), (r"Situation: FAR", "far")))


def scope(**changes):
    kw = {**BASE, **changes}
    return Scope.of(kw["env"], kw["model"], kw["actions"], prompt=kw["prompt"], version=kw["version"])


class LetterEmbedder:
    """A deterministic bag-of-letters embedder: near keywords are near (the semantic path runs)."""

    def embed(self, texts):
        out = []
        for t in texts:
            v = [float(t.count(c)) for c in "abcdefghijklmnopqrstuvwxyz"]
            n = sum(x * x for x in v) ** 0.5 or 1.0
            out.append([x / n for x in v])
        return out


def planner():
    return PlannerReply("LP, HP", Usage(prompt_tokens=100, completion_tokens=8, requests=1, latency_ms=500))


@pytest.mark.parametrize("semantic", [False, True])
def test_a_template_is_served_only_in_its_own_scope(store, semantic):
    matcher = Matcher(
        MatcherConfig(semantic=semantic, threshold=0.5, min_token_overlap=0.0), LetterEmbedder()
    )
    cache = PlanCache(store, keywords=RULES, templates=RuleTemplateExtractor(), adapter=Adapter(),
                      matcher=matcher)  # fmt: skip
    home = scope()
    cache.insert(home, "punish", "walk_forward, LP, HP")
    situation = "In reach: LP, HP.\nSituation: PUNISH (opponent recovering)."
    assert cache.plan(home, situation, planner).source == "cache"
    for what, changes in VARIANTS.items():
        other = scope(**changes)
        assert other.key() != home.key(), what
        result = cache.plan(other, situation, planner)
        assert result.source == "planner", f"a hit crossed the {what}"
        # a near keyword in another scope is no semantic candidate either
        assert cache.plan(other, "Situation: FAR (gap 2000).", planner).source == "planner", what


def test_every_scope_field_changes_the_key():
    keys = {scope().key(), *(scope(**changes).key() for changes in VARIANTS.values())}
    assert len(keys) == 1 + len(VARIANTS)


def test_the_layer_scopes_by_env_model_actions_and_prompt_version():
    system = "You are a fighter.\nActions: idle, walk_forward, LP, HP\nPlaybook: ..."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Now:\nFAR\n\nYour plan:"}]
    meta = {"apc_env": "StreetFighter-v0", "apc_prompt_version": "sf-2-compact"}
    home = scope_of("openai/qwen2.5-coder-1.5b", messages, meta).key()
    other_actions = [{"role": "system", "content": system.replace("HP", "HP, throw")}, messages[1]]
    variants = [
        scope_of("openai/qwen2.5-coder-1.5b", messages, {**meta, "apc_env": "HFTBench-v0"}),
        scope_of("openai/smollm2-135m", messages, meta),
        scope_of("openai/qwen2.5-coder-1.5b", other_actions, meta),
        scope_of("openai/qwen2.5-coder-1.5b", messages, {**meta, "apc_prompt_version": "sf-3-compact"}),
    ]
    assert len({home, *(v.key() for v in variants)}) == 5


class LeakyStore(SQLiteStore):
    """A broken store that answers a lookup with an entry of any scope."""

    def get(self, scope, keyword):
        for entry in self.entries():
            if entry.keyword == keyword:
                return entry
        return None


def test_a_store_that_leaks_across_scopes_is_refused(tmp_path):
    cache = PlanCache(LeakyStore(tmp_path / "leaky.db"), keywords=RULES, templates=RuleTemplateExtractor(),
                      matcher=MatcherConfig(semantic=False))  # fmt: skip
    cache.insert(scope(), "punish", "walk_forward, LP, HP")
    result = cache.plan(scope(env="HFTBench-v0"), "Situation: PUNISH (x).", planner)
    assert result.source == "planner" and cache.metrics.hits == 0 and cache.metrics.misses == 1


def test_a_json_step_plan_is_reported_as_the_agent_shows_it(tmp_path):
    """A plan-follow plan comes back as JSON; the agent's trace shows its names joined by commas."""
    cache = PlanCache(tmp_path / "p.db", keywords=RULES, templates=RuleTemplateExtractor(protected=("LP", "HP")),
                      matcher=MatcherConfig(semantic=False))  # fmt: skip

    def json_planner():
        return PlannerReply(
            '{"steps": ["LP", "HP"]}', Usage(prompt_tokens=90, completion_tokens=12, requests=1)
        )

    first = cache.plan(scope(), "Situation: PUNISH (x).", json_planner)
    assert first.source == "planner"
    assert cache.report_plan("LP, HP", Outcome(reward=1.0, decisions=2)) == "inserted"
    again = cache.plan(scope(), "Situation: PUNISH (y).", json_planner)
    assert again.source == "cache" and again.plan == '{"steps": ["LP", "HP"]}' and again.usage.requests == 0
