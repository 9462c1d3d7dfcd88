"""``FlashZone``: a preallocated region of flash — a file or a block device the user names — cut into
equal segments.

HiFC keeps KV pages in a pseudo-SLC region of the SSD and writes it strictly sequentially; the zone is
that region. A file is created and fully preallocated (``posix_fallocate``) up front, so a full disk
shows at start-up, not in the middle of a swap. A block device is used as it is (never truncated).
Each segment is the unit of append and of erase: it is FREE, OPEN (the append point lives there) or
SEALED; erasing a sealed segment (after garbage collection, or when all its pages died) makes it FREE
again and adds one to its erase count, which is what endurance is reported from.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from splitsecond.serving.kvtier.page_format import ALIGN

logger = logging.getLogger(__name__)

DEFAULT_SEGMENT_BYTES = 2**20
"""1 MiB: one fp32 or two bf16 SmolLM2 KV pages. Under churn at 75% fill, segments of 1 / 2 / 5 pages
measured write amplification 1.006 / 1.017 / 1.072 (``benchmarks/kv_swap.py``): a small segment dies
whole, so garbage collection has less live data to move, while writes stay large because a sequence's
run spans adjacent segments."""


class ZoneError(OSError):
    """The zone cannot be created or opened (bad path, too small, disk full)."""


class SegmentState(enum.Enum):
    """Where a segment is in its append/erase cycle."""

    FREE = "free"
    OPEN = "open"
    SEALED = "sealed"


@dataclass
class Segment:
    """One segment: where it starts, how far it is written, how much of it is still live."""

    index: int
    start: int
    size: int
    state: SegmentState = SegmentState.FREE
    write_ptr: int = 0  # bytes appended since the last erase
    live_bytes: int = 0
    live_pages: int = 0
    erase_count: int = 0

    @property
    def remaining(self) -> int:
        """Bytes that can still be appended before the segment is full."""
        return self.size - self.write_ptr

    @property
    def dead_bytes(self) -> int:
        """Written bytes no longer referenced by the mapping table (reclaimable)."""
        return self.write_ptr - self.live_bytes


class FlashZone:
    """A preallocated file or block device of ``num_segments`` segments of ``segment_bytes``.

    ``size_bytes`` is rounded *down* to whole segments (it must hold at least 2). For a block device
    ``size_bytes`` may be None (use the whole device).
    """

    def __init__(
        self, path: str | os.PathLike, size_bytes: int | None, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ) -> None:
        if not isinstance(segment_bytes, int) or segment_bytes < ALIGN or segment_bytes % ALIGN:
            raise ValueError(f"segment_bytes must be a positive multiple of {ALIGN}, got {segment_bytes!r}")
        self.path = Path(path)
        self.segment_bytes = segment_bytes
        self.is_block_device = self.path.exists() and stat.S_ISBLK(os.stat(self.path).st_mode)
        if self.is_block_device:
            device_bytes = _block_device_bytes(self.path)
            if size_bytes is None:
                size_bytes = device_bytes
            if size_bytes > device_bytes:
                raise ZoneError(f"{self.path}: asked for {size_bytes} bytes, the device has {device_bytes}")
        elif size_bytes is None:
            raise ValueError("size_bytes is required for a file-backed zone")
        if not isinstance(size_bytes, int) or size_bytes < 2 * segment_bytes:
            raise ValueError(
                f"zone size must hold at least 2 segments of {segment_bytes} bytes, got {size_bytes!r}"
            )
        self.num_segments = size_bytes // segment_bytes
        self.size_bytes = self.num_segments * segment_bytes
        if not self.is_block_device:
            self._create_file()
        self.segments = [Segment(i, i * segment_bytes, segment_bytes) for i in range(self.num_segments)]
        logger.info(
            "flash zone %s: %d segments x %d MiB (%s)",
            self.path,
            self.num_segments,
            segment_bytes // 2**20,
            "block device" if self.is_block_device else "file",
        )

    def _create_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise ZoneError(e.errno, f"cannot create flash zone file {self.path}: {e.strerror}") from e
        try:
            if os.fstat(fd).st_size > self.size_bytes:
                os.ftruncate(fd, self.size_bytes)
            try:
                os.posix_fallocate(fd, 0, self.size_bytes)
            except OSError as e:
                if e.errno in (95, 22):  # EOPNOTSUPP / EINVAL: the filesystem cannot preallocate
                    logger.warning(
                        "%s: filesystem cannot preallocate (%s); using a sparse file", self.path, e
                    )
                    os.ftruncate(fd, self.size_bytes)
                else:
                    raise ZoneError(
                        e.errno, f"cannot preallocate {self.size_bytes} bytes for {self.path}: {e.strerror}"
                    ) from e
        finally:
            os.close(fd)

    def offset_of(self, segment: int, offset_in_segment: int = 0) -> int:
        """Absolute byte offset of ``offset_in_segment`` inside segment ``segment``."""
        return segment * self.segment_bytes + offset_in_segment

    def erase(self, segment: int) -> None:
        """Mark a segment erased: empty, FREE, erase count + 1 (its old bytes stay until overwritten)."""
        seg = self.segments[segment]
        if seg.live_pages:
            raise RuntimeError(f"erasing segment {segment} with {seg.live_pages} live pages")
        seg.state = SegmentState.FREE
        seg.write_ptr = 0
        seg.live_bytes = 0
        seg.erase_count += 1

    @property
    def erase_counts(self) -> list[int]:
        """Erase count of every segment."""
        return [s.erase_count for s in self.segments]

    def remove(self) -> None:
        """Delete the backing file (never a block device)."""
        if not self.is_block_device:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _block_device_bytes(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)
