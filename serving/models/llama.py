"""Llama-family decoder (Llama 2/3, SmolLM2, Mistral, Qwen2) over a paged KV cache.

Tokens of all sequences in a batch are flattened into one ``[T]`` dimension (varlen); attention finds
each sequence's past through ``AttentionMetadata``. q/k/v and gate/up projections are fused into single
matmuls. The output embedding is tied to the input embedding when the config says so.
"""

from __future__ import annotations

import torch
from torch import nn

from splitsecond.serving.layers.activation import gated_activation
from splitsecond.serving.layers.attention import AttentionMetadata, PagedAttention
from splitsecond.serving.layers.linear import Embedding, Linear
from splitsecond.serving.layers.rmsnorm import RMSNorm
from splitsecond.serving.layers.rotary import RotaryEmbedding
from splitsecond.serving.models.causal_lm import CausalLM, StateReader
from splitsecond.serving.models.model_config import ModelConfig


class LlamaAttention(nn.Module):
    """Self-attention with fused QKV projection, RoPE and grouped-query paged attention."""

    def __init__(self, cfg: ModelConfig, rotary: RotaryEmbedding) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q_size = cfg.num_heads * cfg.head_dim
        self.kv_size = cfg.num_kv_heads * cfg.head_dim
        self.qkv_proj = Linear(cfg.hidden_size, self.q_size + 2 * self.kv_size, bias=cfg.attention_bias)
        self.o_proj = Linear(self.q_size, cfg.hidden_size, bias=False)
        self.rotary = rotary
        self.attn = PagedAttention(cfg.num_heads, cfg.num_kv_heads, cfg.head_dim)

    def forward(self, rope, x, k_cache, v_cache, meta: AttentionMetadata) -> torch.Tensor:
        """x: [T, hidden] -> [T, hidden]; ``rope`` is the rotary tables of this pass's positions."""
        qkv = self.qkv_proj(x)
        T, qk_size = qkv.shape[0], self.q_size + self.kv_size
        # q and k sit side by side in qkv: rotate them in one go
        qk = self.rotary.rotate(qkv[:, :qk_size].view(T, -1, self.head_dim), rope)
        q, k = qk.split([self.num_heads, self.num_kv_heads], dim=1)
        v = qkv[:, qk_size:].view(T, self.num_kv_heads, self.head_dim)
        return self.o_proj(self.attn(q, k, v, k_cache, v_cache, meta))


class LlamaMLP(nn.Module):
    """Gated feed-forward (SwiGLU; GeGLU for Gemma) with a fused gate/up projection."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_up_proj = Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)
        self.act = gated_activation(cfg.hidden_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [T, hidden] -> [T, hidden]."""
        return self.down_proj(self.act(self.gate_up_proj(x)))


class LlamaDecoderLayer(nn.Module):
    """Pre-norm transformer block; the residual add is fused into the following RMSNorm."""

    def __init__(self, cfg: ModelConfig, rotary: RotaryEmbedding) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(cfg, rotary)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, rope, x, residual, k_cache, v_cache, meta):
        """Returns (block output, residual stream), with the last residual add left to the next norm."""
        if residual is None:
            residual = x
            x = self.input_layernorm(x)
        else:
            x, residual = self.input_layernorm(x, residual)
        x = self.self_attn(rope, x, k_cache, v_cache, meta)
        x, residual = self.post_attention_layernorm(x, residual)
        return self.mlp(x), residual


class LlamaForCausalLM(CausalLM):
    """The decoder plus LM head. ``forward`` returns hidden states; ``compute_logits`` the float32 logits."""

    def __init__(self, cfg: ModelConfig, rope_freq_factors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.rotary = RotaryEmbedding(
            cfg.head_dim, cfg.max_position_embeddings, cfg.rope_theta, cfg.rope_scaling, rope_freq_factors
        )
        self.embed_tokens = Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([LlamaDecoderLayer(cfg, self.rotary) for _ in range(cfg.num_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self._init_head(cfg)

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        kv_caches: list[tuple[torch.Tensor, torch.Tensor]],
        meta: AttentionMetadata,
    ) -> torch.Tensor:
        """input_ids, positions: [T] -> final-normed hidden states [T, hidden]."""
        x = self.embed_tokens(input_ids)
        rope = self.rotary(positions)
        residual = None
        for layer, (k_cache, v_cache) in zip(self.layers, kv_caches, strict=False):
            x, residual = layer(rope, x, residual, k_cache, v_cache, meta)
        x, _ = self.norm(x, residual)
        return x

    def _load_norms(self, take: StateReader) -> None:
        self.norm.weight.copy_(take("norm.weight"))
        for i, layer in enumerate(self.layers):
            layer.input_layernorm.weight.copy_(take(f"layers.{i}.input_layernorm.weight"))
            layer.post_attention_layernorm.weight.copy_(take(f"layers.{i}.post_attention_layernorm.weight"))
