"""Agentic plan caching (APC) between agents and models: reuse plans, not responses.

After a segment that verifiably went well, a planner's plan becomes a *template* (specifics
stripped) filed under the situation's *intent keyword* within an exact *scope* (env, model,
action set, prompt version). A later situation with a matching keyword gets the template adapted
by a cheap model instead of a new plan from the large one.

* :class:`PlanCache` — the facade (:mod:`.plan_cache`);
* :func:`register` — the LiteLLM provider ``apc/<model>`` (:mod:`.layer`, imports LiteLLM);
  :func:`ensure_registered` — the same on a store path, once per process (entry points);
* :class:`PlanFeedback` — reports segment outcomes from any agent (:mod:`.feedback`);
* :class:`RuleFirstKeywordExtractor` with :func:`rules_for` an env — keywords from the observation
  text by rules, the cheap model only when no rule matches (:mod:`.rule_first`, :mod:`.situation_rules`);
* stores (:mod:`.stores`): :class:`SQLiteStore` (embedded, WAL) and ``RedisStore`` (shared);
* parts, one per module: :mod:`.keys`, :mod:`.template`, :mod:`.matcher`, :mod:`.embedder`,
  :mod:`.adapter`, :mod:`.policy`, :mod:`.singleflight`, :mod:`.metrics`, :mod:`.client`.
"""

from __future__ import annotations

from typing import Any

from splitsecond.cache.adapter import AdaptationRejected, Adapted, Adapter
from splitsecond.cache.client import ModelClient, Usage
from splitsecond.cache.feedback import PlanFeedback
from splitsecond.cache.keys import (
    KeywordResult,
    LLMKeywordExtractor,
    RuleKeywordExtractor,
    Scope,
    normalize_keyword,
    token_overlap,
)
from splitsecond.cache.matcher import Match, Matcher, MatcherConfig
from splitsecond.cache.metrics import CacheMetrics
from splitsecond.cache.plan_cache import PlanCache, PlannerReply, PlanResult
from splitsecond.cache.policy import CachePolicy, InsertCriterion, Outcome
from splitsecond.cache.rule_first import RuleFirstKeywordExtractor
from splitsecond.cache.singleflight import AsyncSingleFlight, SingleFlight
from splitsecond.cache.situation_rules import rules_for
from splitsecond.cache.stores import PlanEntry, PlanStore, SQLiteStore, default_db_path, open_store
from splitsecond.cache.template import LLMTemplateExtractor, RuleTemplateExtractor


def register(cache: PlanCache, provider: str = "apc", **options: Any) -> Any:
    """Register ``cache`` as the LiteLLM provider ``apc`` (see :func:`splitsecond.cache.layer.register`)."""
    from splitsecond.cache.layer import register as _register

    return _register(cache, provider, **options)


def ensure_registered(db: Any = None, provider: str = "apc") -> Any:
    """Register a plan cache on store ``db`` as ``provider`` once per process (see
    :func:`splitsecond.cache.layer.ensure_registered`)."""
    from splitsecond.cache.layer import ensure_registered as _ensure

    return _ensure(db, provider)


__all__ = [
    "AdaptationRejected",
    "Adapted",
    "Adapter",
    "AsyncSingleFlight",
    "CacheMetrics",
    "CachePolicy",
    "InsertCriterion",
    "KeywordResult",
    "LLMKeywordExtractor",
    "LLMTemplateExtractor",
    "Match",
    "Matcher",
    "MatcherConfig",
    "ModelClient",
    "Outcome",
    "PlanCache",
    "PlanEntry",
    "PlanFeedback",
    "PlanResult",
    "PlanStore",
    "PlannerReply",
    "RuleFirstKeywordExtractor",
    "RuleKeywordExtractor",
    "RuleTemplateExtractor",
    "SQLiteStore",
    "Scope",
    "SingleFlight",
    "Usage",
    "default_db_path",
    "ensure_registered",
    "normalize_keyword",
    "open_store",
    "register",
    "rules_for",
    "token_overlap",
]
