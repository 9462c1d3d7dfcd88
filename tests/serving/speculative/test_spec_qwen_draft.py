"""Qwen2.5-Coder-0.5B drafting on the edge for a Qwen2.5-Coder-1.5B verifier (one 151,936-token
vocabulary): greedy output identical to plain decoding (float32 activations), drafts from the model and
the suffix source. Short on purpose (two prompts, a few tokens). The verifier serves the checkpoint's own
4/8-bit weights through the CPU kernels where they are built (``weight_packing="quant"``: it loads in a
third of the time of the float32 weights and decodes faster); losslessness is against the same engine's
plain decoding, whatever its weights."""

from __future__ import annotations

import asyncio

import pytest

from splitsecond.serving import AsyncEngine, EngineConfig, SamplingParams
from splitsecond.serving.kernels.ops import kernels_available
from splitsecond.serving.loader.model_loader import load_tokenizer
from splitsecond.serving.server.launcher import find_free_port
from splitsecond.serving.speculative.edge.config import EdgeConfig
from splitsecond.serving.speculative.edge.engine import EdgeEngine
from splitsecond.serving.speculative.verifier_service import VerifierConfig, VerifierService

pytestmark = pytest.mark.slow

TARGET, DRAFT = "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"
PROMPTS = (
    "Bid 101.25, ask 101.27, last 101.26. Answer with one order: buy_market, sell_market or hold.",
    "Write a Python function that returns the n-th Fibonacci number.",
)


def _installed_or_skip(name: str) -> None:
    from splitsecond.serving.loader.registry import resolve_model

    try:
        resolve_model(name)
    except FileNotFoundError as exc:  # the ladder's packages are installed by scripts/setup.sh / test.sh
        pytest.skip(f"{name} is not installed: {exc}")


def test_qwen_05b_drafts_for_the_15b_losslessly():
    _installed_or_skip(TARGET)
    _installed_or_skip(DRAFT)  # the edge loads it itself
    tok = load_tokenizer(TARGET)
    prompts = [tok.apply_chat_template([{"role": "user", "content": p}]) for p in PROMPTS]
    params = SamplingParams(temperature=0, max_tokens=6)

    async def main():
        packing = "quant" if kernels_available() else "auto"
        engine = AsyncEngine(
            EngineConfig(
                model=TARGET, dtype="float32", weight_packing=packing, num_kv_blocks=64, max_model_len=512
            )
        )
        await engine.start()
        service = VerifierService(engine, VerifierConfig(port=find_free_port()))
        port = await service.start()
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}", model=TARGET, draft=f"model:{DRAFT}",
                                     max_model_len=512, plain_fallback=False))  # fmt: skip
        try:
            plain, drafted = [], []
            for i, p in enumerate(prompts):
                async for out in engine.generate(p, params, f"plain-{i}"):
                    final = out
                plain.append(final.outputs[0].token_ids)
                async for out in edge.generate(p, params, f"edge-{i}"):
                    final = out
                drafted.append(final.outputs[0].token_ids)
            return plain, drafted, edge.spec_summary()
        finally:
            await edge.shutdown()
            await service.stop(0)
            await engine.shutdown()

    plain, drafted, summary = asyncio.run(main())
    assert drafted == plain
    assert all(0 < len(t) <= 6 for t in plain)  # an answer may end (EOS) before max_tokens
    assert summary["rounds"] > 0 and summary["mean_draft_length"] > 0
    assert summary["draft_sources"]["from_model"] > 0  # the 0.5B drafted (the suffix source is empty)
    assert summary["per_position_acceptance"][0] > 0  # it agrees with the 1.5B at least sometimes
