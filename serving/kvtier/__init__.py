"""splitsecond.serving.kvtier — a tier below the engine's paged KV cache, after HiFC (NeurIPS 2025).

Under memory pressure the scheduler swaps a victim's KV blocks out instead of dropping them, either to
host DRAM (``dram``, the vLLM baseline) or to a preallocated flash zone on an NVMe SSD (``flash``):
append-only, block-sequential placement with a fine-grained mapping table (``allocator``), segment
garbage collection (``gc``), checksummed and generation-numbered pages (``page_format``), POSIX
O_DIRECT or KvikIO/GPUDirect I/O (``posix_io``, ``kvikio_io``), asynchronous writes and prefetched
reads overlapped with compute (``swap_manager``). Cold prefix-cache blocks the block manager evicts
are spilled to the same tier and restored on a prefix hit (``prefix_spill``).

The engine wires it from ``EngineConfig.kv_swap_policy``: ``policy.build_kv_tier`` makes the tier,
``preemption.SwapPreemption`` + ``scheduler.TieredScheduler`` plug it into scheduling.
Names are imported on first use, so ``SwapTierConfig`` (``kvtier.config``) costs no torch import.
"""

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AppendOnlyAllocator": "allocator",
    "PageKey": "allocator",
    "PageLocation": "allocator",
    "ZoneFullError": "allocator",
    "SWAP_POLICIES": "config",
    "SwapTierConfig": "config",
    "DramSwapPool": "dram_pool",
    "FlashZone": "flash_zone",
    "ZoneError": "flash_zone",
    "SegmentCleaner": "gc",
    "KVTierStats": "metrics",
    "build_kv_tier": "policy",
    "PrefixSpill": "prefix_spill",
    "FlashSwapManager": "swap_manager",
    "KVTier": "tier",
    "block_byte_view": "tier",
}

if TYPE_CHECKING:
    from splitsecond.serving.kvtier.allocator import (
        AppendOnlyAllocator,
        PageKey,
        PageLocation,
        ZoneFullError,
    )
    from splitsecond.serving.kvtier.config import SWAP_POLICIES, SwapTierConfig
    from splitsecond.serving.kvtier.dram_pool import DramSwapPool
    from splitsecond.serving.kvtier.flash_zone import FlashZone, ZoneError
    from splitsecond.serving.kvtier.gc import SegmentCleaner
    from splitsecond.serving.kvtier.metrics import KVTierStats
    from splitsecond.serving.kvtier.policy import build_kv_tier
    from splitsecond.serving.kvtier.prefix_spill import PrefixSpill
    from splitsecond.serving.kvtier.swap_manager import FlashSwapManager
    from splitsecond.serving.kvtier.tier import KVTier, block_byte_view


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "SWAP_POLICIES",
    "AppendOnlyAllocator",
    "DramSwapPool",
    "FlashSwapManager",
    "FlashZone",
    "KVTier",
    "KVTierStats",
    "PageKey",
    "PageLocation",
    "PrefixSpill",
    "SegmentCleaner",
    "SwapTierConfig",
    "ZoneError",
    "ZoneFullError",
    "block_byte_view",
    "build_kv_tier",
]
