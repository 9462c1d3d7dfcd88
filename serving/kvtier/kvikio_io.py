"""``KvikIOBackend``: GPU staging buffers written to and read from flash with KvikIO (``kvikio.CuFile``).

With GPUDirect Storage active, data moves between GPU memory and the NVMe device by DMA, bypassing host
DRAM — HiFC's path. Without it (no ``libcufile``, no ``nvidia-fs``, a container without ``/run/udev``)
KvikIO runs in compatibility mode: POSIX I/O through its own host bounce buffers, still correct.
``describe()`` reports which of the two is really in use, from ``kvikio.defaults`` (compat mode) and
``kvikio.cufile_driver`` (whether the cuFile driver says GDS is available). ``kvikio`` is imported
lazily; install the ``gpu`` extra (``kvikio-cu12``) to use it. Not exercised on CPU-only machines.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import torch

from splitsecond.serving.kvtier.io_backend import BufferSlice, StagingBuffer, check_aligned
from splitsecond.serving.kvtier.page_format import ALIGN, align_up

logger = logging.getLogger(__name__)


def kvikio_available() -> bool:
    """True when the ``kvikio`` package can be imported (it is not imported here)."""
    return importlib.util.find_spec("kvikio") is not None


def _compat_mode(kvikio) -> bool:
    """Whether KvikIO runs in compatibility (POSIX) mode; the API moved across KvikIO releases."""
    defaults = kvikio.defaults
    value = None
    if hasattr(defaults, "get"):
        try:
            value = defaults.get("compat_mode")
        except Exception:  # noqa: BLE001 - older releases have no such key
            value = None
    if value is None and hasattr(defaults, "compat_mode"):
        value = defaults.compat_mode()
    name = getattr(value, "name", str(value)).upper()
    return name in ("ON", "TRUE", "1")


def _gds_available() -> bool | None:
    """What the cuFile driver says about GPUDirect Storage (None when it cannot be asked)."""
    try:
        from kvikio import cufile_driver
    except ImportError:
        return None
    for getter in (
        lambda: cufile_driver.get("is_gds_available"),
        lambda: cufile_driver.properties.is_gds_available,
        lambda: cufile_driver.DriverProperties().is_gds_available,
    ):
        try:
            return bool(getter())
        except Exception:  # noqa: BLE001 - probe the next API shape
            continue
    return None


class KvikIOBackend:
    """``kvikio.CuFile`` reads and writes of GPU staging buffers (GDS when active)."""

    name = "kvikio"

    def __init__(self, path: str | os.PathLike, buffer_device: str = "cuda", num_threads: int = 4) -> None:
        import kvikio

        self.path = os.fspath(path)
        self.buffer_device = str(torch.device(buffer_device))
        self.file = kvikio.CuFile(self.path, "r+")
        self.compat_mode = _compat_mode(kvikio)
        gds = _gds_available()
        self.gds_active = bool(gds) and not self.compat_mode
        self.direct = self.gds_active
        if not self.gds_active:
            logger.warning(
                "kvikio in %s: GPUDirect Storage is NOT active (compat_mode=%s, cufile says gds=%s); "
                "transfers go through host bounce buffers",
                self.path,
                self.compat_mode,
                gds,
            )
        self.executor = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="kvtier-kvikio")
        self.num_threads = num_threads

    def alloc(self, nbytes: int) -> StagingBuffer:
        """A zeroed GPU buffer whose start is 4 KiB-aligned (what GDS DMA wants)."""
        size = align_up(max(nbytes, ALIGN))
        raw = torch.zeros(size + ALIGN, dtype=torch.uint8, device=self.buffer_device)
        skip = (-raw.data_ptr()) % ALIGN
        return StagingBuffer(tensor=raw[skip : skip + size], memory=None, owner=raw)

    def pwritev(self, offset: int, parts: list[BufferSlice]) -> int:
        """Write the slices back to back at ``offset`` (one KvikIO pwrite each, run in parallel)."""
        check_aligned(offset, parts)
        futures, pos = [], offset
        for p in parts:
            futures.append(self.file.pwrite(p.buffer.tensor[p.start : p.start + p.nbytes], p.nbytes, pos))
            pos += p.nbytes
        return sum(int(f.get()) for f in futures)

    def preadv(self, offset: int, parts: list[BufferSlice]) -> int:
        """Read back to back from ``offset`` into the slices."""
        check_aligned(offset, parts)
        futures, pos = [], offset
        for p in parts:
            futures.append(self.file.pread(p.buffer.tensor[p.start : p.start + p.nbytes], p.nbytes, pos))
            pos += p.nbytes
        return sum(int(f.get()) for f in futures)

    def describe(self) -> dict:
        """Backend name, whether GDS is really active, compat mode."""
        return {
            "backend": self.name,
            "direct_io": self.direct,
            "gds": self.gds_active,
            "compat_mode": self.compat_mode,
            "threads": self.num_threads,
            "path": self.path,
        }

    def close(self) -> None:
        """Finish queued jobs and close the CuFile."""
        self.executor.shutdown(wait=True)
        if not self.file.closed:
            self.file.close()
