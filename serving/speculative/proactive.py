"""Proactive drafting: draft the next round while the current one is being verified.

While draft ``D`` is in flight to the server, the edge bets on the most likely verdict — "all of ``D``
accepted, then bonus ``b``", where ``b`` is the drafter's own next token after ``D`` — and drafts a
``continuation`` from ``context + D + [b]``. When the verdict comes back, the bet is kept if the server
appended exactly ``D + [b]`` (the continuation is then a valid draft for the new context and the next
round starts at once) and discarded otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from splitsecond.serving.speculative.proposers.base import Proposal


@dataclass
class ProactiveStats:
    """How proactive drafts fared: bets kept or discarded, and drafted tokens reused from kept bets."""

    kept: int = 0
    discarded: int = 0
    tokens_kept: int = 0

    @property
    def keep_rate(self) -> float:
        """Fraction of resolved bets that were kept (0.0 before any)."""
        total = self.kept + self.discarded
        return self.kept / total if total else 0.0


@dataclass
class ProactiveDraft:
    """A continuation drafted under the assumption that the server appends ``assumed`` (``D + [b]``)."""

    assumed: list[int]
    continuation: Proposal

    def __post_init__(self) -> None:
        if not self.assumed:
            raise ValueError("ProactiveDraft: assumed must hold at least the bonus token")

    def resolve(self, verdict_tokens: list[int], stats: ProactiveStats | None = None) -> Proposal | None:
        """The continuation if the server appended exactly ``assumed`` this round, else None.

        ``verdict_tokens`` are the tokens appended this round (accepted drafts + correction/bonus).
        ``stats``, if given, is updated.
        """
        kept = list(verdict_tokens) == self.assumed
        if stats is not None:
            if kept:
                stats.kept += 1
                stats.tokens_kept += len(self.continuation.tokens)
            else:
                stats.discarded += 1
        return self.continuation if kept else None
