"""One real ``splitsecond serve`` subprocess shared by every end-to-end server test.

Starting the server (imports + loading the model) is the slow part, so it is started once, lazily,
by the first test that asks for it. Its settings suit every test module: an API key (auth is on
throughout), a short context (cheap too-long prompts), an alias, and a small batch and queue so a
burst of requests overflows into 429s.
"""

from __future__ import annotations

import os

import pytest

from splitsecond.serving.server import start_server_subprocess

# LiteLLM must never reach for the network (its model cost map) in tests.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

SERVER_ARGS = [
    "--max-model-len", "512", "--alias", "my-agent-model",
    "--max-num-seqs", "4", "--max-waiting", "4", "--max-num-batched-tokens", "256",
]  # fmt: skip


@pytest.fixture(scope="session")
def server():
    """The running server (``.api_base``, ``.base_url``, ``.api_key``, ``.headers()``)."""
    with start_server_subprocess("smollm2-135m", api_key="test-key-123", extra_args=SERVER_ARGS) as srv:
        yield srv
