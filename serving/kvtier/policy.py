"""What happens to a preempted sequence's KV: ``recompute`` (drop it), ``dram`` (park it in host memory)
or ``flash`` (park it in a flash zone). ``SwapTierConfig`` validates the knobs; ``build_kv_tier`` makes
the tier, and degrades to recompute (None, with a warning) when a flash zone cannot be created.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from dataclasses import dataclass

import torch
from splitsecond.serving.kvtier.tier import KVTier

logger = logging.getLogger(__name__)

SWAP_POLICIES = ("recompute", "dram", "flash")
IO_BACKENDS = ("auto", "posix", "kvikio")


@dataclass
class SwapTierConfig:
    """Knobs of the KV tier.

    ``path`` is the flash zone: a file (created and preallocated; None picks a fresh file in the temp
    directory) or a block device the user names. ``size_mb`` is the zone size, ``dram_mb`` the DRAM
    pool size, ``segment_mb`` the erase/GC unit, ``staging_mb`` the bounce memory for transfers in
    flight, ``io_threads`` the I/O queue depth.
    """

    policy: str = "recompute"
    path: str | None = None
    size_mb: int = 4096
    dram_mb: int = 4096
    segment_mb: int = 16
    staging_mb: int = 64
    io_threads: int = 4
    io_backend: str = "auto"

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"SwapTierConfig: {msg}")

        if self.policy not in SWAP_POLICIES:
            bad(f"policy must be one of {SWAP_POLICIES}, got {self.policy!r}")
        if self.path is not None and (not isinstance(self.path, str | os.PathLike) or not str(self.path)):
            bad(f"path must be a file or block-device path or None, got {self.path!r}")
        for name in ("size_mb", "dram_mb", "segment_mb", "staging_mb", "io_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                bad(f"{name} must be a positive integer, got {value!r}")
        if self.size_mb < 2 * self.segment_mb:
            bad(f"size_mb ({self.size_mb}) must hold at least 2 segments of segment_mb ({self.segment_mb})")
        if self.io_backend not in IO_BACKENDS:
            bad(f"io_backend must be one of {IO_BACKENDS}, got {self.io_backend!r}")


def default_zone_path() -> str:
    """A fresh zone file name in the temp directory."""
    return os.path.join(tempfile.gettempdir(), f"splitsecond-kv-{os.getpid()}-{uuid.uuid4().hex[:8]}.zone")


def build_kv_tier(config: SwapTierConfig, kv_tensor: torch.Tensor) -> KVTier | None:
    """The tier for ``config.policy`` over the engine's KV tensor (None for recompute).

    A flash zone that cannot be created (no space, bad path, unusable device) logs a warning and
    returns None: the engine serves on with recompute.
    """
    if config.policy == "recompute":
        return None
    if config.policy == "dram":
        from splitsecond.serving.kvtier.dram_pool import DramSwapPool

        return DramSwapPool(kv_tensor, config.dram_mb * 2**20)
    from splitsecond.serving.kvtier.swap_manager import FlashSwapManager

    path = str(config.path) if config.path is not None else default_zone_path()
    try:
        return FlashSwapManager(
            kv_tensor,
            path,
            config.size_mb * 2**20,
            segment_bytes=config.segment_mb * 2**20,
            staging_bytes=config.staging_mb * 2**20,
            io_threads=config.io_threads,
            io_backend=config.io_backend,
        )
    except (OSError, RuntimeError, ValueError) as e:
        logger.warning("flash KV tier unavailable at %s (%s): falling back to recompute", path, e)
        return None
