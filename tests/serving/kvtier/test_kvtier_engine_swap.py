"""The KV tier inside the real engine, configured through ``EngineConfig(kv_swap_policy=...)``.

Under a KV budget far below the working set, greedy outputs are identical with recompute, DRAM swap and
flash swap; a long context under memory pressure completes with each policy; a corrupted flash page is
recomputed (same outputs, event counted); a full tiny zone falls back to recompute; ``close()`` removes
the zone file; cold prefix-cache blocks spill to the tier and come back on a prefix hit (a corrupted
spilled page is a miss). The model is loaded once for the module.
"""

from __future__ import annotations

import os
import random

import pytest
import torch

from splitsecond.serving import EngineConfig, EngineDeadError, LLMEngine, SamplingParams
from splitsecond.serving.engine.scheduler import Scheduler
from splitsecond.serving.kvtier import DramSwapPool, FlashSwapManager
from splitsecond.serving.kvtier.scheduler import TieredScheduler
from splitsecond.serving.loader.model_loader import load_model

pytestmark = pytest.mark.slow

NUM_BLOCKS = 8  # the working set below is 14 blocks: every run preempts
GREEDY = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


def make_engine(loaded, **kw) -> LLMEngine:
    kw.setdefault("num_kv_blocks", NUM_BLOCKS)
    kw.setdefault("max_num_seqs", 3)
    kw.setdefault("max_num_batched_tokens", 32)
    kw.setdefault("enable_prefix_caching", False)
    return LLMEngine(EngineConfig(dtype="float32", **kw), loaded=loaded)


def prompts(lengths=(40, 60, 80), seed=0) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(1000, 20000) for _ in range(n)] for n in lengths]


def run(engine: LLMEngine, batch: list[list[int]], params=GREEDY, on_step=None) -> dict[str, list[int]]:
    """Run ``batch`` to completion; ``on_step(engine)`` runs after every step."""
    for i, p in enumerate(batch):
        engine.add_request(f"r{i}", p, params)
    outs = {}
    while engine.has_unfinished_requests():
        for o in engine.step():
            if o.finished:
                outs[o.request_id] = o.outputs[0].token_ids
        if on_step is not None:
            on_step(engine)
    return outs


def corrupt_page(tier: FlashSwapManager, owner: int, index: int = 0) -> None:
    """Overwrite 64 payload bytes of one stored page on the zone file, as a torn write would."""
    tier._drain()
    loc = tier.allocator.lookup((owner, index))
    with open(tier.zone.path, "r+b") as f:
        f.seek(loc.offset + 5000)
        f.write(b"\xff" * 64)


@pytest.fixture(scope="module")
def base(loaded):
    with make_engine(loaded, kv_swap_policy="recompute") as engine:
        assert isinstance(engine.scheduler, Scheduler) and engine.kv_tier is None
        outs = run(engine, prompts())
        s = engine.stats()
    assert s.num_preemptions > 0 and len(outs) == 3
    assert s.kv_swap_policy == "recompute" and s.kv_swap_out_bytes == 0
    return outs


@pytest.mark.parametrize("policy", ["dram", "flash"])
def test_greedy_outputs_identical_under_swap_policies(loaded, base, tmp_path, policy):
    zone = tmp_path / "kv.zone"
    engine = make_engine(loaded, kv_swap_policy=policy, kv_swap_path=str(zone), kv_swap_size_mb=64)
    try:
        assert isinstance(engine.scheduler, TieredScheduler)
        assert isinstance(engine.kv_tier, DramSwapPool if policy == "dram" else FlashSwapManager)
        assert run(engine, prompts()) == base
        s, t = engine.stats(), engine.kv_tier_stats()
        assert engine.scheduler.num_swap_ins > 0 and t.swap_ins > 0
        assert s.kv_swap_policy == policy and s.num_preemptions > 0
        assert s.kv_swap_out_bytes == t.bytes_out > 0 and s.kv_swap_in_bytes == t.bytes_in > 0
        assert s.kv_swap_integrity_failures == 0 and s.kv_swap_fallbacks == 0
        assert 1.0 <= s.kv_swap_write_amplification <= 1.05
        assert (policy == "flash") == zone.exists()
    finally:
        engine.close()
    assert not zone.exists()  # the zone file the engine created is deleted


@pytest.mark.parametrize("policy", ["recompute", "dram", "flash"])
def test_long_context_under_memory_pressure_completes(loaded, tmp_path, policy):
    # 8 MB of fp32 KV = 11 blocks = 176 tokens, for 3 requests needing 22 blocks at once; 16-token prefill chunks
    engine = LLMEngine(
        EngineConfig(
            dtype="float32",
            kv_cache_memory_mb=8,
            max_num_seqs=3,
            max_num_batched_tokens=16,
            kv_swap_policy=policy,
            kv_swap_path=str(tmp_path / "kv.zone"),
            kv_swap_size_mb=64,
        ),
        loaded=loaded,
    )
    params = SamplingParams(temperature=0, max_tokens=10, ignore_eos=True)
    try:
        assert engine.max_model_len == 176
        outs = run(engine, prompts((150, 100, 60), seed=1), params)
        s = engine.stats()
    finally:
        engine.close()
    assert sorted(outs) == ["r0", "r1", "r2"] and all(len(v) == 10 for v in outs.values())
    assert s.num_preemptions > 0 and s.requests_finished == 3
    if policy != "recompute":
        assert s.kv_swap_ins > 0 and s.kv_swap_integrity_failures == 0


def test_corrupt_flash_page_is_recomputed_and_counted(loaded, base, tmp_path):
    engine = make_engine(loaded, kv_swap_policy="flash", kv_swap_path=str(tmp_path / "kv.zone"))
    corrupted = []

    def corrupt_first_swap(engine):
        tier = engine.kv_tier
        if not corrupted and tier._stored:
            corrupt_page(tier, next(iter(tier._stored)))
            corrupted.append(True)

    try:
        outs = run(engine, prompts(), on_step=corrupt_first_swap)
        s, t = engine.stats(), engine.kv_tier_stats()
    finally:
        engine.close()
    assert outs == base  # recomputed, so still the same greedy text
    assert t.torn_pages == 1 and s.kv_swap_integrity_failures == 1
    assert s.kv_swap_fallbacks >= 1 and engine.scheduler.num_restore_failures >= 1


def test_full_tiny_zone_falls_back_to_recompute(loaded, base, tmp_path):
    # 2 MB zone = 2 segments of 1 MB, one kept for GC: room for one 724 KiB page only
    engine = make_engine(
        loaded, kv_swap_policy="flash", kv_swap_path=str(tmp_path / "kv.zone"), kv_swap_size_mb=2
    )
    try:
        assert run(engine, prompts()) == base
        s = engine.stats()
        assert s.kv_swap_fallbacks > 0 and engine.kv_tier_stats().fallbacks_full > 0
        assert engine.scheduler.swap_preemption.num_recompute_fallbacks > 0
    finally:
        engine.close()


def test_close_removes_default_zone_file_and_stops_the_engine(loaded, tmp_path):
    engine = make_engine(loaded, kv_swap_policy="flash", kv_swap_size_mb=8)  # zone in the temp dir
    path = engine.kv_tier.zone.path
    zone = engine.kv_tier.zone
    # fully preallocated: the asked size rounded down to whole segments (of whole pages)
    assert path.exists() and os.path.getsize(path) == zone.size_bytes
    assert 8 * 2**20 - zone.segment_bytes < zone.size_bytes <= 8 * 2**20
    engine.close()
    engine.close()  # idempotent
    assert not path.exists()
    with pytest.raises(EngineDeadError):
        engine.step()
    keep = tmp_path / "users.zone"  # a zone file the user made is used, never deleted
    keep.write_bytes(b"")
    with make_engine(loaded, kv_swap_policy="flash", kv_swap_path=str(keep), kv_swap_size_mb=8) as engine:
        assert engine.kv_tier.zone.path == keep
    assert keep.exists()


def test_unusable_zone_path_serves_with_recompute(loaded, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a zone *under a regular file* cannot be created
    with make_engine(loaded, kv_swap_policy="flash", kv_swap_path=str(blocker / "kv.zone")) as engine:
        assert engine.kv_tier is None and isinstance(engine.scheduler, Scheduler)
        assert engine.stats().kv_swap_policy == "recompute"
    assert "falling back to recompute" in caplog.text


def test_engine_config_validates_kv_swap_fields():
    with pytest.raises(
        ValueError, match=r"kv_swap_policy must be one of \('auto', 'recompute', 'dram', 'flash'\)"
    ):
        EngineConfig(kv_swap_policy="ssd")
    with pytest.raises(ValueError, match="kv_swap_size_mb must be an integer >= 2"):
        EngineConfig(kv_swap_policy="flash", kv_swap_size_mb=1)
    with pytest.raises(ValueError, match="kv_dram_swap_mb"):
        EngineConfig(kv_dram_swap_mb=0)
    with pytest.raises(ValueError, match="kv_swap_path"):
        EngineConfig(kv_swap_path="")
    tier = EngineConfig(kv_swap_policy="flash", kv_swap_size_mb=2).swap_tier_config()
    assert tier.policy == "flash" and tier.size_mb == 2 and tier.segment_mb == 1


# --- cold prefix-cache blocks spill to the tier ------------------------------------------------------

SYSTEM = prompts((96,), seed=7)[0]  # an agent's system prompt: 6 full blocks


def shared_prefix_run(engine: LLMEngine, on_spill=None) -> tuple[list[int], int]:
    """A (system + question 1); B, unrelated, evicts A's cached blocks; C (system + question 2).

    Returns C's output tokens and how many of its prompt tokens came from the cache.
    """
    rng = random.Random(3)
    q1, q2 = ([rng.randrange(1000, 20000) for _ in range(10)] for _ in range(2))
    other = [rng.randrange(1000, 20000) for _ in range(150)]
    for rid, prompt in (("a", SYSTEM + q1), ("b", other)):
        engine.add_request(rid, prompt, GREEDY)
        while engine.has_unfinished_requests():
            engine.step()
    if on_spill is not None:
        on_spill(engine)
    engine.add_request("c", SYSTEM + q2, GREEDY)
    while engine.has_unfinished_requests():
        for o in engine.step():
            if o.finished:
                return o.outputs[0].token_ids, o.num_cached_tokens
    raise AssertionError("request c did not finish")


def spill_engine(loaded, policy, tmp_path):
    return make_engine(
        loaded,
        num_kv_blocks=12,
        max_num_seqs=1,
        enable_prefix_caching=True,
        kv_swap_policy=policy,
        kv_swap_path=str(tmp_path / "kv.zone"),
        kv_swap_size_mb=64,
    )


@pytest.fixture(scope="module")
def prefix_base(loaded, tmp_path_factory):
    with spill_engine(loaded, "recompute", tmp_path_factory.mktemp("z")) as engine:
        out, cached = shared_prefix_run(engine)
    assert cached < 96  # without a tier the system prompt's evicted blocks are recomputed
    return out, cached


@pytest.mark.parametrize("policy", ["dram", "flash"])
def test_evicted_prefix_blocks_spill_and_restore(loaded, prefix_base, tmp_path, policy):
    with spill_engine(loaded, policy, tmp_path) as engine:
        out, cached = shared_prefix_run(engine)
        s = engine.stats()
    assert out == prefix_base[0]
    assert cached == 96  # the whole system prompt came back: from memory or from the tier
    assert s.kv_prefix_blocks_spilled > 0 and s.kv_prefix_blocks_restored == (96 - prefix_base[1]) // 16
    assert s.kv_swap_integrity_failures == 0


def test_corrupt_spilled_prefix_block_is_a_miss(loaded, prefix_base, tmp_path):
    def corrupt_first_spilled(engine):
        chunks = [tuple(SYSTEM[i : i + 16]) for i in range(0, 96, 16)]
        spilled = {tokens: owner for owner, tokens in engine.prefix_spill._spilled.values()}
        first = next(c for c in chunks if c in spilled)  # the first system block C will restore
        corrupt_page(engine.kv_tier, spilled[first])

    with spill_engine(loaded, "flash", tmp_path) as engine:
        out, cached = shared_prefix_run(engine, on_spill=corrupt_first_spilled)
        s = engine.stats()
    assert out == prefix_base[0]  # recomputed from the torn block on
    assert cached < 96 and s.kv_swap_integrity_failures == 1 and engine.prefix_spill.num_restore_failures == 1


def test_async_engine_shutdown_and_llm_close_delete_the_zone(loaded, tmp_path):
    import asyncio

    from splitsecond.serving import LLM, AsyncEngine

    zone = tmp_path / "async.zone"

    async def serve_one():
        cfg = EngineConfig(
            dtype="float32",
            num_kv_blocks=NUM_BLOCKS,
            kv_swap_policy="flash",
            kv_swap_path=str(zone),
            kv_swap_size_mb=8,
        )
        engine = AsyncEngine(cfg, loaded=loaded)
        try:
            assert zone.exists()
            async for out in engine.generate([1000, 1001, 1002], GREEDY, "x"):
                last = out
            assert last.finished and engine.stats().kv_swap_policy == "flash"
        finally:
            await engine.shutdown()

    asyncio.run(serve_one())
    assert not zone.exists()
    zone = tmp_path / "llm.zone"
    with LLM.from_engine(
        make_engine(loaded, kv_swap_policy="flash", kv_swap_path=str(zone), kv_swap_size_mb=8)
    ) as llm:
        assert len(llm.generate([[1000, 1001, 1002]], GREEDY)[0].outputs[0].token_ids) == 8
        assert zone.exists()
    assert not zone.exists()
