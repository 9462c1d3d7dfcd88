"""Edges and the verifier over real gRPC: lossless output, batching, proactive drafts, failures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
import torch

from splitsecond.serving import AsyncEngine, EngineConfig, SamplingParams
from splitsecond.serving.loader.model_loader import load_model
from splitsecond.serving.server.launcher import find_free_port
from splitsecond.serving.speculative.edge.client import VerifierClient, VerifierError
from splitsecond.serving.speculative.edge.config import EdgeConfig
from splitsecond.serving.speculative.edge.engine import EdgeEngine
from splitsecond.serving.speculative.proposers import Proposal
from splitsecond.serving.speculative.protocol import Draft, OpenSession, params_to_wire
from splitsecond.serving.speculative.verifier_service import VerifierConfig, VerifierService

pytestmark = pytest.mark.slow

SYSTEM = (
    "You trade one stock. Orders: buy_market, sell_market, buy_limit_at_bid, sell_limit_at_ask, cancel_all, "
    "hold. Answer with one order and repeat the price you saw."
)


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


def chat(tokenizer, text: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    )


def run(loaded, body, **verifier_kw):
    """Run ``body(engine, service, port)`` with an AsyncEngine and a verifier on a free port."""

    async def main():
        engine = AsyncEngine(EngineConfig(dtype="float32", num_kv_blocks=256), loaded=loaded)
        await engine.start()
        service = VerifierService(engine, VerifierConfig(port=find_free_port(), **verifier_kw))
        port = await service.start()
        try:
            return await body(engine, service, port)
        finally:
            await service.stop(0)
            await engine.shutdown()

    return asyncio.run(main())


async def last_output(stream):
    final = None
    async for out in stream:
        final = out
    return final


async def collect(stream) -> list[int]:
    return (await last_output(stream)).outputs[0].token_ids


async def wait_idle(engine, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        s = engine.stats()
        if s.num_running == 0 and s.num_waiting == 0 and s.free_blocks == s.total_blocks:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"engine still holds requests: {engine.stats()}")


def test_concurrent_edges_are_lossless_and_verified_together(loaded):
    async def body(engine, service, port):
        tok = engine.tokenizer
        prompts = [
            chat(tok, f"Bid {100 + i}.25, ask {100 + i}.27, last trade {100 + i}.26. Order?")
            for i in range(5)
        ]
        params = SamplingParams(temperature=0, max_tokens=24)
        reference = [await collect(engine.generate(p, params, f"plain-{i}")) for i, p in enumerate(prompts)]
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}", draft="prompt-lookup"))
        try:
            got = await asyncio.gather(
                *(collect(edge.generate(p, params, f"e{i}")) for i, p in enumerate(prompts))
            )
            return reference, got, edge.spec_summary(), dict(engine.engine.spec_batch_sizes)
        finally:
            await edge.shutdown()

    reference, got, summary, batches = run(loaded, body)
    assert got == reference
    assert summary["rounds"] > 0 and summary["acceptance_rate"] > 0
    assert summary["bytes_per_round"] < 300  # token ids only: no masks, no logits
    assert max(batches) >= 2  # drafts from several edges verified in one forward pass


def test_self_speculative_edge_is_lossless(loaded):
    async def body(engine, service, port):
        p = chat(engine.tokenizer, "Bid 55.10, ask 55.12. Order?")
        params = SamplingParams(temperature=0, max_tokens=20)
        ref = await collect(engine.generate(p, params, "plain"))
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}", draft="self:10", max_model_len=512))
        try:
            return ref, await last_output(edge.generate(p, params, "self")), edge.spec_summary()
        finally:
            await edge.shutdown()

    ref, out, summary = run(loaded, body)
    assert out.outputs[0].token_ids == ref
    assert summary["mean_draft_length"] > 0
    # the prompt was served from the server's prefix cache, and the edge reports it as the server counted it
    assert out.num_cached_tokens > 0 and out.num_cached_tokens % 16 == 0


def test_suffix_edge_learns_from_earlier_outputs_and_stays_lossless(loaded):
    async def body(engine, service, port):
        tok = engine.tokenizer
        questions = ["Write a haiku about the sea.", "Name three colours of autumn leaves."]
        prompts = [chat(tok, q) for q in (*questions, *questions)]  # the second pass repeats the first
        params = SamplingParams(temperature=0, max_tokens=24)
        reference = [await collect(engine.generate(p, params, f"plain-{i}")) for i, p in enumerate(prompts)]
        # plain_fallback off: every request drafts, so the rounds below measure the cache alone
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}", draft="suffix", plain_fallback=False))
        try:
            got, rounds = [], []
            for i, p in enumerate(prompts):  # one after another: each request can learn from the ones before
                before = edge.edge_stats.rounds
                got.append(await collect(edge.generate(p, params, f"s{i}")))
                rounds.append(edge.edge_stats.rounds - before)
            aborted = edge.generate(prompts[0], params, "s-abort")
            await anext(aborted)
            await edge.abort("s-abort")
            await collect(aborted)
            return reference, got, rounds, edge.spec_summary(), edge.suffix_cache.outputs()
        finally:
            await edge.shutdown()

    reference, got, rounds, summary, learned = run(loaded, body)
    assert got == reference
    assert learned == reference  # every finished output, in order; the aborted one is not learned
    stats = summary["suffix_cache"]
    assert stats["outputs"] == len(reference) and stats["from_cache"] > 0
    # a repeated answer is drafted from the cache: far fewer verification rounds than the first time
    assert rounds[2] < rounds[0] and rounds[3] < rounds[1], rounds


class _WrongProposer:
    """Drafts tokens the target never picks (a draft source that never pays)."""

    name = "wrong"

    def propose(self, context, k):
        return Proposal([3] * k)

    def reset(self):
        pass

    def learn(self, output):
        pass


def test_edge_falls_back_to_plain_decoding_when_drafts_do_not_pay(loaded):
    async def body(engine, service, port):
        tok = engine.tokenizer
        prompts = [chat(tok, f"Bid {100 + i}.25, ask {100 + i}.27. Order?") for i in range(6)]
        params = SamplingParams(temperature=0, max_tokens=16)
        reference = [await collect(engine.generate(p, params, f"plain-{i}")) for i, p in enumerate(prompts)]
        edge = EdgeEngine(
            EdgeConfig(server=f"127.0.0.1:{port}", probe_every=4), proposer_factory=_WrongProposer
        )
        try:
            got, drafted = [], []
            for i, p in enumerate(prompts):
                before = edge.edge_stats.draft_tokens
                got.append(await collect(edge.generate(p, params, f"w{i}")))
                drafted.append(edge.edge_stats.draft_tokens - before)
            # the server side of a plain session: one verdict per token, no draft in between
            client = VerifierClient(f"127.0.0.1:{port}")
            session, first = await client.open(OpenSession("raw", tok.encode(prompts[0]), params_to_wire(params),
                                                           edge.fingerprint, "none", plain=True))  # fmt: skip
            tokens = list(first.token_ids)
            while True:
                v = await session.next_verdict()
                assert v.accepted == 0 and len(v.token_ids) == 1 and v.server_seconds > 0
                tokens.extend(v.token_ids)
                if v.finish_reason is not None:
                    break
            await session.close()
            await client.close()
            await wait_idle(engine)
            return reference, got, drafted, edge.spec_summary(), tokens
        finally:
            await edge.shutdown()

    reference, got, drafted, summary, raw = run(loaded, body)
    assert got == reference and raw == reference[0]
    # drafting was measured not to pay: the server decoded alone (the first 2-3 requests learn that)
    assert summary["plain_requests"] >= 2, drafted
    assert drafted[0] > 0 and 0 in drafted[2:], drafted


def test_proactive_drafts_are_kept_when_the_bet_wins_and_discarded_otherwise(loaded):
    async def body(engine, service, port):
        text = "Copy exactly: alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"
        p = chat(engine.tokenizer, text)
        params = SamplingParams(temperature=0, max_tokens=40)
        ref = await collect(engine.generate(p, params, "plain"))
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}", draft="prompt-lookup", proactive=True))
        try:
            got = await collect(edge.generate(p, params, "pro"))
            return ref, got, edge.proactive_stats
        finally:
            await edge.shutdown()

    ref, got, stats = run(loaded, body)
    assert got == ref
    assert stats.kept > 0 and stats.discarded > 0


_VANISHING_EDGE = """
import asyncio, sys
from splitsecond.serving.loader.model_loader import load_tokenizer
from splitsecond.serving.speculative.edge.client import VerifierClient
from splitsecond.serving.speculative.protocol import Draft, OpenSession
from splitsecond.serving.speculative.verifier_service import tokenizer_fingerprint

async def main():
    tok = load_tokenizer("smollm2-135m")
    client = VerifierClient(sys.argv[1])
    params = {"temperature": 0, "max_tokens": 200, "ignore_eos": True}
    session, verdict = await client.open(OpenSession("doomed", tok.encode("Count to one hundred:"), params,
                                                    tokenizer_fingerprint(tok)))
    await session.verify(Draft(1, verdict.num_tokens, [28, 29]))
    print("mid-request", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_an_edge_killed_mid_request_frees_its_kv(loaded):
    async def body(engine, service, port):
        proc = subprocess.Popen(
            [sys.executable, "-c", _VANISHING_EDGE, f"127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True
        )
        try:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line.strip() == "mid-request"
            assert engine.stats().num_running == 1
            proc.kill()  # no goodbye: the TCP connection just drops
        finally:
            proc.kill()
            proc.wait()
        await wait_idle(engine)
        aborted = service.stats.sessions_aborted
        # the service keeps serving
        p = chat(engine.tokenizer, "Bid 10, ask 11. Order?")
        params = SamplingParams(temperature=0, max_tokens=8)
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}"))
        try:
            got = await collect(edge.generate(p, params, "after"))
        finally:
            await edge.shutdown()
        return aborted, got, await collect(engine.generate(p, params, "plain"))

    aborted, got, ref = run(loaded, body)
    assert aborted == 1
    assert got == ref


def test_idle_sessions_time_out_and_refusals_are_specific(loaded):
    async def body(engine, service, port):
        tok = engine.tokenizer
        from splitsecond.serving.speculative.verifier_service import tokenizer_fingerprint

        fp = tokenizer_fingerprint(tok)
        client = VerifierClient(f"127.0.0.1:{port}")
        ids = tok.encode("Hello there")
        params = params_to_wire(SamplingParams(temperature=0, max_tokens=30, ignore_eos=True))
        codes = {}
        for name, msg in {
            "tokenizer": OpenSession("a", ids, params, "0000000000000000"),
            "params": OpenSession("b", ids, {"temperature": 0, "frobnicate": 1}, fp),
            "prompt": OpenSession("c", [10**7], params, fp),
        }.items():
            with pytest.raises(VerifierError) as err:
                await client.open(msg)
            codes[name] = err.value.code
        session, verdict = await client.open(OpenSession("d", ids, params, fp))
        with pytest.raises(VerifierError) as err:
            await session.verify(Draft(1, verdict.num_tokens + 3, [5]))
        codes["desync"] = err.value.code
        session, verdict = await client.open(OpenSession("e", ids, params, fp))
        with pytest.raises(VerifierError) as err:
            await session.verify(Draft(1, verdict.num_tokens, [10**6]))
        codes["draft"] = err.value.code
        session, verdict = await client.open(OpenSession("f", ids, params, fp))
        await asyncio.sleep(1.0)  # longer than draft_timeout_s
        with pytest.raises(VerifierError) as err:
            await session.verify(Draft(1, verdict.num_tokens, [5]))
        codes["idle"] = err.value.code
        await client.close()
        await wait_idle(engine)
        return codes

    codes = run(loaded, body, draft_timeout_s=0.5)
    assert codes == {
        "tokenizer": "tokenizer_mismatch",
        "params": "invalid_argument",
        "prompt": "invalid_argument",
        "desync": "desync",
        "draft": "invalid_argument",
        "idle": "timeout",
    }


def test_edge_reconnects_when_the_verifier_restarts(loaded):
    async def body(engine, service, port):
        p = chat(engine.tokenizer, "Describe your trading plan for the open in detail.")
        params = SamplingParams(temperature=0, max_tokens=40, ignore_eos=True)
        ref = await collect(engine.generate(p, params, "plain"))
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}", draft="none", open_timeout_s=20))
        restarted = None
        try:
            got = None
            async for out in edge.generate(p, params, "re"):
                got = out
                if restarted is None and len(out.outputs[0].token_ids) >= 8:
                    await service.stop(0)  # every session breaks
                    restarted = VerifierService(engine, VerifierConfig(port=port))
                    await restarted.start()
            return ref, got.outputs[0].token_ids, edge.edge_stats.reconnects
        finally:
            await edge.shutdown()
            if restarted is not None:
                await restarted.stop(0)

    ref, got, reconnects = run(loaded, body)
    assert reconnects >= 1
    assert got == ref
