"""The plan cache: keyword, match, adapt on a hit; plan once on a miss; learn from outcomes.

::

    cache = PlanCache("plans.db", cheap=ModelClient("openai/smollm2-135m", api_base=url))
    result = cache.plan(scope, situation, planner=lambda: call_the_big_model())
    ...  # act under result.plan, then tell the cache how the segment went
    cache.report(result.handle, Outcome(reward=+12.0, decisions=4))

On each request the cheap model names the situation's intent keyword; the matcher looks it up in
the request's scope (exact, then the guarded semantic fallback); a template found is adapted by
the cheap model and validated. A miss, or an adaptation that fails validation (the template is
demoted), calls the planner, with concurrent misses on the same key coalesced into one call.
:meth:`PlanCache.report` closes the loop: a planner's plan whose segment went well becomes a
template (extracted by the cheap model, rules as fallback); a served template that then loses is
demoted and eventually removed. TTL and an LRU size bound keep the store fresh and small.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitsecond.cache.adapter import AdaptationRejected, Adapter
from splitsecond.cache.client import ModelClient, Usage
from splitsecond.cache.keys import KeywordExtractor, KeywordResult, LLMKeywordExtractor, Scope
from splitsecond.cache.matcher import Match, Matcher, MatcherConfig
from splitsecond.cache.metrics import CacheMetrics, MetricsRecorder
from splitsecond.cache.policy import CachePolicy, Outcome
from splitsecond.cache.prompt_context import Context
from splitsecond.cache.singleflight import AsyncSingleFlight, SingleFlight
from splitsecond.cache.stores import PlanEntry, PlanStore, open_store
from splitsecond.cache.template import LLMTemplateExtractor, TemplateExtractor

logger = logging.getLogger(__name__)

SOURCES = ("cache", "planner", "shared")


@dataclass(frozen=True)
class PlannerReply:
    """What the planner (the large model) answered.

    Attributes:
        text: the plan, or ``None`` if the call failed.
        usage: tokens and time it spent.
        error: why it failed, if it did.
        payload: anything the caller wants back on a miss (e.g. the raw response).
    """

    text: str | None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    payload: Any = None


@dataclass(frozen=True)
class PlanResult:
    """The plan for one request.

    Attributes:
        plan: the plan text (``None`` when the planner failed on a miss).
        source: ``cache`` (an adapted template), ``planner`` (this request called the planner)
            or ``shared`` (it waited on a concurrent planner call for the same key).
        keyword: the situation's intent keyword.
        usage: what *this request* spent: keyword + adaptation on a hit, keyword + planner on a
            miss (a shared miss spent only the keyword).
        handle: pass it to :meth:`PlanCache.report` with the outcome.
        entry_id: the template used (hits), or that was tried and rejected.
        match: the match on a hit.
        rejected: why an adaptation was rejected before the planner was called, if it was.
        error: the planner's error, if it failed.
        payload: the planner's payload on a miss.
    """

    plan: str | None
    source: str
    keyword: str
    usage: Usage
    handle: str
    entry_id: str | None = None
    match: Match | None = None
    rejected: str | None = None
    error: str | None = None
    payload: Any = None

    @property
    def hit(self) -> bool:
        """Whether the plan came from the cache."""
        return self.source == "cache"


@dataclass
class _Pending:
    scope: str
    keyword: str
    situation: str
    plan: str
    source: str
    entry_id: str | None
    client: ModelClient | None


def _planner_tokens(usage: Usage) -> int:
    return usage.prompt_tokens + usage.completion_tokens


class PlanCache:
    """Agentic plan caching (see the module docstring).

    Args:
        store: a :class:`PlanStore`, a SQLite path, a ``redis://`` URL, or ``None`` (the default
            SQLite file ``~/.cache/splitsecond/plans.db``).
        cheap: the cheap model for keywords, template extraction and adaptation (``None``: each
            request may pass one; without any, keywords and templates fall back to rules and only
            placeholder-free templates can be served).
        keywords: the keyword extractor (default :class:`LLMKeywordExtractor`).
        templates: the template extractor (default :class:`LLMTemplateExtractor`).
        adapter: the adapter (default :class:`Adapter`).
        matcher: a :class:`Matcher` or its :class:`MatcherConfig` (default: exact + semantic).
        policy: the :class:`CachePolicy`.
        clock: seconds since the epoch (injectable for tests of TTL and LRU).
        max_pending: plans awaiting an outcome that are remembered (oldest forgotten first).
    """

    def __init__(
        self,
        store: PlanStore | str | Path | None = None,
        *,
        cheap: ModelClient | None = None,
        keywords: KeywordExtractor | None = None,
        templates: TemplateExtractor | None = None,
        adapter: Adapter | None = None,
        matcher: Matcher | MatcherConfig | None = None,
        policy: CachePolicy | None = None,
        clock: Callable[[], float] = time.time,
        max_pending: int = 4096,
    ) -> None:
        if not isinstance(max_pending, int) or max_pending <= 0:
            raise ValueError(f"max_pending must be a positive integer, got {max_pending!r}")
        self.store = open_store(store)
        self.cheap = cheap
        self.keywords: KeywordExtractor = keywords or LLMKeywordExtractor()
        self.templates: TemplateExtractor = templates or LLMTemplateExtractor()
        self.adapter = adapter or Adapter()
        self.matcher = matcher if isinstance(matcher, Matcher) else Matcher(matcher)
        self.policy = policy or CachePolicy()
        self.clock = clock
        self.max_pending = max_pending
        self._recorder = MetricsRecorder()
        self._flight: SingleFlight[PlannerReply] = SingleFlight()
        self._aflight: AsyncSingleFlight[PlannerReply] = AsyncSingleFlight()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._by_plan: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PlanCache({self.store!r})"

    # ------------------------------------------------------------------ metrics
    @property
    def metrics(self) -> CacheMetrics:
        """This process's counters."""
        return self._recorder.metrics

    def totals(self) -> CacheMetrics:
        """Counters of every process that used the store."""
        return CacheMetrics.from_counters(self.store.counters())

    def _count(self, **deltas: float) -> None:
        self._recorder.add(**deltas)
        try:
            self.store.incr(deltas)
        except Exception:  # noqa: BLE001 - metrics must never break planning
            logger.warning("could not add metrics to the store", exc_info=True)

    # ------------------------------------------------------------------ lookup
    def _usable(self, entry: PlanEntry) -> bool:
        return not self.policy.expired(entry.created_at, self.clock()) and not self.policy.removable(
            entry.score
        )

    def _lookup(self, scope: str, keyword: KeywordResult) -> Match | None:
        found = self.matcher.find(self.store, scope, keyword.keyword, self._usable)
        self._count(
            lookups=1, keyword_tokens=_planner_tokens(keyword.usage), semantic_rejected=found.rejected
        )
        if found.match is not None and found.match.entry.scope != scope:  # a store must never do this
            logger.error(
                "the store returned a template of scope %r for scope %r; refused",
                found.match.entry.scope,
                scope,
            )
            found.match = None
        if found.match is None:
            self._count(misses=1)
            return None
        kind = found.match.kind
        self._count(hits=1, hits_exact=int(kind == "exact"), hits_semantic=int(kind == "semantic"))
        return found.match

    def _served(self, match: Match, keyword: KeywordResult, adapted: Any) -> None:
        self.store.touch(match.entry.id, self.clock())
        spent = keyword.usage + adapted.usage
        saved: dict[str, float] = {}
        mean = self._recorder.mean_planner()
        if mean is not None:
            saved = {
                "tokens_saved": mean[0] - _planner_tokens(spent),
                "latency_saved_ms": mean[1] - spent.latency_ms,
            }
        self._count(
            adapter_calls=int(adapted.called),
            adapter_tokens=_planner_tokens(adapted.usage),
            hit_ms=spent.latency_ms,
            **saved,
        )

    def _reject(self, match: Match, rejected: AdaptationRejected) -> None:
        logger.info(
            "adaptation of %r rejected (%s); asking the planner", match.entry.keyword, rejected.reason
        )
        self._count(adapt_rejected=1, false_hits=1, adapter_tokens=_planner_tokens(rejected.usage))
        self._demote(match.entry.id, self.policy.reject_penalty)

    def _demote(self, entry_id: str, penalty: float) -> None:
        updated = self.store.adjust(entry_id, -penalty, losses=1)
        self._count(demotions=1)
        if updated is not None and self.policy.removable(updated.score) and self.store.delete(entry_id):
            self._count(removals=1)

    def _planned(self, reply: PlannerReply) -> PlannerReply:
        self._count(
            planner_calls=1, planner_tokens=_planner_tokens(reply.usage), planner_ms=reply.usage.latency_ms
        )
        return reply

    def _remember(self, pending: _Pending) -> str:
        handle = uuid.uuid4().hex[:16]
        with self._lock:
            self._pending[handle] = pending
            self._by_plan[_plan_key(pending.plan)] = handle
            while len(self._pending) > self.max_pending:
                _, old = self._pending.popitem(last=False)
                self._by_plan.pop(_plan_key(old.plan), None)
        return handle

    def _result(
        self,
        scope: str,
        situation: str,
        keyword: KeywordResult,
        client: ModelClient | None,
        *,
        plan: str | None,
        source: str,
        usage: Usage,
        match: Match | None = None,
        rejected: str | None = None,
        reply: PlannerReply | None = None,
    ) -> PlanResult:
        handle = ""
        if plan:
            entry_id = match.entry.id if match is not None and rejected is None else None
            handle = self._remember(
                _Pending(scope, keyword.keyword, situation, plan, source, entry_id, client)
            )
        return PlanResult(
            plan=plan,
            source=source,
            keyword=keyword.keyword,
            usage=usage,
            handle=handle,
            entry_id=match.entry.id if match is not None else None,
            match=match if rejected is None else None,
            rejected=rejected,
            error=reply.error if reply is not None else None,
            payload=reply.payload if reply is not None else None,
        )

    # ------------------------------------------------------------------ planning
    def plan(
        self,
        scope: Scope | str,
        situation: str,
        planner: Callable[[], PlannerReply],
        cheap: ModelClient | None = None,
        context: Context | None = None,
    ) -> PlanResult:
        """The plan for ``situation`` in ``scope``: adapted from a template, or from ``planner``.

        Args:
            scope: the scope (or its key).
            situation: the current situation in text.
            planner: calls the large model; called at most once, and shared by concurrent misses
                on the same key.
            cheap: the cheap model for this request (default: the cache's).
            context: the plan call's chat messages; the adaptation call then continues them, so a
                server's prefix cache serves the agent's prompt (:mod:`.prompt_context`). The
                keyword call keeps its own prompt: a key must depend on the situation alone, not on
                the history around it.
        """
        scope_key = scope.key() if isinstance(scope, Scope) else str(scope)
        client = cheap or self.cheap
        keyword = self.keywords.extract(situation, client)
        match = self._lookup(scope_key, keyword)
        usage = keyword.usage
        rejected = None
        if match is not None:
            try:
                adapted = self.adapter.adapt(match.entry.template, situation, client, context=context)
            except AdaptationRejected as exc:
                usage = usage + exc.usage
                rejected = exc.reason
                self._reject(match, exc)
            else:
                self._served(match, keyword, adapted)
                return self._result(
                    scope_key, situation, keyword, client, plan=adapted.plan, source="cache",
                    usage=usage + adapted.usage, match=match,
                )  # fmt: skip
        reply, shared = self._flight.do((scope_key, keyword.keyword), lambda: self._planned(planner()))
        return self._finish_miss(scope_key, situation, keyword, client, usage, match, rejected, reply, shared)

    async def aplan(
        self,
        scope: Scope | str,
        situation: str,
        planner: Callable[[], Awaitable[PlannerReply]],
        cheap: ModelClient | None = None,
        context: Context | None = None,
    ) -> PlanResult:
        """Asynchronous :meth:`plan` (``planner`` returns an awaitable)."""
        scope_key = scope.key() if isinstance(scope, Scope) else str(scope)
        client = cheap or self.cheap
        keyword = await self.keywords.aextract(situation, client)
        match = self._lookup(scope_key, keyword)
        usage = keyword.usage
        rejected = None
        if match is not None:
            try:
                adapted = await self.adapter.aadapt(match.entry.template, situation, client, context=context)
            except AdaptationRejected as exc:
                usage = usage + exc.usage
                rejected = exc.reason
                self._reject(match, exc)
            else:
                self._served(match, keyword, adapted)
                return self._result(
                    scope_key, situation, keyword, client, plan=adapted.plan, source="cache",
                    usage=usage + adapted.usage, match=match,
                )  # fmt: skip

        async def call() -> PlannerReply:
            return self._planned(await planner())

        reply, shared = await self._aflight.do((scope_key, keyword.keyword), call)
        return self._finish_miss(scope_key, situation, keyword, client, usage, match, rejected, reply, shared)

    def _finish_miss(
        self,
        scope: str,
        situation: str,
        keyword: KeywordResult,
        client: ModelClient | None,
        usage: Usage,
        match: Match | None,
        rejected: str | None,
        reply: PlannerReply,
        shared: bool,
    ) -> PlanResult:
        if shared:
            self._count(coalesced=1)
        else:
            usage = usage + reply.usage
        plan = " ".join(reply.text.split()) if reply.text and reply.text.strip() else None
        return self._result(
            scope, situation, keyword, client, plan=plan, source="shared" if shared else "planner",
            usage=usage, match=match, rejected=rejected, reply=reply,
        )  # fmt: skip

    # ------------------------------------------------------------------ outcomes
    def report(self, handle: str, outcome: Outcome) -> str:
        """Tell the cache how the segment governed by a plan went.

        Returns what happened: ``inserted`` (a planner's plan became a template), ``skipped``
        (it did not go well enough), ``kept`` (a template with a good score already holds the
        key), ``win`` / ``loss`` (a served template gained / lost standing), ``removed`` (it lost
        and was removed) or ``unknown`` (no such pending plan, e.g. already reported).
        """
        if not isinstance(outcome, Outcome):
            raise TypeError(f"outcome must be an Outcome, got {type(outcome).__name__}")
        with self._lock:
            pending = self._pending.pop(handle, None)
            if pending is not None:
                self._by_plan.pop(_plan_key(pending.plan), None)
        if pending is None:
            return "unknown"
        if pending.source == "cache" and pending.entry_id is not None:
            return self._judge_served(pending.entry_id, outcome)
        return self._maybe_insert(pending, outcome)

    def report_plan(self, plan: str, outcome: Outcome) -> str:
        """:meth:`report` by the plan's text (whitespace-insensitive), for callers that only see
        the plan (an agent's ``Decision.trace.plan``)."""
        with self._lock:
            handle = self._by_plan.get(_plan_key(plan))
        return self.report(handle, outcome) if handle is not None else "unknown"

    def pending(self) -> int:
        """Plans awaiting an outcome."""
        with self._lock:
            return len(self._pending)

    def _judge_served(self, entry_id: str, outcome: Outcome) -> str:
        if self.policy.insert.went_well(outcome):
            entry = self.store.get_by_id(entry_id)
            if entry is not None:
                self.store.adjust(entry_id, self.policy.win_delta(entry.score), wins=1)
            self._count(wins=1)
            return "win"
        self._count(false_hits=1)
        self._demote(entry_id, self.policy.loss_penalty)
        return "removed" if self.store.get_by_id(entry_id) is None else "loss"

    def _maybe_insert(self, pending: _Pending, outcome: Outcome) -> str:
        if not self.policy.insert.went_well(outcome):
            self._count(insert_skipped=1)
            return "skipped"
        existing = self.store.get(pending.scope, pending.keyword)
        if (
            existing is not None
            and self._usable(existing)
            and existing.score >= self.policy.initial_score
            and existing.meta.get("plan") != pending.plan
        ):
            self._count(insert_skipped=1)
            return "kept"
        extracted = self.templates.extract(pending.plan, pending.situation, pending.client)
        now = self.clock()
        entry = PlanEntry(
            scope=pending.scope,
            keyword=pending.keyword,
            template=extracted.template,
            embedding=self.matcher.embed(pending.keyword),
            score=self.policy.initial_score,
            created_at=now,
            last_used=now,
            meta={
                "plan": pending.plan[:500],
                "method": extracted.method,
                "situation": pending.situation[:500],
                "reward": outcome.reward,
            },
        )
        self.store.put(entry)
        self._count(inserts=1, extraction_tokens=_planner_tokens(extracted.usage))
        self.maintain()
        return "inserted"

    # ------------------------------------------------------------------ upkeep
    def insert(self, scope: Scope | str, keyword: str, template: str, **meta: Any) -> PlanEntry:
        """Write a template directly (seeding a cache); the keyword is used as given."""
        now = self.clock()
        entry = PlanEntry(
            scope=scope.key() if isinstance(scope, Scope) else str(scope),
            keyword=keyword,
            template=template,
            embedding=self.matcher.embed(keyword),
            score=self.policy.initial_score,
            created_at=now,
            last_used=now,
            meta=dict(meta),
        )
        self.store.put(entry)
        self._count(inserts=1)
        self.maintain()
        return entry

    def maintain(self) -> int:
        """Apply TTL and the size bound now; how many templates were removed."""
        removed = 0
        if self.policy.ttl_s is not None:
            removed += self.store.expire(self.clock() - self.policy.ttl_s)
        removed += self.store.evict_lru(self.policy.max_entries)
        if removed:
            self._count(evictions=removed)
        return removed

    def entries(self) -> list[PlanEntry]:
        """Every template, most recently used first."""
        return self.store.entries()

    def clear(self) -> int:
        """Remove every template and counter; how many templates."""
        with self._lock:
            self._pending.clear()
            self._by_plan.clear()
        return self.store.clear()

    def close(self) -> None:
        """Close the store."""
        self.store.close()


def _plan_key(plan: str) -> str:
    """A plan's key for :meth:`PlanCache.report_plan`: whitespace-insensitive, and a JSON step plan
    (``{"steps": ["LP", "HP"]}``, what a constrained plan-follow call answers) keyed as the agent
    shows it (``LP, HP``)."""
    text = " ".join(plan.split())
    if text.startswith("{"):
        try:
            steps = json.loads(text).get("steps")
        except (ValueError, AttributeError):
            steps = None
        if isinstance(steps, list) and steps and all(isinstance(x, str) for x in steps):
            return " ".join(", ".join(steps).split())
    return text
