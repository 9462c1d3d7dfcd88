"""splitsecond.serving.kvtier — a tier below the engine's paged KV cache, after HiFC (NeurIPS 2025).

Under memory pressure the scheduler swaps a victim's KV blocks out instead of dropping them, either to
host DRAM (``dram``, the vLLM baseline) or to a preallocated flash zone on an NVMe SSD (``flash``):
append-only, block-sequential placement with a fine-grained mapping table (``allocator``), segment
garbage collection (``gc``), checksummed and generation-numbered pages (``page_format``), POSIX
O_DIRECT or KvikIO/GPUDirect I/O (``posix_io``, ``kvikio_io``), asynchronous writes and prefetched
reads overlapped with compute (``swap_manager``). ``policy.build_kv_tier`` makes the tier;
``preemption.SwapPreemption`` plugs it into the scheduler.
"""

from splitsecond.serving.kvtier.allocator import AppendOnlyAllocator, PageKey, PageLocation, ZoneFullError
from splitsecond.serving.kvtier.dram_pool import DramSwapPool
from splitsecond.serving.kvtier.flash_zone import FlashZone, ZoneError
from splitsecond.serving.kvtier.gc import SegmentCleaner
from splitsecond.serving.kvtier.metrics import KVTierStats
from splitsecond.serving.kvtier.policy import SWAP_POLICIES, SwapTierConfig, build_kv_tier
from splitsecond.serving.kvtier.swap_manager import FlashSwapManager
from splitsecond.serving.kvtier.tier import KVTier, block_byte_view

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
    "SegmentCleaner",
    "SwapTierConfig",
    "ZoneError",
    "ZoneFullError",
    "block_byte_view",
    "build_kv_tier",
]
