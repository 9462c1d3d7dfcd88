"""The store contract: where plan templates live, and the entry they are kept as.

A store holds :class:`PlanEntry` rows, unique by ``(scope, keyword)``, plus a table of named
counters (the cache's metrics, shared by every process using the store). Every method is atomic on
its own, so several threads and processes may use one store at once. The policy (what to insert,
when to demote, TTL and size bounds) lives in :mod:`splitsecond.cache.policy`; stores only carry
it out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


def new_entry_id() -> str:
    """A fresh random entry id (16 hex digits)."""
    return uuid.uuid4().hex[:16]


@dataclass
class PlanEntry:
    """One cached plan template.

    Attributes:
        scope: the scope key (:meth:`splitsecond.cache.keys.Scope.key`) that must match exactly.
        keyword: the normalised intent keyword it is filed under.
        template: the plan stripped of run-specific details (placeholders like ``<num>``).
        id: the entry's id.
        embedding: the keyword's sentence embedding (for the semantic fallback), if computed.
        score: its standing; wins raise it, losses and rejected adaptations lower it, and the
            policy removes it at or below ``CachePolicy.remove_at``.
        hits: times it was served.
        wins: served plans whose segment went well.
        losses: served plans whose segment went badly or whose adaptation was rejected.
        created_at: when it was written (seconds since the epoch); the TTL counts from here.
        last_used: when it was last written or served (for LRU eviction).
        meta: free JSON-able details (source plan, extraction method, situation excerpt).
    """

    scope: str
    keyword: str
    template: str
    id: str = field(default_factory=new_entry_id)
    embedding: list[float] | None = None
    score: float = 1.0
    hits: int = 0
    wins: int = 0
    losses: int = 0
    created_at: float = 0.0
    last_used: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return asdict(self)


@runtime_checkable
class PlanStore(Protocol):
    """Where plan templates live (SQLite embedded, Redis shared); every method is atomic."""

    def get(self, scope: str, keyword: str) -> PlanEntry | None:
        """The entry filed under ``(scope, keyword)``, or ``None``."""

    def get_by_id(self, entry_id: str) -> PlanEntry | None:
        """The entry with ``entry_id``, or ``None``."""

    def candidates(self, scope: str) -> list[PlanEntry]:
        """Every entry of ``scope`` (for the semantic fallback)."""

    def put(self, entry: PlanEntry) -> None:
        """Write ``entry``, replacing any entry under the same ``(scope, keyword)``."""

    def touch(self, entry_id: str, now: float) -> None:
        """Mark the entry served at ``now`` (``hits + 1``, ``last_used = now``)."""

    def adjust(self, entry_id: str, score_delta: float, wins: int = 0, losses: int = 0) -> PlanEntry | None:
        """Add to the entry's score, wins and losses atomically; the updated entry, or ``None``."""

    def delete(self, entry_id: str) -> bool:
        """Remove an entry; whether it existed."""

    def expire(self, cutoff: float) -> int:
        """Remove entries created at or before ``cutoff``; how many."""

    def evict_lru(self, max_entries: int) -> int:
        """Remove the least recently used entries beyond ``max_entries``; how many."""

    def entries(self) -> list[PlanEntry]:
        """Every entry, most recently used first."""

    def count(self) -> int:
        """How many entries."""

    def clear(self) -> int:
        """Remove every entry and counter; how many entries were removed."""

    def incr(self, counters: Mapping[str, float]) -> None:
        """Add to named counters atomically."""

    def counters(self) -> dict[str, float]:
        """Every named counter."""

    def close(self) -> None:
        """Release connections."""
