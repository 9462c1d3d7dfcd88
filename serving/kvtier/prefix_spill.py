"""``PrefixSpill``: cold prefix-cache blocks go to the KV tier instead of being forgotten.

When the block manager evicts a cached-free block (its KV is still intact, nobody uses it, and a free
block is needed) the block is written to the tier under its own owner id; the prefix-cache key
(chained hash + tokens) stays known here. A later prompt whose prefix chain reaches that key gets the
block restored into a free block instead of recomputing it — so an agent's long shared system prompt
survives memory pressure. A restore that fails the tier's integrity checks is treated as a miss (the
page is never used; the tokens are recomputed).

Spilled blocks share the tier with preempted sequences, so they may use at most ``max_blocks`` pages
(by default half the tier); beyond that the least recently spilled or looked-up block is dropped.
Owner ids are drawn from ``2**62`` upwards so they never meet a sequence id.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict

from splitsecond.serving.kvtier.tier import KVTier

logger = logging.getLogger(__name__)

_OWNER_BASE = 2**62


class PrefixSpill:
    """Spill evicted prefix-cache blocks to ``tier`` and restore them on a prefix hit.

    Implements the block manager's ``PrefixSpillHook``; every call comes from the engine thread.
    """

    def __init__(self, tier: KVTier, max_blocks: int) -> None:
        if not isinstance(max_blocks, int) or max_blocks < 1:
            raise ValueError(f"max_blocks must be a positive integer, got {max_blocks!r}")
        self.tier = tier
        self.max_blocks = max_blocks
        self._owners = itertools.count(_OWNER_BASE)
        # block hash -> (tier owner id, the block's tokens); LRU order, oldest first
        self._spilled: OrderedDict[int, tuple[int, tuple[int, ...]]] = OrderedDict()
        self.num_spilled = 0  # blocks written to the tier
        self.num_spill_refused = 0  # evictions the tier could not take (full, unhealthy)
        self.num_dropped = 0  # spilled blocks dropped to stay within max_blocks (or superseded)
        self.num_restored = 0  # blocks brought back on a prefix hit
        self.num_restore_failures = 0  # restores that failed integrity checks or were lost: misses

    def __len__(self) -> int:
        return len(self._spilled)

    def spill(self, block_hash: int, token_ids: tuple[int, ...], block_id: int) -> bool:
        """Write evicted block ``block_id`` (key ``block_hash``) to the tier; False if it refused."""
        self.forget(block_hash)
        while len(self._spilled) >= self.max_blocks:
            old_hash, (old_owner, _) = self._spilled.popitem(last=False)
            self.tier.discard(old_owner)
            self.num_dropped += 1
        owner = next(self._owners)
        if not self.tier.swap_out(owner, [block_id]):
            self.num_spill_refused += 1
            return False
        self._spilled[block_hash] = (owner, token_ids)
        self.num_spilled += 1
        return True

    def contains(self, block_hash: int, token_ids: tuple[int, ...]) -> bool:
        """Whether the block keyed ``block_hash`` with exactly ``token_ids`` is spilled (marks it used)."""
        entry = self._spilled.get(block_hash)
        if entry is None or entry[1] != token_ids:
            return False
        self._spilled.move_to_end(block_hash)
        return True

    def restore(self, block_hash: int, block_id: int) -> bool:
        """Read the spilled block into ``block_id`` and forget it; False means a miss (recompute)."""
        entry = self._spilled.pop(block_hash, None)
        if entry is None:
            return False
        if self.tier.swap_in(entry[0], [block_id]):
            self.num_restored += 1
            return True
        self.num_restore_failures += 1
        logger.info("spilled prefix block %x could not be restored: recomputing it", block_hash & 0xFFFFFFFF)
        return False

    def forget(self, block_hash: int) -> None:
        """Drop the spilled copy of ``block_hash`` (e.g. the block is in the cache again)."""
        entry = self._spilled.pop(block_hash, None)
        if entry is not None:
            self.tier.discard(entry[0])
            self.num_dropped += 1

    def clear(self) -> None:
        """Drop every spilled block."""
        for owner, _ in self._spilled.values():
            self.tier.discard(owner)
        self.num_dropped += len(self._spilled)
        self._spilled.clear()
