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
