"""The engine's speculative path: drafts verified in one forward pass, losslessly, next to plain requests."""

from __future__ import annotations

import random

import pytest
import torch

from splitsecond.serving import EngineConfig, SamplingParams
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.loader.model_loader import load_model
from splitsecond.serving.sampling_params import StructuredOutput
from splitsecond.serving.speculative.proposers.prompt_lookup import PromptLookupProposer

pytestmark = pytest.mark.slow

SYSTEM = (
    "You control a fighter in a real-time game. Actions: attack_left, attack_right, block, jump, "
    "fireball. Answer with one action and a short reason."
)
TOPICS = [
    "Opponent at distance {i}, health {h}. Your action?",
    "Explain in two sentences why the sky is blue. ({i})",
    "List three fruits and their colours, item {i}.",
    "Repeat after me: the quick brown fox jumps over the lazy dog {i} times.",
]


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


def make_engine(loaded, **kw) -> LLMEngine:
    kw.setdefault("num_kv_blocks", 256)
    return LLMEngine(EngineConfig(dtype="float32", **kw), loaded=loaded)


@pytest.fixture(scope="module")
def engine(loaded):
    return make_engine(loaded)


def prompts(engine: LLMEngine, n: int) -> list[str]:
    out = []
    for i in range(n):
        text = TOPICS[i % len(TOPICS)].format(i=i, h=40 + 7 * i)
        out.append(
            engine.tokenizer.apply_chat_template(
                [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
            )
        )
    return out


def plain_many(engine: LLMEngine, jobs: dict[str, tuple[str, SamplingParams]]) -> dict[str, list[int]]:
    """Plain (non-speculative) outputs of ``jobs``, decoded as one continuous batch."""
    for rid, (prompt, params) in jobs.items():
        engine.add_request(rid, prompt, params)
    done: dict[str, list[int]] = {}
    while engine.has_unfinished_requests():
        for out in engine.step():
            if out.finished:
                done[out.request_id] = out.outputs[0].token_ids
    return done


def plain(engine: LLMEngine, prompt: str, params: SamplingParams, rid: str) -> list[int]:
    return plain_many(engine, {rid: (prompt, params)})[rid]


def speculate(
    engine: LLMEngine, jobs: dict[str, tuple[str, SamplingParams]], drafter
) -> dict[str, list[int]]:
    """Run speculative requests to the end; ``drafter(rid, context) -> draft`` proposes each round."""
    for rid, (prompt, params) in jobs.items():
        engine.enqueue(engine.make_request(rid, prompt, params, speculative=True))
    done: dict[str, list[int]] = {}
    while len(done) < len(jobs):
        for out in engine.step():
            if out.finished:
                done[out.request_id] = out.outputs[0].token_ids
        for rid in jobs:
            req = engine.requests.get(rid)
            if req is not None and req.seqs[0].awaiting_draft:
                engine.submit_draft(rid, drafter(rid, list(req.seqs[0].token_ids)))
    return done


def test_greedy_speculation_is_identical_to_plain_decoding(engine):
    params = SamplingParams(temperature=0, max_tokens=20)
    ps = prompts(engine, 8)
    jobs = {f"r{i}": (p, params) for i, p in enumerate(ps)}
    reference = plain_many(engine, jobs)
    rng = random.Random(0)
    full = {
        rid: engine.tokenizer.encode(p) + ref for (rid, ref), p in zip(reference.items(), ps, strict=True)
    }

    def oracle(rid, ctx):  # the true continuation, sometimes corrupted mid-way
        draft = full[rid][len(ctx) : len(ctx) + rng.randint(0, 6)]
        if draft and rng.random() < 0.4:
            draft[rng.randrange(len(draft))] = rng.randrange(engine.model_config.vocab_size)
        return draft

    lookup = PromptLookupProposer()
    before = engine.stats()
    assert speculate(engine, jobs, oracle) == reference
    assert speculate(
        engine, {f"q{k[1:]}": v for k, v in jobs.items()}, lambda r, c: lookup.propose(c, 5).tokens
    ) == {f"q{k[1:]}": v for k, v in reference.items()}
    stats = engine.stats()
    assert stats.spec_accepted_tokens > before.spec_accepted_tokens
    assert (
        stats.spec_draft_tokens - before.spec_draft_tokens
        > stats.spec_accepted_tokens - before.spec_accepted_tokens
    )
    assert stats.free_blocks == stats.total_blocks  # rejected draft blocks all came back
    assert max(engine.spec_batch_sizes) >= 2  # several sequences' drafts verified in one forward pass


def test_perfect_drafts_cut_forward_passes(engine):
    params = SamplingParams(temperature=0, max_tokens=32, ignore_eos=True)
    p = prompts(engine, 1)[0]
    ref = plain(engine, p, params, "plain-fp")
    full = engine.tokenizer.encode(p) + ref
    passes0 = engine.runner.num_forward_passes
    out = speculate(engine, {"fp": (p, params)}, lambda rid, ctx: full[len(ctx) : len(ctx) + 7])
    assert out["fp"] == ref
    # prefill + 32 tokens at 8 per round = 1 + 4 passes (plain decoding needs 1 + 31)
    assert engine.runner.num_forward_passes - passes0 <= 6


def test_max_tokens_and_eos_cut_an_accepted_draft(engine):
    p = prompts(engine, 1)[0]
    params = SamplingParams(temperature=0, max_tokens=5, ignore_eos=True)
    ref = plain(engine, p, params, "plain-mt")
    full = engine.tokenizer.encode(p) + plain(
        engine, p, SamplingParams(temperature=0, max_tokens=20, ignore_eos=True), "long"
    )
    out = speculate(engine, {"mt": (p, params)}, lambda rid, ctx: full[len(ctx) : len(ctx) + 8])
    assert out["mt"] == ref and len(ref) == 5
    # EOS inside an accepted draft ends the output there
    params = SamplingParams(temperature=0, max_tokens=48)
    ps = prompts(engine, 4)
    refs = plain_many(engine, {f"plain-eos-{i}": (p, params) for i, p in enumerate(ps)})
    ended = [i for i in range(4) if refs[f"plain-eos-{i}"][-1] in engine.eos_ids]
    assert ended, "no prompt ended with EOS: pick others"
    p, ref = ps[ended[0]], refs[f"plain-eos-{ended[0]}"]
    full = engine.tokenizer.encode(p) + ref + [1, 2, 3]
    out = speculate(engine, {"eos": (p, params)}, lambda rid, ctx: full[len(ctx) : len(ctx) + 6])
    assert out["eos"] == ref


def test_choice_constraint_with_drafts(engine):
    so = StructuredOutput(choice=["attack_left", "attack_right", "block", "jump"])
    params = SamplingParams(temperature=0, max_tokens=10, structured=so)
    ps = prompts(engine, 3)
    ref = plain_many(engine, {f"c{i}": (p, params) for i, p in enumerate(ps)})
    vocab = engine.model_config.vocab_size
    rng = random.Random(1)
    out = speculate(
        engine,
        {f"c{i}": (p, params) for i, p in enumerate(ps)},
        lambda rid, ctx: [rng.randrange(vocab) for _ in range(3)],  # garbage: the grammar refuses it
    )
    assert out == ref


def test_preempted_speculative_sequence_stays_lossless(loaded):
    probe = make_engine(loaded)
    ps = prompts(probe, 4)
    # Enough blocks to admit every prompt, not to grow them all: sequences must be preempted.
    blocks = sum(-(-len(probe.tokenizer.encode(p)) // 16) for p in ps) + 2
    tight = make_engine(loaded, num_kv_blocks=blocks, max_num_seqs=4, enable_prefix_caching=False)
    params = SamplingParams(temperature=0, max_tokens=48, ignore_eos=True)
    ref = plain_many(probe, {f"t{i}": (p, params) for i, p in enumerate(ps)})
    full = {f"t{i}": tight.tokenizer.encode(p) + ref[f"t{i}"] for i, p in enumerate(ps)}
    out = speculate(
        tight, {f"t{i}": (p, params) for i, p in enumerate(ps)}, lambda r, c: full[r][len(c) : len(c) + 4]
    )
    assert out == ref
    assert tight.scheduler.num_preemptions > 0
    assert tight.block_manager.num_free_blocks == blocks


def test_sampled_speculation_is_reproducible_and_valid(engine):
    params = SamplingParams(temperature=0.8, top_k=50, seed=7, max_tokens=16, ignore_eos=True)
    p = prompts(engine, 1)[0]
    lookup = PromptLookupProposer()
    a = speculate(engine, {"s1": (p, params)}, lambda r, c: lookup.propose(c, 4).tokens)["s1"]
    b = speculate(engine, {"s2": (p, params)}, lambda r, c: lookup.propose(c, 4).tokens)["s2"]
    assert a == b and len(a) == 16
    assert all(0 <= t < engine.model_config.vocab_size for t in a)


def test_invalid_drafts_are_refused_with_clear_errors(engine):
    p = prompts(engine, 1)[0]
    params = SamplingParams(temperature=0, max_tokens=8)
    with pytest.raises(ValueError, match="n=1"):
        engine.make_request("bad-n", p, SamplingParams(n=2), speculative=True)
    req = engine.make_request("inv", p, params, speculative=True)
    engine.enqueue(req)
    with pytest.raises(ValueError, match="not waiting"):
        engine.submit_draft("inv", [1, 2])  # still prefilling
    while not req.seqs[0].awaiting_draft:
        engine.step()
    with pytest.raises(ValueError, match="token ids must be integers in"):
        engine.submit_draft("inv", [engine.model_config.vocab_size + 5])
    with pytest.raises(ValueError):
        engine.submit_draft("inv", list(range(1, 100)))  # longer than spec_max_draft_tokens
    with pytest.raises(ValueError, match="no unfinished request"):
        engine.submit_draft("nobody", [1])
    engine.abort_request("inv")
    assert engine.block_manager.num_free_blocks == engine.block_manager.num_blocks


def test_free_run_decodes_on_its_own_then_waits_for_a_draft(engine):
    params = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)
    p = prompts(engine, 1)[0]
    ref = plain(engine, p, params, "plain-free")
    req = engine.make_request("free", p, params, speculative=True)
    engine.enqueue(req)
    seq = req.seqs[0]
    outputs = 0
    while not seq.awaiting_draft:
        outputs += len(engine.step())
    engine.submit_draft("free", [], free_run=5)
    steps = 0
    while not seq.awaiting_draft and not seq.finished:
        outputs += len(engine.step())
        steps += 1
    assert steps == 6 and outputs == 7  # first token, the verified (empty) draft, then 5 on its own
    assert seq.num_output_tokens == 7
    while not seq.finished:
        if seq.awaiting_draft:
            engine.submit_draft("free", [], free_run=3)
        engine.step()
    assert seq.output_token_ids == ref
    with pytest.raises(ValueError, match="free_run"):
        engine.submit_draft("free", [], free_run=-1)
