"""The OpenAI-compatible HTTP server over SplitSecond's inference engine (``splitsecond serve``).

Start it with ``splitsecond serve smollm2-135m --port 8000`` (loopback only by default; set
``SPLITSECOND_API_KEY`` or pass ``--api-key-file FILE`` to require a bearer token on every route but
``/health``: ``/v1``, ``/metrics`` unless ``--public-metrics``, ``/openapi.json``, and the gRPC verifier
of ``--speculative-edge``), then use any OpenAI client::

    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="KEY")
    client.chat.completions.create(model="smollm2-135m", messages=[...],
                                   extra_body={"structured_outputs": {"choice": ["punch", "kick"]}})
    litellm.completion(model="hosted_vllm/smollm2-135m", api_base="http://127.0.0.1:8000/v1", ...)

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions`` (SSE when ``stream``),
``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus), ``GET /openapi.json``,
``GET /debug/engine_stats``. POST bodies must be ``application/json`` (415), at most
``ServerConfig.max_body_bytes`` (4 MiB; 413) and nested at most 64 levels (400).

JSON schemas (``response_format`` ``json_schema``, ``structured_outputs.json``, ``guided_json``) are read
like OpenAI's structured outputs: no property the schema does not list (a missing
``additionalProperties`` means false) and no free whitespace; send
``"structured_outputs": {"json_schema_mode": "permissive"}`` for plain JSON Schema semantics.

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
