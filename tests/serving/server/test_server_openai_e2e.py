"""End-to-end: the real ``splitsecond serve`` subprocess (see conftest.py) driven by the official
``openai`` client: chat and completions, streaming and not, usage, logprobs, structured outputs."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m"
# Long enough to span several KV blocks, so a repeat hits the prefix cache.
LONG_SYSTEM = (
    "You are a careful assistant for a fighting game. The rules: each player has 100 health; a punch "
    "does 5 damage, a kick 8, a special move 15 but needs full meter; blocking halves damage; jumping "
    "avoids low attacks; every action takes time, and slow decisions lose rounds. Answer briefly."
)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.api_base, api_key=server.api_key, max_retries=0, timeout=60)


def _msgs(text="Say hello."):
    return [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": text}]


# ---------------------------------------------------------------- health, models


def test_health_and_models(server, client):
    h = httpx.get(server.base_url + "/health", timeout=10)
    assert h.status_code == 200 and h.json()["status"] == "ok"
    ids = [m.id for m in client.models.list().data]
    assert ids == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL


# ---------------------------------------------------------------- chat


def test_chat_non_streaming(client):
    r = client.chat.completions.create(model=MODEL, messages=_msgs(), max_tokens=12, temperature=0)
    c = r.choices[0]
    assert r.object == "chat.completion" and r.model == MODEL
    assert c.message.role == "assistant" and isinstance(c.message.content, str) and c.message.content
    assert c.finish_reason in ("stop", "length")
    u = r.usage
    assert u.prompt_tokens > 40 and 1 <= u.completion_tokens <= 12
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert u.prompt_tokens_details is not None and u.prompt_tokens_details.cached_tokens >= 0


def test_chat_streaming_matches_non_streaming(client):
    kw = dict(model=MODEL, messages=_msgs("Name a fruit."), max_tokens=10, temperature=0)
    # Warm the prefix cache first, so both compared requests take the same path: in bf16 (the default on
    # CPUs with AVX-512 BF16) a cold prefill and a cache hit run different attention kernels and may round
    # a near-tie the other way.
    client.chat.completions.create(**kw)
    whole = client.chat.completions.create(**kw).choices[0].message.content
    chunks = list(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes and finishes[-1] in ("stop", "length")
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage.completion_tokens >= 1 and usage.prompt_tokens > 40


def test_repeated_prompt_reports_cached_tokens(client):
    kw = dict(model=MODEL, messages=_msgs("What beats a kick?"), max_tokens=2, temperature=0)
    client.chat.completions.create(**kw)
    again = client.chat.completions.create(**kw)
    cached = again.usage.prompt_tokens_details.cached_tokens
    assert cached >= 16, again.usage
    assert cached < again.usage.prompt_tokens


def test_alias_and_n_with_seed(client):
    r = client.chat.completions.create(
        model="my-agent-model", messages=_msgs(), max_tokens=5, n=2, temperature=1.0, seed=7
    )
    assert r.model == MODEL and sorted(c.index for c in r.choices) == [0, 1]
    registry_alias = client.chat.completions.create(
        model="HuggingFaceTB/SmolLM2-135M-Instruct", messages=_msgs(), max_tokens=1
    )
    assert registry_alias.model == MODEL
    again = client.chat.completions.create(
        model=MODEL, messages=_msgs(), max_tokens=5, n=2, temperature=1.0, seed=7
    )
    assert [c.message.content for c in r.choices] == [c.message.content for c in again.choices]
    assert 2 <= r.usage.completion_tokens <= 10  # both choices counted


def test_chat_logprobs(client):
    r = client.chat.completions.create(
        model=MODEL, messages=_msgs(), max_tokens=4, temperature=0, logprobs=True, top_logprobs=3
    )
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert entry.logprob == pytest.approx(max(t.logprob for t in entry.top_logprobs), abs=1e-4)


def test_stop_string(client):
    r = client.completions.create(
        model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=20, temperature=0, stop=[" 7"]
    )
    assert " 7" not in r.choices[0].text
    assert r.choices[0].finish_reason == "stop"


# ---------------------------------------------------------------- completions


def test_completions_non_streaming_and_streaming(client):
    kw = dict(model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0)
    r = client.completions.create(**kw, logprobs=2)
    assert r.object == "text_completion" and r.choices[0].text
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == r.usage.completion_tokens
    assert all(len(t) == 2 for t in lp.top_logprobs)
    chunks = list(client.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    assert text == r.choices[0].text
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens


def test_completions_batch_of_prompts(client):
    r = client.completions.create(model=MODEL, prompt=["Hello", "One two"], max_tokens=3, temperature=0, n=2)
    assert sorted(c.index for c in r.choices) == [0, 1, 2, 3]
    assert 4 <= r.usage.completion_tokens <= 12  # 2 prompts x n=2, at most 3 tokens each


# ---------------------------------------------------------------- structured outputs

SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["punch", "kick", "block"]},
        "confidence": {"type": "integer"},
    },
    "required": ["action", "confidence"],
    "additionalProperties": False,
}


def test_json_schema_response_format(client):
    r = client.chat.completions.create(
        model=MODEL,
        messages=_msgs("Pick an action as JSON."),
        max_tokens=40,
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "act", "schema": SCHEMA, "strict": True},
        },
    )
    obj = json.loads(r.choices[0].message.content)
    assert set(obj) == {"action", "confidence"}
    assert obj["action"] in ("punch", "kick", "block") and isinstance(obj["confidence"], int)


def test_json_object_response_format(client):
    r = client.chat.completions.create(
        model=MODEL, messages=_msgs("Reply with a JSON object."), max_tokens=30, temperature=0,
        response_format={"type": "json_object"},
    )  # fmt: skip
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    else:
        assert r.choices[0].message.content.lstrip().startswith("{")


@pytest.mark.parametrize("field", ["structured_outputs", "guided_choice"])
def test_choice_constraints(client, field):
    choices = ["punch", "kick", "block", "jump back"]
    extra = (
        {"structured_outputs": {"choice": choices}}
        if field == "structured_outputs"
        else {"guided_choice": choices}
    )
    for temperature in (0.0, 1.0):
        r = client.chat.completions.create(
            model=MODEL,
            messages=_msgs("Your move?"),
            max_tokens=10,
            temperature=temperature,
            seed=3,
            extra_body=extra,
        )
        assert r.choices[0].message.content in choices


def test_regex_constraint(client):
    r = client.completions.create(
        model=MODEL,
        prompt="A number:",
        max_tokens=10,
        temperature=0,
        extra_body={"guided_regex": r"[0-9]{3}"},
    )
    assert re.fullmatch(r"[0-9]{3}", r.choices[0].text)
