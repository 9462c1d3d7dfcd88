"""``SegmentCleaner``: segment-level garbage collection for the append-only zone.

When the allocator runs short of free segments, the cleaner picks the SEALED segment with the most dead
bytes (greedy; ties go to the least-erased segment), reads its live pages in large contiguous runs,
appends them verbatim at the append point (sequential writes, same generation numbers, so their headers
stay valid) and erases the victim. Bytes it rewrites count toward write amplification. The caller must
make sure no transfer is in flight while it runs (the swap manager drains its queue first).
"""

from __future__ import annotations

import logging
import time

from splitsecond.serving.kvtier.allocator import AppendOnlyAllocator, PageKey, PageLocation
from splitsecond.serving.kvtier.flash_zone import SegmentState
from splitsecond.serving.kvtier.io_backend import BufferSlice, IOBackend, StagingBuffer

logger = logging.getLogger(__name__)


def contiguous_runs(locs: list[PageLocation]) -> list[list[int]]:
    """Indices of ``locs`` grouped into runs that are physically back to back (input order kept).

    A run may cross a segment boundary: the allocator moves on to the adjacent segment when it can,
    and one I/O then covers both.
    """
    runs: list[list[int]] = []
    for i, loc in enumerate(locs):
        if runs:
            prev = locs[runs[-1][-1]]
            if prev.offset + prev.nbytes == loc.offset:
                runs[-1].append(i)
                continue
        runs.append([i])
    return runs


class SegmentCleaner:
    """Reclaims dead space by moving live pages out of mostly-dead segments."""

    def __init__(self, allocator: AppendOnlyAllocator, backend: IOBackend, staging: StagingBuffer) -> None:
        self.allocator = allocator
        self.backend = backend
        self.staging = staging
        self.runs = 0
        self.bytes_moved = 0
        self.pages_moved = 0
        self.seconds = 0.0

    def pick_victim(self) -> int | None:
        """The sealed segment with the most dead bytes (None when nothing is reclaimable)."""
        best = None
        for seg in self.allocator.zone.segments:
            if seg.state is not SegmentState.SEALED or seg.dead_bytes <= 0:
                continue
            key = (seg.dead_bytes, -seg.erase_count)
            if best is None or key > best[0]:
                best = (key, seg.index)
        return None if best is None else best[1]

    def collect(self, pages_needed: int, page_bytes: int) -> bool:
        """Clean segments until ``pages_needed`` pages of ``page_bytes`` fit; False if impossible."""
        if self.allocator.pages_that_fit(page_bytes) >= pages_needed:
            return True
        self.allocator.seal_open()  # the open segment's dead space becomes reclaimable too
        while self.allocator.pages_that_fit(page_bytes) < pages_needed:
            victim = self.pick_victim()
            if victim is None:
                return False
            self.clean(victim)
        return True

    def clean(self, segment: int) -> int:
        """Move every live page out of ``segment`` and erase it; returns bytes moved."""
        t0 = time.perf_counter()
        live = self.allocator.live_pages_in(segment)
        moved = 0
        i = 0
        while i < len(live):
            # a batch of consecutive live pages that fits the staging buffer
            batch: list[tuple[PageKey, PageLocation]] = []
            used = 0
            while i < len(live) and used + live[i][1].nbytes <= self.staging.nbytes:
                batch.append(live[i])
                used += live[i][1].nbytes
                i += 1
            if not batch:
                raise RuntimeError(f"GC staging buffer ({self.staging.nbytes} B) smaller than a page")
            moved += self._move(batch)
        seg = self.allocator.zone.segments[segment]
        # usually free() already erased it when its last live page left (and the append point may even
        # have reopened it for the last moved pages); erase it here only if that did not happen
        if seg.state is SegmentState.SEALED and seg.live_pages == 0:
            self.allocator.erase(segment)
        self.runs += 1
        self.bytes_moved += moved
        self.seconds += time.perf_counter() - t0
        logger.debug("gc: segment %d cleaned, %d live bytes moved", segment, moved)
        return moved

    def _move(self, batch: list[tuple[PageKey, PageLocation]]) -> int:
        # read (coalescing contiguous pages into one preadv each)
        starts, pos = [], 0
        for _, loc in batch:
            starts.append(pos)
            pos += loc.nbytes
        old = [loc for _, loc in batch]
        for run in contiguous_runs(old):
            parts = [BufferSlice(self.staging, starts[j], old[j].nbytes) for j in run]
            self.backend.preadv(old[run[0]].offset, parts)
        # append verbatim at the head, pages of equal size in one call
        new: list[PageLocation] = []
        j = 0
        while j < len(batch):
            k = j
            while (
                k < len(batch) and old[k].nbytes == old[j].nbytes and old[k].payload_len == old[j].payload_len
            ):
                k += 1
            new += self.allocator.append(
                [key for key, _ in batch[j:k]],
                old[j].payload_len,
                old[j].nbytes,
                for_gc=True,
                generations=[loc.generation for loc in old[j:k]],
            )
            j = k
        try:
            for run in contiguous_runs(new):
                parts = [BufferSlice(self.staging, starts[j], new[j].nbytes) for j in run]
                self.backend.pwritev(new[run[0]].offset, parts)
        except OSError:
            for key, _ in batch:  # their data is gone: drop them so swap-in recomputes instead
                self.allocator.free(key)
            raise
        self.pages_moved += len(batch)
        return sum(loc.nbytes for loc in new)
