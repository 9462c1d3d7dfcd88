"""SwiGLU activation on a fused gate/up projection."""

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
