"""The I/O backend interface: aligned staging buffers and vectored positional reads/writes.

A backend owns the open zone (file or block device), hands out 4 KiB-aligned staging buffers on the
device it reads and writes from (host memory for POSIX, GPU memory for GPUDirect Storage), and performs
synchronous ``pwritev``/``preadv`` of ``BufferSlice`` lists. Asynchrony comes from ``executor``, a small
thread pool the swap manager submits whole jobs to (checksums + I/O), so several transfers are in
flight at once (the queue depth is the pool size). ``select_backend`` picks KvikIO when the staging
buffers live on a GPU and KvikIO imports, POSIX otherwise, and logs which one is in use.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import torch

from splitsecond.serving.kvtier.page_format import ALIGN

logger = logging.getLogger(__name__)


@dataclass
class StagingBuffer:
    """An aligned buffer: ``tensor`` (uint8, on ``device``) and, for host memory, a ``memory`` view."""

    tensor: torch.Tensor
    memory: memoryview | None
    owner: object | None = None  # keeps the backing allocation (e.g. an mmap) alive

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return self.tensor.numel()


@dataclass(frozen=True)
class BufferSlice:
    """``nbytes`` bytes of ``buffer`` from ``start`` (both 4 KiB-aligned for direct I/O)."""

    buffer: StagingBuffer
    start: int
    nbytes: int


class IOBackend(Protocol):
    """What the flash tier needs from an I/O path."""

    name: str
    direct: bool  # True when transfers bypass the host page cache (O_DIRECT or GPUDirect Storage)
    buffer_device: str  # "cpu" or "cuda:N": where staging buffers live
    executor: ThreadPoolExecutor

    def alloc(self, nbytes: int) -> StagingBuffer:
        """A zeroed staging buffer of ``nbytes`` (rounded up to 4 KiB), aligned to 4 KiB."""
        ...

    def pwritev(self, offset: int, parts: list[BufferSlice]) -> int:
        """Write ``parts`` back to back at ``offset``; returns bytes written (raises OSError)."""
        ...

    def preadv(self, offset: int, parts: list[BufferSlice]) -> int:
        """Read back to back from ``offset`` into ``parts``; returns bytes read (short at end of file)."""
        ...

    def describe(self) -> dict:
        """What is in use (backend, direct I/O, GDS...), for logs and metrics."""
        ...

    def close(self) -> None:
        """Wait for queued jobs, close the file."""
        ...


def check_aligned(offset: int, parts: list[BufferSlice]) -> None:
    """Raise ValueError unless the offset and every slice start and size are 4 KiB multiples."""
    if offset % ALIGN:
        raise ValueError(f"file offset {offset} is not {ALIGN}-aligned")
    for p in parts:
        if p.start % ALIGN or p.nbytes % ALIGN:
            raise ValueError(f"buffer slice ({p.start}, {p.nbytes}) is not {ALIGN}-aligned")
        if p.start + p.nbytes > p.buffer.nbytes:
            raise ValueError(f"buffer slice ({p.start}, {p.nbytes}) overruns a {p.buffer.nbytes}-byte buffer")


def select_backend(
    path: str, buffer_device: str = "cpu", prefer: str = "auto", num_threads: int = 4
) -> IOBackend:
    """Open ``path`` with the best backend: ``prefer`` is 'auto', 'posix' or 'kvikio'.

    'auto' uses KvikIO only for GPU staging buffers (that is where GPUDirect Storage pays) and when
    ``kvikio`` imports; anything else uses POSIX. The choice is logged.
    """
    if prefer not in ("auto", "posix", "kvikio"):
        raise ValueError(f"io backend must be 'auto', 'posix' or 'kvikio', got {prefer!r}")
    if prefer == "kvikio" or (prefer == "auto" and buffer_device.startswith("cuda")):
        from splitsecond.serving.kvtier.kvikio_io import KvikIOBackend, kvikio_available

        if kvikio_available():
            backend = KvikIOBackend(path, buffer_device, num_threads=num_threads)
            logger.info("kv tier I/O backend: %s", backend.describe())
            return backend
        if prefer == "kvikio":
            raise RuntimeError(
                "io backend 'kvikio' asked for but kvikio is not installed (pip install kvikio-cu12)"
            )
        logger.info("kvikio not installed: falling back to POSIX I/O through pinned host staging buffers")
    from splitsecond.serving.kvtier.posix_io import PosixBackend

    backend = PosixBackend(path, num_threads=num_threads, pin_memory=buffer_device.startswith("cuda"))
    logger.info("kv tier I/O backend: %s", backend.describe())
    return backend
