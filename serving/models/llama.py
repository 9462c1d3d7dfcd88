"""Llama-family decoder (Llama 2/3, SmolLM2, Mistral, Qwen2) over a paged KV cache.

Tokens of all sequences in a batch are flattened into one ``[T]`` dimension (varlen); attention finds
each sequence's past through ``AttentionMetadata``. q/k/v and gate/up projections are fused into single
matmuls. The output embedding is tied to the input embedding when the config says so.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from splitsecond.serving.layers.activation import SiluAndMul
from splitsecond.serving.layers.attention import AttentionMetadata, PagedAttention
from splitsecond.serving.layers.int4_weight import EXACT_MAX_ERROR, Int4Weight
from splitsecond.serving.layers.int4_weight import GROUP_SIZE as INT4_GROUP_SIZE
from splitsecond.serving.layers.linear import (
    Embedding,
    Linear,
    linear_onednn,
    linear_packed,
    onednn_pack,
    pack_weight,
)
from splitsecond.serving.layers.rmsnorm import RMSNorm
from splitsecond.serving.layers.rotary import RotaryEmbedding
from splitsecond.serving.models.model_config import ModelConfig

logger = logging.getLogger(__name__)


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
    """SwiGLU feed-forward with a fused gate/up projection."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_up_proj = Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)
        self.act = SiluAndMul()

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


class LlamaForCausalLM(nn.Module):
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
        self._packed_head = None
        self._onednn_head: torch.Tensor | None = None  # a oneDNN-blocked copy of the (possibly tied) head
        self.weight_packing: str | None = None
        if cfg.tie_word_embeddings:
            self.lm_head_weight = self.embed_tokens.weight
        else:
            self.lm_head = Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
            self.lm_head_weight = self.lm_head.weight

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

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden: [N, hidden] -> logits [N, vocab] in float32."""
        if self._packed_head is not None:
            return linear_packed(hidden, self._packed_head)
        if self._onednn_head is not None:
            return linear_onednn(hidden, self._onednn_head, None).float()
        return F.linear(hidden, self.lm_head_weight).float()

    @property
    def can_compute_subset(self) -> bool:
        """True when ``compute_logits_subset`` is available (the LM head's float weights are kept)."""
        return self.lm_head_weight.numel() > 0

    def compute_logits_subset(self, hidden: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        """Logits of one position for ``token_ids`` only ([hidden] -> [len(token_ids)], float32).

        A grammar often allows a handful of tokens (a choice among actions); reading just their rows of
        the LM head saves most of its 49152 x 576 weights' memory traffic on that step.
        """
        return (self.lm_head_weight[token_ids] @ hidden.to(self.lm_head_weight.dtype)).float()

    def pack_weights(self, mode: str, exact_only: bool = False) -> str | None:
        """Pack the weights for CPU decode (see ``layers.linear``); returns the mode applied (or None).

        "fp16" (float32 models): every projection and the LM head for FBGEMM. The input embedding stays
        float32 (only looked up row by row); a tied LM head gets its own packed copy.
        "int4" (bf16/fp16 models): every projection and the LM head go to oneDNN's blocked layout, and
        every projection gains a 4-bit copy for small passes ("onednn" is returned when it does not).
        With ``exact_only`` the 4-bit copies are made only if every projection is already on a 4-bit
        grid (a Q4 GGUF), so they cost no accuracy.
        """
        if mode == "int4":
            return self._pack_int4(exact_only)
        self._packed_head = pack_weight(self.lm_head_weight.data, None, mode)
        for layer in self.layers:
            for module in layer.modules():
                if isinstance(module, Linear):
                    module.pack(mode)
        if not self.config.tie_word_embeddings:
            self.lm_head.weight = nn.Parameter(torch.empty(0), requires_grad=False)
            self.lm_head_weight = self.lm_head.weight
        self.weight_packing = mode
        return mode

    def _pack_int4(self, exact_only: bool) -> str | None:
        linears = [m for layer in self.layers for m in layer.modules() if isinstance(m, Linear)]
        if any(m.weight.shape[1] % INT4_GROUP_SIZE for m in linears):
            packs, worst = [], float("inf")  # not whole groups: no int4 copies, oneDNN only
        else:
            packs = [Int4Weight.from_weight(m.weight.data) for m in linears]
            worst = max(p.max_error for p in packs)
        use_int4 = bool(packs) and (not exact_only or worst <= EXACT_MAX_ERROR)
        if use_int4:
            for m, p in zip(linears, packs, strict=True):
                m.int4 = p
            logger.info(
                "int4 copies of %d projections (worst group error %.4f of its range)", len(packs), worst
            )
        else:
            logger.info("no int4 copies: the weights are not on a 4-bit grid (worst group error %.3f)", worst)
        onednn = all([m.pack_onednn() for m in linears])
        head = onednn_pack(self.lm_head_weight.data)
        if head is not None:
            self._onednn_head = head
        mode = "int4" if use_int4 else ("onednn" if onednn else None)
        self.weight_packing = mode
        return mode

    @torch.no_grad()
    def load_hf_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load Hugging Face-named weights (``layers.N.self_attn.q_proj.weight``...), fusing qkv and gate/up."""
        dtype = self.embed_tokens.weight.dtype
        state = {k.removeprefix("model."): v for k, v in state.items()}
        used = set()

        def take(name: str) -> torch.Tensor:
            if name not in state:
                raise KeyError(f"checkpoint lacks weight {name!r}")
            used.add(name)
            return state[name].to(dtype)

        self.embed_tokens.weight.copy_(take("embed_tokens.weight"))
        self.norm.weight.copy_(take("norm.weight"))
        if not self.config.tie_word_embeddings:
            self.lm_head.weight.copy_(take("lm_head.weight"))
        elif "lm_head.weight" in state:
            used.add("lm_head.weight")
        for i, layer in enumerate(self.layers):
            p = f"layers.{i}."
            attn, mlp = layer.self_attn, layer.mlp
            attn.qkv_proj.weight.copy_(
                torch.cat([take(p + f"self_attn.{n}_proj.weight") for n in ("q", "k", "v")], dim=0)
            )
            if self.config.attention_bias:
                attn.qkv_proj.bias.copy_(
                    torch.cat([take(p + f"self_attn.{n}_proj.bias") for n in ("q", "k", "v")])
                )
            attn.o_proj.weight.copy_(take(p + "self_attn.o_proj.weight"))
            mlp.gate_up_proj.weight.copy_(
                torch.cat([take(p + "mlp.gate_proj.weight"), take(p + "mlp.up_proj.weight")])
            )
            mlp.down_proj.weight.copy_(take(p + "mlp.down_proj.weight"))
            layer.input_layernorm.weight.copy_(take(p + "input_layernorm.weight"))
            layer.post_attention_layernorm.weight.copy_(take(p + "post_attention_layernorm.weight"))
        unused = set(state) - used - {"rope_freqs"}
        unused = {k for k in unused if "rotary_emb" not in k}
        if unused:
            raise KeyError(f"checkpoint has weights the model does not use: {sorted(unused)[:5]}")
