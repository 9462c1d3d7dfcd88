"""``TieredScheduler``: the engine's ``Scheduler`` with swapped sequences brought back from a KV tier.

It wraps the base scheduler instead of copying it: before each step, swapped sequences (oldest first)
get fresh blocks and their KV restored from the tier (``SwapPreemption.restore``) and rejoin the running
batch; while any sequence is still swapped out no new request is admitted (vLLM's rule: swapped work
first). A restore that fails the integrity checks sends the sequence back to recompute. After the step
is planned the head of the swapped queue is prefetched, so its reads overlap the forward pass.
A restore only happens when, afterwards, every running sequence can still grow by one block — so the
sequence just brought back is not the next victim.
"""

from __future__ import annotations

import logging
from collections import deque

from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.scheduler import ScheduledBatch, Scheduler
from splitsecond.serving.engine.sequence import Sequence, SequenceStatus
from splitsecond.serving.kvtier.preemption import SwapPreemption

logger = logging.getLogger(__name__)


class TieredScheduler(Scheduler):
    """A ``Scheduler`` whose preemption swaps to a tier and which swaps sequences back in."""

    def __init__(
        self,
        block_manager: BlockManager,
        max_num_seqs: int,
        max_num_batched_tokens: int,
        preemption: SwapPreemption,
    ) -> None:
        super().__init__(block_manager, max_num_seqs, max_num_batched_tokens, preemption)
        self.swap_preemption = preemption
        self.num_swap_ins = 0
        self.num_restore_failures = 0

    def finish(self, seq: Sequence) -> None:
        """Remove a finished or aborted sequence; drop its pages if it was swapped out."""
        was_swapped = seq in self.swapped
        super().finish(seq)
        if was_swapped:
            self.swap_preemption.discard(seq)

    def _swap_in(self) -> None:
        bm = self.block_manager
        while self.swapped and len(self.running) < self.max_num_seqs:
            seq = self.swapped[0]
            need = bm.blocks_needed(seq, seq.num_computed_tokens + 1)
            if need + len(self.running) > bm.num_free_blocks:
                break
            self.swapped.popleft()
            bm.allocate(seq, seq.num_computed_tokens)
            if self.swap_preemption.restore(seq, bm):
                seq.status = SequenceStatus.RUNNING
                self.running.append(seq)
                self.num_swap_ins += 1
            else:  # lost or corrupt pages: recompute from the prompt (prefix cache may still help)
                bm.free(seq)
                seq.num_computed_tokens = 0
                seq.status = SequenceStatus.WAITING
                self.waiting.appendleft(seq)
                self.num_restore_failures += 1
                logger.info("restore of %s failed: recomputing", seq)

    def schedule(self) -> ScheduledBatch:
        """Swap in what fits, plan the step (no admissions while anything is swapped), prefetch."""
        self._swap_in()
        held: deque[Sequence] | None = None
        if self.swapped:
            held, self.waiting = self.waiting, deque()
        try:
            batch = super().schedule()
        finally:
            if held is not None:
                held.extendleft(reversed(self.waiting))  # anything preempted to WAITING goes first
                self.waiting = held
        if self.swapped and not batch.preempted:
            self.swap_preemption.prefetch(list(self.swapped))
        return batch
