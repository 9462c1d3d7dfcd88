"""The OpenAI-compatible HTTP server over SplitSecond's inference engine (``splitsecond serve``).

Start it with ``splitsecond serve smollm2-135m --port 8000`` (loopback only by default; add
``--api-key KEY`` or set ``SPLITSECOND_API_KEY`` to require a bearer token), then use any OpenAI
client::

    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="KEY")
    client.chat.completions.create(model="smollm2-135m", messages=[...],
                                   extra_body={"structured_outputs": {"choice": ["punch", "kick"]}})
    litellm.completion(model="hosted_vllm/smollm2-135m", api_base="http://127.0.0.1:8000/v1", ...)

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions`` (SSE when ``stream``),
``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus), ``GET /debug/engine_stats``.

Light names (settings, launcher) import eagerly; :func:`create_app` imports the app module on first
use (importing this package still imports ``splitsecond.serving``, hence torch).
"""

from __future__ import annotations

from typing import Any

from splitsecond.serving.server.config import ServerConfig
from splitsecond.serving.server.launcher import (
    DEFAULT_MODEL,
    ServerProcess,
    build_engine_config,
    find_free_port,
    run_server,
    start_server_subprocess,
)

__all__ = [
    "DEFAULT_MODEL",
    "ServerConfig",
    "ServerProcess",
    "build_engine_config",
    "create_app",
    "find_free_port",
    "run_server",
    "start_server_subprocess",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from splitsecond.serving.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
