"""The PlanCache facade on both stores: hits and misses, the insert criterion, rejected
adaptations, demotion, TTL and LRU, single-flight under threads and asyncio."""

import asyncio
import threading
import time

import pytest

from splitsecond.cache import (
    Adapter,
    CachePolicy,
    InsertCriterion,
    MatcherConfig,
    Outcome,
    PlanCache,
    PlannerReply,
    RuleKeywordExtractor,
    RuleTemplateExtractor,
    Scope,
    Usage,
)

RULES = RuleKeywordExtractor(
    rules=((r"\bfar\b", "approach"), (r"\bclose\b", "pressure"), (r"low hp", "defend")), default="neutral"
)
SCOPE = Scope.of("splitsecond/StreetFighter-v0", "openai/smollm2-135m", ["idle", "walk_forward"], "sys")


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class Planner:
    """The large model's stand-in is not under test: it answers a fixed plan and counts calls."""

    def __init__(self, text="Walk forward to x=2100, then sweep at 800 range.", delay=0.0):
        self.text, self.delay, self.calls = text, delay, 0
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return PlannerReply(
            self.text, Usage(prompt_tokens=300, completion_tokens=40, requests=1, latency_ms=900)
        )


def make_cache(store, clock=None, **kw):
    kw.setdefault("adapter", Adapter())
    return PlanCache(
        store,
        keywords=RULES,
        templates=RuleTemplateExtractor(),
        matcher=MatcherConfig(semantic=False),
        clock=clock or Clock(),
        **kw,
    )


def test_miss_then_insert_then_exact_hit(store):
    cache = make_cache(store, adapter=Adapter(skip_without_slots=True))
    planner = Planner("Walk forward and sweep when in range.")
    first = cache.plan(SCOPE, "Opponent is far away.", planner)
    assert first.source == "planner" and first.plan == planner.text and first.keyword == "approach"
    assert first.usage.prompt_tokens == 300 and cache.metrics.misses == 1
    assert cache.report(first.handle, Outcome(reward=5.0, decisions=4)) == "inserted"
    assert cache.report(first.handle, Outcome(reward=5.0)) == "unknown"  # reported once only

    hit = cache.plan(SCOPE, "Opponent is far, idle.", planner)
    assert hit.source == "cache" and hit.hit and hit.plan == "Walk forward and sweep when in range."
    assert planner.calls == 1 and hit.usage.prompt_tokens == 0  # no model was needed for this hit
    assert hit.match.kind == "exact"

    other = cache.plan(SCOPE, "Opponent is close.", planner)  # another keyword: a miss
    assert other.source == "planner" and other.keyword == "pressure" and planner.calls == 2
    other_scope = Scope.of("splitsecond/StreetFighter-v0", "openai/other-model", ["idle"], "sys")
    assert cache.plan(other_scope, "Opponent is far away.", planner).source == "planner"  # scope must match

    m = cache.metrics
    assert (m.lookups, m.hits, m.misses, m.inserts) == (4, 1, 3, 1)
    assert m.tokens_saved == pytest.approx(340) and m.latency_saved_ms == pytest.approx(900)
    totals = cache.totals()  # the store's counters agree with this process's
    assert (totals.hits, totals.misses, totals.inserts) == (1, 3, 1)


def test_insert_criterion_is_explicit(store):
    cache = make_cache(store, policy=CachePolicy(insert=InsertCriterion(min_reward=1.0, min_decisions=3)))
    planner = Planner("Block, then counter.")
    r = cache.plan(SCOPE, "low hp", planner)
    assert cache.report(r.handle, Outcome(reward=0.5, decisions=5)) == "skipped"  # reward too low
    r = cache.plan(SCOPE, "low hp", planner)
    assert cache.report(r.handle, Outcome(reward=9.0, decisions=2)) == "skipped"  # too few decisions
    r = cache.plan(SCOPE, "low hp", planner)
    assert cache.report(r.handle, Outcome(reward=9.0, decisions=4, fallbacks=3)) == "skipped"
    r = cache.plan(SCOPE, "low hp", planner)
    assert cache.report_plan("  Block,   then counter. ", Outcome(reward=9.0, decisions=4)) == "inserted"
    assert store.count() == 1 and cache.metrics.insert_skipped == 3
    with pytest.raises(ValueError, match="fallbacks"):
        Outcome(reward=1.0, decisions=1, fallbacks=2)


def test_template_strips_specifics_before_storing(store):
    cache = make_cache(store)
    r = cache.plan(SCOPE, "far", Planner("Walk forward to x=2100, then sweep at 800 range."))
    cache.report(r.handle, Outcome(reward=1.0))
    (entry,) = store.entries()
    assert entry.template == "Walk forward to <pos>, then sweep at <num> range."
    assert entry.meta["method"] == "rules" and "2100" in entry.meta["plan"]


def test_rejected_adaptation_falls_back_to_the_planner_and_demotes(store):
    # A template with placeholders and no cheap model to fill them cannot be adapted.
    cache = make_cache(store, policy=CachePolicy(reject_penalty=0.4))
    entry = cache.insert(SCOPE, "approach", "Walk to <pos> and sweep.")
    planner = Planner("Dash in.")
    r = cache.plan(SCOPE, "far", planner)
    assert r.source == "planner" and r.plan == "Dash in." and planner.calls == 1
    assert "no cheap model" in r.rejected and r.entry_id == entry.id
    assert store.get_by_id(entry.id).score == pytest.approx(0.6)
    assert cache.metrics.false_hits == 1 and cache.metrics.adapt_rejected == 1

    # A domain validator rejects a verbatim template; after enough rejections it is removed.
    validator = lambda plan, situation: "retreating is banned" if "retreat" in plan.lower() else None  # noqa: E731
    cache = make_cache(store, adapter=Adapter(validator=validator), policy=CachePolicy(reject_penalty=0.5))
    bad = cache.insert(SCOPE, "pressure", "Retreat to the corner.")
    assert cache.plan(SCOPE, "close", planner).rejected == "retreating is banned"
    assert store.get_by_id(bad.id).score == pytest.approx(0.5)
    cache.plan(SCOPE, "close", planner)
    assert store.get_by_id(bad.id) is None and cache.metrics.removals == 1


def test_losses_demote_and_remove_a_served_template(store):
    cache = make_cache(store, policy=CachePolicy(loss_penalty=0.5, win_bonus=0.25))
    entry = cache.insert(SCOPE, "approach", "Walk forward.")
    r = cache.plan(SCOPE, "far", Planner())
    assert r.hit and cache.report(r.handle, Outcome(reward=3.0)) == "win"
    assert store.get_by_id(entry.id).score == pytest.approx(1.25)
    r = cache.plan(SCOPE, "far", Planner())
    assert cache.report(r.handle, Outcome(reward=-2.0)) == "loss"
    r = cache.plan(SCOPE, "far", Planner())
    assert cache.report(r.handle, Outcome(reward=-2.0)) == "loss"
    assert store.get_by_id(entry.id).score == pytest.approx(0.25)
    r = cache.plan(SCOPE, "far", Planner())
    assert cache.report(r.handle, Outcome(reward=-1.0)) == "removed"
    assert store.count() == 0
    m = cache.metrics
    assert (m.hits, m.wins, m.false_hits, m.demotions, m.removals) == (4, 1, 3, 3, 1)
    assert m.false_hit_rate == pytest.approx(0.75)


def test_ttl_expiry_and_lru_size_bound(store):
    clock = Clock(1000.0)
    cache = make_cache(store, clock=clock, policy=CachePolicy(ttl_s=60.0, max_entries=2))
    cache.insert(SCOPE, "approach", "Walk forward.")
    clock.t += 59.0
    assert cache.plan(SCOPE, "far", Planner()).hit
    clock.t += 1.0  # 60 s after it was written: expired, never served again
    assert cache.plan(SCOPE, "far", Planner()).source == "planner"
    assert cache.maintain() == 1 and store.count() == 0

    cache.insert(SCOPE, "approach", "walk forward a plan")
    clock.t += 1
    cache.insert(SCOPE, "pressure", "crouch and b plan")
    clock.t += 1
    assert cache.plan(SCOPE, "far", Planner()).hit  # approach is now the most recently used
    clock.t += 1
    cache.insert(SCOPE, "defend", "block then c plan")  # a third entry: the least recently used goes
    assert sorted(e.keyword for e in store.entries()) == ["approach", "defend"]
    assert cache.metrics.evictions == 2


def test_single_flight_under_threads(store):
    cache = make_cache(store)
    planner = Planner("Hold the line.", delay=0.3)
    results = []
    barrier = threading.Barrier(6)

    def worker():
        barrier.wait()
        results.append(cache.plan(SCOPE, "far", planner))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert planner.calls == 1
    assert sorted(r.source for r in results) == ["planner"] + ["shared"] * 5
    assert all(r.plan == "Hold the line." for r in results)
    assert sum(r.usage.prompt_tokens for r in results) == 300  # the planner's tokens are counted once
    assert cache.metrics.coalesced == 5 and cache.metrics.planner_calls == 1


def test_single_flight_under_asyncio(store):
    cache = make_cache(store)
    calls = 0

    async def planner():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return PlannerReply("Zone with fireballs.", Usage(prompt_tokens=100, completion_tokens=10))

    async def main():
        return await asyncio.gather(*(cache.aplan(SCOPE, "far", planner) for _ in range(5)))

    results = asyncio.run(main())
    assert calls == 1 and sorted(r.source for r in results) == ["planner"] + ["shared"] * 4

    # different keys do not wait on each other
    async def two_keys():
        both = asyncio.gather(cache.aplan(SCOPE, "far", planner), cache.aplan(SCOPE, "close", planner))
        return await asyncio.wait_for(both, 5)

    asyncio.run(two_keys())
    assert calls == 3


def test_a_failed_planner_call_gives_no_plan_and_nothing_to_report(store):
    cache = make_cache(store)
    r = cache.plan(SCOPE, "far", lambda: PlannerReply(None, Usage(requests=1), "ConnectError: refused"))
    assert r.plan is None and r.error == "ConnectError: refused" and r.handle == ""
    assert cache.pending() == 0


def test_bad_configuration_is_rejected_with_clear_errors():
    with pytest.raises(ValueError, match="ttl_s"):
        CachePolicy(ttl_s=0)
    with pytest.raises(ValueError, match="max_entries"):
        CachePolicy(max_entries=0)
    with pytest.raises(ValueError, match="remove_at < initial_score"):
        CachePolicy(remove_at=2.0)
    with pytest.raises(ValueError, match="threshold"):
        MatcherConfig(threshold=1.5)
    with pytest.raises(ValueError, match="min_chars < max_chars"):
        Adapter(min_chars=10, max_chars=5)
    with pytest.raises(ValueError, match="Scope.env"):
        Scope("", "m", "a", "p")
    with pytest.raises(ValueError, match="bad keyword rule"):
        RuleKeywordExtractor(rules=(("(", "x"),))
