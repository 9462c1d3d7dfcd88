"""One request's failure inside a step ends that request alone; sampling values are checked against the
model before admission; a batch is admitted (and rolled back) as one."""

from __future__ import annotations

import asyncio

import pytest
import torch

from splitsecond.serving import (
    AsyncEngine,
    EngineConfig,
    EngineOverloadedError,
    SamplingParams,
    StructuredOutput,
)
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.errors import InvalidParameterError, RequestFailedError
from splitsecond.serving.loader.model_loader import load_model

pytestmark = pytest.mark.slow

PROMPTS = ["The capital of France is", "def add(a, b):", "1, 2, 3, 4,", "Once upon a time"]
GREEDY = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


@pytest.fixture(scope="module")
def engine(loaded):
    return LLMEngine(EngineConfig(num_kv_blocks=128), loaded=loaded)


def run_all(engine: LLMEngine) -> dict:
    finals = {}
    while engine.has_unfinished_requests():
        for out in engine.step():
            if out.finished:
                finals[out.request_id] = out
    return finals


def clean_run(engine: LLMEngine, tag: str) -> dict[str, list[int]]:
    for i, p in enumerate(PROMPTS):
        engine.add_request(f"{tag}{i}", p, GREEDY)
    return {rid: out.outputs[0].token_ids for rid, out in run_all(engine).items()}


class _BrokenGrammar:
    """Stands in for a grammar library that fails mid-request (llguidance panics surface as exceptions)."""

    def fill_bitmask(self, bitmask, row):
        raise RuntimeError("panicked at 'index out of bounds', src/earley/parser.rs:1234")


@pytest.mark.parametrize(
    "poison",
    [
        {"top_k": 10**20, "temperature": 1.0},  # overflows int64 in the batched sampler
        {"stop_token_ids": [1_000_000], "min_tokens": 4},  # indexes past the vocabulary
        "grammar",
    ],
    ids=["top_k", "stop_token_ids", "grammar"],
)
def test_a_failing_request_ends_alone_and_the_batch_is_unchanged(engine, poison):
    reference = clean_run(engine, "ref")
    for i, p in enumerate(PROMPTS):
        engine.add_request(f"ok{i}", p, GREEDY)
        if i == 1:  # in the middle of the batch
            bad = engine.add_request("bad", "Hello there", SamplingParams(temperature=0, max_tokens=8))
            if poison == "grammar":
                bad.seqs[0].grammar = _BrokenGrammar()
            else:  # values a check missed: written past SamplingParams' own validation
                for name, value in poison.items():
                    object.__setattr__(bad.params, name, value)
    finals = run_all(engine)
    failed = finals.pop("bad")
    assert failed.finished and failed.outputs[0].finish_reason == "error"
    assert failed.error and "failed" in failed.error
    assert {rid.removeprefix("ok"): out.outputs[0].token_ids for rid, out in finals.items()} == {
        rid.removeprefix("ref"): ids for rid, ids in reference.items()
    }
    assert all(out.outputs[0].finish_reason == "length" for out in finals.values())
    stats = engine.stats()
    assert stats.free_blocks == stats.total_blocks and not engine.requests


@pytest.mark.parametrize(
    "params, param",
    [
        ({"stop_token_ids": [49152], "min_tokens": 2}, "stop_token_ids"),  # SmolLM2's vocabulary is 49152
        ({"top_k": 2**63}, "top_k"),
        ({"seed": 2**64}, "seed"),
        ({"seed": -(2**63) - 1}, "seed"),
        ({"n": 2**63}, "n"),
        ({"max_tokens": 2**64}, "max_tokens"),
    ],
)
def test_values_out_of_range_for_the_model_are_refused_before_admission(engine, params, param):
    with pytest.raises(InvalidParameterError) as info:
        engine.make_request("x", "hi", SamplingParams(**{"max_tokens": 4, **params}))
    assert info.value.param == param
    assert not engine.requests


def test_edge_values_are_accepted(engine):
    """The largest seed with n > 1 wraps instead of overflowing; a top_k beyond the vocabulary is off."""
    p = SamplingParams(temperature=1.0, seed=2**64 - 1, n=2, top_k=10**12, max_tokens=3)
    engine.add_request("edge", "Hello", p)
    out = run_all(engine)["edge"]
    assert [c.finish_reason for c in out.outputs] == ["length", "length"]


def test_async_engine_fails_only_the_poisoned_stream(loaded):
    constrained = SamplingParams(temperature=0, max_tokens=8, structured=StructuredOutput(choice=["a", "b"]))

    async def collect(eng, prompt, rid, params=GREEDY):
        return [o async for o in eng.generate(prompt, params, rid)][-1].outputs[0].token_ids

    async def main():
        eng = AsyncEngine(EngineConfig(num_kv_blocks=128), loaded=loaded)
        build = eng.engine.make_request

        def make_request(request_id, prompt, params, speculative=False):
            req = build(request_id, prompt, params, speculative)
            if request_id == "bad":  # its grammar library fails once the request runs
                req.seqs[0].grammar = _BrokenGrammar()
            return req

        eng.engine.make_request = make_request
        try:
            ref = await asyncio.gather(*(collect(eng, p, f"r{i}") for i, p in enumerate(PROMPTS)))
            tasks = [asyncio.ensure_future(collect(eng, p, f"s{i}")) for i, p in enumerate(PROMPTS)]
            await asyncio.sleep(0)
            bad = asyncio.ensure_future(collect(eng, "Hello", "bad", constrained))
            got = await asyncio.gather(*tasks)
            with pytest.raises(RequestFailedError) as info:
                await bad
            return ref, got, info.value, eng.stats()
        finally:
            await eng.shutdown()

    ref, got, error, stats = asyncio.run(main())
    assert got == ref
    assert error.request_id == "bad" and "panicked" in error.detail
    assert "panicked" not in str(error)  # the detail is for the log, not for the client
    assert stats.free_blocks == stats.total_blocks and stats.num_running == 0


def test_a_batch_is_admitted_whole_or_not_at_all(loaded):
    async def main():
        eng = AsyncEngine(EngineConfig(num_kv_blocks=64, max_waiting=4), loaded=loaded)
        try:
            params = SamplingParams(max_tokens=2)
            eng.reserve(["a", "b", "c"], params)
            with pytest.raises(EngineOverloadedError):
                eng.reserve(["d", "e"], params)  # 3 + 2 > 4: neither is admitted
            with pytest.raises(InvalidParameterError) as info:
                eng.reserve([f"f{i}" for i in range(5)], params)  # could never fit
            assert info.value.param == "prompt"
            with pytest.raises(InvalidParameterError) as info:
                eng.reserve(["g"], SamplingParams(max_tokens=2, n=5))
            assert info.value.param == "n"
            eng.reserve(["d"], params)  # the refused batch left nothing behind: one slot is free
            for rid in ("a", "b", "c", "d"):  # rolling back releases the slots at once
                await eng.abort(rid)
            eng.reserve(["h", "i", "j", "k"], params)
            outs = await asyncio.gather(*(last(eng.generate("hi", params, rid)) for rid in "hijk"))
            return outs, eng.stats()
        finally:
            await eng.shutdown()

    async def last(stream):
        return [o async for o in stream][-1]

    outs, stats = asyncio.run(main())
    assert all(o.finished and o.outputs[0].finish_reason is not None for o in outs)
    assert stats.num_waiting == 0 and stats.free_blocks == stats.total_blocks
