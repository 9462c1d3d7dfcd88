"""Gated-MLP activations on a fused gate/up projection: SwiGLU (Llama) and tanh-GELU GeGLU (Gemma)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SiluAndMul(nn.Module):
    """``silu(gate) * up`` where the input is ``[..., 2 * d]`` = ``[gate | up]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply SwiGLU to the fused gate/up activations."""
        gate, up = x.chunk(2, dim=-1)
        return F.silu(gate) * up


class GeluTanhAndMul(nn.Module):
    """``gelu_tanh(gate) * up`` (Hugging Face's ``gelu_pytorch_tanh``) on ``[..., 2 * d]`` = ``[gate | up]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply GeGLU to the fused gate/up activations."""
        gate, up = x.chunk(2, dim=-1)
        return F.gelu(gate, approximate="tanh") * up


def gated_activation(name: str) -> nn.Module:
    """The fused gated activation for a config's ``hidden_activation`` ("silu" or "gelu_pytorch_tanh")."""
    if name == "silu":
        return SiluAndMul()
    if name == "gelu_pytorch_tanh":
        return GeluTanhAndMul()
    raise ValueError(f"unsupported activation {name!r}; supported: silu, gelu_pytorch_tanh")
