"""End-to-end: LiteLLM (``hosted_vllm/`` and ``openai/`` prefixes) against the real server subprocess
(see conftest.py, which also sets ``LITELLM_LOCAL_MODEL_COST_MAP`` so LiteLLM stays offline)."""

from __future__ import annotations

import asyncio
import os

import pytest

# LiteLLM must never reach for the network (its model cost map) in tests.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

pytestmark = [
    pytest.mark.slow,
    # LiteLLM's own pydantic models warn about ReadOnly TypedDict items; not ours to fix.
    pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning"),
]

MODEL = "smollm2-135m"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant for a fighting game. Reply with one word."},
    {"role": "user", "content": "Your opponent jumps. Your move?"},
]


@pytest.fixture(scope="module")
def litellm():
    import litellm as _litellm

    _litellm.telemetry = False
    return _litellm


@pytest.mark.parametrize("prefix", ["hosted_vllm", "openai"])
def test_litellm_completion(server, litellm, prefix):
    r = litellm.completion(
        model=f"{prefix}/{MODEL}", api_base=server.api_base, api_key=server.api_key, messages=MESSAGES, max_tokens=8,
        temperature=0,
    )  # fmt: skip
    assert isinstance(r.choices[0].message.content, str) and r.choices[0].message.content
    assert r.usage.prompt_tokens > 10 and 1 <= r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@pytest.mark.parametrize("prefix", ["hosted_vllm", "openai"])
def test_litellm_streaming(server, litellm, prefix):
    kw = dict(model=f"{prefix}/{MODEL}", api_base=server.api_base, api_key=server.api_key, messages=MESSAGES, max_tokens=8,
              temperature=0)  # fmt: skip
    whole = litellm.completion(**kw).choices[0].message.content
    stream = litellm.completion(**kw, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == whole


def test_litellm_async_and_choice_constraint(server, litellm):
    choices = ["punch", "kick", "block"]

    async def go():
        return await litellm.acompletion(
            model=f"hosted_vllm/{MODEL}", api_base=server.api_base, api_key=server.api_key, messages=MESSAGES, max_tokens=8,
            temperature=0.7, extra_body={"guided_choice": choices},
        )  # fmt: skip

    r = asyncio.run(go())
    assert r.choices[0].message.content in choices


def test_litellm_repeated_prompt_reports_cached_tokens(server, litellm):
    kw = dict(
        model=f"openai/{MODEL}",
        api_base=server.api_base,
        api_key=server.api_key,
        messages=MESSAGES,
        max_tokens=2,
    )
    litellm.completion(**kw)
    r = litellm.completion(**kw)
    assert r.usage.prompt_tokens_details.cached_tokens >= 16


def test_litellm_wrong_key_raises_authentication_error(server, litellm):
    with pytest.raises(litellm.AuthenticationError):
        litellm.completion(
            model=f"hosted_vllm/{MODEL}", api_base=server.api_base, api_key="nope", messages=MESSAGES, max_tokens=2,
            num_retries=0,
        )  # fmt: skip
