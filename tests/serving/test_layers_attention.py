"""Paged attention against a naive reference, in float32 and bfloat16 (whose short queries upcast on CPU)."""

from __future__ import annotations

import math

import pytest
import torch

from splitsecond.serving.engine.kv_cache import KVCache
from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner
from splitsecond.serving.layers import attention
from splitsecond.serving.layers.attention import PagedAttention
from splitsecond.serving.models.model_config import ModelConfig

H, KVH, D, BS = 6, 2, 16, 4
CFG = ModelConfig(
    architecture="llama",
    vocab_size=32, hidden_size=H * D, intermediate_size=64, num_layers=1, num_heads=H, num_kv_heads=KVH,
    head_dim=D, rms_norm_eps=1e-5, rope_theta=1e4, max_position_embeddings=256, tie_word_embeddings=True,
)  # fmt: skip


def reference(q_new, k_all, v_all, start):
    """Causal GQA attention of queries at positions start.. over keys 0..start+len(q) (float64)."""
    q, k, v = q_new.double(), k_all.double(), v_all.double()
    out = []
    for j in range(q.shape[0]):
        keys = start + j + 1
        rows = []
        for h in range(H):
            kv = h // (H // KVH)
            s = (k[:keys, kv] @ q[j, h]) / math.sqrt(D)
            rows.append(torch.softmax(s, 0) @ v[:keys, kv])
        out.append(torch.stack(rows))
    return torch.stack(out)  # [Q, H, D]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("upcast_max_query", [0, 16])
def test_mixed_decode_and_prefill_batch_matches_reference(dtype, upcast_max_query, monkeypatch):
    monkeypatch.setattr(attention, "UPCAST_MAX_QUERY", upcast_max_query)
    g = torch.Generator().manual_seed(0)
    # three decodes with different pasts (one block-aligned) and a 5-token prefill chunk after 6 cached tokens
    pasts, q_lens = [9, 3, 12, 6], [1, 1, 1, 5]
    cache = KVCache(CFG, num_blocks=32, block_size=BS, dtype=dtype, device="cpu")
    runner = ModelRunner(model=None, kv_cache=cache, device="cpu")
    free = iter(range(1, 32))
    items, full_k, full_v = [], [], []
    k_cache, v_cache = cache.layer_views[0]
    for past, q in zip(pasts, q_lens, strict=True):
        n = past + q
        table = [next(free) for _ in range(-(-n // BS))]
        k = torch.randn(n, KVH, D, generator=g).to(dtype)
        v = torch.randn(n, KVH, D, generator=g).to(dtype)
        for x in range(past):  # the past is already in the cache
            k_cache[table[x // BS], x % BS] = k[x]
            v_cache[table[x // BS], x % BS] = v[x]
        items.append(ForwardItem(token_ids=[0] * q, start_pos=past, block_table=table))
        full_k.append(k)
        full_v.append(v)
    _, _, meta = runner.build_metadata(items)
    T = sum(q_lens)
    q_all = torch.randn(T, H, D, generator=g).to(dtype)
    k_new = torch.cat([k[p:] for k, p in zip(full_k, pasts, strict=True)])
    v_new = torch.cat([v[p:] for v, p in zip(full_v, pasts, strict=True)])
    out = PagedAttention(H, KVH, D)(q_all, k_new, v_new, k_cache, v_cache, meta)
    assert out.dtype == dtype and out.shape == (T, H * D)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    flat = 0
    for i, (past, q) in enumerate(zip(pasts, q_lens, strict=True)):
        want = reference(q_all[flat : flat + q], full_k[i], full_v[i], past)
        got = out[flat : flat + q].view(q, H, D).double()
        assert (got - want).abs().max().item() < tol, f"sequence {i}"
        flat += q


def windowed_reference(q_new, k_all, v_all, start, window=None, softcap=None, scale=None):
    """Like ``reference``, with Hugging Face's sliding window (query p sees keys p - window < k <= p)
    and an optional logit softcap."""
    q, k, v = q_new.double(), k_all.double(), v_all.double()
    scale = D**-0.5 if scale is None else scale
    out = []
    for j in range(q.shape[0]):
        p = start + j
        lo = 0 if window is None else max(0, p - window + 1)
        rows = []
        for h in range(H):
            kv = h // (H // KVH)
            s = (k[lo : p + 1, kv] @ q[j, h]) * scale
            if softcap is not None:
                s = softcap * torch.tanh(s / softcap)
            rows.append(torch.softmax(s, 0) @ v[lo : p + 1, kv])
        out.append(torch.stack(rows))
    return torch.stack(out)


def run_batch(specs, window, dtype=torch.float32, softcap=None, seed=0):
    """Attend a batch through the window groups and compare each sequence with ``windowed_reference``.

    ``specs``: (past, new tokens, index of an earlier spec whose first ``past`` tokens' blocks this one
    shares, as after a prefix-cache hit, or None). Returns the metadata for further checks.
    """
    g = torch.Generator().manual_seed(seed)
    cache = KVCache(CFG, num_blocks=64, block_size=BS, dtype=dtype, device="cpu")
    runner = ModelRunner(model=None, kv_cache=cache, device="cpu")
    free = iter(range(1, 64))
    k_cache, v_cache = cache.layer_views[0]
    items, full_k, full_v = [], [], []
    for past, q, shared in specs:
        n = past + q
        k = torch.randn(n, KVH, D, generator=g).to(dtype)
        v = torch.randn(n, KVH, D, generator=g).to(dtype)
        table = []
        if shared is not None:
            assert past % BS == 0, "a prefix-cache hit covers whole blocks"
            table = items[shared].block_table[: past // BS]
            k[:past], v[:past] = full_k[shared][:past], full_v[shared][:past]
        table = table + [next(free) for _ in range(-(-n // BS) - len(table))]
        for x in range(past):
            k_cache[table[x // BS], x % BS] = k[x]
            v_cache[table[x // BS], x % BS] = v[x]
        items.append(ForwardItem(token_ids=[0] * q, start_pos=past, block_table=table))
        full_k.append(k)
        full_v.append(v)
    _, _, meta = runner.build_metadata(items, windows=(window,))
    T = sum(q for _, q, _ in specs)
    q_all = torch.randn(T, H, D, generator=g).to(dtype)
    k_new = torch.cat([k[p:] for k, (p, _, _) in zip(full_k, specs, strict=True)])
    v_new = torch.cat([v[p:] for v, (p, _, _) in zip(full_v, specs, strict=True)])
    attn = PagedAttention(H, KVH, D, sliding_window=window, softcap=softcap)
    out = attn(q_all, k_new, v_new, k_cache, v_cache, meta)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    flat = 0
    for i, (past, q, _) in enumerate(specs):
        want = windowed_reference(q_all[flat : flat + q], full_k[i], full_v[i], past, window, softcap)
        got = out[flat : flat + q].view(q, H, D).double()
        assert (got - want).abs().max().item() < tol, f"sequence {i} {specs[i]}"
        # the window must matter here, or this comparison could not catch a missing mask
        if past + q > window:
            unwindowed = windowed_reference(q_all[flat : flat + q], full_k[i], full_v[i], past, None, softcap)
            assert (unwindowed - want).abs().max().item() > 10 * tol
        flat += q
    return meta


W = 5


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sliding_window_prefill_chunk_crossing_the_window(dtype):
    run_batch([(0, 13, None)], W, dtype)  # one pass longer than the window
    run_batch([(6, 9, None)], W, dtype)  # a later chunk: keys from the cache and the chunk
    meta = run_batch([(12, 6, None)], W, dtype)
    (g,) = meta.window_groups[W]
    assert g.key_blocks.shape[1] < meta.groups[0].key_blocks.shape[1]  # blocks before the window skipped


def test_sliding_window_single_decode_trims_keys_without_a_mask():
    for past in (3, 4, 5, 9, 13, 16):
        meta = run_batch([(past, 1, None)], W)
        (g,) = meta.window_groups[W]
        assert g.mask is None and meta.groups[0].mask is None
        assert g.key_len - g.key_start == min(past + 1, W)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sliding_window_batched_decodes_and_prefills_of_different_lengths(dtype):
    # decodes inside and beyond the window, block-aligned or not; two prefill chunks of different lengths
    run_batch(
        [(2, 1, None), (9, 1, None), (12, 1, None), (17, 1, None), (6, 7, None), (1, 3, None)], W, dtype
    )


def test_sliding_window_after_prefix_cache_hit():
    # sequence 1 reuses sequence 0's first two blocks (8 tokens), then prefills 6 more; 0 decodes alongside
    run_batch([(11, 1, None), (8, 6, 0)], W)
    run_batch([(12, 1, None), (12, 3, 0), (4, 1, 0)], W)


def test_sliding_window_with_logit_softcap():
    run_batch([(9, 1, None), (3, 6, None)], W, softcap=2.0)
    run_batch([(0, 11, None)], W, softcap=2.0)


def test_short_contexts_share_the_global_groups():
    # every query's window covers its whole context: local layers reuse the global groups as they are
    runner = ModelRunner(model=None, kv_cache=KVCache(CFG, 8, BS, torch.float32, "cpu"), device="cpu")
    items = [ForwardItem([0], 3, [1]), ForwardItem([0] * 2, 2, [2])]
    _, _, meta = runner.build_metadata(items, windows=(W,))
    assert all(a is b for a, b in zip(meta.window_groups[W], meta.groups, strict=True))
    with pytest.raises(ValueError, match="sliding window 7"):
        meta.groups_for(7)
