"""AsyncEngine: concurrent streams equal sequential greedy output; abort; submit-time errors."""

from __future__ import annotations

import asyncio

import pytest
import torch

from splitsecond.serving import (
    AsyncEngine,
    EngineConfig,
    EngineDeadError,
    EngineOverloadedError,
    PromptTooLongError,
    SamplingParams,
)
from splitsecond.serving.loader.model_loader import load_model

pytestmark = pytest.mark.slow

PROMPTS = ["The capital of France is", "def add(a, b):", "1, 2, 3, 4,"]
GREEDY = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


async def collect(engine: AsyncEngine, prompt, params, rid):
    return [o async for o in engine.generate(prompt, params, rid)]


def test_concurrent_equals_sequential_and_streams_deltas(loaded):
    async def main():
        engine = AsyncEngine(EngineConfig(num_kv_blocks=64), loaded=loaded)
        await engine.start()
        try:
            concurrent = await asyncio.gather(
                *[collect(engine, p, GREEDY, f"c{i}") for i, p in enumerate(PROMPTS)]
            )
            sequential = [await collect(engine, p, GREEDY, f"s{i}") for i, p in enumerate(PROMPTS)]
            stats = engine.stats()
        finally:
            await engine.shutdown()
        return concurrent, sequential, stats

    concurrent, sequential, stats = asyncio.run(main())
    for conc, seq in zip(concurrent, sequential, strict=True):
        final = conc[-1]
        assert final.finished and final.outputs[0].token_ids == seq[-1].outputs[0].token_ids
        assert "".join(o.outputs[0].delta_text for o in conc) == final.outputs[0].text
        assert sum(len(o.outputs[0].delta_token_ids) for o in conc) == 6
        assert all(not o.finished for o in conc[:-1])
        assert final.metrics["first_token_time"] >= final.metrics["arrival_time"]
    assert stats.free_blocks == stats.total_blocks and stats.num_running == 0


def test_abort_ends_stream_and_frees_blocks(loaded):
    async def main():
        engine = AsyncEngine(EngineConfig(num_kv_blocks=64), loaded=loaded)
        try:
            stream = engine.generate("Tell me a story", SamplingParams(max_tokens=200, ignore_eos=True), "a")
            first = await stream.__anext__()
            await engine.abort("a")
            outs = [first] + [o async for o in stream]
            await asyncio.sleep(0.05)
            return outs, engine.stats()
        finally:
            await engine.shutdown()

    outs, stats = asyncio.run(main())
    assert outs[-1].finished and outs[-1].outputs[0].finish_reason == "abort"
    assert len(outs[-1].outputs[0].token_ids) < 200
    assert stats.free_blocks == stats.total_blocks


def test_errors_raised_at_submit(loaded):
    async def main():
        engine = AsyncEngine(EngineConfig(num_kv_blocks=64, max_waiting=1), loaded=loaded)
        try:
            with pytest.raises(PromptTooLongError):
                await collect(engine, [5] * engine.max_model_len, SamplingParams(max_tokens=10), "long")
            # Fill the single waiting slot, then the next submit is refused.
            blocker = engine.generate("hi", SamplingParams(max_tokens=30, ignore_eos=True), "b1")
            task = asyncio.ensure_future(blocker.__anext__())
            await asyncio.sleep(0)
            with pytest.raises(EngineOverloadedError):
                async for _ in engine.generate("hi", SamplingParams(max_tokens=1), "b2"):
                    pass
            await task
            await blocker.aclose()  # closing the stream aborts the request
        finally:
            await engine.shutdown()

    asyncio.run(main())


def test_the_step_thread_builds_the_engine_and_a_build_error_surfaces_in_the_constructor(loaded):
    import threading

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ValueError, match="preloaded model is torch.float32"):
        AsyncEngine(EngineConfig(dtype="bfloat16", num_kv_blocks=16), loaded=loaded)
    assert "splitsecond-engine" not in {t.name for t in threading.enumerate()} - before

    async def main():
        engine = AsyncEngine(EngineConfig(num_kv_blocks=16), loaded=loaded)
        try:
            # all torch work stays on one thread (see the module docstring): the engine is live at once
            assert engine.is_running
            outs = await collect(engine, PROMPTS[0], GREEDY, "t0")
            assert outs[-1].finished
        finally:
            await engine.shutdown()
        assert not engine.is_running
        with pytest.raises(EngineDeadError):
            await engine.start()

    asyncio.run(main())
