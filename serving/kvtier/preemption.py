"""``SwapPreemption``: the scheduler's preemption policy when a KV tier is configured.

A victim's computed blocks are swapped out to the tier (DRAM or flash) and the sequence becomes
SWAPPED instead of losing its KV; if the tier refuses (full, unhealthy) it falls back to recompute.
When the scheduler brings a swapped sequence back it allocates fresh blocks and calls ``restore``;
``prefetch`` is called for the head of the swapped queue at the end of each scheduling step, so the
reads overlap the forward pass; ``discard`` drops the pages of a sequence finished while swapped.
"""

from __future__ import annotations

import logging

from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.sequence import Sequence, SequenceStatus
from splitsecond.serving.kvtier.tier import KVTier

logger = logging.getLogger(__name__)


class SwapPreemption:
    """Preempt by swapping to ``tier``; recompute when the tier cannot take the blocks."""

    def __init__(self, tier: KVTier, block_size: int, prefetch_depth: int = 2) -> None:
        if prefetch_depth < 0:
            raise ValueError(f"prefetch_depth must be >= 0, got {prefetch_depth}")
        self.tier = tier
        self.block_size = block_size
        self.prefetch_depth = prefetch_depth
        self.num_swapped_out = 0
        self.num_recompute_fallbacks = 0

    def _computed_blocks(self, seq: Sequence) -> int:
        return min(len(seq.block_table), -(-seq.num_computed_tokens // self.block_size))

    def preempt(self, seq: Sequence, block_manager: BlockManager) -> SequenceStatus:
        """Swap ``seq``'s computed blocks out and free them; recompute if the tier refuses."""
        n = self._computed_blocks(seq)
        seq.num_preemptions += 1
        if n > 0 and self.tier.swap_out(seq.seq_id, seq.block_table[:n]):
            block_manager.free(seq)
            self.num_swapped_out += 1
            return SequenceStatus.SWAPPED
        block_manager.free(seq)
        seq.num_computed_tokens = 0
        self.num_recompute_fallbacks += 1
        return SequenceStatus.WAITING

    def blocks_to_restore(self, seq: Sequence) -> int:
        """Blocks a swapped sequence needs to hold its KV again."""
        return -(-seq.num_computed_tokens // self.block_size)

    def restore(self, seq: Sequence, block_manager: BlockManager) -> bool:
        """Fill ``seq``'s freshly allocated blocks from the tier; False: the caller must recompute."""
        n = self.blocks_to_restore(seq)
        if len(seq.block_table) < n:
            raise ValueError(f"{seq} has {len(seq.block_table)} blocks, {n} needed to restore")
        return self.tier.swap_in(seq.seq_id, seq.block_table[:n])

    def prefetch(self, seqs: list[Sequence]) -> None:
        """Start reading the first ``prefetch_depth`` swapped sequences back."""
        for seq in seqs[: self.prefetch_depth]:
            self.tier.prefetch(seq.seq_id)

    def discard(self, seq: Sequence) -> None:
        """Drop a finished or aborted sequence's pages from the tier."""
        if self.tier.contains(seq.seq_id):
            self.tier.discard(seq.seq_id)
