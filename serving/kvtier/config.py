"""``SwapTierConfig``: the validated knobs of the KV tier, importable without torch (``EngineConfig``
validates its ``kv_swap_*`` fields by building one)."""

from __future__ import annotations

import os
from dataclasses import dataclass

SWAP_POLICIES = ("auto", "recompute", "dram", "flash")
IO_BACKENDS = ("auto", "posix", "kvikio")


@dataclass
class SwapTierConfig:
    """Knobs of the KV tier.

    ``policy`` is what happens to a preempted sequence's KV (and to cold prefix-cache blocks):
    ``recompute`` drops it, ``dram`` parks it in host memory, ``flash`` in a flash zone; ``auto`` is
    ``flash`` where the zone's folder is writable, the zone sized from its free disk (at most
    ``size_mb``), else ``recompute`` (``kvtier.auto``).
    ``path`` is the flash zone: a file (created and fully preallocated at start-up; None picks a fresh
    file in the temp directory) or a block device the user names. ``size_mb`` is the zone size,
    ``dram_mb`` the DRAM pool size, ``segment_mb`` the erase/GC unit (rounded down to whole KV pages, at
    least one; 1 MB, see ``flash_zone.DEFAULT_SEGMENT_BYTES``), ``staging_mb`` the bounce memory
    for transfers in flight, ``io_threads`` the I/O queue depth, ``io_backend`` the I/O path of a
    flash zone (``auto``: KvikIO for GPU staging buffers when it imports, else POSIX; ``posix``;
    ``kvikio``).
    """

    policy: str = "recompute"
    path: str | None = None
    size_mb: int = 4096
    dram_mb: int = 4096
    segment_mb: int = 1
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
