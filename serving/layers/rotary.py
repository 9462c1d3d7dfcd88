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
    """Precomputed cos/sin tables. ``forward(positions)`` looks them up once per forward pass;
    ``rotate(x, rope)`` applies them to ``[T, heads, head_dim]`` queries or keys (or both at once).

    The sin table holds the rotate-half sign (``-sin`` on the first half), so a rotation is
    ``x * cos + roll(x, half) * sin``: three kernels instead of seven, which matters for decode.
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
        sin = emb.sin()
        sin[:, : self.half] = -sin[:, : self.half]
        self.cos = emb.cos().to(device=device, dtype=dtype)
        self.sin = sin.to(device=device, dtype=dtype)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (cos, signed sin) rows of ``positions`` ([T]), shaped [T, 1, head_dim] for ``rotate``."""
        return self.cos[positions].unsqueeze(1), self.sin[positions].unsqueeze(1)

    def rotate(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """RoPE on ``x`` ([T, heads, head_dim]) with the tables ``forward`` looked up; returns a new tensor."""
        cos, sin = rope
        return torch.addcmul(x * cos, x.roll(self.half, dims=-1), sin)
