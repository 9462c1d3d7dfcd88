"""Draft proposers for speculative decoding: prompt lookup (n-gram copy), earlier outputs (suffix) and a
small/early-exit model.

Every proposer follows ``Proposer`` (``propose(context, k) -> Proposal``, ``reset()``, ``learn(output)``).
"""

from splitsecond.serving.speculative.proposers.base import Proposal, Proposer
from splitsecond.serving.speculative.proposers.model_drafter import ModelDrafter, self_speculative_model
from splitsecond.serving.speculative.proposers.prompt_lookup import PromptLookupProposer
from splitsecond.serving.speculative.proposers.suffix import SuffixCache, SuffixProposer, SuffixStats

__all__ = [
    "ModelDrafter",
    "PromptLookupProposer",
    "Proposal",
    "Proposer",
    "SuffixCache",
    "SuffixProposer",
    "SuffixStats",
    "self_speculative_model",
]
