"""The entry points end to end: `splitsecond serve --speculative-edge` and `splitsecond edge --server`,
each a real process, and an agent's LiteLLM call to the local edge unchanged."""

from __future__ import annotations

import os

import httpx
import pytest

from splitsecond.serving.server.launcher import find_free_port, start_server_subprocess
from splitsecond.serving.speculative.edge.server import start_edge_subprocess

pytestmark = pytest.mark.slow
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: use LiteLLM's bundled map

MESSAGES = [
    {"role": "system", "content": "Answer with one action: attack_left, attack_right, block, jump."},
    {"role": "user", "content": "The opponent jumps at you from the left. Your action?"},
]


@pytest.fixture(scope="module")
def server_and_edge():
    spec_port = find_free_port()
    with (
        start_server_subprocess(
            "smollm2-135m", extra_args=["--speculative-edge", "--spec-port", str(spec_port)]
        ) as server,
        start_edge_subprocess(f"127.0.0.1:{spec_port}", ["--max-model-len", "1024"]) as edge,
    ):
        yield server, edge


def test_edge_answers_like_the_server(server_and_edge):
    server, edge = server_and_edge
    body = {"model": "smollm2-135m", "messages": MESSAGES, "temperature": 0, "max_tokens": 20}
    direct = httpx.post(f"{server.api_base}/chat/completions", json=body, timeout=60).json()
    via_edge = httpx.post(f"{edge.api_base}/chat/completions", json=body, timeout=60).json()
    assert via_edge["choices"][0]["message"]["content"] == direct["choices"][0]["message"]["content"]
    stats = httpx.get(f"{server.base_url}/debug/engine_stats", timeout=10).json()
    assert stats["spec_rounds"] > 0  # the edge's request really went through draft verification


def test_litellm_call_to_the_edge_streams(server_and_edge):
    import litellm

    _, edge = server_and_edge
    chunks = litellm.completion(
        model="openai/smollm2-135m",
        api_base=edge.api_base,
        api_key="unused",
        messages=MESSAGES,
        temperature=0,
        max_tokens=12,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip()


def test_edge_rejects_what_it_cannot_serve(server_and_edge):
    _, edge = server_and_edge
    r = httpx.post(
        f"{edge.api_base}/chat/completions",
        json={"model": "smollm2-135m", "messages": MESSAGES, "max_tokens": 4, "n": 2},
        timeout=30,
    )
    assert r.status_code == 400
    assert "n=1" in r.json()["error"]["message"]
