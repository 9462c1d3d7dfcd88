"""``FlashSwapManager``: the flash tier — swap KV blocks out to a ``FlashZone`` and back, asynchronously.

Swap-out copies the victim's blocks (one block across all layers = one page payload) into staging
slots, appends the pages at the zone's append point (so one sequence's pages are physically
contiguous) and hands the writes to the I/O thread pool; checksums and headers are computed there too,
so the engine thread only pays for the copy and the next forward pass overlaps the device writes.
Prefetch starts the reads of a swapped sequence before the scheduler brings it back, so swap-in
usually just verifies and copies. Every page read is checked (header, key, generation, payload
checksum); a torn or stale page is never used — ``swap_in`` returns False and the engine recomputes.

Degradation: when the zone is full even after garbage collection a swap-out is refused (the engine
recomputes that sequence instead); after ``max_consecutive_errors`` I/O errors in a row the tier marks
itself unhealthy and refuses every swap-out, with a warning — the engine keeps serving by recompute.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from splitsecond.serving.kvtier.allocator import AppendOnlyAllocator, PageKey, PageLocation, ZoneFullError
from splitsecond.serving.kvtier.flash_zone import DEFAULT_SEGMENT_BYTES, FlashZone
from splitsecond.serving.kvtier.gc import SegmentCleaner, contiguous_runs
from splitsecond.serving.kvtier.io_backend import BufferSlice, IOBackend, select_backend
from splitsecond.serving.kvtier.metrics import KVTierStats, TierMetrics, gbps
from splitsecond.serving.kvtier.page_format import (
    ALGO_FOLD64,
    DEFAULT_ALGO,
    HEADER_BYTES,
    HEADER_STRUCT_BYTES,
    PageCheck,
    PageHeader,
    PageStatus,
    check_header,
    checksum,
    fold64_checksum,
    page_bytes,
    unpack_header,
    verify_host_page,
)
from splitsecond.serving.kvtier.tier import block_byte_view

logger = logging.getLogger(__name__)


def _locked(method):
    """Run a public method under the tier's lock: the engine thread swaps while a /metrics scrape
    (another thread) may call ``stats()``, which reaps finished writes."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _wait_quietly(future: Future) -> None:
    """Wait for ``future``; its error, if any, is handled by whoever inspects it."""
    with contextlib.suppress(Exception):
        future.result()


class _Lost(Exception):
    """The owner's pages cannot be read back (failed write, missing mapping)."""


@dataclass
class _Job:
    """One submitted transfer and the staging slots it holds until it is reaped."""

    future: Future
    slots: list[int]
    indices: list[int] = field(default_factory=list)  # page positions of the owner (reads)
    released: bool = False


@dataclass
class _Stored:
    """An owner's pages on flash: keys in block order, writes in flight, a prefetch."""

    keys: list[PageKey]
    t_start: float
    writes: list[_Job] = field(default_factory=list)
    write_end: float = 0.0
    latency_recorded: bool = False
    reads: list[_Job] | None = None
    failed: bool = False


class FlashSwapManager:
    """The flash KV tier (see module docstring); implements ``KVTier``."""

    policy = "flash"

    def __init__(
        self,
        kv_tensor: torch.Tensor,
        path: str | os.PathLike,
        size_bytes: int,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        staging_bytes: int = 64 * 2**20,
        io_threads: int = 4,
        io_backend: str = "auto",
        chunk_bytes: int = 4 * 2**20,
        max_consecutive_errors: int = 3,
        backend: IOBackend | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._closed = True  # until fully built (``__del__`` may run on a half-built tier)
        self.kv_blocks = block_byte_view(kv_tensor)
        self.block_bytes = int(self.kv_blocks.shape[1])
        self.page_bytes = page_bytes(self.block_bytes)
        # a whole number of pages per segment: no dead tail in any segment
        segment_bytes = max(1, segment_bytes // self.page_bytes) * self.page_bytes
        path = os.fspath(path)
        self._owns_file = not os.path.exists(path)
        self.zone = FlashZone(path, size_bytes, segment_bytes)
        try:
            self.backend = backend or select_backend(
                path, buffer_device=str(self.kv_blocks.device), prefer=io_backend, num_threads=io_threads
            )
        except BaseException:
            if self._owns_file:
                self.zone.remove()
            raise
        self.allocator = AppendOnlyAllocator(self.zone, gc_reserve_segments=1)
        self.chunk_pages = max(1, chunk_bytes // self.page_bytes)
        self.num_slots = max(staging_bytes // self.page_bytes, 2 * self.chunk_pages, 2)
        self.staging = self.backend.alloc(self.num_slots * self.page_bytes)
        self.host_staging = self.staging.memory is not None
        self.algo = DEFAULT_ALGO if self.host_staging else ALGO_FOLD64
        gc_pages = max(1, min(self.zone.segment_bytes, 8 * 2**20) // self.page_bytes)
        self.cleaner = SegmentCleaner(
            self.allocator, self.backend, self.backend.alloc(gc_pages * self.page_bytes)
        )
        self._free_slots: list[int] = list(range(self.num_slots - 1, -1, -1))
        self._stored: dict[int, _Stored] = {}
        self._inflight: deque[tuple[int, _Job]] = deque()  # writes, in submission order
        self.metrics = TierMetrics()
        self.max_consecutive_errors = max_consecutive_errors
        self._consecutive_errors = 0
        self.healthy = True
        self._closed = False
        logger.info(
            "flash KV tier: %s, page %d bytes (payload %d), %d staging slots, %s",
            path,
            self.page_bytes,
            self.block_bytes,
            self.num_slots,
            self.backend.describe(),
        )

    # --- slots and completion --------------------------------------------------------------------
    def _slot_base(self, slot: int) -> int:
        return slot * self.page_bytes

    def _payload(self, slot: int) -> torch.Tensor:
        base = self._slot_base(slot) + HEADER_BYTES
        return self.staging.tensor[base : base + self.block_bytes]

    def _release(self, job: _Job) -> None:
        if not job.released:
            job.released = True
            self._free_slots.extend(job.slots)

    def _note_io_error(self, what: str, exc: BaseException) -> None:
        self.metrics.add(io_errors=1)
        self._consecutive_errors += 1
        logger.warning("flash tier %s failed: %s", what, exc)
        if self.healthy and self._consecutive_errors >= self.max_consecutive_errors:
            self.healthy = False
            logger.warning(
                "flash tier: %d I/O errors in a row, marking it unhealthy: swapping degrades to recompute",
                self._consecutive_errors,
            )

    def _reap(self) -> None:
        """Collect finished writes: release their slots, record latency, note failures."""
        still: deque[tuple[int, _Job]] = deque()
        for owner, job in self._inflight:
            if not job.future.done():
                still.append((owner, job))
                continue
            self._complete_write(owner, job)
        self._inflight = still

    def _complete_write(self, owner: int, job: _Job) -> None:
        st = self._stored.get(owner)
        exc = job.future.exception()
        self._release(job)
        if exc is not None:
            self._note_io_error("write", exc)
            if st is not None:
                st.failed = True
            return
        self._consecutive_errors = 0
        if st is not None:
            st.write_end = max(st.write_end, job.future.result())
            if not st.latency_recorded and all(j.future.done() for j in st.writes):
                st.latency_recorded = True
                self.metrics.swap_out_latency.observe(st.write_end - st.t_start)

    def _wait_oldest_write(self) -> bool:
        if not self._inflight:
            return False
        owner, job = self._inflight.popleft()
        _wait_quietly(job.future)
        self._complete_write(owner, job)
        return True

    def _drop_a_prefetch(self, keep: int | None = None) -> bool:
        for owner, st in self._stored.items():
            if owner != keep and st.reads:
                for job in st.reads:
                    _wait_quietly(job.future)
                    self._release(job)
                st.reads = None
                return True
        return False

    def _acquire(self, k: int, keep: int | None = None) -> list[int]:
        while len(self._free_slots) < k:
            self._reap()
            if len(self._free_slots) >= k:
                break
            if not self._wait_oldest_write() and not self._drop_a_prefetch(keep):
                raise RuntimeError(
                    f"flash tier: {k} staging slots needed, {len(self._free_slots)} free, none pending"
                )
        return [self._free_slots.pop() for _ in range(k)]

    def _drain(self) -> None:
        """Wait for every write and prefetch read in flight (garbage collection needs quiescence)."""
        while self._wait_oldest_write():
            pass
        for st in self._stored.values():
            for job in st.reads or ():
                _wait_quietly(job.future)

    # --- I/O jobs (run on the backend's threads) -------------------------------------------------
    def _write_job(self, offset: int, slots: list[int], ids: list[tuple[int, int, int]]) -> float:
        t0 = time.perf_counter()
        for slot, (owner, index, gen) in zip(slots, ids, strict=True):
            base = self._slot_base(slot)
            if self.host_staging:
                mem = self.staging.memory
                crc = checksum(mem[base + HEADER_BYTES : base + HEADER_BYTES + self.block_bytes], self.algo)
                mem[base : base + HEADER_STRUCT_BYTES] = PageHeader(
                    gen, owner, index, self.block_bytes, crc, self.algo
                ).pack()
            else:
                crc = fold64_checksum(self._payload(slot))
                head = PageHeader(gen, owner, index, self.block_bytes, crc, self.algo).pack()
                self.staging.tensor[base : base + len(head)].copy_(
                    torch.frombuffer(bytearray(head), dtype=torch.uint8)
                )
        parts = [BufferSlice(self.staging, self._slot_base(s), self.page_bytes) for s in slots]
        t_io = time.perf_counter()
        n = self.backend.pwritev(offset, parts)
        t1 = time.perf_counter()
        if n != self.page_bytes * len(slots):
            raise OSError(errno.EIO, f"short write: {n} of {self.page_bytes * len(slots)} bytes at {offset}")
        self.metrics.busy("write", t_io, t1)
        self.metrics.add(write_seconds=t1 - t0)
        return t1

    def _read_job(
        self, offset: int, slots: list[int], ids: list[tuple[int, int, int]], wait_for: list[Future]
    ) -> list[PageCheck]:
        for f in wait_for:  # the owner's writes must be on the device before reading them back
            f.result()
        t0 = time.perf_counter()
        parts = [BufferSlice(self.staging, self._slot_base(s), self.page_bytes) for s in slots]
        n = self.backend.preadv(offset, parts)
        t1 = time.perf_counter()
        self.metrics.busy("read", t0, t1)
        checks = []
        for i, (slot, (owner, index, gen)) in enumerate(zip(slots, ids, strict=True)):
            if n < (i + 1) * self.page_bytes:
                checks.append(PageCheck(PageStatus.TORN, f"short read: {n} bytes for {len(slots)} pages"))
                continue
            base = self._slot_base(slot)
            if self.host_staging:
                page = self.staging.memory[base : base + self.page_bytes]
                checks.append(verify_host_page(page, owner, index, gen, self.block_bytes))
            else:
                raw = bytes(self.staging.tensor[base : base + HEADER_STRUCT_BYTES].cpu().numpy())
                header = unpack_header(raw)
                check = check_header(header, owner, index, gen, self.block_bytes)
                if (
                    check.ok
                    and header is not None
                    and header.payload_crc != fold64_checksum(self._payload(slot))
                ):
                    check = PageCheck(PageStatus.TORN, "payload checksum mismatch")
                checks.append(check)
        self.metrics.add(read_seconds=time.perf_counter() - t0)
        return checks

    # --- KVTier API ------------------------------------------------------------------------------
    @_locked
    def contains(self, owner: int) -> bool:
        """Whether ``owner`` has pages stored."""
        return owner in self._stored

    @_locked
    def swap_out(self, owner: int, block_ids: list[int]) -> bool:
        """Stage the blocks and queue their writes; False when full or unhealthy (caller recomputes)."""
        self._reap()
        if not self.healthy:
            self.metrics.add(fallbacks_unhealthy=1)
            return False
        if owner in self._stored:
            self.discard(owner)
        t0 = time.perf_counter()
        n = len(block_ids)
        keys = [(owner, i) for i in range(n)]
        locs: list[PageLocation] = []
        if n:
            try:
                if not self._ensure_space(n):
                    raise ZoneFullError(f"{n} pages do not fit even after garbage collection")
                locs = self.allocator.append(keys, self.block_bytes, self.page_bytes)
            except (ZoneFullError, OSError) as e:
                self.metrics.add(fallbacks_full=1)
                if (
                    self.metrics.fallbacks_full in (1, 10, 100, 1000)
                    or self.metrics.fallbacks_full % 10000 == 0
                ):
                    logger.warning(
                        "flash tier full (%s): recomputing instead (%d times so far)",
                        e,
                        self.metrics.fallbacks_full,
                    )
                return False
        st = _Stored(keys, t0)
        self._stored[owner] = st
        for run in contiguous_runs(locs):
            for c in range(0, len(run), self.chunk_pages):
                chunk = run[c : c + self.chunk_pages]
                slots = self._acquire(len(chunk), keep=owner)
                for slot, i in zip(slots, chunk, strict=True):
                    self._payload(slot).copy_(self.kv_blocks[block_ids[i]])
                ids = [(owner, i, locs[i].generation) for i in chunk]
                fut = self.backend.executor.submit(self._write_job, locs[chunk[0]].offset, slots, ids)
                job = _Job(fut, slots, chunk)
                st.writes.append(job)
                self._inflight.append((owner, job))
        if not n:
            st.latency_recorded = True
        self.metrics.add(swap_outs=1, pages_out=n, bytes_out=n * self.block_bytes)
        return True

    def _ensure_space(self, n: int) -> bool:
        if self.allocator.pages_that_fit(self.page_bytes) >= n:
            return True
        self._drain()
        try:
            return self.cleaner.collect(n, self.page_bytes)
        except OSError as e:
            self._note_io_error("garbage collection", e)
            return False

    def _submit_reads(self, owner: int, st: _Stored, indices: list[int]) -> list[_Job]:
        locs = []
        for i in indices:
            loc = self.allocator.lookup(st.keys[i])
            if loc is None:
                raise _Lost(f"page {st.keys[i]} has no mapping")
            locs.append(loc)
        wait_for = [j.future for j in st.writes if not j.future.done()]
        jobs = []
        for run in contiguous_runs(locs):
            for c in range(0, len(run), self.chunk_pages):
                chunk = run[c : c + self.chunk_pages]
                slots = self._acquire(len(chunk), keep=owner)
                ids = [(owner, indices[j], locs[j].generation) for j in chunk]
                fut = self.backend.executor.submit(
                    self._read_job, locs[chunk[0]].offset, slots, ids, wait_for
                )
                jobs.append(_Job(fut, slots, [indices[j] for j in chunk]))
        return jobs

    @_locked
    def prefetch(self, owner: int) -> None:
        """Start reading ``owner``'s pages into staging if slots are free (never blocks)."""
        self._reap()
        st = self._stored.get(owner)
        if st is None or st.reads is not None or st.failed or not st.keys:
            return
        if len(st.keys) > len(self._free_slots):
            return
        try:
            st.reads = self._submit_reads(owner, st, list(range(len(st.keys))))
        except _Lost:
            st.failed = True
            return
        self.metrics.add(prefetches=1)

    @_locked
    def swap_in(self, owner: int, block_ids: list[int]) -> bool:
        """Read, verify and restore ``owner``'s blocks into ``block_ids``; False means recompute."""
        self._reap()
        st = self._stored.get(owner)
        if st is None:
            self.metrics.add(recomputes=1)
            return False
        if len(block_ids) != len(st.keys):
            raise ValueError(f"owner {owner} has {len(st.keys)} pages stored, {len(block_ids)} targets given")
        t0 = time.perf_counter()
        ok = True
        try:
            if st.failed:
                raise _Lost("a write of this sequence failed")
            if st.reads is not None:
                jobs, st.reads = st.reads, None
                self.metrics.add(prefetch_hits=1)
                ok = self._finish_reads(jobs, block_ids)
            else:
                n, pos = len(st.keys), 0
                step = max(self.chunk_pages, (self.num_slots // self.chunk_pages) * self.chunk_pages)
                while ok and pos < n:
                    jobs = self._submit_reads(owner, st, list(range(pos, min(n, pos + step))))
                    ok = self._finish_reads(jobs, block_ids)
                    pos += step
        except _Lost as e:
            logger.warning("flash tier: pages of owner %d lost (%s): recomputing", owner, e)
            ok = False
        self._forget(owner)
        if not ok:
            self.metrics.add(recomputes=1)
            return False
        dt = time.perf_counter() - t0
        self.metrics.swap_in_latency.observe(dt)
        n = len(block_ids)
        self.metrics.add(swap_ins=1, pages_in=n, bytes_in=n * self.block_bytes)
        return True

    def _finish_reads(self, jobs: list[_Job], block_ids: list[int]) -> bool:
        all_ok = True
        for job in jobs:
            try:
                checks = job.future.result()
            except Exception as e:  # noqa: BLE001 - an I/O error: the sequence is recomputed
                self._note_io_error("read", e)
                self._release(job)
                all_ok = False
                continue
            for slot, idx, check in zip(job.slots, job.indices, checks, strict=True):
                if not check.ok:
                    all_ok = False
                    self.metrics.add(**{f"{check.status.value}_pages": 1})
                    logger.warning(
                        "flash tier: %s page %s at swap-in (%s): not used",
                        check.status.value,
                        idx,
                        check.reason,
                    )
                elif all_ok:
                    self.kv_blocks[block_ids[idx]].copy_(self._payload(slot))
            self._release(job)
        return all_ok

    def _forget(self, owner: int) -> None:
        """Wait for the owner's transfers, release their slots, free its pages."""
        st = self._stored.pop(owner, None)
        if st is None:
            return
        for job in st.writes:
            if not job.released:
                _wait_quietly(job.future)
                self._release(job)
        self._inflight = deque((o, j) for o, j in self._inflight if o != owner)
        for job in st.reads or ():
            _wait_quietly(job.future)
            self._release(job)
        for key in st.keys:
            self.allocator.free(key)

    @_locked
    def discard(self, owner: int) -> None:
        """Forget ``owner``'s pages (finished or aborted while swapped out)."""
        self._forget(owner)

    @_locked
    def stats(self) -> KVTierStats:
        """A snapshot of the tier's counters."""
        self._reap()
        m, a = self.metrics, self.allocator
        erases = self.zone.erase_counts
        desc = self.backend.describe()
        return KVTierStats(
            policy=self.policy,
            backend=desc["backend"],
            direct_io=bool(desc["direct_io"]),
            gds=bool(desc["gds"]),
            swap_outs=m.swap_outs,
            swap_ins=m.swap_ins,
            pages_out=m.pages_out,
            pages_in=m.pages_in,
            bytes_out=m.bytes_out,
            bytes_in=m.bytes_in,
            write_gbps=gbps(m.bytes_out, m.write_busy_seconds),
            read_gbps=gbps(m.bytes_in, m.read_busy_seconds),
            swap_out_latency=m.swap_out_latency.snapshot(),
            swap_in_latency=m.swap_in_latency.snapshot(),
            torn_pages=m.torn_pages,
            stale_pages=m.stale_pages,
            io_errors=m.io_errors,
            fallbacks_full=m.fallbacks_full,
            fallbacks_unhealthy=m.fallbacks_unhealthy,
            recomputes=m.recomputes,
            prefetches=m.prefetches,
            prefetch_hits=m.prefetch_hits,
            capacity_bytes=self.zone.size_bytes,
            used_bytes=a.live_bytes,
            write_amplification=a.write_amplification,
            gc_write_amplification=a.gc_write_amplification,
            gc_runs=self.cleaner.runs,
            gc_bytes_moved=self.cleaner.bytes_moved,
            segments_erased=a.segments_erased,
            erase_count_max=max(erases),
            erase_count_mean=sum(erases) / len(erases),
            healthy=self.healthy,
            extra={
                "path": str(self.zone.path),
                "page_bytes": self.page_bytes,
                "segment_bytes": self.zone.segment_bytes,
            },
        )

    @_locked
    def close(self) -> None:
        """Wait for pending I/O, close the backend and delete the zone file this tier created."""
        if self._closed:
            return
        self._closed = True
        for owner in list(self._stored):
            self._forget(owner)
        self.backend.close()
        if self._owns_file:
            self.zone.remove()

    def __del__(self) -> None:  # best effort: never leave a multi-GB zone file behind
        with contextlib.suppress(Exception):
            self.close()
