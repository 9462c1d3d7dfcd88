"""``AppendOnlyAllocator``: block-sequential placement of pages in a ``FlashZone`` plus the mapping table.

Every write goes to the single append point (the OPEN segment's write pointer), so the device only ever
sees sequential writes inside the zone; pages appended together (one sequence's KV blocks) are
physically contiguous and move as one large I/O. The mapping table is fine-grained: one entry per
(owner, block index) -> ``PageLocation``. Overwriting or freeing a page only kills its old copy; a
SEALED segment whose pages are all dead is erased at once, others are reclaimed by ``gc.SegmentCleaner``.
When the append point leaves a full segment it moves on to the segment physically next to it if that
one is free and not more than ``wear_slack`` erases above the least-erased free segment, so a long
swap-out stays one sequential stream across segment boundaries; otherwise it takes the least-erased
free segment (wear levelling). ``gc_reserve_segments`` free segments are kept for the cleaner so it can
always make progress.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from splitsecond.serving.kvtier.flash_zone import FlashZone, SegmentState

PageKey = tuple[int, int]
"""(owner, block index): owner is a sequence id or a prefix-cache block hash."""


class ZoneFullError(Exception):
    """Not enough free space in the zone for the pages asked for (garbage collection may help)."""


@dataclass(frozen=True)
class PageLocation:
    """Where a page lives: absolute byte ``offset`` in the zone, its on-flash size and identity."""

    segment: int
    offset: int
    nbytes: int
    payload_len: int
    generation: int


class AppendOnlyAllocator:
    """Append-only page placement and the (owner, index) -> location mapping table."""

    def __init__(self, zone: FlashZone, gc_reserve_segments: int = 1, wear_slack: int = 2) -> None:
        if not 0 <= gc_reserve_segments < zone.num_segments:
            raise ValueError(
                f"gc_reserve_segments must be in [0, {zone.num_segments}), got {gc_reserve_segments}"
            )
        if wear_slack < 0:
            raise ValueError(f"wear_slack must be >= 0, got {wear_slack}")
        self.zone = zone
        self.gc_reserve_segments = gc_reserve_segments
        self.wear_slack = wear_slack
        self.mapping: dict[PageKey, PageLocation] = {}
        self._by_segment: dict[int, dict[PageKey, PageLocation]] = {s.index: {} for s in zone.segments}
        self._free: set[int] = {s.index for s in zone.segments}
        # (erase count, index) of free segments; entries of segments taken out of order go stale and
        # are skipped when popped
        self._free_heap: list[tuple[int, int]] = [(0, s.index) for s in zone.segments]
        heapq.heapify(self._free_heap)
        self._last_sealed: int | None = None
        self.open_segment: int | None = None
        self._next_generation = 1
        self.logical_bytes_written = 0  # payload bytes the host asked to store
        self.host_bytes_written = 0  # on-flash bytes of host writes (header + aligned payload)
        self.gc_bytes_written = 0  # on-flash bytes rewritten by garbage collection
        self.pages_written = 0
        self.segments_erased = 0

    # --- space -----------------------------------------------------------------------------------
    @property
    def num_free_segments(self) -> int:
        """Segments in the FREE state."""
        return len(self._free)

    def pages_that_fit(self, page_bytes: int, for_gc: bool = False) -> int:
        """How many pages of ``page_bytes`` can be appended now without garbage collection."""
        per_segment = self.zone.segment_bytes // page_bytes
        usable = self.num_free_segments - (0 if for_gc else self.gc_reserve_segments)
        n = max(0, usable) * per_segment
        if self.open_segment is not None:
            n += self.zone.segments[self.open_segment].remaining // page_bytes
        return n

    @property
    def live_bytes(self) -> int:
        """On-flash bytes referenced by the mapping table."""
        return sum(s.live_bytes for s in self.zone.segments)

    # --- mapping ---------------------------------------------------------------------------------
    def lookup(self, key: PageKey) -> PageLocation | None:
        """Where ``key`` lives (None when not stored)."""
        return self.mapping.get(key)

    def live_pages_in(self, segment: int) -> list[tuple[PageKey, PageLocation]]:
        """The live pages of a segment, by ascending offset."""
        return sorted(self._by_segment[segment].items(), key=lambda kv: kv[1].offset)

    def append(
        self,
        keys: list[PageKey],
        payload_len: int,
        page_bytes: int,
        for_gc: bool = False,
        generations: list[int] | None = None,
    ) -> list[PageLocation]:
        """Place ``keys`` one after another at the append point; all or nothing (``ZoneFullError``).

        A new generation number is drawn for each page unless ``generations`` is given (garbage
        collection moves pages verbatim, so they keep theirs). A key already stored is overwritten.
        """
        if page_bytes > self.zone.segment_bytes:
            raise ValueError(
                f"a page of {page_bytes} bytes does not fit a {self.zone.segment_bytes}-byte segment"
            )
        if generations is not None and len(generations) != len(keys):
            raise ValueError("generations must have one entry per key")
        if len(keys) > self.pages_that_fit(page_bytes, for_gc):
            raise ZoneFullError(
                f"zone full: {len(keys)} pages of {page_bytes} bytes asked, "
                f"{self.pages_that_fit(page_bytes, for_gc)} fit ({self.num_free_segments} free segments)"
            )
        out: list[PageLocation] = []
        for i, key in enumerate(keys):
            if key in self.mapping:
                self.free(key)
            seg = self._segment_with_room(page_bytes)
            if generations is None:
                gen = self._next_generation
                self._next_generation += 1
            else:
                gen = generations[i]
            loc = PageLocation(seg.index, seg.start + seg.write_ptr, page_bytes, payload_len, gen)
            seg.write_ptr += page_bytes
            seg.live_bytes += page_bytes
            seg.live_pages += 1
            self.mapping[key] = loc
            self._by_segment[seg.index][key] = loc
            out.append(loc)
            self.pages_written += 1
            if for_gc:
                self.gc_bytes_written += page_bytes
            else:
                self.host_bytes_written += page_bytes
                self.logical_bytes_written += payload_len
        return out

    def _segment_with_room(self, page_bytes: int):
        if self.open_segment is not None:
            seg = self.zone.segments[self.open_segment]
            if seg.remaining >= page_bytes:
                return seg
            self._seal(seg.index)
        index = self._next_free_segment()
        self._free.discard(index)
        seg = self.zone.segments[index]
        seg.state = SegmentState.OPEN
        self.open_segment = index
        return seg

    def _least_erased_free(self) -> int:
        while True:
            count, index = self._free_heap[0]
            if index in self._free and self.zone.segments[index].erase_count == count:
                return index
            heapq.heappop(self._free_heap)  # stale: taken out of order, or erased again since

    def _next_free_segment(self) -> int:
        """The segment after the last sealed one when free and not too worn, else the least erased."""
        least = self._least_erased_free()
        if self._last_sealed is not None:
            after = (self._last_sealed + 1) % self.zone.num_segments
            if after in self._free and (
                self.zone.segments[after].erase_count
                <= self.zone.segments[least].erase_count + self.wear_slack
            ):
                return after
        return least

    def _seal(self, index: int) -> None:
        seg = self.zone.segments[index]
        seg.state = SegmentState.SEALED
        self._last_sealed = index
        if self.open_segment == index:
            self.open_segment = None
        if seg.live_pages == 0:
            self.erase(index)

    def free(self, key: PageKey) -> PageLocation | None:
        """Drop ``key`` from the mapping table; erases its segment when that was its last live page."""
        loc = self.mapping.pop(key, None)
        if loc is None:
            return None
        del self._by_segment[loc.segment][key]
        seg = self.zone.segments[loc.segment]
        seg.live_bytes -= loc.nbytes
        seg.live_pages -= 1
        if seg.live_pages == 0 and seg.state is SegmentState.SEALED:
            self.erase(loc.segment)
        return loc

    def seal_open(self) -> None:
        """Close the OPEN segment (so garbage collection may pick it)."""
        if self.open_segment is not None:
            self._seal(self.open_segment)

    def erase(self, index: int) -> None:
        """Erase a segment with no live pages and return it to the free pool."""
        self.zone.erase(index)
        self.segments_erased += 1
        self._free.add(index)
        heapq.heappush(self._free_heap, (self.zone.segments[index].erase_count, index))

    # --- accounting ------------------------------------------------------------------------------
    @property
    def write_amplification(self) -> float:
        """Physical bytes written (pages + GC moves) / logical payload bytes the host wrote (1.0 if none)."""
        if not self.logical_bytes_written:
            return 1.0
        return (self.host_bytes_written + self.gc_bytes_written) / self.logical_bytes_written

    @property
    def gc_write_amplification(self) -> float:
        """(host page bytes + GC bytes) / host page bytes: the FTL-style figure HiFC reports."""
        if not self.host_bytes_written:
            return 1.0
        return (self.host_bytes_written + self.gc_bytes_written) / self.host_bytes_written

    def check_invariants(self) -> None:
        """Raise AssertionError if the mapping and the segment accounting disagree (used by tests)."""
        seen: dict[int, list[tuple[int, int]]] = {}
        for key, loc in self.mapping.items():
            assert self._by_segment[loc.segment].get(key) == loc, f"{key} missing from segment index"
            seg = self.zone.segments[loc.segment]
            assert seg.start <= loc.offset and loc.offset + loc.nbytes <= seg.start + seg.write_ptr, key
            assert seg.state is not SegmentState.FREE, f"{key} lives in a free segment"
            seen.setdefault(loc.segment, []).append((loc.offset, loc.offset + loc.nbytes))
        for seg in self.zone.segments:
            ranges = sorted(seen.get(seg.index, []))
            assert seg.live_pages == len(ranges), (
                f"segment {seg.index}: live_pages {seg.live_pages} != {len(ranges)}"
            )
            assert seg.live_bytes == sum(b - a for a, b in ranges), (
                f"segment {seg.index}: live_bytes mismatch"
            )
            for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
                assert end <= start, f"segment {seg.index}: overlapping pages"
        heap_ids = {i for c, i in self._free_heap if self.zone.segments[i].erase_count == c}
        for seg in self.zone.segments:
            assert (seg.state is SegmentState.FREE) == (seg.index in self._free), f"segment {seg.index} state"
            assert seg.state is not SegmentState.FREE or seg.index in heap_ids, f"segment {seg.index} heap"
