"""``KVTier``: what the engine asks of a place to park KV blocks (DRAM pool or flash), and the byte view
of the KV cache the tiers copy from and to.

The engine's KV tensor is block-major, ``[num_blocks, num_layers, 2, block_size, kv_heads, head_dim]``,
so everything one block holds across all layers is one contiguous chunk: ``block_byte_view`` exposes it
as ``[num_blocks, block_bytes]`` uint8 rows and a swap moves whole rows (hundreds of KB each).
An *owner* is whatever the pages belong to: a sequence id, or a prefix-cache block hash.
"""

from __future__ import annotations

from typing import Protocol

import torch

from splitsecond.serving.kvtier.metrics import KVTierStats


def block_byte_view(kv_tensor: torch.Tensor) -> torch.Tensor:
    """``[num_blocks, block_bytes]`` uint8 view of a block-major KV tensor (no copy)."""
    if not kv_tensor.is_contiguous():
        raise ValueError("the KV tensor must be contiguous (block-major) to swap whole blocks")
    return kv_tensor.view(kv_tensor.shape[0], -1).view(torch.uint8)


class KVTier(Protocol):
    """A store for KV blocks that the engine swaps out under memory pressure and back in later."""

    policy: str  # "dram" or "flash"

    def swap_out(self, owner: int, block_ids: list[int]) -> bool:
        """Copy blocks ``block_ids`` (in order) out under ``owner``; False if the tier cannot take them.

        Once this returns True the blocks may be reused at once: the data was copied (asynchronous
        writes continue in the background).
        """
        ...

    def prefetch(self, owner: int) -> None:
        """Start reading ``owner``'s blocks back so a later ``swap_in`` does not wait (may do nothing)."""
        ...

    def swap_in(self, owner: int, block_ids: list[int]) -> bool:
        """Restore ``owner``'s blocks into ``block_ids`` and forget them; False if they are lost/corrupt.

        On False nothing may be assumed about ``block_ids``' contents: the caller recomputes.
        """
        ...

    def contains(self, owner: int) -> bool:
        """Whether ``owner`` has blocks stored."""
        ...

    def discard(self, owner: int) -> None:
        """Forget ``owner``'s blocks (finished or aborted while swapped out)."""
        ...

    def stats(self) -> KVTierStats:
        """A snapshot of the tier's counters."""
        ...

    def close(self) -> None:
        """Wait for pending I/O and release files and memory."""
        ...
