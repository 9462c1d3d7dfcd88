"""The cache's metrics: hits, misses, false hits, tokens and latency saved, its own overhead.

Counters accumulate in a :class:`CacheMetrics` per process and are also added to the store's
counter table, so ``splitsecond cache stats`` shows totals over every process that used the store.

A *false hit* is a hit whose adapted plan was rejected by validation or whose segment then went
badly. *Tokens saved* by a hit are the planner's mean tokens per call so far minus what the hit
spent (keyword and adaptation); *latency saved* likewise in milliseconds. *Overhead* is every
token the cache spent on its own calls (keywords, template extraction, adaptation), hits or not.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields


@dataclass
class CacheMetrics:
    """Counters of the plan cache (see the module docstring).

    Attributes:
        lookups: plan requests that looked the cache up.
        hits: lookups served by a template (exact + semantic).
        hits_exact: hits on the exact keyword.
        hits_semantic: hits through the semantic fallback.
        semantic_rejected: semantic candidates turned away by the second check.
        misses: lookups that went to the planner (including rejected adaptations).
        coalesced: misses that shared a concurrent planner call (single-flight).
        false_hits: hits whose adaptation was rejected or whose segment went badly.
        adapt_rejected: adaptations that failed validation.
        adapter_calls: hits that needed a cheap-model adaptation call.
        inserts: templates written.
        insert_skipped: finished plans not inserted (criterion not met, or a better one kept).
        wins: served plans whose segment went well.
        demotions: score decreases.
        removals: templates removed for their score.
        evictions: templates removed by TTL or the size bound.
        planner_calls: calls to the planner.
        planner_tokens: tokens the planner spent (prompt + completion).
        planner_ms: wall time of the planner calls.
        keyword_tokens: tokens spent extracting keywords.
        extraction_tokens: tokens spent extracting templates.
        adapter_tokens: tokens spent adapting templates.
        hit_ms: wall time of the hits (keyword + adaptation).
        tokens_saved: planner tokens the hits avoided, net of what they spent.
        latency_saved_ms: planner time the hits avoided, net of what they spent.
    """

    lookups: int = 0
    hits: int = 0
    hits_exact: int = 0
    hits_semantic: int = 0
    semantic_rejected: int = 0
    misses: int = 0
    coalesced: int = 0
    false_hits: int = 0
    adapt_rejected: int = 0
    adapter_calls: int = 0
    inserts: int = 0
    insert_skipped: int = 0
    wins: int = 0
    demotions: int = 0
    removals: int = 0
    evictions: int = 0
    planner_calls: int = 0
    planner_tokens: int = 0
    planner_ms: float = 0.0
    keyword_tokens: int = 0
    extraction_tokens: int = 0
    adapter_tokens: int = 0
    hit_ms: float = 0.0
    tokens_saved: float = 0.0
    latency_saved_ms: float = 0.0

    @property
    def hit_rate(self) -> float:
        """Hits per lookup."""
        return self.hits / self.lookups if self.lookups else 0.0

    @property
    def false_hit_rate(self) -> float:
        """False hits per hit."""
        return self.false_hits / self.hits if self.hits else 0.0

    @property
    def overhead_tokens(self) -> int:
        """Tokens the cache spent on its own calls."""
        return self.keyword_tokens + self.extraction_tokens + self.adapter_tokens

    def summary(self) -> dict[str, float]:
        """Every counter plus the derived rates, JSON-able."""
        out: dict[str, float] = asdict(self)
        out.update(
            hit_rate=self.hit_rate, false_hit_rate=self.false_hit_rate, overhead_tokens=self.overhead_tokens
        )
        return out

    @classmethod
    def from_counters(cls, counters: Mapping[str, float]) -> CacheMetrics:
        """Metrics from a store's counter table (unknown names are ignored)."""
        kwargs = {}
        for f in fields(cls):
            if f.name in counters:
                kwargs[f.name] = (
                    float(counters[f.name]) if f.type == "float" else int(round(counters[f.name]))
                )
        return cls(**kwargs)


class MetricsRecorder:
    """Adds to a process-local :class:`CacheMetrics` and collects the deltas for the store."""

    def __init__(self) -> None:
        self.metrics = CacheMetrics()
        self._lock = threading.Lock()

    def add(self, **deltas: float) -> dict[str, float]:
        """Add ``deltas`` to the local counters; returns them (for the store's counters)."""
        with self._lock:
            for name, value in deltas.items():
                if not hasattr(self.metrics, name):
                    raise AttributeError(f"unknown cache metric {name!r}")
                setattr(self.metrics, name, getattr(self.metrics, name) + value)
        return deltas

    def mean_planner(self) -> tuple[float, float] | None:
        """``(tokens, ms)`` per planner call so far, or ``None`` before the first."""
        with self._lock:
            m = self.metrics
            if not m.planner_calls:
                return None
            return m.planner_tokens / m.planner_calls, m.planner_ms / m.planner_calls
