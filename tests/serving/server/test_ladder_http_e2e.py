"""Every architecture the ladder added answers a choice and a JSON-schema constraint validly through the real
HTTP server (one server per model, default engine settings): Gemma 3 and Qwen2. The 1.5B model is the
0.5B's architecture and tokenizer at a larger size; its numerics are checked against transformers in
``test_ladder_models.py``, so a third server start (~45 s on 2 cores) would check nothing new."""

from __future__ import annotations

import json

import pytest

from splitsecond.serving.loader.registry import resolve_model

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["gemma3-270m", "qwen2.5-coder-0.5b"])
def test_constraints_through_the_http_server(name):
    """A choice and a JSON-schema constraint answered validly by each new ladder architecture, over HTTP."""
    import httpx

    from splitsecond.serving.server import start_server_subprocess

    try:
        resolve_model(name)
    except FileNotFoundError as exc:  # installed by scripts/setup.sh and scripts/test.sh
        pytest.skip(f"{name} is not installed: {exc}")
    options = ["LP", "HK", "walk_forward", "jump_back", "block_high", "shoryuken"]
    schema = {
        "type": "object",
        "properties": {
            "move": {"type": "string", "enum": ["punch", "kick", "block", "jump"]},
            "confidence": {"type": "integer", "minimum": 0, "maximum": 9},
        },
        "required": ["move", "confidence"],
    }
    messages = [{"role": "user", "content": "The opponent is jumping in. Choose your move."}]
    with start_server_subprocess(name, timeout_s=600) as server, httpx.Client(timeout=300) as client:
        url = f"{server.base_url}/v1/chat/completions"
        r = client.post(
            url,
            json={"model": name, "messages": messages, "max_tokens": 16, "temperature": 0,
                  "structured_outputs": {"choice": options}},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] in options
        r = client.post(
            url,
            json={"model": name, "messages": messages, "max_tokens": 64, "temperature": 0,
                  "response_format": {"type": "json_schema", "json_schema": {"name": "move", "schema": schema}}},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        answer = json.loads(r.json()["choices"][0]["message"]["content"])
        assert answer["move"] in schema["properties"]["move"]["enum"], answer
        assert isinstance(answer["confidence"], int) and 0 <= answer["confidence"] <= 9, answer
