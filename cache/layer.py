"""The LiteLLM layer: any LiteLLM model behind the plan cache, without changing the agent.

:func:`register` adds a LiteLLM custom provider ``apc``; a model string ``apc/<model>`` (e.g.
``apc/openai/smollm2-135m``) then reaches ``<model>`` through the cache::

    from splitsecond.cache import PlanCache, register
    register(PlanCache("plans.db"))
    agent = LLMAgent("apc/openai/smollm2-135m", api_base=server.api_base, thinking="plan-then-act")

Each call is classified. A *plan call* (by default: no output constraint and a last user line
asking for a plan, or ``metadata={"apc_role": "plan"}``) goes through
:meth:`PlanCache.plan`: on a hit the cheap model's adapted plan is returned, on a miss the
underlying model is called. Every other call passes straight through to ``<model>`` with the same
arguments. The scope of a plan call is the underlying model, a digest of the system message (the
prompt version) and of its ``Actions:``/``Order syntax:`` line (the action set), and the env
(``metadata["apc_env"]``, else the system message's digest). The situation is the user message's
``Now:`` block (the LLM agent's prompt layout), else the user message without its last line.

The response's usage is what the call really spent (keyword + adaptation on a hit, keyword +
planner on a miss), so latency models charge a hit what it cost. Outcomes come back through
:meth:`PlanCache.report_plan` (see :mod:`splitsecond.cache.feedback`).

:func:`completion` and :func:`acompletion` are drop-in wrappers with LiteLLM's signatures.
:func:`ensure_registered` opens a store and registers once per process (what ``splitsecond play``
calls when an agent's model starts with ``apc/``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from splitsecond.cache.client import (
    ModelClient,
    Usage,
    litellm_module,
    response_text,
    usage_from_response,
)
from splitsecond.cache.keys import Scope
from splitsecond.cache.plan_cache import PlanCache, PlannerReply, PlanResult
from splitsecond.cache.prompt_context import message_text

litellm = litellm_module()
from litellm import CustomLLM  # noqa: E402 - after the offline set-up above
from litellm.llms.custom_llm import CustomLLMError  # noqa: E402
from litellm.types.utils import ModelResponse  # noqa: E402
from litellm.types.utils import Usage as LiteLLMUsage  # noqa: E402

logger = logging.getLogger(__name__)

PROVIDER = "apc"
_CONSTRAINT_PARAMS = ("response_format", "tools", "functions", "tool_choice")
_CONSTRAINT_EXTRA = ("structured_outputs", "guided_choice", "guided_json", "guided_regex", "guided_grammar")
_FORWARD_SKIP = ("max_retries", "stream", "stream_options")

Detector = Callable[[list[dict[str, Any]], Mapping[str, Any], Mapping[str, Any]], bool]


def _last(messages: list[dict[str, Any]], role: str) -> str:
    for message in reversed(messages):
        if message.get("role") == role:
            return message_text(message.get("content")) or ""
    return ""


def is_plan_call(
    messages: list[dict[str, Any]], optional_params: Mapping[str, Any], metadata: Mapping[str, Any]
) -> bool:
    """Whether a call asks for a plan (see the module docstring)."""
    role = metadata.get("apc_role")
    if role is not None:
        return role == "plan"
    if any(optional_params.get(k) for k in _CONSTRAINT_PARAMS):
        return False
    extra = optional_params.get("extra_body") or {}
    if isinstance(extra, Mapping) and any(k in extra for k in _CONSTRAINT_EXTRA):
        return False
    lines = [line for line in _last(messages, "user").strip().splitlines() if line.strip()]
    if not lines:
        return False
    last = lines[-1]
    return bool(re.search(r"\bplan\b", last, re.IGNORECASE)) and not re.search(
        r"\b(action|actions|orders?)\s*:\s*$", last, re.IGNORECASE
    )


def situation_of(messages: list[dict[str, Any]]) -> str:
    """The situation of a plan call: the ``Now:`` block of the last user message, else that
    message without its last line (the instruction)."""
    user = _last(messages, "user").strip()
    match = re.search(r"(?:^|\n)Now:[ \t]*\n", user)
    if match:
        body = user[match.end() :]
        if "\n\n" in body:
            body = body.rsplit("\n\n", 1)[0]
        return body.split("\n\nPlan in force:", 1)[0].strip()
    lines = user.splitlines()
    return "\n".join(lines[:-1]).strip() or user


def scope_of(model: str, messages: list[dict[str, Any]], metadata: Mapping[str, Any]) -> Scope:
    """The scope of a plan call (see the module docstring)."""
    system = _last(messages, "system")
    digest = hashlib.sha256(system.encode("utf-8")).hexdigest()[:8]
    env = str(metadata.get("apc_env") or f"prompt-{digest}")
    actions = re.search(r"^(?:Actions|Order syntax):[ \t]*(.+)$", system, re.MULTILINE)
    return Scope.of(
        env,
        model,
        actions.group(1) if actions else system,
        prompt=system,
        version=str(metadata.get("apc_prompt_version", "")),
    )


class PlanCacheLLM(CustomLLM):
    """The ``apc`` LiteLLM provider (see the module docstring).

    Args:
        cache: the plan cache.
        detector: classifies plan calls (default :func:`is_plan_call`).
        situation: extracts the situation (default :func:`situation_of`).
        scope: computes the scope (default :func:`scope_of`).
        share_prefix: the cache's adaptation call continues the plan call's own messages
            (:mod:`splitsecond.cache.prompt_context`), so a server with prefix caching computes the
            agent's prompt once for it and the next action call; off: it sends a short prompt of
            its own.

    Attributes:
        plan_calls: plan calls seen.
        passthrough_calls: other calls passed through.
        recent: the last 256 :class:`PlanResult` (newest last), for inspection.
    """

    def __init__(
        self,
        cache: PlanCache,
        detector: Detector = is_plan_call,
        situation: Callable[[list[dict[str, Any]]], str] = situation_of,
        scope: Callable[[str, list[dict[str, Any]], Mapping[str, Any]], Scope] = scope_of,
        share_prefix: bool = True,
    ) -> None:
        super().__init__()
        self.share_prefix = share_prefix
        self.cache = cache
        self.detector = detector
        self.situation = situation
        self.scope = scope
        self.plan_calls = 0
        self.passthrough_calls = 0
        self.recent: deque[PlanResult] = deque(maxlen=256)
        self._clients: dict[tuple[str, str | None], ModelClient] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    def _cheap(self, model: str, api_base: str | None, api_key: str | None) -> ModelClient:
        if self.cache.cheap is not None:
            return self.cache.cheap
        with self._lock:
            client = self._clients.get((model, api_base))
            if client is None:
                client = self._clients[(model, api_base)] = ModelClient(model, api_base, api_key)
            return client

    @staticmethod
    def _forward(
        model: str,
        messages: list[dict[str, Any]],
        api_base: str | None,
        api_key: str | None,
        optional_params: Mapping[str, Any],
        timeout: Any,
    ) -> dict[str, Any]:
        if model.startswith(f"{PROVIDER}/"):
            raise CustomLLMError(400, f"model {model!r} would route through the plan cache twice")
        if optional_params.get("stream"):
            raise CustomLLMError(400, "the plan cache layer does not stream; call it with stream=False")
        kwargs = {k: v for k, v in optional_params.items() if k not in _FORWARD_SKIP}
        kwargs.update(model=model, messages=messages, num_retries=0)
        if api_base:
            kwargs["api_base"] = api_base
        if api_key:
            kwargs["api_key"] = api_key
        if timeout is not None:
            kwargs["timeout"] = (
                timeout if isinstance(timeout, int | float) else getattr(timeout, "read", None)
            )
        return kwargs

    @staticmethod
    def _metadata(litellm_params: Mapping[str, Any] | None) -> Mapping[str, Any]:
        meta = (litellm_params or {}).get("metadata") or {}
        return meta if isinstance(meta, Mapping) else {}

    def _response(self, model_response: ModelResponse, model: str, result: PlanResult) -> ModelResponse:
        if result.plan is None:
            if isinstance(result.payload, BaseException):
                raise result.payload
            raise CustomLLMError(502, f"the planner gave no plan: {result.error}")
        self.recent.append(result)
        u = result.usage
        model_response.choices[0].message.content = result.plan
        model_response.choices[0].finish_reason = "stop"
        model_response.model = model
        model_response.created = int(time.time())
        model_response.usage = LiteLLMUsage(  # type: ignore[attr-defined]
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            total_tokens=u.total_tokens,
            prompt_tokens_details={"cached_tokens": u.cached_tokens},
        )
        model_response._hidden_params["apc"] = {
            "source": result.source,
            "keyword": result.keyword,
            "entry_id": result.entry_id,
            "handle": result.handle,
            "rejected": result.rejected,
        }
        return model_response

    # ------------------------------------------------------------------ LiteLLM entry points
    def completion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Callable,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: Any = None,
        timeout: Any = None,
        client: Any = None,
    ) -> ModelResponse:
        """LiteLLM's blocking entry point."""
        forward = self._forward(model, messages, api_base, api_key, optional_params, timeout)
        metadata = self._metadata(litellm_params)
        if not self.detector(messages, optional_params, metadata):
            self.passthrough_calls += 1
            return litellm.completion(**forward)
        self.plan_calls += 1

        def planner() -> PlannerReply:
            t0 = time.perf_counter()
            try:
                response = litellm.completion(**forward)
            except Exception as exc:  # noqa: BLE001 - re-raised to the caller by _response
                return PlannerReply(None, Usage(requests=1), f"{type(exc).__name__}: {exc}", exc)
            ms = (time.perf_counter() - t0) * 1e3
            return PlannerReply(response_text(response), usage_from_response(response, ms), payload=response)

        result = self.cache.plan(
            self.scope(model, messages, metadata),
            self.situation(messages),
            planner,
            self._cheap(model, api_base, api_key),
            context=messages if self.share_prefix else None,
        )
        return self._response(model_response, model, result)

    async def acompletion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Callable,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: Any = None,
        timeout: Any = None,
        client: Any = None,
    ) -> ModelResponse:
        """LiteLLM's asynchronous entry point."""
        forward = self._forward(model, messages, api_base, api_key, optional_params, timeout)
        metadata = self._metadata(litellm_params)
        if not self.detector(messages, optional_params, metadata):
            self.passthrough_calls += 1
            return await litellm.acompletion(**forward)
        self.plan_calls += 1

        async def planner() -> PlannerReply:
            t0 = time.perf_counter()
            try:
                response = await litellm.acompletion(**forward)
            except Exception as exc:  # noqa: BLE001
                return PlannerReply(None, Usage(requests=1), f"{type(exc).__name__}: {exc}", exc)
            ms = (time.perf_counter() - t0) * 1e3
            return PlannerReply(response_text(response), usage_from_response(response, ms), payload=response)

        result = await self.cache.aplan(
            self.scope(model, messages, metadata),
            self.situation(messages),
            planner,
            self._cheap(model, api_base, api_key),
            context=messages if self.share_prefix else None,
        )
        return self._response(model_response, model, result)


def register(cache: PlanCache, provider: str = PROVIDER, **options: Any) -> PlanCacheLLM:
    """Register ``cache`` as the LiteLLM custom provider ``provider`` (replacing an earlier one).

    ``options`` go to :class:`PlanCacheLLM` (``detector``, ``situation``, ``scope``, ``share_prefix``).
    """
    if not re.fullmatch(r"[a-z][a-z0-9_\-]*", provider):
        raise ValueError(f"provider must be a lower-case name like 'apc', got {provider!r}")
    handler = PlanCacheLLM(cache, **options)
    others = [p for p in litellm.custom_provider_map if p.get("provider") != provider]
    litellm.custom_provider_map = [*others, {"provider": provider, "custom_handler": handler}]
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    return handler


def ensure_registered(db: str | Path | None = None, provider: str = PROVIDER) -> PlanCacheLLM:
    """Register a :class:`PlanCache` on the store ``db`` as ``provider`` once per process.

    For entry points (``splitsecond play --agent apc/...``) that must make ``apc/<model>`` work
    without building a cache themselves. ``db`` is a SQLite path or ``redis://`` URL (``None``: the
    default store, ``$SPLITSECOND_CACHE_DB`` or ``~/.cache/splitsecond/plans.db``). Idempotent: a
    second call with the same ``db`` (or ``db=None``) returns the handler already registered, even
    one registered by :func:`register`; a call naming another store registers a cache on it instead.

    Raises:
        ValueError: for a bad provider name or a store that cannot be opened (the message names it).
    """
    current = registered(provider)
    wanted = None if db is None else str(db)
    if current is not None and (wanted is None or _store_name(current.cache) == _store_name(wanted)):
        return current
    try:
        cache = PlanCache(db)
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"cannot open the plan cache store {wanted or 'default'}: {exc}") from exc
    logger.info("plan cache %r registered as LiteLLM provider %r", cache, provider)
    return register(cache, provider)


def _store_name(where: PlanCache | str) -> str:
    """A comparable name of a cache's store or a store string (resolved path, or the URL)."""
    if isinstance(where, PlanCache):
        path = getattr(where.store, "path", None)
        return str(Path(path).expanduser().resolve()) if path is not None else repr(where.store)
    if where.startswith(("redis://", "rediss://", "unix://")):
        return where
    return str(Path(where).expanduser().resolve())


def unregister(provider: str = PROVIDER) -> bool:
    """Remove the provider; whether it was registered."""
    before = len(litellm.custom_provider_map)
    litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p.get("provider") != provider]
    return len(litellm.custom_provider_map) < before


def registered(provider: str = PROVIDER) -> PlanCacheLLM | None:
    """The handler registered as ``provider``, if any."""
    for p in litellm.custom_provider_map:
        if p.get("provider") == provider and isinstance(p.get("custom_handler"), PlanCacheLLM):
            return p["custom_handler"]
    return None


def _routed(model: str, provider: str) -> str:
    if registered(provider) is None:
        raise RuntimeError(
            f"no plan cache is registered as {provider!r}: call register(PlanCache(...)) first"
        )
    return model if model.startswith(f"{provider}/") else f"{provider}/{model}"


def completion(model: str, messages: list[dict[str, Any]], *, provider: str = PROVIDER, **kwargs: Any) -> Any:
    """``litellm.completion`` through the plan cache (``apc/`` is prefixed to ``model`` if missing)."""
    return litellm.completion(model=_routed(model, provider), messages=messages, **kwargs)


async def acompletion(
    model: str, messages: list[dict[str, Any]], *, provider: str = PROVIDER, **kwargs: Any
) -> Any:
    """``litellm.acompletion`` through the plan cache."""
    return await litellm.acompletion(model=_routed(model, provider), messages=messages, **kwargs)
