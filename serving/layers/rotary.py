"""Rotary position embeddings (rotate-half layout, as Hugging Face Llama), with Llama-3/linear scaling."""

from __future__ import annotations

import math

import torch
from torch import nn


def _inv_freq(
    head_dim: int, theta: float, scaling: dict | None, freq_factors: torch.Tensor | None
) -> torch.Tensor:
    # float32 like Hugging Face, so positions round the same way and logits match closely
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    if freq_factors is not None:  # GGUF's rope_freqs tensor (llama3 scaling baked in by llama.cpp)
        return inv_freq / freq_factors.float()
    if scaling is None:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = float(scaling.get("factor", 1.0))
    if kind == "linear":
        return inv_freq / factor
    if kind == "llama3":
        low = float(scaling.get("low_freq_factor", 1.0))
        high = float(scaling.get("high_freq_factor", 4.0))
        old_len = float(scaling.get("original_max_position_embeddings", 8192))
        low_wavelen, high_wavelen = old_len / low, old_len / high
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        return torch.where(medium, smoothed, scaled)
    raise ValueError(f"rope scaling {kind!r} is not supported; supported: linear, llama3")


class RotaryEmbedding(nn.Module):
    """Precomputed cos/sin tables; ``forward(positions, q, k)`` rotates q and k in place of copies.

    ``q`` is ``[T, num_heads, head_dim]``, ``k`` is ``[T, num_kv_heads, head_dim]``.
    """

    def __init__(
        self,
        head_dim: int,
        max_position: int,
        theta: float,
        scaling: dict | None = None,
        freq_factors: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.head_dim, self.max_position, self.theta, self.scaling = head_dim, max_position, theta, scaling
        self.half = head_dim // 2
        self.register_buffer("cos", torch.empty(0), persistent=False)
        self.register_buffer("sin", torch.empty(0), persistent=False)
        self.build_tables(freq_factors, dtype)

    def build_tables(
        self, freq_factors: torch.Tensor | None = None, dtype: torch.dtype = torch.float32
    ) -> None:
        """(Re)compute the cos/sin tables on this module's device (e.g. after loading from meta)."""
        device = self.cos.device
        if device.type == "meta":
            return
        inv_freq = _inv_freq(self.head_dim, self.theta, self.scaling, freq_factors)
        t = torch.arange(self.max_position, dtype=torch.float32)
        freqs = torch.outer(t, inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)  # [P, head_dim]
        self.cos = emb.cos().to(device=device, dtype=dtype)
        self.sin = emb.sin().to(device=device, dtype=dtype)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[..., : self.half], x[..., self.half :]
        return x * cos + torch.cat([-x2, x1], dim=-1) * sin

    def forward(self, positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor):
        """Apply RoPE at ``positions`` ([T]) to q and k; returns the rotated (q, k)."""
        cos = self.cos[positions].unsqueeze(1)
        sin = self.sin[positions].unsqueeze(1)
        return self._rotate(q, cos, sin), self._rotate(k, cos, sin)
