"""``BlockManager``: allocation of fixed-size KV blocks with reference counts and a prefix cache.

Prefix caching: once a *full* block's KV is computed, it is registered under a hash chained over all
tokens up to its end (``hash((previous_block_hash, tokens_of_this_block))``, tokens kept to rule out
collisions). A new sequence whose prompt starts with the same tokens takes those blocks (refcount + 1)
instead of recomputing them. Freed blocks that hold a registered hash stay in an LRU of *cached free*
blocks and are only evicted (hash dropped) when a free block is needed and no never-cached block is left.

A block id indexes ``KVCache.tensor`` (block-major across layers), so a KV tier (``serving.kvtier``)
can swap a block by id: preempted sequences go there through the scheduler's preemption policy, and
with a ``PrefixSpillHook`` an evicted cached block is spilled there instead of forgotten and restored
into a free block when a later prompt's prefix reaches it again (a failed restore is a plain miss).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from splitsecond.serving.engine.sequence import Sequence


@dataclass
class Block:
    """One KV block: its id, how many sequences use it, and its prefix-cache key (full blocks only)."""

    block_id: int
    ref_count: int = 0
    hash: int | None = None
    token_ids: tuple[int, ...] | None = None


def chain_hash(prev_hash: int | None, token_ids: tuple[int, ...]) -> int:
    """The prefix-cache key of a full block following a block with key ``prev_hash``."""
    return hash((prev_hash, token_ids))


class PrefixSpillHook(Protocol):
    """Where evicted prefix-cache blocks go (``serving.kvtier.prefix_spill.PrefixSpill``)."""

    def spill(self, block_hash: int, token_ids: tuple[int, ...], block_id: int) -> bool:
        """Copy the evicted block out before ``block_id`` is reused; False if it could not."""
        ...

    def contains(self, block_hash: int, token_ids: tuple[int, ...]) -> bool:
        """Whether that exact block was spilled and can be restored."""
        ...

    def restore(self, block_hash: int, block_id: int) -> bool:
        """Copy the spilled block into ``block_id``; False means a miss (nothing may be assumed)."""
        ...

    def forget(self, block_hash: int) -> None:
        """Drop the spilled copy (the block is in the cache again)."""
        ...

    def clear(self) -> None:
        """Drop every spilled block."""
        ...


class BlockManager:
    """Hands out KV blocks to sequences and keeps the prefix cache (optionally spilling it to a tier)."""

    def __init__(
        self,
        num_blocks: int,
        block_size: int,
        enable_prefix_caching: bool = True,
        spill: PrefixSpillHook | None = None,
    ) -> None:
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.enable_prefix_caching = enable_prefix_caching
        self.spill = spill if enable_prefix_caching else None
        self.blocks = [Block(i) for i in range(num_blocks)]
        self._free_uncached: deque[int] = deque(range(num_blocks))
        self._free_cached: OrderedDict[int, None] = OrderedDict()  # LRU: oldest first
        self._hash_to_block: dict[int, int] = {}
        self.prefix_queries = 0  # prompt tokens looked up
        self.prefix_hits = 0  # prompt tokens found (in memory or restored from the spill tier)
        self.num_restored_blocks = 0  # prefix blocks brought back from the spill tier

    # --- accounting ------------------------------------------------------------------------------
    @property
    def num_free_blocks(self) -> int:
        """Blocks not used by any sequence (including cached-free ones that can be evicted)."""
        return len(self._free_uncached) + len(self._free_cached)

    @property
    def num_cached_blocks(self) -> int:
        """Blocks registered in the prefix cache (used or free)."""
        return len(self._hash_to_block)

    def blocks_needed(self, seq: Sequence, num_tokens: int) -> int:
        """New blocks ``seq`` needs so its table covers ``num_tokens`` tokens."""
        return max(0, -(-num_tokens // self.block_size) - len(seq.block_table))

    # --- prefix cache ----------------------------------------------------------------------------
    def match_prefix(self, token_ids: list[int]) -> list[int]:
        """Ids of cached blocks holding a prefix of ``token_ids`` (at least one token is left to compute)."""
        if not self.enable_prefix_caching:
            return []
        bs = self.block_size
        hits: list[int] = []
        prev: int | None = None
        for i in range((len(token_ids) - 1) // bs):
            tokens = tuple(token_ids[i * bs : (i + 1) * bs])
            h = chain_hash(prev, tokens)
            block_id = self._hash_to_block.get(h)
            if block_id is None:
                block_id = self._restore_spilled(h, tokens, hits)
            if block_id is None or self.blocks[block_id].token_ids != tokens:
                break
            hits.append(block_id)
            prev = h
        return hits

    def _restore_spilled(self, h: int, tokens: tuple[int, ...], hits: list[int]) -> int | None:
        """Bring a spilled block back as a cached-free block (accounting-neutral); None on a miss.

        The block it lands in is a free one that is not among ``hits`` (those are made most recently
        used first, so the eviction this may cause never takes them).
        """
        if self.spill is None or not self.spill.contains(h, tokens):
            return None
        free_hits = [b for b in hits if self.blocks[b].ref_count == 0]
        if self.num_free_blocks - len(free_hits) < 1:
            return None
        for b in free_hits:
            self._free_cached.move_to_end(b)
        block_id = self._take_free_block()
        block = self.blocks[block_id]
        block.ref_count = 0
        if not self.spill.restore(h, block_id):
            self._free_uncached.appendleft(block_id)
            return None
        block.hash, block.token_ids = h, tokens
        self._hash_to_block[h] = block_id
        self._free_cached[block_id] = None
        self.num_restored_blocks += 1
        return block_id

    def can_allocate_prefill(self, seq: Sequence, hits: list[int], num_tokens: int) -> bool:
        """Whether ``seq`` (no blocks yet) can take ``hits`` and enough new blocks for ``num_tokens``."""
        reviving = sum(1 for b in hits if self.blocks[b].ref_count == 0)
        new = max(0, -(-num_tokens // self.block_size) - len(hits))
        return new + reviving <= self.num_free_blocks

    def allocate_prefill(self, seq: Sequence, hits: list[int], num_tokens: int) -> None:
        """Give a fresh ``seq`` the cached ``hits`` plus new blocks up to ``num_tokens`` tokens."""
        assert not seq.block_table, "allocate_prefill on a sequence that already has blocks"
        bs = self.block_size
        for block_id in hits:
            block = self.blocks[block_id]
            if block.ref_count == 0:
                del self._free_cached[block_id]
            block.ref_count += 1
            seq.block_table.append(block_id)
            seq.block_hashes.append(block.hash)
        cached = len(hits) * bs
        seq.num_computed_tokens = cached
        if seq.num_prompt_tokens > 0 and seq.num_preemptions == 0:
            seq.num_cached_tokens = min(cached, seq.num_prompt_tokens)
            self.prefix_queries += seq.num_prompt_tokens
            self.prefix_hits += seq.num_cached_tokens
        self.allocate(seq, num_tokens)

    def can_allocate(self, seq: Sequence, num_tokens: int) -> bool:
        """Whether ``seq``'s table can grow to cover ``num_tokens`` tokens."""
        return self.blocks_needed(seq, num_tokens) <= self.num_free_blocks

    def allocate(self, seq: Sequence, num_tokens: int) -> None:
        """Grow ``seq``'s block table to cover ``num_tokens`` tokens (caller checked ``can_allocate``)."""
        for _ in range(self.blocks_needed(seq, num_tokens)):
            seq.block_table.append(self._take_free_block())

    def _take_free_block(self) -> int:
        if self._free_uncached:
            block_id = self._free_uncached.popleft()
        elif self._free_cached:
            block_id, _ = self._free_cached.popitem(last=False)  # evict least recently freed
            block = self.blocks[block_id]
            if block.hash is not None and self._hash_to_block.get(block.hash) == block_id:
                del self._hash_to_block[block.hash]
                if self.spill is not None and block.token_ids is not None:
                    self.spill.spill(block.hash, block.token_ids, block_id)  # its KV is still intact
            block.hash, block.token_ids = None, None
        else:
            raise RuntimeError("out of KV blocks: the scheduler should have preempted first")
        self.blocks[block_id].ref_count = 1
        return block_id

    def register_computed(self, seq: Sequence) -> None:
        """Register ``seq``'s newly completed full blocks in the prefix cache."""
        if not self.enable_prefix_caching:
            return
        bs = self.block_size
        full = min(seq.num_computed_tokens // bs, len(seq.block_table))
        for i in range(len(seq.block_hashes), full):
            prev = seq.block_hashes[i - 1] if i else None
            tokens = tuple(seq.token_ids[i * bs : (i + 1) * bs])
            h = chain_hash(prev, tokens)
            seq.block_hashes.append(h)
            block = self.blocks[seq.block_table[i]]
            if block.hash is None and h not in self._hash_to_block:
                block.hash, block.token_ids = h, tokens
                self._hash_to_block[h] = block.block_id
                if self.spill is not None:
                    self.spill.forget(h)  # recomputed: a spilled copy would only take tier space

    # --- freeing ---------------------------------------------------------------------------------
    def truncate(self, seq: Sequence, num_tokens: int) -> None:
        """Free the blocks of ``seq`` past the first ``num_tokens`` tokens (rejected draft tokens).

        Only unregistered blocks may go: a block holding a token below ``num_tokens`` stays.
        """
        keep = -(-num_tokens // self.block_size)
        while len(seq.block_table) > keep:
            block_id = seq.block_table.pop()
            block = self.blocks[block_id]
            assert block.hash is None and block.ref_count == 1, "truncating a shared or registered block"
            block.ref_count = 0
            self._free_uncached.append(block_id)

    def free(self, seq: Sequence) -> None:
        """Release all of ``seq``'s blocks (deepest first, so they are evicted first)."""
        for block_id in reversed(seq.block_table):
            block = self.blocks[block_id]
            block.ref_count -= 1
            assert block.ref_count >= 0, f"block {block_id} freed twice"
            if block.ref_count == 0:
                if block.hash is not None:
                    self._free_cached[block_id] = None
                else:
                    self._free_uncached.append(block_id)
        seq.block_table = []
        seq.block_hashes = []

    def reset_prefix_cache(self) -> None:
        """Forget every cached-free and spilled block (used ones keep their hash until freed)."""
        for block_id in list(self._free_cached):
            block = self.blocks[block_id]
            if block.hash is not None and self._hash_to_block.get(block.hash) == block_id:
                del self._hash_to_block[block.hash]
            block.hash, block.token_ids = None, None
            self._free_uncached.append(block_id)
        self._free_cached.clear()
        if self.spill is not None:
            self.spill.clear()
