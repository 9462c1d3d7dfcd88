"""Block manager: allocation, refcounts, prefix-hash hits, LRU eviction of cached free blocks."""

from __future__ import annotations

import pytest

from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.sequence import Request, Sequence
from splitsecond.serving.sampling_params import SamplingParams

BS = 4


def make_seq(tokens: list[int]) -> Sequence:
    req = Request(request_id="r", prompt=None, prompt_token_ids=tokens, params=SamplingParams())
    return Sequence(req, 0, tokens, None, None, None)


def prefill(bm: BlockManager, seq: Sequence) -> list[int]:
    """Allocate the whole sequence like the scheduler does and mark it computed."""
    hits = bm.match_prefix(seq.token_ids)
    assert bm.can_allocate_prefill(seq, hits, seq.num_tokens)
    bm.allocate_prefill(seq, hits, seq.num_tokens)
    seq.num_computed_tokens = seq.num_tokens
    bm.register_computed(seq)
    return hits


def test_allocate_and_free_counts_blocks():
    bm = BlockManager(8, BS)
    seq = make_seq(list(range(10)))  # 10 tokens -> 3 blocks
    prefill(bm, seq)
    assert len(seq.block_table) == 3
    assert bm.num_free_blocks == 5
    bm.free(seq)
    assert bm.num_free_blocks == 8
    assert seq.block_table == []


def test_prefix_hit_shares_full_blocks_and_counts_refs():
    bm = BlockManager(16, BS)
    a = make_seq(list(range(10)))
    prefill(bm, a)
    b = make_seq(list(range(8)) + [99, 98, 97])
    hits = prefill(bm, b)
    assert hits == a.block_table[:2]  # two full blocks in common (tokens 0..7)
    assert b.num_cached_tokens == 8
    assert bm.blocks[a.block_table[0]].ref_count == 2
    assert b.block_table[2] != a.block_table[2]
    assert bm.prefix_hits == 8
    assert bm.prefix_queries == 10 + 11


def test_prefix_match_leaves_at_least_one_token_to_compute():
    bm = BlockManager(16, BS)
    a = make_seq(list(range(8)))
    prefill(bm, a)
    b = make_seq(list(range(8)))  # identical prompt, exactly two full blocks
    hits = bm.match_prefix(b.token_ids)
    assert len(hits) == 1  # the last block is recomputed so the model has a token to produce logits from


def test_hash_chain_depends_on_whole_prefix():
    bm = BlockManager(16, BS)
    a = make_seq([1, 2, 3, 4, 5, 6, 7, 8, 9])
    prefill(bm, a)
    # Same second block but a different first block: no hit at all.
    b = make_seq([0, 2, 3, 4, 5, 6, 7, 8, 9])
    assert bm.match_prefix(b.token_ids) == []


def test_freed_blocks_stay_cached_until_evicted_lru():
    bm = BlockManager(4, BS)
    a = make_seq(list(range(9)))  # 3 blocks, 2 full (cached)
    prefill(bm, a)
    a_blocks = list(a.block_table)
    bm.free(a)
    assert bm.num_free_blocks == 4
    assert bm.num_cached_blocks == 2
    # A new unrelated sequence takes the never-cached blocks first, then evicts the LRU cached one.
    c = make_seq([50, 51, 52, 53, 54, 55, 56, 57, 58])  # 3 blocks: 2 uncached + 1 evicted
    prefill(bm, c)
    assert bm.num_cached_blocks == 1 + 2  # a's first block survives, c registered its 2 full blocks
    d = make_seq(list(range(9)))
    hits = bm.match_prefix(d.token_ids)
    assert hits == a_blocks[:1]  # the first block survived, the second (deepest) was evicted first


def test_revived_cached_block_is_not_double_allocated():
    bm = BlockManager(3, BS)
    a = make_seq(list(range(5)))
    prefill(bm, a)
    bm.free(a)
    b = make_seq(list(range(5)))
    prefill(bm, b)  # revives a's first block
    c = make_seq([70, 71, 72, 73, 74])
    assert not bm.can_allocate_prefill(c, [], 5 + 4)  # needs 3 blocks, only 1 free
    assert len(set(b.block_table)) == len(b.block_table)


def test_out_of_blocks_raises_clearly():
    bm = BlockManager(2, BS)
    seq = make_seq(list(range(12)))
    assert not bm.can_allocate(seq, 12)
    with pytest.raises(RuntimeError, match="out of KV blocks"):
        bm.allocate(seq, 12)


def test_prefix_caching_disabled_never_hits():
    bm = BlockManager(16, BS, enable_prefix_caching=False)
    a = make_seq(list(range(10)))
    prefill(bm, a)
    assert bm.match_prefix(list(range(10))) == []
