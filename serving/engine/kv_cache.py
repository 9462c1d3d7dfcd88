"""The paged KV cache: one tensor for all layers, laid out block-major.

Layout ``[num_blocks, num_layers, 2 (K, V), block_size, num_kv_heads, head_dim]``: everything one block
holds, across all layers, is one contiguous chunk of ``block_bytes``. That is what a flash-backed tier
needs to swap a block out or in with a single copy (``swap_out(block) -> bytes-like``,
``swap_in(block, data)``). Attention sees per-layer strided views ``[num_blocks, block_size, KVH, D]``.
"""

from __future__ import annotations

import torch

from splitsecond.serving.models.model_config import ModelConfig


class KVCache:
    """Owns the KV tensor and hands out per-layer (K, V) views."""

    def __init__(self, model_config: ModelConfig, num_blocks: int, block_size: int, dtype, device) -> None:
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.tensor = torch.zeros(
            num_blocks,
            model_config.num_layers,
            2,
            block_size,
            model_config.num_kv_heads,
            model_config.head_dim,
            dtype=dtype,
            device=device,
        )
        self.layer_views = [
            (self.tensor[:, i, 0], self.tensor[:, i, 1]) for i in range(model_config.num_layers)
        ]

    @staticmethod
    def bytes_per_block(model_config: ModelConfig, block_size: int, dtype: torch.dtype) -> int:
        """Bytes one block takes across all layers."""
        elem = torch.empty(0, dtype=dtype).element_size()
        return (
            model_config.num_layers
            * 2
            * block_size
            * model_config.num_kv_heads
            * model_config.head_dim
            * elem
        )

    @property
    def block_bytes(self) -> int:
        """Bytes of one block (all layers, K and V)."""
        return self.tensor[0].numel() * self.tensor.element_size()

    def swap_out(self, block_id: int) -> torch.Tensor:
        """A CPU copy of one block's contents (all layers), for a slower tier to store."""
        return self.tensor[block_id].to("cpu", copy=True)

    def swap_in(self, block_id: int, data: torch.Tensor) -> None:
        """Restore a block's contents previously produced by ``swap_out``."""
        self.tensor[block_id].copy_(data)

    def copy_block(self, src: int, dst: int) -> None:
        """Copy one block onto another (copy-on-write of a shared partial block)."""
        self.tensor[dst].copy_(self.tensor[src])
