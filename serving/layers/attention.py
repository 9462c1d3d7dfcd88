"""Paged attention: varlen queries over a block-paged KV cache, one code path for every device.

Each forward pass writes the new tokens' K/V into their cache slots, then each *group* of sequences
gathers its KV blocks ([B, num_blocks * block_size] keys, padded) and runs
``scaled_dot_product_attention`` with a mask that is causal inside the new tokens and open over the
past. This serves prefill chunks, decode (1 new token) and speculative verification (k new tokens) alike.
Decodes are grouped apart from longer queries so a batch of decodes is not padded to a prefill's length.

Sliding-window layers (Gemma 3's local layers) keep their K/V in the same paged cache as every other
layer; they attend through ``AttentionMetadata.window_groups[window]``: groups built once per pass for
that window, which gather only the blocks the window reaches and mask keys at ``p - k >= window``
(Hugging Face's convention: a query at position p sees keys ``p - window < k <= p``).

On CPU, short queries (decode, verification) in bf16/fp16 are attended in float32: PyTorch's bf16 CPU
SDPA kernel costs 6x the float32 one on a batch of 16 decodes over 300 tokens (2.5 ms against 0.4 ms per
layer, casts included, on AVX-512 BF16), while for long prefill queries the two are even.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class AttentionGroup:
    """Sequences attended in one SDPA call: padded queries [B, Q] over their gathered blocks [B, NB].

    ``query_index`` ([B, Q]) indexes the flat token dimension (None: the group is all tokens in order,
    B == 1). ``mask`` ([B, 1, Q, NB * block_size], True = attend) is None when nothing needs masking.
    ``key_start:key_len`` trims the gathered keys (B == 1 only) so no mask is needed for a single decode.
    ``out_valid`` ([B * Q] bool) selects real (non-padding) queries; ``out_index`` their flat positions.
    """

    key_blocks: torch.Tensor
    query_index: torch.Tensor | None
    mask: torch.Tensor | None
    key_len: int | None
    out_valid: torch.Tensor | None
    out_index: torch.Tensor | None
    key_start: int = 0


@dataclass
class AttentionMetadata:
    """Per-forward-pass attention inputs, built once by the model runner and shared by all layers."""

    slot_blocks: torch.Tensor  # [T] block id of each new token's KV slot
    slot_offsets: torch.Tensor  # [T] offset inside that block
    groups: list[AttentionGroup]
    num_tokens: int
    window_groups: dict[int, list[AttentionGroup]] = field(default_factory=dict)  # by sliding window

    def groups_for(self, window: int | None) -> list[AttentionGroup]:
        """The groups a layer with sliding window ``window`` (None: global attention) attends through."""
        if window is None:
            return self.groups
        groups = self.window_groups.get(window)
        if groups is None:
            raise ValueError(
                f"this pass's metadata has no groups for sliding window {window} "
                f"(built for {sorted(self.window_groups)}): build it with the model's attention_windows"
            )
        return groups


def _gather_blocks(cache: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Rows ``blocks`` ([B, NB]) of a cache [num_blocks, ...] as [B * NB, block numel].

    ``index_select`` on the flattened cache copies whole blocks; advanced indexing of the 4-D cache
    was 5x slower on CPU (a third of a decode step's non-matmul time).
    """
    return cache.view(cache.shape[0], -1).index_select(0, blocks.reshape(-1))


UPCAST_MAX_QUERY = 16
"""On CPU, reduced-precision groups with at most this many queries per sequence attend in float32."""


def _softcapped_attention(q, k, v, mask, scale: float, softcap: float) -> torch.Tensor:
    """Attention with ``softcap * tanh(scores / softcap)`` logits (no SDPA kernel takes a softcap).

    q: [B, H, Q, D]; k, v: [B, KVH, K, D]; mask: [B, 1, Q, K] bool or None -> [B, H, Q, D].
    """
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    scores = torch.tanh((q @ k.transpose(-1, -2)) * (scale / softcap)) * softcap
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v


class PagedAttention(nn.Module):
    """Store new K/V into the paged cache and attend (GQA) over each sequence's blocks.

    ``scale`` defaults to ``head_dim ** -0.5``; ``sliding_window`` restricts each query to the last
    ``sliding_window`` positions; ``softcap`` caps the attention logits (Gemma 2 style; None: off).
    """

    def __init__(
        self,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        scale: float | None = None,
        sliding_window: int | None = None,
        softcap: float | None = None,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim
        self.scale = head_dim**-0.5 if scale is None else scale
        self.sliding_window = sliding_window
        self.softcap = softcap
        self.gqa = num_heads != num_kv_heads

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        meta: AttentionMetadata,
    ) -> torch.Tensor:
        """q: [T, H, D]; k, v: [T, KVH, D]; caches: [num_blocks, block_size, KVH, D] -> [T, H * D]."""
        k_cache[meta.slot_blocks, meta.slot_offsets] = k
        v_cache[meta.slot_blocks, meta.slot_offsets] = v
        T = meta.num_tokens
        out = None
        groups = meta.groups if self.sliding_window is None else meta.groups_for(self.sliding_window)
        for g in groups:
            qg = q.unsqueeze(0) if g.query_index is None else q[g.query_index]  # [B, Q, H, D]
            B, NB = g.key_blocks.shape
            kg = _gather_blocks(k_cache, g.key_blocks).view(B, -1, self.num_kv_heads, self.head_dim)
            vg = _gather_blocks(v_cache, g.key_blocks).view(B, -1, self.num_kv_heads, self.head_dim)
            if g.key_len is not None:
                kg, vg = kg[:, g.key_start : g.key_len], vg[:, g.key_start : g.key_len]
            dtype = qg.dtype
            if dtype != torch.float32 and qg.device.type == "cpu" and qg.shape[1] <= UPCAST_MAX_QUERY:
                qg, kg, vg = qg.float(), kg.float(), vg.float()
            qt, kt, vt = qg.transpose(1, 2), kg.transpose(1, 2), vg.transpose(1, 2)
            if self.softcap is None:
                o = F.scaled_dot_product_attention(
                    qt, kt, vt, attn_mask=g.mask, scale=self.scale, enable_gqa=self.gqa
                )
            else:
                o = _softcapped_attention(qt, kt, vt, g.mask, self.scale, self.softcap)
            o = o.transpose(1, 2).to(dtype)  # [B, Q, H, D]
            if g.query_index is None:
                return o.reshape(T, self.num_heads * self.head_dim)
            o = o.reshape(-1, self.num_heads, self.head_dim)
            if out is None:
                if len(groups) == 1 and g.out_valid is None:
                    return o.reshape(T, self.num_heads * self.head_dim)  # covers all tokens, in order
                out = q.new_empty(T, self.num_heads, self.head_dim)
            if g.out_valid is None:
                out[g.out_index] = o
            else:
                out[g.out_index] = o[g.out_valid]
        return out.view(T, self.num_heads * self.head_dim)
