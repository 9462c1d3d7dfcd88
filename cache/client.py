"""The cheap model: a LiteLLM model the cache asks for keywords, templates and adaptations.

By default it is the embedded model served by our engine (``openai/smollm2-135m`` at the
server's ``/v1``); any LiteLLM model works. Every call returns its text and the tokens it spent,
which the cache counts as its own overhead.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """Tokens and time one or more model calls spent.

    Attributes:
        prompt_tokens: prompt tokens (cached ones included).
        cached_tokens: the part of the prompt served from the server's prefix cache.
        completion_tokens: generated tokens.
        requests: model calls.
        latency_ms: wall time of the calls.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    latency_ms: float = 0.0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.cached_tokens + other.cached_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
            self.latency_ms + other.latency_ms,
        )


@dataclass(frozen=True)
class Completion:
    """A model's answer: its text (``None`` if the call failed) and what it cost."""

    text: str | None
    usage: Usage
    error: str | None = None


def usage_from_response(response: Any, latency_ms: float = 0.0) -> Usage:
    """The :class:`Usage` of a LiteLLM/OpenAI response (cached prompt tokens included)."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage(requests=1, latency_ms=latency_ms)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if cached is None and isinstance(details, dict):
        cached = details.get("cached_tokens")
    return Usage(
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        cached_tokens=int(cached or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        requests=1,
        latency_ms=latency_ms,
    )


def response_text(response: Any) -> str | None:
    """The first choice's message content, or ``None``."""
    try:
        return response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        return None


def litellm_module() -> Any:
    """LiteLLM, imported offline-friendly (local model cost map, no debug banners)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class ModelClient:
    """A LiteLLM model used by the cache itself (keywords, templates, adaptation).

    Args:
        model: a LiteLLM model string, e.g. ``openai/smollm2-135m``; must not go through the plan
            cache itself (no ``apc/`` prefix).
        api_base: the endpoint, e.g. our server's ``http://127.0.0.1:8000/v1``.
        api_key: the key (a placeholder is sent to a local ``api_base`` when none is given).
        temperature: sampling temperature (0: greedy, reproducible on our server).
        timeout_s: per-call timeout.
        choice_constraint: send ``extra_body={"structured_outputs": {"choice": [...]}}`` when a
            call gives choices, or ``{"regex": ...}`` when it gives a regex (our server and vLLM);
            the cache falls back to free text (snapped or parsed) when a backend rejects it.
    """

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        api_key: str | None = None,
        *,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        choice_constraint: bool = True,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("ModelClient.model must be a non-empty LiteLLM model string")
        if model.startswith("apc/"):
            raise ValueError(f"the cache's own model must not go through the plan cache: {model!r}")
        if not (isinstance(timeout_s, int | float) and timeout_s > 0):
            raise ValueError(f"ModelClient.timeout_s must be > 0, got {timeout_s!r}")
        if not (isinstance(temperature, int | float) and temperature >= 0):
            raise ValueError(f"ModelClient.temperature must be >= 0, got {temperature!r}")
        self.model = model
        self.api_base = api_base
        self.api_key = api_key or ("splitsecond-local" if api_base else None)
        self.temperature = float(temperature)
        self.timeout_s = float(timeout_s)
        self.choice_constraint = choice_constraint

    def __repr__(self) -> str:
        return f"ModelClient({self.model!r}, api_base={self.api_base!r})"

    def _kwargs(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        choices: Sequence[str] | None,
        regex: str | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": int(max_tokens),
            "temperature": self.temperature,
            "timeout": self.timeout_s,
            "num_retries": 0,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if choices and self.choice_constraint:
            kwargs["extra_body"] = {"structured_outputs": {"choice": list(choices)}}
        elif regex and self.choice_constraint:
            kwargs["extra_body"] = {"structured_outputs": {"regex": regex}}
        return kwargs

    def complete(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        choices: Sequence[str] | None = None,
        regex: str | None = None,
    ) -> Completion:
        """One blocking call; never raises (a failed call returns ``text=None`` and its error).

        ``choices`` or ``regex`` constrain the answer where the backend supports it.
        """
        litellm = litellm_module()
        t0 = time.perf_counter()
        try:
            try:
                response = litellm.completion(**self._kwargs(messages, max_tokens, choices, regex))
            except (litellm.BadRequestError, litellm.UnprocessableEntityError):
                if not ((choices or regex) and self.choice_constraint):
                    raise
                logger.info("%s rejected the output constraint; the cache asks in free text", self.model)
                self.choice_constraint = False
                response = litellm.completion(**self._kwargs(messages, max_tokens, choices, regex))
        except Exception as exc:  # noqa: BLE001 - the cache falls back; a call never crashes it
            ms = (time.perf_counter() - t0) * 1e3
            logger.warning("cache model call failed: %s: %s", type(exc).__name__, exc)
            return Completion(None, Usage(requests=1, latency_ms=ms), f"{type(exc).__name__}: {exc}"[:300])
        ms = (time.perf_counter() - t0) * 1e3
        return Completion(response_text(response), usage_from_response(response, ms))

    async def acomplete(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        choices: Sequence[str] | None = None,
        regex: str | None = None,
    ) -> Completion:
        """One asynchronous call; never raises."""
        litellm = litellm_module()
        t0 = time.perf_counter()
        try:
            try:
                response = await litellm.acompletion(**self._kwargs(messages, max_tokens, choices, regex))
            except (litellm.BadRequestError, litellm.UnprocessableEntityError):
                if not ((choices or regex) and self.choice_constraint):
                    raise
                self.choice_constraint = False
                response = await litellm.acompletion(**self._kwargs(messages, max_tokens, choices, regex))
        except Exception as exc:  # noqa: BLE001
            ms = (time.perf_counter() - t0) * 1e3
            logger.warning("cache model call failed: %s: %s", type(exc).__name__, exc)
            return Completion(None, Usage(requests=1, latency_ms=ms), f"{type(exc).__name__}: {exc}"[:300])
        ms = (time.perf_counter() - t0) * 1e3
        return Completion(response_text(response), usage_from_response(response, ms))
