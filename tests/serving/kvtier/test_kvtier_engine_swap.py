"""The tier inside the real engine: under a KV budget far below the working set, greedy outputs are
identical with recompute, DRAM swap and flash swap; a corrupted flash page makes the engine recompute
(same outputs, event counted). The engine is built normally, then given a ``TieredScheduler`` over its
own KV cache — exactly what ``LLMEngine`` does for ``kv_swap_policy`` once integrated."""

from __future__ import annotations

import random

import pytest
from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.scheduler import Scheduler
from splitsecond.serving.kvtier import DramSwapPool, FlashSwapManager
from splitsecond.serving.kvtier.preemption import SwapPreemption
from splitsecond.serving.kvtier.scheduler import TieredScheduler

pytestmark = pytest.mark.slow

NUM_BLOCKS = 8  # the working set is 14 blocks: every run preempts


@pytest.fixture(scope="module")
def engine():
    from splitsecond.serving import EngineConfig, LLMEngine

    return LLMEngine(
        EngineConfig(
            num_kv_blocks=NUM_BLOCKS, max_num_seqs=3, max_num_batched_tokens=32, enable_prefix_caching=False
        )
    )


def run(engine, tier, corrupt_first_swap: bool = False):
    from splitsecond.serving import SamplingParams

    cfg = engine.config
    bm = BlockManager(NUM_BLOCKS, cfg.block_size, enable_prefix_caching=False)
    engine.block_manager = bm
    if tier is None:
        engine.scheduler = Scheduler(bm, cfg.max_num_seqs, cfg.max_num_batched_tokens)
    else:
        engine.scheduler = TieredScheduler(
            bm, cfg.max_num_seqs, cfg.max_num_batched_tokens, SwapPreemption(tier, cfg.block_size)
        )
    rng = random.Random(0)
    params = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
    for i, n in enumerate((40, 60, 80)):
        engine.add_request(f"r{i}", [rng.randrange(1000, 20000) for _ in range(n)], params)
    outs = {}
    corrupted = False
    while engine.has_unfinished_requests():
        for o in engine.step():
            if o.finished:
                outs[o.request_id] = o.outputs[0].token_ids
        if corrupt_first_swap and not corrupted and isinstance(tier, FlashSwapManager) and tier._stored:
            tier._drain()
            owner, st = next(iter(tier._stored.items()))
            loc = tier.allocator.lookup(st.keys[0])
            with open(tier.zone.path, "r+b") as f:
                f.seek(loc.offset + 5000)
                f.write(b"\xff" * 64)
            corrupted = True
    return outs, engine.scheduler


@pytest.fixture(scope="module")
def base(engine):
    outs, sched = run(engine, None)
    assert sched.num_preemptions > 0 and len(outs) == 3
    return outs


def test_greedy_outputs_identical_under_recompute_dram_and_flash(engine, base, tmp_path):
    dram = DramSwapPool(engine.kv_cache.tensor, 64 * 2**20)
    outs, sched = run(engine, dram)
    assert outs == base
    assert sched.num_swap_ins > 0 and dram.stats().swap_ins > 0
    flash = FlashSwapManager(
        engine.kv_cache.tensor, tmp_path / "kv.zone", 64 * 2**20, segment_bytes=4 * 2**20
    )
    try:
        outs, sched = run(engine, flash)
        assert outs == base
        s = flash.stats()
        assert sched.num_swap_ins > 0 and s.swap_ins > 0 and s.integrity_failures == 0
        assert s.write_amplification <= 1.05
    finally:
        flash.close()


def test_corrupt_flash_page_is_recomputed_not_used(engine, base, tmp_path):
    flash = FlashSwapManager(
        engine.kv_cache.tensor, tmp_path / "kv.zone", 64 * 2**20, segment_bytes=4 * 2**20
    )
    try:
        outs, sched = run(engine, flash, corrupt_first_swap=True)
        s = flash.stats()
        assert s.torn_pages == 1 and s.recomputes >= 1 and sched.num_restore_failures >= 1
        assert outs == base  # recomputed, so still the same greedy text
    finally:
        flash.close()


def test_tiny_flash_zone_degrades_to_recompute(engine, base, tmp_path):
    page = 737280 + 4096  # one SmolLM2 block (fp32) per page; 2 segments of 1 page: 1 usable
    flash = FlashSwapManager(engine.kv_cache.tensor, tmp_path / "kv.zone", 2 * page, segment_bytes=page)
    try:
        outs, sched = run(engine, flash)
        assert outs == base
        assert flash.stats().fallbacks_full > 0 and sched.swap_preemption.num_recompute_fallbacks > 0
    finally:
        flash.close()
