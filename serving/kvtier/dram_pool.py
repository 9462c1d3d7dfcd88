"""``DramSwapPool``: the baseline tier — KV blocks parked in a fixed pool of (pinned) host memory.

This is vLLM-style swapping: a preallocated ``[slots, block_bytes]`` tensor in host DRAM (pinned when
the KV cache is on a GPU, so copies are DMA) with a free list of slots. No checksums: DRAM is trusted,
as in vLLM. It is what the flash tier is measured against.
"""

from __future__ import annotations

import logging
import time

import torch

from splitsecond.serving.kvtier.metrics import KVTierStats, TierMetrics, gbps
from splitsecond.serving.kvtier.tier import block_byte_view

logger = logging.getLogger(__name__)


class DramSwapPool:
    """Host-memory swap space of ``capacity_bytes`` for a KV tensor (see module docstring)."""

    policy = "dram"

    def __init__(self, kv_tensor: torch.Tensor, capacity_bytes: int) -> None:
        self.kv_blocks = block_byte_view(kv_tensor)
        self.block_bytes = self.kv_blocks.shape[1]
        num_slots = capacity_bytes // self.block_bytes
        if num_slots < 1:
            raise ValueError(
                f"DRAM swap pool of {capacity_bytes} bytes cannot hold one {self.block_bytes}-byte KV block"
            )
        self.on_gpu = self.kv_blocks.device.type == "cuda"
        self.pool = torch.empty(num_slots, self.block_bytes, dtype=torch.uint8, pin_memory=self.on_gpu)
        self._free: list[int] = list(range(num_slots - 1, -1, -1))
        self._owners: dict[int, list[int]] = {}
        self.metrics = TierMetrics()
        logger.info(
            "DRAM swap pool: %d slots of %d bytes (%s)",
            num_slots,
            self.block_bytes,
            "pinned" if self.on_gpu else "pageable",
        )

    @property
    def num_free_slots(self) -> int:
        """Slots not holding a block."""
        return len(self._free)

    def swap_out(self, owner: int, block_ids: list[int]) -> bool:
        """Copy the blocks into free slots; False when the pool lacks room."""
        if owner in self._owners:
            self.discard(owner)
        if len(block_ids) > len(self._free):
            self.metrics.add(fallbacks_full=1)
            logger.debug("DRAM swap pool full: %d blocks asked, %d free", len(block_ids), len(self._free))
            return False
        t0 = time.perf_counter()
        slots = [self._free.pop() for _ in block_ids]
        for slot, block in zip(slots, block_ids, strict=True):
            self.pool[slot].copy_(self.kv_blocks[block], non_blocking=self.on_gpu)
        if self.on_gpu:
            torch.cuda.current_stream(self.kv_blocks.device).synchronize()
        self._owners[owner] = slots
        dt = time.perf_counter() - t0
        self.metrics.swap_out_latency.observe(dt)
        self.metrics.add(
            swap_outs=1, pages_out=len(slots), bytes_out=len(slots) * self.block_bytes, write_seconds=dt
        )
        return True

    def prefetch(self, owner: int) -> None:
        """Nothing to prefetch: the data is already in DRAM."""

    def swap_in(self, owner: int, block_ids: list[int]) -> bool:
        """Copy the owner's slots back into ``block_ids`` and free the slots."""
        slots = self._owners.get(owner)
        if slots is None:
            self.metrics.add(recomputes=1)
            return False
        if len(block_ids) != len(slots):
            raise ValueError(f"owner {owner} has {len(slots)} blocks stored, {len(block_ids)} targets given")
        t0 = time.perf_counter()
        for slot, block in zip(slots, block_ids, strict=True):
            self.kv_blocks[block].copy_(self.pool[slot], non_blocking=self.on_gpu)
        if self.on_gpu:
            torch.cuda.current_stream(self.kv_blocks.device).synchronize()
        del self._owners[owner]
        self._free.extend(slots)
        dt = time.perf_counter() - t0
        self.metrics.swap_in_latency.observe(dt)
        self.metrics.add(
            swap_ins=1, pages_in=len(slots), bytes_in=len(slots) * self.block_bytes, read_seconds=dt
        )
        return True

    def contains(self, owner: int) -> bool:
        """Whether ``owner`` has blocks in the pool."""
        return owner in self._owners

    def discard(self, owner: int) -> None:
        """Free ``owner``'s slots."""
        self._free.extend(self._owners.pop(owner, []))

    def stats(self) -> KVTierStats:
        """Counters of the pool."""
        m = self.metrics
        used = (self.pool.shape[0] - len(self._free)) * self.block_bytes
        return KVTierStats(
            policy=self.policy,
            backend="dram",
            direct_io=False,
            gds=False,
            swap_outs=m.swap_outs,
            swap_ins=m.swap_ins,
            pages_out=m.pages_out,
            pages_in=m.pages_in,
            bytes_out=m.bytes_out,
            bytes_in=m.bytes_in,
            write_gbps=gbps(m.bytes_out, m.write_seconds),
            read_gbps=gbps(m.bytes_in, m.read_seconds),
            swap_out_latency=m.swap_out_latency.snapshot(),
            swap_in_latency=m.swap_in_latency.snapshot(),
            torn_pages=0,
            stale_pages=0,
            io_errors=0,
            fallbacks_full=m.fallbacks_full,
            fallbacks_unhealthy=0,
            recomputes=m.recomputes,
            prefetches=0,
            prefetch_hits=0,
            capacity_bytes=self.pool.numel(),
            used_bytes=used,
        )

    def close(self) -> None:
        """Drop everything stored."""
        self._owners.clear()
        self._free = list(range(self.pool.shape[0] - 1, -1, -1))
