"""End-to-end engine behaviour on the real SmolLM2 model (loaded once for the module)."""

from __future__ import annotations

import pytest
import torch

from splitsecond.serving import (
    LLM,
    EngineConfig,
    EngineOverloadedError,
    InvalidSchemaError,
    PromptTooLongError,
    SamplingParams,
    StructuredOutput,
)
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.loader.model_loader import load_model

pytestmark = pytest.mark.slow

SYSTEM = (
    "You control a fighter in a real-time game. Each turn you get the state and answer with one action. "
    "Actions: attack_left, attack_right, block, jump. Be decisive; latency matters more than style."
)


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


def make_llm(loaded, **kw) -> LLM:
    kw.setdefault("num_kv_blocks", 128)
    return LLM.from_engine(LLMEngine(EngineConfig(dtype="float32", **kw), loaded=loaded))


@pytest.fixture(scope="module")
def llm(loaded):
    return make_llm(loaded)


def chat(llm: LLM, text: str) -> str:
    return llm.tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    )


GREEDY = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)


def test_preemption_by_recompute_keeps_greedy_output(loaded, llm):
    prompts = [chat(llm, f"Round {i}: opponent at distance {i}. Your action?") for i in range(3)]
    params = SamplingParams(temperature=0, max_tokens=20, ignore_eos=True)
    reference = [o.outputs[0].token_ids for o in llm.generate(prompts, params)]
    # Exactly enough blocks to admit all three prompts; each then crosses a block boundary while decoding,
    # so the scheduler must preempt (free + recompute later) to let the others grow.
    blocks = sum(-(-len(llm.tokenizer.encode(p)) // 16) for p in prompts)
    tight = make_llm(
        loaded, num_kv_blocks=blocks, max_num_seqs=3, max_num_batched_tokens=512, enable_prefix_caching=False
    )
    outs = tight.generate(prompts, params)
    assert [o.outputs[0].token_ids for o in outs] == reference
    assert tight.stats().num_preemptions > 0
    assert tight.stats().free_blocks == blocks


def test_chunked_prefill_and_batching_match_single_requests(loaded, llm):
    prompts = [chat(llm, "Opponent jumps. Your action?"), "The capital of France is", "1, 2, 3,"]
    singles = [llm.generate(p, GREEDY)[0].outputs[0].token_ids for p in prompts]
    chunky = make_llm(loaded, max_num_batched_tokens=20, max_num_seqs=3, enable_prefix_caching=False)
    batched = [o.outputs[0].token_ids for o in chunky.generate(prompts, GREEDY)]
    assert batched == singles


def test_prefix_cache_computes_only_new_tokens(llm):
    first = chat(llm, "State: opponent far left, health 80. Action?")
    second = first + "attack_left<|im_end|>\n<|im_start|>user\nState: opponent close, health 60. Action?"
    llm.generate(first, SamplingParams(temperature=0, max_tokens=2))
    before = llm.stats()
    out = llm.generate(second, SamplingParams(temperature=0, max_tokens=2))[0]
    n_first = len(llm.tokenizer.encode(first))
    block = before.block_size
    assert out.num_cached_tokens == n_first // block * block  # every full block of the first prompt
    computed = llm.stats().prompt_tokens_total - before.prompt_tokens_total
    assert computed == len(out.prompt_token_ids) - out.num_cached_tokens
    assert llm.stats().prefix_cache_hits - before.prefix_cache_hits == out.num_cached_tokens


def test_stop_string_across_tokens_is_trimmed(llm):
    free = llm.generate("1, 2, 3, 4,", SamplingParams(temperature=0, max_tokens=12))[0].outputs[0]
    assert free.text.startswith(" 5, 6, 7, 8,")
    out = llm.generate("1, 2, 3, 4,", SamplingParams(temperature=0, max_tokens=12, stop=["7, 8"]))[0].outputs[
        0
    ]
    assert out.text == " 5, 6, "  # "7, 8" spans several tokens; it and what follows are cut
    assert out.finish_reason == "stop" and out.stop_reason == "7, 8"


def test_stop_token_and_max_tokens(llm):
    free = llm.generate("1, 2, 3, 4,", SamplingParams(temperature=0, max_tokens=6))[0].outputs[0]
    assert free.finish_reason == "length" and len(free.token_ids) == 6
    stop_id = free.token_ids[2]
    out = llm.generate("1, 2, 3, 4,", SamplingParams(temperature=0, max_tokens=6, stop_token_ids=[stop_id]))[
        0
    ]
    c = out.outputs[0]
    assert c.finish_reason == "stop" and c.stop_reason == stop_id and c.token_ids == free.token_ids[:3]


def test_seed_determinism(llm):
    p = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, seed=1234, max_tokens=6, ignore_eos=True)
    a = llm.generate("Once upon a time", p)[0].outputs[0].token_ids
    # Same seed in a batch with other requests: same tokens.
    outs = llm.generate(["Once upon a time", "Hello"], [p, SamplingParams(temperature=1.0, max_tokens=6)])
    assert outs[0].outputs[0].token_ids == a
    other = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, seed=4321, max_tokens=6, ignore_eos=True)
    assert llm.generate("Once upon a time", other)[0].outputs[0].token_ids != a


def test_n_completions_share_prompt_prefix(llm):
    prompt = chat(llm, "Describe your next three moves.")
    before = llm.stats().prefix_cache_hits
    out = llm.generate(prompt, SamplingParams(n=3, temperature=1.0, seed=7, max_tokens=8, ignore_eos=True))[0]
    assert [c.index for c in out.outputs] == [0, 1, 2]
    assert all(len(c.token_ids) == 8 for c in out.outputs)
    assert len({tuple(c.token_ids) for c in out.outputs}) > 1  # different seeds per completion
    n_full = len(out.prompt_token_ids) // 16 * 16
    assert llm.stats().prefix_cache_hits - before >= 2 * n_full  # siblings reuse the prompt's blocks


def test_logprobs(llm):
    out = llm.generate("The capital of France is", SamplingParams(temperature=0, max_tokens=3, logprobs=5))[0]
    c = out.outputs[0]
    assert len(c.logprobs) == 3
    for tok, lp in zip(c.token_ids, c.logprobs, strict=True):
        assert lp.token_id == tok and lp.rank == 1  # greedy picks the top token
        assert len(lp.top) == 5 and max(lp.top.values()) == pytest.approx(lp.logprob)
        assert all(v <= 0 for v in lp.top.values())
    assert c.logprobs[0].decoded == " Paris"


def test_prompt_too_long(llm):
    with pytest.raises(PromptTooLongError, match=r"\d+ tokens.*max_tokens is 100"):
        llm.generate([1] * (llm.max_model_len - 50), SamplingParams(max_tokens=100))


def test_invalid_schema_and_regex_rejected_at_submit(llm):
    with pytest.raises(InvalidSchemaError):
        llm.generate("x", SamplingParams(structured=StructuredOutput(json_schema={"type": "no-such-type"})))
    with pytest.raises(InvalidSchemaError):
        llm.generate("x", SamplingParams(structured=StructuredOutput(regex="a(b")))
    assert not llm.engine.has_unfinished_requests()


def test_overloaded_when_waiting_queue_full(loaded):
    small = make_llm(loaded, max_waiting=2, num_kv_blocks=16)
    eng = small.engine
    eng.add_request("a", "hi", SamplingParams(max_tokens=1))
    eng.add_request("b", "hi", SamplingParams(max_tokens=1))
    with pytest.raises(EngineOverloadedError):
        eng.add_request("c", "hi", SamplingParams(max_tokens=1))
    with pytest.raises(ValueError, match="already in use"):
        eng.add_request("a", "hi", SamplingParams(max_tokens=1))
    while eng.has_unfinished_requests():
        eng.step()
    eng.add_request("c", "hi", SamplingParams(max_tokens=1))  # room again


def test_abort_frees_blocks(loaded):
    small = make_llm(loaded, num_kv_blocks=32)
    eng = small.engine
    eng.add_request(
        "long", chat(small, "Tell me everything."), SamplingParams(max_tokens=50, ignore_eos=True)
    )
    eng.step()
    eng.step()
    assert eng.stats().free_blocks < 32
    out = eng.abort_request("long")
    assert out.finished and out.outputs[0].finish_reason == "abort"
    assert eng.stats().free_blocks == 32
    assert not eng.has_unfinished_requests()
    assert eng.abort_request("long") is None


def test_auto_dtype_adopts_a_preloaded_models_dtype_and_an_explicit_mismatch_is_refused(loaded):
    # "auto" would pick bf16 on a CPU with AVX-512 BF16; a preloaded fp32 model decides instead.
    engine = LLMEngine(EngineConfig(num_kv_blocks=16), loaded=loaded)
    assert engine.dtype == torch.float32
    assert engine.weight_packing == EngineConfig(dtype="float32").resolved_weight_packing()
    with pytest.raises(ValueError, match="preloaded model is torch.float32"):
        LLMEngine(EngineConfig(dtype="bfloat16", num_kv_blocks=16), loaded=loaded)
