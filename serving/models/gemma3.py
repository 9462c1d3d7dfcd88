"""Gemma 3 text decoder (``Gemma3ForCausalLM``, e.g. Gemma 3 270M) over the paged KV cache.

What differs from Llama (``llama.py``, whose projections, fused q/k/v and gate/up, MLP and loading it
reuses): GeGLU (tanh GELU); RMSNorm scaling by ``1 + w`` in float32 (``GemmaRMSNorm`` holds ``1 + w``;
loading adds the 1 to Hugging Face weights); norms before *and* after attention and the MLP; RMS
QK-norm over head_dim; input embeddings scaled by ``sqrt(hidden_size)`` rounded to the weights' dtype;
attention scale ``query_pre_attn_scalar ** -0.5``; local layers attend to a sliding window and use
their own RoPE base (``rope_local_theta``), global layers the full context with ``rope_theta`` (and any
RoPE scaling); optional attention / final logit softcapping.
"""

from __future__ import annotations

import torch
from torch import nn

from splitsecond.serving.layers.attention import AttentionMetadata, PagedAttention
from splitsecond.serving.layers.linear import Embedding
from splitsecond.serving.layers.rmsnorm import GemmaRMSNorm
from splitsecond.serving.layers.rotary import RotaryEmbedding
from splitsecond.serving.models.causal_lm import CausalLM, StateReader
from splitsecond.serving.models.llama import LlamaAttention, LlamaMLP
from splitsecond.serving.models.model_config import ModelConfig


class Gemma3Attention(LlamaAttention):
    """Llama's fused-QKV attention plus QK-norm, Gemma's scale and an optional sliding window."""

    def __init__(self, cfg: ModelConfig, rotary: RotaryEmbedding, window: int | None) -> None:
        super().__init__(cfg, rotary)
        self.attn = PagedAttention(
            cfg.num_heads,
            cfg.num_kv_heads,
            cfg.head_dim,
            scale=cfg.attention_scale,
            sliding_window=window,
            softcap=cfg.attn_logit_softcapping,
        )
        self.q_norm = GemmaRMSNorm(cfg.head_dim, cfg.rms_norm_eps)
        self.k_norm = GemmaRMSNorm(cfg.head_dim, cfg.rms_norm_eps)

    def forward(self, rope, x, k_cache, v_cache, meta: AttentionMetadata) -> torch.Tensor:
        """x: [T, hidden] -> [T, hidden]; ``rope`` is this layer type's rotary tables for the pass."""
        qkv = self.qkv_proj(x)
        T, qk_size = qkv.shape[0], self.q_size + self.kv_size
        q = self.q_norm(qkv[:, : self.q_size].view(T, self.num_heads, self.head_dim))
        k = self.k_norm(qkv[:, self.q_size : qk_size].view(T, self.num_kv_heads, self.head_dim))
        qk = self.rotary.rotate(torch.cat([q, k], dim=1), rope)  # one rotation for both
        q, k = qk.split([self.num_heads, self.num_kv_heads], dim=1)
        v = qkv[:, qk_size:].view(T, self.num_kv_heads, self.head_dim)
        return self.o_proj(self.attn(q, k, v, k_cache, v_cache, meta))


class Gemma3DecoderLayer(nn.Module):
    """Sandwich-norm block: ``x + post_norm(attn(pre_norm(x)))``, then the same around the MLP."""

    def __init__(self, cfg: ModelConfig, rotary: RotaryEmbedding, window: int | None) -> None:
        super().__init__()
        self.window = window
        self.self_attn = Gemma3Attention(cfg, rotary, window)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.pre_feedforward_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_feedforward_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, rope, x, k_cache, v_cache, meta: AttentionMetadata) -> torch.Tensor:
        """x: [T, hidden] (the residual stream) -> [T, hidden]."""
        h = self.self_attn(rope, self.input_layernorm(x), k_cache, v_cache, meta)
        x = x + self.post_attention_layernorm(h)
        h = self.mlp(self.pre_feedforward_layernorm(x))
        return x + self.post_feedforward_layernorm(h)


class Gemma3ForCausalLM(CausalLM):
    """Gemma 3 (text) decoder plus LM head; same interface as ``LlamaForCausalLM``.

    ``rotary`` is the global layers' RoPE, ``rotary_local`` the sliding-window layers'.
    """

    def __init__(self, cfg: ModelConfig, rope_freq_factors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.rotary = RotaryEmbedding(
            cfg.head_dim, cfg.max_position_embeddings, cfg.rope_theta, cfg.rope_scaling, rope_freq_factors
        )
        self.rotary_local = RotaryEmbedding(
            cfg.head_dim, cfg.max_position_embeddings, cfg.rope_local_theta or cfg.rope_theta
        )
        self.embed_tokens = Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(
            [
                Gemma3DecoderLayer(cfg, self.rotary if cfg.layer_window(i) is None else self.rotary_local, w)
                for i in range(cfg.num_layers)
                for w in [cfg.layer_window(i)]
            ]
        )
        self.norm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self._embed_scales: dict[torch.dtype, float] = {}
        self._init_head(cfg)

    def _embed_scale(self, dtype: torch.dtype) -> float:
        # Hugging Face casts sqrt(hidden_size) to the weights' dtype (55.43 becomes 55.5 in bf16)
        if dtype not in self._embed_scales:
            self._embed_scales[dtype] = torch.tensor(self.config.embedding_scale, dtype=dtype).item()
        return self._embed_scales[dtype]

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        kv_caches: list[tuple[torch.Tensor, torch.Tensor]],
        meta: AttentionMetadata,
    ) -> torch.Tensor:
        """input_ids, positions: [T] -> final-normed hidden states [T, hidden]."""
        x = self.embed_tokens(input_ids)
        x = x * self._embed_scale(x.dtype)
        rope_global = self.rotary(positions)
        rope_local = None
        for layer, (k_cache, v_cache) in zip(self.layers, kv_caches, strict=False):
            if layer.window is None:
                rope = rope_global
            else:
                if rope_local is None:
                    rope_local = self.rotary_local(positions)
                rope = rope_local
            x = layer(rope, x, k_cache, v_cache, meta)
        return self.norm(x)

    def _load_norms(self, take: StateReader) -> None:
        def load(module: GemmaRMSNorm, name: str) -> None:
            module.weight.copy_(take(name, torch.float32) + 1.0)  # Hugging Face stores w of (1 + w)

        load(self.norm, "norm.weight")
        for i, layer in enumerate(self.layers):
            p = f"layers.{i}."
            for norm in (
                "input_layernorm",
                "post_attention_layernorm",
                "pre_feedforward_layernorm",
                "post_feedforward_layernorm",
            ):
                load(getattr(layer, norm), p + norm + ".weight")
            load(layer.self_attn.q_norm, p + "self_attn.q_norm.weight")
            load(layer.self_attn.k_norm, p + "self_attn.k_norm.weight")
