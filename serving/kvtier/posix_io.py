"""``PosixBackend``: ``os.pwritev``/``os.preadv`` on the zone with O_DIRECT where the filesystem allows it.

Runs everywhere (CPU machines, CI). Staging buffers are anonymous ``mmap`` regions (page-aligned, as
O_DIRECT requires) seen by torch through ``torch.frombuffer``; with a CUDA KV cache they are also
registered as pinned memory so device copies are DMA. Filesystems without O_DIRECT (tmpfs, some FUSE
and overlay mounts) get buffered I/O and a logged warning: the page cache then sits in the path, so
bandwidth figures measure memory, not the disk.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
from concurrent.futures import ThreadPoolExecutor

import torch

from splitsecond.serving.kvtier.io_backend import BufferSlice, StagingBuffer, check_aligned
from splitsecond.serving.kvtier.page_format import ALIGN, align_up

logger = logging.getLogger(__name__)

_IOV_MAX = 1024


class PosixBackend:
    """Positional vectored I/O on one file or block device, O_DIRECT when possible."""

    name = "posix"
    buffer_device = "cpu"

    def __init__(
        self, path: str | os.PathLike, num_threads: int = 4, pin_memory: bool = False, direct: bool = True
    ) -> None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.path = os.fspath(path)
        self.pin_memory = pin_memory and torch.cuda.is_available()
        self.direct = False
        self.fd = -1
        if direct and hasattr(os, "O_DIRECT"):
            self.fd, self.direct = self._open_direct()
        if self.fd < 0:
            self.fd = os.open(self.path, os.O_RDWR)
        self.executor = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="kvtier-io")
        self.num_threads = num_threads

    def _open_direct(self) -> tuple[int, bool]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_DIRECT)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            logger.warning(
                "%s: the filesystem refuses O_DIRECT; using buffered I/O (page cache in the path)", self.path
            )
            return -1, False
        probe = self.alloc(ALIGN)
        try:
            os.preadv(fd, [probe.memory], 0)
        except OSError as e:
            os.close(fd)
            if e.errno != errno.EINVAL:
                raise
            logger.warning(
                "%s: O_DIRECT reads fail (%s); using buffered I/O (page cache in the path)", self.path, e
            )
            return -1, False
        return fd, True

    def alloc(self, nbytes: int) -> StagingBuffer:
        """A zeroed, page-aligned host buffer (pinned when the KV cache is on a GPU)."""
        size = align_up(max(nbytes, ALIGN))
        region = mmap.mmap(
            -1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
        )
        memory = memoryview(region)
        tensor = torch.frombuffer(region, dtype=torch.uint8)
        if self.pin_memory:
            cudart = torch.cuda.cudart()
            if int(cudart.cudaHostRegister(tensor.data_ptr(), size, 0)) != 0:
                logger.warning("cudaHostRegister failed: staging buffer stays pageable")
        return StagingBuffer(tensor=tensor, memory=memory, owner=region)

    def _views(self, parts: list[BufferSlice]) -> list[memoryview]:
        views = []
        for p in parts:
            if p.buffer.memory is None:
                raise ValueError("PosixBackend needs host staging buffers")
            views.append(p.buffer.memory[p.start : p.start + p.nbytes])
        return views

    def pwritev(self, offset: int, parts: list[BufferSlice]) -> int:
        """Write ``parts`` back to back at ``offset`` (retries short writes; raises OSError)."""
        if self.direct:
            check_aligned(offset, parts)
        views = self._views(parts)
        done = 0
        while views:
            batch = views[:_IOV_MAX]
            n = os.pwritev(self.fd, batch, offset + done)
            if n == 0:
                raise OSError(errno.EIO, f"pwritev wrote 0 bytes at {offset + done} of {self.path}")
            done += n
            views = _advance(views, n)
        return done

    def preadv(self, offset: int, parts: list[BufferSlice]) -> int:
        """Read into ``parts`` from ``offset``; returns bytes read (less only at end of file)."""
        if self.direct:
            check_aligned(offset, parts)
        views = self._views(parts)
        done = 0
        while views:
            batch = views[:_IOV_MAX]
            n = os.preadv(self.fd, batch, offset + done)
            if n == 0:
                break
            done += n
            views = _advance(views, n)
        return done

    def describe(self) -> dict:
        """Backend name, O_DIRECT state, thread count."""
        return {
            "backend": self.name,
            "direct_io": self.direct,
            "gds": False,
            "threads": self.num_threads,
            "path": self.path,
        }

    def close(self) -> None:
        """Finish queued jobs and close the file (idempotent)."""
        self.executor.shutdown(wait=True)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _advance(views: list[memoryview], n: int) -> list[memoryview]:
    """Drop the first ``n`` bytes of a list of views (after a partial vectored transfer)."""
    out = []
    for v in views:
        if n >= len(v):
            n -= len(v)
            continue
        out.append(v[n:] if n else v)
        n = 0
    return out
