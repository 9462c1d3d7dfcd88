"""Draft proposers for speculative decoding: prompt lookup (n-gram copy), earlier outputs (suffix) and a
small/early-exit model, alone or with the suffix source beside it.

Every proposer follows ``Proposer`` (``propose(context, k) -> Proposal``, ``reset()``, ``learn(output)``).
"""

from splitsecond.serving.speculative.proposers.base import Proposal, Proposer
from splitsecond.serving.speculative.proposers.hybrid import HybridStats, ModelSuffixProposer
from splitsecond.serving.speculative.proposers.model_drafter import (
    ModelDrafter,
    reduced_vocab_model,
    self_speculative_model,
)
from splitsecond.serving.speculative.proposers.prompt_lookup import PromptLookupProposer
from splitsecond.serving.speculative.proposers.suffix import SuffixCache, SuffixProposer, SuffixStats

__all__ = [
    "HybridStats",
    "ModelDrafter",
    "ModelSuffixProposer",
    "PromptLookupProposer",
    "Proposal",
    "Proposer",
    "SuffixCache",
    "SuffixProposer",
    "SuffixStats",
    "reduced_vocab_model",
    "self_speculative_model",
]
