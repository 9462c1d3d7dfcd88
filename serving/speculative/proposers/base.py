"""The proposer contract: something that guesses the next ``k`` tokens of a sequence cheaply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from splitsecond.serving.speculative.verification import SparseDraftDist


@dataclass
class Proposal:
    """Drafted tokens and, for a sampling drafter, the exact distribution each was drawn from.

    ``dists`` is None for deterministic proposers (greedy drafts, prompt lookup): the verifier then
    treats each token as a point mass. Otherwise it holds one ``SparseDraftDist`` per token.
    """

    tokens: list[int]
    dists: list[SparseDraftDist] | None = None

    def __post_init__(self) -> None:
        if self.dists is not None and len(self.dists) != len(self.tokens):
            raise ValueError(
                f"Proposal: {len(self.dists)} dists for {len(self.tokens)} tokens; need one per token or None"
            )


class Proposer(Protocol):
    """Drafts continuations of one sequence.

    ``propose(context, k)`` gets every token so far (prompt + accepted output) and returns at most ``k``
    tokens (fewer, even none, when it has no good guess). ``reset()`` forgets any per-sequence state.
    ``learn(output)`` hands over a finished request's generated tokens: a proposer that drafts from
    earlier outputs (``SuffixProposer``) keeps them, the others ignore them.
    """

    name: str

    def propose(self, context: list[int], k: int) -> Proposal:
        """Up to ``k`` tokens guessed to follow ``context``."""
        ...

    def reset(self) -> None:
        """Forget cached state (a new sequence starts)."""
        ...

    def learn(self, output: list[int]) -> None:
        """Take note of a finished request's generated tokens."""
        ...
