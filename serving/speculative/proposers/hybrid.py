"""``ModelSuffixProposer``: a draft model with the suffix source beside it; the longer prediction wins.

A small model of the target's family (Qwen2.5-Coder-0.5B for the 1.5B) always has a guess, but every
drafted token costs it a forward pass; the suffix source (this edge's earlier outputs plus prompt
lookup) costs microseconds and is right for long stretches of agent traffic (repeated field names,
copied prices, the decision format), and silent elsewhere. Each ``propose(context, k)`` asks the suffix
source first; when it predicts the whole ``k`` tokens from a match of at least ``trust_match``
context tokens (a short match, such as a two-token field name, guesses poorly), that draft goes out
and the model is not run at all. Otherwise the model drafts ``k`` tokens and the longer of the two
predictions wins (the model's, unless it stopped early). The model's private KV cache catches up on tokens drafted by the
suffix source in one chunked forward the next time the model runs (``ModelDrafter``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from splitsecond.serving.speculative.proposers.base import Proposal, Proposer


@dataclass
class HybridStats:
    """Which source each ``ModelSuffixProposer`` proposal came from (shared by an edge's proposers)."""

    from_suffix: int = 0  # the suffix source predicted all k tokens; the model did not run
    from_model: int = 0  # the model drafted (the suffix source predicted fewer tokens)


class ModelSuffixProposer:
    """Drafts for one request from ``model`` and ``suffix`` (see the module docstring).

    ``model`` and ``suffix`` are proposers for the same request (a ``ModelDrafter`` and a
    ``SuffixProposer``, whose ``last_match`` tells how long a match its proposal continued);
    ``stats`` counts which one each proposal used; ``trust_match``: the shortest match whose full-length
    prediction goes out without the model (0: any).
    """

    def __init__(
        self, model: Proposer, suffix: Proposer, stats: HybridStats | None = None, trust_match: int = 4
    ) -> None:
        for label, p in (("model", model), ("suffix", suffix)):
            if not all(callable(getattr(p, m, None)) for m in ("propose", "reset", "learn")):
                raise TypeError(f"ModelSuffixProposer: {label} must be a Proposer, got {type(p).__name__}")
        if not isinstance(trust_match, int) or isinstance(trust_match, bool) or trust_match < 0:
            raise ValueError(f"ModelSuffixProposer: trust_match must be an integer >= 0, got {trust_match!r}")
        self.trust_match = trust_match
        self.model = model
        self.suffix = suffix
        self.stats = stats if stats is not None else HybridStats()
        self.name = f"{getattr(model, 'name', 'model')}+suffix"

    def propose(self, context: list[int], k: int, stop: Callable[[], bool] | None = None) -> Proposal:
        """Up to ``k`` tokens: the suffix source's when it predicts all ``k``, else the longer prediction.

        ``stop`` is handed to the model (``ModelDrafter.propose``): asked after each drafted token.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ValueError(f"k must be an integer >= 0, got {k!r}")
        if k == 0:
            return Proposal([])
        cheap = self.suffix.propose(context, k)
        match = getattr(self.suffix, "last_match", self.trust_match)  # a proposer that does not say: trusted
        if len(cheap.tokens) >= k and match >= self.trust_match:
            self.stats.from_suffix += 1
            return cheap
        drafted = (
            self.model.propose(context, k) if stop is None else self.model.propose(context, k, stop=stop)
        )
        if len(cheap.tokens) > len(drafted.tokens):
            self.stats.from_suffix += 1
            return cheap
        self.stats.from_model += 1
        return drafted

    def reset(self) -> None:
        """Forget the suffix source's per-request state (its shared cache stays). The model keeps its KV
        cache: it is keyed by the tokens it holds, so the next request reuses the prefix it shares with
        this one (an agent's system prompt) instead of recomputing it."""
        self.suffix.reset()

    def learn(self, output: list[int]) -> None:
        """Hand a finished output to both sources (the suffix source keeps it)."""
        self.model.learn(output)
        self.suffix.learn(output)
