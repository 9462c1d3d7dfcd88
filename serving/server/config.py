"""The HTTP server's own settings (the engine's live in :class:`splitsecond.serving.EngineConfig`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: Environment variable read for the API key when none is given explicitly.
API_KEY_ENV = "SPLITSECOND_API_KEY"


@dataclass(frozen=True)
class ServerConfig:
    """How the OpenAI-compatible server listens and which requests it accepts.

    Attributes:
        host: Interface to bind; loopback by default so nothing is exposed by accident.
        port: TCP port; 0 picks a free one (the launcher resolves it before binding).
        api_key: When set, every ``/v1/*`` request must send ``Authorization: Bearer <api_key>``; so must
            ``/metrics`` (unless ``public_metrics``), ``/openapi.json``, ``/debug/*`` and, with
            ``--speculative-edge``, every gRPC call of an edge (metadata ``authorization``).
        public_metrics: Serve ``/metrics`` without the API key (for a Prometheus scraper).
        max_body_bytes: Largest request body accepted (413 beyond), enforced while it is read.
        max_json_depth: Deepest nesting of JSON arrays and objects in a request body (400 beyond).
        served_model_name: Name the model is served under; ``None`` uses the engine's short name.
        model_aliases: Further names accepted in the ``model`` field of a request.
        max_n: Largest ``n`` (choices per request) accepted.
        max_logprobs: Largest ``top_logprobs`` / ``logprobs`` accepted.
        retry_after_s: Seconds advertised in ``Retry-After`` when the engine's queue is full.
        disconnect_poll_s: How often a request checks whether its client went away.
        keep_alive_s: How long an idle keep-alive connection stays open. Longer than the 5 s after
            which httpx-based clients (openai, LiteLLM) drop idle connections, so a client never
            sends a request on a connection the server is closing at that moment.
        log_level: uvicorn's log level.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = field(default=None, repr=False)
    public_metrics: bool = False
    max_body_bytes: int = 4 * 2**20
    max_json_depth: int = 64
    served_model_name: str | None = None
    model_aliases: tuple[str, ...] = field(default_factory=tuple)
    max_n: int = 16
    max_logprobs: int = 20
    retry_after_s: int = 1
    disconnect_poll_s: float = 0.05
    keep_alive_s: int = 30
    log_level: str = "warning"

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("ServerConfig.host must be a non-empty interface address, e.g. '127.0.0.1'")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"ServerConfig.port must be in 0..65535 (0 = any free port), got {self.port}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("ServerConfig.api_key must be None (no auth) or a non-empty string")
        if self.max_body_bytes < 1024:
            raise ValueError(f"ServerConfig.max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        if self.max_json_depth < 8:
            raise ValueError(f"ServerConfig.max_json_depth must be >= 8, got {self.max_json_depth}")
        if self.max_n < 1:
            raise ValueError(f"ServerConfig.max_n must be >= 1, got {self.max_n}")
        if self.max_logprobs < 0:
            raise ValueError(f"ServerConfig.max_logprobs must be >= 0, got {self.max_logprobs}")
        if self.retry_after_s < 0:
            raise ValueError(f"ServerConfig.retry_after_s must be >= 0, got {self.retry_after_s}")
        if self.disconnect_poll_s <= 0:
            raise ValueError(f"ServerConfig.disconnect_poll_s must be > 0, got {self.disconnect_poll_s}")
        if self.keep_alive_s <= 0:
            raise ValueError(f"ServerConfig.keep_alive_s must be > 0, got {self.keep_alive_s}")
        levels = ("critical", "error", "warning", "info", "debug", "trace")
        if self.log_level not in levels:
            raise ValueError(f"ServerConfig.log_level must be one of {levels}, got {self.log_level!r}")

    @staticmethod
    def api_key_from_env() -> str | None:
        """The API key in ``$SPLITSECOND_API_KEY``, or ``None`` when unset or empty."""
        value = os.environ.get(API_KEY_ENV, "").strip()
        return value or None


def read_api_key_file(path: str) -> str:
    """The API key held in the file at ``path`` (surrounding whitespace dropped); ``ValueError`` when the
    file cannot be read or is empty. A key in a file (or ``$SPLITSECOND_API_KEY``) stays out of ``ps``."""
    try:
        with open(path, encoding="utf-8") as f:
            key = f.read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the API key file {path}: {exc.strerror or exc}") from None
    if not key:
        raise ValueError(f"the API key file {path} is empty")
    return key
