"""RMSNorm, optionally fused with the residual add that precedes it, and Gemma's float32 variant."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (Llama): ``x / rms(x) * weight``, computed in float32."""

    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size), requires_grad=False)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None):
        """Normalise ``x`` (after adding ``residual`` when given; then also returns the new residual)."""
        if residual is not None:
            x = x + residual
            residual = x
        if x.dtype == torch.float32:
            out = torch.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        else:
            xf = x.float()
            out = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight
        return out if residual is None else (out, residual)


class GemmaRMSNorm(nn.Module):
    """Gemma's RMSNorm: the scaling happens in float32 before the cast back (Llama casts first).

    ``weight`` holds the effective multiplier, i.e. Hugging Face's ``1 + weight`` (llama.cpp's GGUF
    stores that already); the model's loader adds the 1 to Hugging Face checkpoints.
    """

    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` over its last dimension."""
        if x.dtype == torch.float32:
            return torch.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        xf = x.float()
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()
        return out.to(x.dtype)
