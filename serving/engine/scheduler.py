"""``Scheduler``: continuous batching with chunked prefill, decode batching, preemption and admission.

Each step spends a token budget (``max_num_batched_tokens``): first on running sequences in arrival
order (one token per decoding sequence, or the next prefill chunk / forced tokens), then on waiting
sequences (their uncached prompt, chunked to what is left). When a running sequence needs a block and
none is free, the most recently arrived running sequence is preempted through the
``PreemptionPolicy`` (recompute: its blocks are freed — they stay in the prefix cache — and it goes
back to the front of the queue; a flash-backed swap policy plugs in here).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.sequence import Sequence, SequenceStatus

logger = logging.getLogger(__name__)


@dataclass
class ScheduledBatch:
    """What one forward pass runs: each sequence with how many of its uncomputed tokens to process."""

    seqs: list[Sequence] = field(default_factory=list)
    num_tokens: list[int] = field(default_factory=list)
    preempted: list[Sequence] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing was scheduled."""
        return not self.seqs


class PreemptionPolicy(Protocol):
    """How a running sequence gives up its KV blocks when the cache is full."""

    def preempt(self, seq: Sequence, block_manager: BlockManager) -> SequenceStatus:
        """Release ``seq``'s blocks; return the status it moves to (WAITING to recompute, SWAPPED...)."""
        ...


class RecomputePreemption:
    """Free the blocks and recompute later (cheap on a small model; full blocks stay prefix-cached)."""

    def preempt(self, seq: Sequence, block_manager: BlockManager) -> SequenceStatus:
        """Free ``seq``'s blocks and mark it for recomputation from its prefix-cache hits."""
        block_manager.free(seq)
        seq.num_computed_tokens = 0
        seq.num_preemptions += 1
        return SequenceStatus.WAITING


class Scheduler:
    """Decides which sequences run in each forward pass."""

    def __init__(
        self,
        block_manager: BlockManager,
        max_num_seqs: int,
        max_num_batched_tokens: int,
        preemption: PreemptionPolicy | None = None,
    ) -> None:
        self.block_manager = block_manager
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.preemption = preemption or RecomputePreemption()
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.swapped: deque[Sequence] = deque()
        self.num_preemptions = 0

    @property
    def num_unfinished(self) -> int:
        """Sequences waiting, running or swapped."""
        return len(self.waiting) + len(self.running) + len(self.swapped)

    def add(self, seq: Sequence) -> None:
        """Queue a new sequence."""
        seq.status = SequenceStatus.WAITING
        self.waiting.append(seq)

    def finish(self, seq: Sequence) -> None:
        """Remove a finished (or aborted) sequence and free its blocks."""
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        elif seq in self.swapped:
            self.swapped.remove(seq)
        self.block_manager.free(seq)
        seq.status = SequenceStatus.FINISHED

    def _preempt(self, seq: Sequence, batch: ScheduledBatch) -> None:
        self.running.remove(seq)
        status = self.preemption.preempt(seq, self.block_manager)
        seq.status = status
        if status is SequenceStatus.SWAPPED:
            self.swapped.append(seq)
        else:
            self.waiting.appendleft(seq)
        batch.preempted.append(seq)
        self.num_preemptions += 1
        logger.debug("preempted %s", seq)

    def schedule(self) -> ScheduledBatch:
        """Pick this step's work (allocating blocks for it)."""
        bm = self.block_manager
        batch = ScheduledBatch()
        budget = self.max_num_batched_tokens
        scheduled: set[int] = set()

        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            n = _chunk(seq, budget)
            if n <= 0:
                i += 1
                continue
            target = seq.num_computed_tokens + n
            while not bm.can_allocate(seq, target):
                victim = next((s for s in reversed(self.running) if s.seq_id not in scheduled), None)
                if victim is None:
                    break
                self._preempt(victim, batch)
                if victim is seq:
                    break
            if seq.status is not SequenceStatus.RUNNING or not bm.can_allocate(seq, target):
                if seq.status is SequenceStatus.RUNNING:
                    i += 1  # cannot grow even alone now; try again next step
                continue
            bm.allocate(seq, target)
            batch.seqs.append(seq)
            batch.num_tokens.append(n)
            scheduled.add(seq.seq_id)
            budget -= n
            i += 1

        if batch.preempted:
            return batch  # memory is tight: admit nothing new this step

        skipped: list[Sequence] = []
        while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            if seq.wait_for is not None and not (seq.wait_for.prompt_done or seq.wait_for.finished):
                skipped.append(self.waiting.popleft())  # sibling still filling the shared prefix
                continue
            hits = bm.match_prefix(seq.token_ids)
            computed = len(hits) * bm.block_size
            n = _chunk(seq, budget, computed)
            if not bm.can_allocate_prefill(seq, hits, computed + n):
                break
            self.waiting.popleft()
            bm.allocate_prefill(seq, hits, computed + n)
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            if n > 0:  # 0: a speculative sequence whose cached prefix is all it needs until its draft
                batch.seqs.append(seq)
                batch.num_tokens.append(n)
                budget -= n
        for seq in reversed(skipped):
            self.waiting.appendleft(seq)
        return batch


def _chunk(seq: Sequence, budget: int, computed: int | None = None) -> int:
    """Tokens of ``seq`` to run this step within ``budget`` (``computed``: its KV already present).

    A draft is verified in one piece with the token before it: a chunk that would end inside that tail
    stops before it instead.
    """
    done = seq.num_computed_tokens if computed is None else computed
    todo = seq.num_schedulable_tokens - done
    n = min(todo, budget)
    if n < todo and seq.draft is not None:
        tail_start = seq.num_tokens - seq.num_draft_tokens - 1
        n = min(n, max(0, tail_start - done))
    return max(0, n)
