"""Flash tier end to end on a real zone file: exact round trips, prefetch, GC under churn, torn / stale /
truncated pages detected (never used), a full zone and a failing device degrade to recompute."""

from __future__ import annotations

import errno
import logging
import os

import pytest
import torch

from splitsecond.serving.kvtier import DramSwapPool, FlashSwapManager, SwapTierConfig, build_kv_tier
from splitsecond.serving.kvtier.flash_zone import FlashZone
from splitsecond.serving.kvtier.page_format import HEADER_BYTES
from splitsecond.serving.kvtier.posix_io import PosixBackend

MB = 2**20


def kv_tensor(num_blocks: int = 16) -> torch.Tensor:
    # block-major like the engine: [blocks, layers, 2, block_size, kv_heads, head_dim]; 64 KiB per block
    g = torch.Generator().manual_seed(0)
    return torch.randn(num_blocks, 4, 2, 16, 2, 64, generator=g)


def make_tier(tmp_path, kv, size=8 * MB, segment=MB, **kw) -> FlashSwapManager:
    return FlashSwapManager(
        kv, tmp_path / "kv.zone", size, segment_bytes=segment, staging_bytes=2 * MB, io_threads=2, **kw
    )


def test_swap_out_then_in_restores_exact_bytes(tmp_path):
    kv = kv_tensor()
    orig = kv.clone()
    tier = make_tier(tmp_path, kv)
    try:
        assert tier.swap_out(1, [0, 1, 2, 3, 4])
        assert tier.swap_out(2, [5, 6])
        kv.zero_()
        assert tier.swap_in(2, [10, 11])
        assert tier.swap_in(1, [12, 13, 14, 15, 0])
        assert torch.equal(kv[10:12], orig[5:7])
        assert torch.equal(kv[12:16], orig[0:4]) and torch.equal(kv[0], orig[4])
        s = tier.stats()
        assert s.swap_outs == 2 and s.swap_ins == 2 and s.pages_in == 7 and s.bytes_in == 7 * 65536
        assert s.integrity_failures == 0 and s.used_bytes == 0
        assert 1.0 < s.write_amplification <= 1.07  # one 4 KiB header per 64 KiB page
        assert not tier.contains(1)
    finally:
        tier.close()
    assert not (tmp_path / "kv.zone").exists()  # the zone file this tier created is removed


def test_prefetch_is_used_by_swap_in(tmp_path):
    kv = kv_tensor()
    orig = kv.clone()
    tier = make_tier(tmp_path, kv)
    try:
        assert tier.swap_out(3, [0, 1, 2])
        tier.prefetch(3)
        kv.zero_()
        assert tier.swap_in(3, [3, 4, 5])
        assert torch.equal(kv[3:6], orig[0:3])
        s = tier.stats()
        assert s.prefetches == 1 and s.prefetch_hits == 1
    finally:
        tier.close()


def test_gc_under_churn_keeps_data_and_low_write_amplification(tmp_path):
    kv = kv_tensor(32)
    tier = make_tier(tmp_path, kv, size=3 * MB, segment=512 * 1024)  # 6 segments of 7 pages, 1 kept for GC
    g = torch.Generator().manual_seed(1)
    try:
        long_lived: dict[int, torch.Tensor] = {}
        for i in range(8):  # short-lived 3-page owners interleaved with long-lived 1-page owners
            kv[:4].normal_(generator=g)
            assert tier.swap_out(100 + i, [0, 1, 2])
            assert tier.swap_out(200 + i, [3])
            long_lived[200 + i] = kv[3:4].clone()
        for i in range(8):
            assert tier.swap_in(100 + i, [8, 9, 10])
        # every sealed segment now holds a few live pages: room only comes from garbage collection
        kv[:6].normal_(generator=g)
        expected = kv[:6].clone()
        assert tier.swap_out(300, list(range(6)))
        tier.allocator.check_invariants()
        assert tier.swap_in(300, list(range(16, 22)))
        assert torch.equal(kv[16:22], expected)
        for owner, data in long_lived.items():  # moved pages are intact
            assert tier.swap_in(owner, [24])
            assert torch.equal(kv[24:25], data)
        s = tier.stats()
        assert s.gc_runs > 0 and s.gc_bytes_moved > 0 and s.segments_erased > 0
        assert s.integrity_failures == 0
        assert s.write_amplification < 2.0  # GC moves the few live pages, not whole segments
    finally:
        tier.close()


def page_offset(tier: FlashSwapManager, owner: int, index: int) -> int:
    return tier.allocator.lookup((owner, index)).offset


def test_corrupted_page_is_detected_and_not_used(tmp_path, caplog):
    kv = kv_tensor()
    tier = make_tier(tmp_path, kv)
    try:
        assert tier.swap_out(1, [0, 1, 2])
        tier._drain()
        with open(tmp_path / "kv.zone", "r+b") as f:  # flip a byte in the middle of page 1's payload
            f.seek(page_offset(tier, 1, 1) + HEADER_BYTES + 30_000)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
        sentinel = torch.full_like(kv[5], 7.0)
        kv[5:8] = sentinel
        with caplog.at_level(logging.WARNING):
            assert not tier.swap_in(1, [5, 6, 7])
        assert "torn" in caplog.text
        s = tier.stats()
        assert s.torn_pages == 1 and s.recomputes == 1 and s.used_bytes == 0
        assert torch.equal(kv[6], sentinel)  # the torn page was not copied into the cache
    finally:
        tier.close()


def test_stale_page_is_detected(tmp_path):
    kv = kv_tensor()
    tier = make_tier(tmp_path, kv)
    try:
        assert tier.swap_out(1, [0])
        assert tier.swap_out(2, [1])
        tier._drain()
        a, b = page_offset(tier, 1, 0), page_offset(tier, 2, 0)
        with open(tmp_path / "kv.zone", "r+b") as f:  # an intact page of another owner sits where 2's should
            f.seek(a)
            page = f.read(tier.page_bytes)
            f.seek(b)
            f.write(page)
        assert not tier.swap_in(2, [5])
        assert tier.stats().stale_pages == 1
        assert tier.swap_in(1, [6])  # the untouched page is still fine
    finally:
        tier.close()


def test_truncated_zone_is_a_torn_read(tmp_path):
    kv = kv_tensor()
    tier = make_tier(tmp_path, kv)
    try:
        assert tier.swap_out(1, [0, 1])
        tier._drain()
        os.truncate(tmp_path / "kv.zone", page_offset(tier, 1, 1) + 8192)  # page 1 cut after 8 KiB
        assert not tier.swap_in(1, [2, 3])
        assert tier.stats().torn_pages >= 1
    finally:
        tier.close()


def test_tiny_zone_full_falls_back(tmp_path, caplog):
    kv = kv_tensor()
    tier = make_tier(tmp_path, kv, size=2 * 256 * 1024, segment=256 * 1024)  # 1 usable segment = 3 pages
    try:
        assert tier.swap_out(1, [0, 1, 2])
        with caplog.at_level(logging.WARNING):
            assert not tier.swap_out(2, [3, 4])
        assert "full" in caplog.text
        assert tier.stats().fallbacks_full == 1
        assert tier.swap_in(1, [5, 6, 7])  # what was stored is intact
        assert tier.swap_out(2, [3, 4])  # and the space came back
    finally:
        tier.close()


class FailingWrites(PosixBackend):
    """The real POSIX backend with a device whose writes fail (EIO), as a dying SSD's would."""

    def pwritev(self, offset, parts):
        raise OSError(errno.EIO, "injected write failure")


def test_failing_device_degrades_to_recompute(tmp_path, caplog):
    kv = kv_tensor()
    path = tmp_path / "kv.zone"
    FlashZone(path, 8 * MB, MB)  # create the zone file first so the backend can open it
    tier = FlashSwapManager(
        kv, path, 8 * MB, segment_bytes=MB, staging_bytes=2 * MB, backend=FailingWrites(path, num_threads=1)
    )
    try:
        with caplog.at_level(logging.WARNING):
            for owner in range(3):
                assert tier.swap_out(owner, [owner])  # accepted: the write fails later, in the background
                tier._drain()
                assert not tier.swap_in(owner, [8])  # the failed write is noticed: recompute
            assert not tier.swap_out(9, [0])  # three errors in a row: unhealthy, refuses at once
        assert "unhealthy" in caplog.text
        s = tier.stats()
        assert not s.healthy and s.io_errors == 3 and s.fallbacks_unhealthy == 1 and s.recomputes == 3
    finally:
        tier.close()


def test_dram_pool_round_trip_and_full(tmp_path):
    kv = kv_tensor()
    orig = kv.clone()
    pool = DramSwapPool(kv, 3 * 65536)
    assert pool.swap_out(1, [0, 1])
    assert not pool.swap_out(2, [2, 3])  # 1 slot left
    kv.zero_()
    assert pool.swap_in(1, [4, 5])
    assert torch.equal(kv[4:6], orig[0:2])
    assert not pool.swap_in(1, [4, 5])  # gone after swap-in
    s = pool.stats()
    assert s.swap_outs == 1 and s.fallbacks_full == 1 and s.recomputes == 1
    with pytest.raises(ValueError, match="cannot hold one"):
        DramSwapPool(kv, 100)


def test_config_validation_and_fallback(tmp_path, caplog):
    with pytest.raises(ValueError, match="policy must be one of"):
        SwapTierConfig(policy="ssd")
    with pytest.raises(ValueError, match="size_mb"):
        SwapTierConfig(policy="flash", size_mb=0)
    with pytest.raises(ValueError, match="io_backend"):
        SwapTierConfig(policy="flash", io_backend="spdk")
    kv = kv_tensor()
    assert build_kv_tier(SwapTierConfig(policy="recompute"), kv) is None
    assert isinstance(build_kv_tier(SwapTierConfig(policy="dram", dram_mb=1), kv), DramSwapPool)
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a path *under a regular file* cannot be created
    with caplog.at_level(logging.WARNING):
        tier = build_kv_tier(SwapTierConfig(policy="flash", path=str(blocker / "kv.zone"), size_mb=32), kv)
    assert tier is None and "falling back to recompute" in caplog.text
    tier = build_kv_tier(
        SwapTierConfig(policy="flash", path=str(tmp_path / "z"), size_mb=32, segment_mb=1), kv
    )
    try:
        assert isinstance(tier, FlashSwapManager)
        # segments hold whole pages (1 MiB // 68 KiB pages = 15), the zone whole segments
        assert tier.zone.segment_bytes == 15 * tier.page_bytes
        assert 32 * MB - tier.zone.segment_bytes < tier.zone.size_bytes <= 32 * MB
    finally:
        tier.close()
