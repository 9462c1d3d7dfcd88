"""Draft proposers for speculative decoding: prompt lookup (n-gram copy) and a small/early-exit model.

Every proposer follows ``Proposer`` (``propose(context, k) -> Proposal``, ``reset()``).
"""

from splitsecond.serving.speculative.proposers.base import Proposal, Proposer
from splitsecond.serving.speculative.proposers.model_drafter import ModelDrafter, self_speculative_model
from splitsecond.serving.speculative.proposers.prompt_lookup import PromptLookupProposer

__all__ = ["ModelDrafter", "PromptLookupProposer", "Proposal", "Proposer", "self_speculative_model"]
