"""Matching a keyword to a cached template: exact first, then a guarded semantic fallback.

1. **Exact**: the entry filed under ``(scope, keyword)``.
2. **Semantic** (optional): among the scope's entries, the one whose keyword embedding is most
   similar to the query's. Embedding similarity alone gives false hits (``"buy breakout"`` and
   ``"sell breakout"`` have cosine 0.91 with MiniLM), so a candidate must also pass a *second
   check*: a ``judge(query, candidate) -> bool`` if one is configured, else a minimum keyword-token
   overlap (Jaccard).

Entries at or below the policy's removal score, or past their TTL, are never matched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from splitsecond.cache.embedder import Embedder, cosine
from splitsecond.cache.keys import token_overlap
from splitsecond.cache.stores.base import PlanEntry, PlanStore

logger = logging.getLogger(__name__)

Judge = Callable[[str, str], bool]
"""``judge(query_keyword, candidate_keyword)``: whether the candidate's plan fits the query."""


@dataclass(frozen=True)
class MatcherConfig:
    """How keywords are matched.

    Attributes:
        semantic: use the semantic fallback after an exact miss.
        threshold: minimum cosine similarity of the keyword embeddings, in (0, 1].
        min_token_overlap: the second check without a judge: minimum Jaccard overlap of the
            keywords' tokens, in [0, 1].
        judge: the second check, replacing the token overlap when given.
    """

    semantic: bool = True
    threshold: float = 0.75
    min_token_overlap: float = 0.6
    judge: Judge | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, int | float) and 0.0 < self.threshold <= 1.0):
            raise ValueError(f"MatcherConfig.threshold must be in (0, 1], got {self.threshold!r}")
        if not (isinstance(self.min_token_overlap, int | float) and 0.0 <= self.min_token_overlap <= 1.0):
            raise ValueError(
                f"MatcherConfig.min_token_overlap must be in [0, 1], got {self.min_token_overlap!r}"
            )
        if self.judge is not None and not callable(self.judge):
            raise ValueError("MatcherConfig.judge must be callable(query, candidate) -> bool")


@dataclass(frozen=True)
class Match:
    """A template found for a keyword.

    Attributes:
        entry: the entry.
        kind: ``exact`` or ``semantic``.
        similarity: cosine similarity of the keywords (1.0 for exact).
        overlap: token overlap of the keywords.
    """

    entry: PlanEntry
    kind: str
    similarity: float = 1.0
    overlap: float = 1.0


@dataclass
class MatchOutcome:
    """What a lookup found: the match (or ``None``) and how many semantic candidates the second
    check turned away."""

    match: Match | None
    rejected: int = 0
    embedding: list[float] | None = None


class Matcher:
    """Finds the template for a keyword (see the module docstring).

    Args:
        config: thresholds and the second check.
        embedder: the sentence embedder (needed only when ``config.semantic``).
    """

    def __init__(self, config: MatcherConfig | None = None, embedder: Embedder | None = None) -> None:
        self.config = config or MatcherConfig()
        if self.config.semantic and embedder is None:
            from splitsecond.cache.embedder import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        self.embedder = embedder

    def embed(self, keyword: str) -> list[float] | None:
        """The keyword's embedding, or ``None`` without the semantic fallback."""
        if not self.config.semantic or self.embedder is None:
            return None
        return self.embedder.embed([keyword])[0]

    def second_check(self, query: str, candidate: str) -> tuple[bool, float]:
        """``(passes, token overlap)`` of the second check for a semantic candidate."""
        overlap = token_overlap(query, candidate)
        if self.config.judge is not None:
            return bool(self.config.judge(query, candidate)), overlap
        return overlap >= self.config.min_token_overlap, overlap

    def find(
        self,
        store: PlanStore,
        scope: str,
        keyword: str,
        usable: Callable[[PlanEntry], bool] = lambda e: True,
    ) -> MatchOutcome:
        """Look ``keyword`` up in ``scope``; ``usable`` filters out expired or demoted entries."""
        exact = store.get(scope, keyword)
        if exact is not None and usable(exact):
            return MatchOutcome(Match(exact, "exact"))
        if not self.config.semantic:
            return MatchOutcome(None)
        candidates = [e for e in store.candidates(scope) if e.keyword != keyword and usable(e)]
        if not candidates:
            return MatchOutcome(None)
        query = self.embed(keyword)
        assert query is not None
        scored = []
        for entry in candidates:
            vector = entry.embedding if entry.embedding else self.embed(entry.keyword)
            if vector is None or len(vector) != len(query):
                continue
            scored.append((cosine(query, vector), entry))
        scored.sort(key=lambda se: (-se[0], -se[1].score))
        rejected = 0
        for similarity, entry in scored:
            if similarity < self.config.threshold:
                break
            ok, overlap = self.second_check(keyword, entry.keyword)
            if ok:
                return MatchOutcome(Match(entry, "semantic", similarity, overlap), rejected, query)
            rejected += 1
            logger.debug(
                "semantic candidate %r for %r rejected by the second check (cos %.3f, overlap %.2f)",
                entry.keyword,
                keyword,
                similarity,
                overlap,
            )
        return MatchOutcome(None, rejected, query)
