"""The semantic fallback with real all-MiniLM-L6-v2 embeddings (offline, from its PyPI package):
a near-but-wrong keyword is turned away by the second check; a near-and-right one is served."""

import pytest

from splitsecond.cache import (
    MatcherConfig,
    Outcome,
    PlanCache,
    PlannerReply,
    RuleKeywordExtractor,
    Scope,
    Usage,
)
from splitsecond.cache.embedder import MiniLMEmbedder, cosine, minilm_path
from splitsecond.cache.matcher import Matcher
from splitsecond.cache.stores import SQLiteStore

SCOPE = Scope.of("splitsecond/HFTBench-v0", "openai/smollm2-135m", "BUY|SELL <qty> <SYMBOL>", "sys")


@pytest.fixture(scope="module")
def embedder():
    return MiniLMEmbedder()


def test_the_model_loads_offline_from_the_package(embedder):
    assert (minilm_path() / "model.safetensors").is_file()
    a, b, c = embedder.embed(["buy breakout", "sell breakout", "fireball zone"])
    assert len(a) == 384 and cosine(a, a) == pytest.approx(1.0, abs=1e-5)
    assert cosine(a, b) > cosine(a, c)


def test_near_but_wrong_is_rejected_and_near_and_right_is_served(tmp_path, embedder):
    rules = RuleKeywordExtractor(
        rules=((r"gap up", "buy"), (r"gap down", "sell"), (r"breakout", "breakout"), (r"volume", "momentum"))
    )
    cache = PlanCache(
        SQLiteStore(tmp_path / "p.db"),
        keywords=rules,
        matcher=Matcher(MatcherConfig(semantic=True, threshold=0.75, min_token_overlap=0.6), embedder),
    )
    cache.insert(SCOPE, "breakout buy", "Buy the breakout with a small size, exit on a reversal.")
    planner_calls = []

    def planner():
        planner_calls.append(1)
        return PlannerReply("Sell into the breakdown.", Usage(prompt_tokens=200, completion_tokens=20))

    # "sell breakout" is close in embedding space (cosine ~0.9 > threshold) but means the opposite.
    q, k = embedder.embed(["breakout sell", "breakout buy"])
    assert cosine(q, k) > 0.8
    wrong = cache.plan(SCOPE, "gap down after a breakout", planner)
    assert wrong.keyword == "breakout sell" and wrong.source == "planner" and len(planner_calls) == 1
    assert cache.metrics.semantic_rejected == 1 and cache.metrics.hits == 0

    # "buy breakout momentum" is close and shares most tokens: the semantic fallback serves it.
    right = cache.plan(SCOPE, "gap up, breakout on volume", planner)
    assert right.keyword == "breakout buy momentum"
    assert right.source == "cache" and right.match.kind == "semantic" and right.match.similarity >= 0.75
    assert right.plan.startswith("Buy the breakout") and len(planner_calls) == 1
    assert cache.report(right.handle, Outcome(reward=1.0)) == "win"

    # With the second check switched off (overlap 0), the near-but-wrong match would be a false hit.
    loose = Matcher(MatcherConfig(semantic=True, threshold=0.75, min_token_overlap=0.0), embedder)
    found = loose.find(cache.store, SCOPE.key(), "breakout sell")
    assert found.match is not None and found.match.entry.keyword == "breakout buy"
    # A judge replaces the overlap check when given.
    judged = Matcher(
        MatcherConfig(threshold=0.75, judge=lambda q, c: q.split()[-1] == c.split()[-1]), embedder
    )
    assert judged.find(cache.store, SCOPE.key(), "breakout sell").match is None
