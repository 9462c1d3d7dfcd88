"""What happens to a preempted sequence's KV: ``recompute`` (drop it), ``dram`` (park it in host memory),
``flash`` (park it in a flash zone) or ``auto`` (flash where a zone fits, see ``kvtier.auto``). ``SwapTierConfig`` (in ``kvtier.config``) validates the knobs;
``build_kv_tier`` makes the tier, and degrades to recompute (None, with a warning) when a flash zone
cannot be created.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid

import torch

from splitsecond.serving.kvtier.config import IO_BACKENDS, SWAP_POLICIES, SwapTierConfig
from splitsecond.serving.kvtier.tier import KVTier

logger = logging.getLogger(__name__)

__all__ = ["IO_BACKENDS", "SWAP_POLICIES", "SwapTierConfig", "build_kv_tier", "default_zone_path"]


def default_zone_path() -> str:
    """A fresh zone file name in the temp directory."""
    return os.path.join(tempfile.gettempdir(), f"splitsecond-kv-{os.getpid()}-{uuid.uuid4().hex[:8]}.zone")


def build_kv_tier(config: SwapTierConfig, kv_tensor: torch.Tensor) -> KVTier | None:
    """The tier for ``config.policy`` over the engine's KV tensor (None for recompute).

    ``auto`` is resolved first (``kvtier.auto.resolve_auto``: flash sized from free disk, or recompute).
    A flash zone that cannot be created (no space, bad path, unusable device) logs a warning and
    returns None: the engine serves on with recompute.
    """
    from splitsecond.serving.kvtier.auto import resolve_auto

    config = resolve_auto(config)
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
