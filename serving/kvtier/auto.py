"""The ``auto`` KV-tier policy: flash where the zone's folder is writable, sized from its free disk.

A flash zone only helps if it exists, and a fixed-size preallocation fails on a small disk, so by
default (``EngineConfig.kv_swap_policy = "auto"``) the engine asks the disk first: the zone goes in
the folder of ``kv_swap_path`` (or the temp directory), at most :data:`AUTO_DISK_FRACTION` of that
folder's free space and at most the configured size; a folder that is not writable, or free space
below :data:`AUTO_MIN_ZONE_MB`, leaves the engine on recompute (logged once, never an error).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from pathlib import Path

from splitsecond.serving.kvtier.config import SwapTierConfig

logger = logging.getLogger(__name__)

AUTO_DISK_FRACTION = 0.05
"""Share of the zone folder's free space an automatic zone may take."""

AUTO_MIN_ZONE_MB = 64
"""Below this much room the automatic policy stays on recompute."""


def zone_folder(path: str | os.PathLike | None) -> Path:
    """The folder a zone at ``path`` lives in (the temp directory for ``None``); for a path whose
    folder does not exist yet, its nearest existing ancestor (where the folder would be created)."""
    folder = Path(path).expanduser().parent if path is not None else Path(tempfile.gettempdir())
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def auto_zone_mb(path: str | os.PathLike | None, cap_mb: int) -> int:
    """The automatic zone size in MiB at ``path``: :data:`AUTO_DISK_FRACTION` of the free space of its
    folder, at most ``cap_mb``; 0 when the folder is not a writable directory or has less room than
    :data:`AUTO_MIN_ZONE_MB`."""
    if path is not None and Path(path).expanduser().is_block_device():
        return cap_mb  # a device the user named: used as configured
    folder = zone_folder(path)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return 0
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return 0
    size = min(cap_mb, int(free * AUTO_DISK_FRACTION) // 2**20)
    return size if size >= AUTO_MIN_ZONE_MB else 0


def resolve_auto(config: SwapTierConfig) -> SwapTierConfig:
    """``config`` with an ``auto`` policy made concrete: ``flash`` with the zone sized by
    :func:`auto_zone_mb`, or ``recompute`` where no zone fits; other policies are returned as given."""
    if config.policy != "auto":
        return config
    size = auto_zone_mb(config.path, config.size_mb)
    if size < 2 * config.segment_mb:
        logger.info(
            "kv tier auto: no writable room for a flash zone in %s; preempted KV is recomputed",
            zone_folder(config.path),
        )
        return dataclasses.replace(config, policy="recompute")
    logger.info("kv tier auto: flash zone of %d MiB in %s", size, zone_folder(config.path))
    return dataclasses.replace(config, policy="flash", size_mb=size, staging_mb=min(config.staging_mb, size))
