"""``BlockManager`` + ``PrefixSpill`` over a real DRAM tier and KV tensor: an evicted cached block is
spilled with its bytes and restored exactly on a prefix hit, never into a block the same lookup already
matched; the spill is capped, a superseded copy is dropped, and ``reset_prefix_cache`` clears it."""

from __future__ import annotations

import pytest
import torch

from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.sequence import Request, Sequence
from splitsecond.serving.kvtier import DramSwapPool, PrefixSpill
from splitsecond.serving.sampling_params import SamplingParams

BS = 4


def seq(tokens: list[int]) -> Sequence:
    req = Request("r", None, tokens, SamplingParams(max_tokens=1))
    return Sequence(req, 0, tokens, None, None, None)


def compute(bm: BlockManager, kv: torch.Tensor, s: Sequence) -> None:
    """Allocate ``s``'s prompt, write a recognisable value per token block, register, free it."""
    hits = bm.match_prefix(s.token_ids)
    bm.allocate_prefill(s, hits, s.num_tokens)
    for i, block in enumerate(s.block_table[len(hits) :], start=len(hits)):
        kv[block] = float(s.token_ids[i * BS])  # the block's "KV" is its first token
    s.num_computed_tokens = s.num_tokens
    bm.register_computed(s)
    bm.free(s)


def setup(num_blocks=4, max_spilled=8):
    kv = torch.zeros(num_blocks, 2, 2, BS, 1, 8)
    tier = DramSwapPool(kv, 64 * kv[0].numel() * 4)
    spill = PrefixSpill(tier, max_spilled)
    return kv, tier, spill, BlockManager(num_blocks, BS, True, spill=spill)


def test_evicted_block_is_spilled_and_restored_bit_exact():
    kv, tier, spill, bm = setup()
    a = list(range(100, 113))  # 3 full blocks + 1 token
    compute(bm, kv, seq(a))
    compute(bm, kv, seq(list(range(500, 513))))  # needs 4 blocks: evicts a's 3 cached ones
    assert spill.num_spilled == 3 and tier.stats().swap_outs == 3
    hits = bm.match_prefix(a)
    assert len(hits) == 3 and spill.num_restored == 3 and bm.num_restored_blocks == 3
    assert [float(kv[b].flatten()[0]) for b in hits] == [100.0, 104.0, 108.0]
    assert bm.num_free_blocks == 4  # restoring is accounting-neutral: the blocks are cached-free
    s = seq(a)
    bm.allocate_prefill(s, hits, s.num_tokens)
    assert s.num_cached_tokens == 12


def test_restore_never_lands_in_a_block_this_lookup_matched():
    kv, tier, spill, bm = setup(num_blocks=3)
    a = list(range(100, 109))  # 2 full blocks + 1
    compute(bm, kv, seq(a))  # a's 2 blocks cached-free (block 1 least recent), 1 uncached-free
    compute(bm, kv, seq([7] * 4 + [8] * 4))  # takes the free one and evicts (spills) a's block 1
    # every free block is now cached, a's block 0 the least recently used: restoring block 1 must evict
    # one of the other sequence's blocks, not the block 0 this very lookup just matched
    hits = bm.match_prefix(a)
    assert len(hits) == 2 and len(set(hits)) == 2 and spill.num_spilled == 2
    assert [float(kv[b].flatten()[0]) for b in hits] == [100.0, 104.0]


def test_cap_supersede_and_reset():
    kv, tier, spill, bm = setup(num_blocks=2, max_spilled=1)
    compute(bm, kv, seq(list(range(100, 105))))
    compute(bm, kv, seq(list(range(200, 205))))  # evicts block 100.. -> spilled
    compute(bm, kv, seq(list(range(300, 305))))  # evicts block 200.. -> spilled, 100.. dropped (cap 1)
    assert len(spill) == 1 and spill.num_dropped >= 1
    assert bm.match_prefix(list(range(100, 105))) == []  # dropped: a miss
    compute(bm, kv, seq(list(range(200, 205))))  # restored from the tier, cached again
    assert spill.num_restored == 1 and len(spill) <= 1
    bm.reset_prefix_cache()
    assert len(spill) == 0 and tier.stats().used_bytes == 0
    with pytest.raises(ValueError, match="max_blocks"):
        PrefixSpill(tier, 0)
