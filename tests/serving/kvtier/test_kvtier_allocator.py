"""Append-only allocator + segment GC: every live page stays reachable and reads back what was written.

Property test (hypothesis) over random write / free / GC sequences, with real I/O on a small zone file.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitsecond.serving.kvtier.allocator import AppendOnlyAllocator, ZoneFullError
from splitsecond.serving.kvtier.flash_zone import FlashZone, SegmentState
from splitsecond.serving.kvtier.gc import SegmentCleaner
from splitsecond.serving.kvtier.io_backend import BufferSlice
from splitsecond.serving.kvtier.posix_io import PosixBackend

PAGE = 8192  # one header sector + one 4 KiB payload
SEG = 4 * PAGE


def fill(buf, start: int, key: tuple[int, int], gen: int) -> None:
    """Write a recognisable pattern for (key, generation) into one page of a staging buffer."""
    pattern = struct.pack("<qqQ", key[0], key[1], gen) * (PAGE // 24)
    buf.memory[start : start + len(pattern)] = pattern


def expected(key: tuple[int, int], gen: int) -> bytes:
    pattern = struct.pack("<qqQ", key[0], key[1], gen) * (PAGE // 24)
    return pattern


def test_append_is_sequential_and_free_erases_dead_segments(tmp_path):
    zone = FlashZone(tmp_path / "z", 4 * SEG, SEG)
    alloc = AppendOnlyAllocator(zone, gc_reserve_segments=1)
    locs = alloc.append([(1, i) for i in range(6)], 4096, PAGE)
    offsets = [loc.offset for loc in locs]
    assert offsets == list(range(0, 6 * PAGE, PAGE))  # back to back across the segment boundary
    assert zone.segments[0].state is SegmentState.SEALED and zone.segments[1].state is SegmentState.OPEN
    for i in range(4):
        alloc.free((1, i))
    assert zone.segments[0].state is SegmentState.FREE and zone.segments[0].erase_count == 1
    alloc.check_invariants()


def test_append_point_moves_to_the_adjacent_segment_unless_it_is_too_worn(tmp_path):
    zone = FlashZone(tmp_path / "z", 6 * SEG, SEG)
    alloc = AppendOnlyAllocator(zone, gc_reserve_segments=0, wear_slack=2)
    a = alloc.append([(1, i) for i in range(4)], 4096, PAGE)
    alloc.erase(1)  # segment 1 is now more worn than 2..5, but within the slack
    b = alloc.append([(2, i) for i in range(4)], 4096, PAGE)
    assert b[0].segment == 1 and b[0].offset == a[-1].offset + PAGE  # one sequential stream
    for _ in range(3):
        alloc.erase(2)  # 3 erases above the least-erased free segment: past the slack
    c = alloc.append([(3, i) for i in range(4)], 4096, PAGE)
    assert c[0].segment == 3  # the least-erased free segment instead
    alloc.check_invariants()
    with pytest.raises(ValueError, match="wear_slack"):
        AppendOnlyAllocator(zone, wear_slack=-1)


def test_full_zone_refuses_all_or_nothing(tmp_path):
    zone = FlashZone(tmp_path / "z", 3 * SEG, SEG)
    alloc = AppendOnlyAllocator(zone, gc_reserve_segments=1)
    assert alloc.pages_that_fit(PAGE) == 8
    with pytest.raises(ZoneFullError):
        alloc.append([(1, i) for i in range(9)], 4096, PAGE)
    assert not alloc.mapping  # nothing half-written
    alloc.append([(1, i) for i in range(8)], 4096, PAGE)
    alloc.check_invariants()


def test_bad_geometry_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="segment_bytes"):
        FlashZone(tmp_path / "z", 10 * SEG, 1000)
    with pytest.raises(ValueError, match="at least 2 segments"):
        FlashZone(tmp_path / "z", SEG, SEG)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 7), st.integers(1, 5)),
        st.tuples(st.just("free"), st.integers(0, 7), st.just(0)),
        st.tuples(st.just("gc"), st.integers(1, 6), st.just(0)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_mapping_and_gc_keep_every_live_page_readable(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("zone") / "z"
    zone = FlashZone(path, 8 * SEG, SEG)
    backend = PosixBackend(path, num_threads=1)
    try:
        alloc = AppendOnlyAllocator(zone, gc_reserve_segments=1)
        cleaner = SegmentCleaner(alloc, backend, backend.alloc(2 * PAGE))
        staging = backend.alloc(5 * PAGE)
        live: dict[int, int] = {}  # owner -> pages
        for op, owner, n in ops:
            if op == "write":
                for i in range(live.pop(owner, 0)):
                    alloc.free((owner, i))
                keys = [(owner, i) for i in range(n)]
                if not cleaner.collect(n, PAGE):
                    with pytest.raises(ZoneFullError):
                        alloc.append(keys, 4096, PAGE)
                    continue
                locs = alloc.append(keys, 4096, PAGE)
                for j, (key, loc) in enumerate(zip(keys, locs, strict=True)):
                    fill(staging, j * PAGE, key, loc.generation)
                    backend.pwritev(loc.offset, [BufferSlice(staging, j * PAGE, PAGE)])
                live[owner] = n
            elif op == "free":
                for i in range(live.pop(owner, 0)):
                    assert alloc.free((owner, i)) is not None
            else:
                cleaner.collect(alloc.pages_that_fit(PAGE) + n, PAGE)
            alloc.check_invariants()
            assert set(alloc.mapping) == {(o, i) for o, n_ in live.items() for i in range(n_)}
        # every live page reads back exactly what was written for its (key, generation)
        buf = backend.alloc(PAGE)
        for key, loc in alloc.mapping.items():
            backend.preadv(loc.offset, [BufferSlice(buf, 0, PAGE)])
            want = expected(key, loc.generation)
            assert bytes(buf.memory[: len(want)]) == want, key
        physical = alloc.host_bytes_written + alloc.gc_bytes_written
        assert physical == alloc.pages_written * PAGE
    finally:
        backend.close()
