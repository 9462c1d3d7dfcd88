"""The gRPC verifier behind ``--api-key``: an edge without the key is refused (UNAUTHENTICATED), with it
works; a session's sampling values pass the same checks against the model as an HTTP request's."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
import torch

from splitsecond.serving import AsyncEngine, EngineConfig, SamplingParams
from splitsecond.serving.loader.model_loader import load_model
from splitsecond.serving.server.launcher import find_free_port
from splitsecond.serving.speculative.edge.client import VerifierClient, VerifierError
from splitsecond.serving.speculative.edge.config import EdgeConfig
from splitsecond.serving.speculative.edge.engine import EdgeEngine
from splitsecond.serving.speculative.protocol import SESSION_METHOD, OpenSession, params_to_wire
from splitsecond.serving.speculative.verifier_service import (
    VerifierConfig,
    VerifierService,
    tokenizer_fingerprint,
)

pytestmark = pytest.mark.slow

KEY = "verifier-key-5d1c"


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


def run(loaded, body):
    """Run ``body(engine, port)`` with an AsyncEngine and a key-guarded verifier on a free port."""

    async def main():
        engine = AsyncEngine(EngineConfig(num_kv_blocks=128), loaded=loaded)
        service = VerifierService(engine, VerifierConfig(port=find_free_port(), api_key=KEY))
        port = await service.start()
        try:
            return await body(engine, port)
        finally:
            await service.stop(0)
            await engine.shutdown()

    return asyncio.run(main())


def test_an_edge_needs_the_key(loaded):
    async def body(engine, port):
        tok = engine.tokenizer
        ids = tok.encode("Hello there")
        opened = OpenSession(
            "s", ids, params_to_wire(SamplingParams(temperature=0, max_tokens=4)), tokenizer_fingerprint(tok)
        )
        codes = {}
        for name, key in (("none", None), ("wrong", "not-the-key")):
            client = VerifierClient(f"127.0.0.1:{port}", api_key=key)
            with pytest.raises(VerifierError) as err:
                await client.open(opened)
            codes[name] = (err.value.code, err.value.retryable)
            await client.close()
        # The raw status a foreign client sees, before any handler ran.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.stream_stream(SESSION_METHOD)()
            with contextlib.suppress(grpc.aio.AioRpcError):  # the refusal may land before the write
                await call.write(b"\x00garbage")
            codes["raw"] = await call.code()
        params = SamplingParams(temperature=0, max_tokens=12)
        reference = [o async for o in engine.generate(ids, params, "plain")][-1].outputs[0].token_ids
        edge = EdgeEngine(EdgeConfig(server=f"127.0.0.1:{port}", draft="prompt-lookup", api_key=KEY))
        try:
            got = [o async for o in edge.generate(ids, params, "edge")][-1].outputs[0].token_ids
        finally:
            await edge.shutdown()
        return codes, reference, got, engine.stats()

    codes, reference, got, stats = run(loaded, body)
    assert codes["none"] == ("unauthenticated", False) and codes["wrong"] == ("unauthenticated", False)
    assert codes["raw"] == grpc.StatusCode.UNAUTHENTICATED
    assert got == reference  # with the key the edge is served, losslessly
    assert stats.requests_finished == 2  # the refused sessions never reached the engine


@pytest.mark.parametrize(
    "wire, word",
    [({"stop_token_ids": [1_000_000], "min_tokens": 2}, "stop_token_ids"), ({"top_k": 2**63}, "top_k"),
     ({"max_tokens": 2**64 - 1}, "max_tokens")],  # the largest values msgpack carries
)  # fmt: skip
def test_poisoned_sampling_values_are_refused_through_grpc(loaded, wire, word):
    async def body(engine, port):
        tok = engine.tokenizer
        params = {**params_to_wire(SamplingParams(temperature=0, max_tokens=8)), **wire}
        client = VerifierClient(f"127.0.0.1:{port}", api_key=KEY)
        try:
            with pytest.raises(VerifierError) as err:
                await client.open(OpenSession("p", tok.encode("Hi"), params, tokenizer_fingerprint(tok)))
        finally:
            await client.close()
        return err.value

    err = run(loaded, body)
    assert err.code == "invalid_argument" and word in err.message
