"""An agent that asks a language model, through LiteLLM, what to do.

``LLMAgent`` reaches any model LiteLLM knows (``model="openai/smollm2-135m"`` with
``api_base="http://127.0.0.1:8000/v1"`` for our own server, ``"anthropic/..."``, ...). Each
decision builds a prompt from the env's template (rules, actions, a short history, the current
text observation), asks for a bounded number of output tokens, and parses the answer.

Output constraints (``structured``):

``choice``
    ``extra_body={"structured_outputs": {"choice": [...]}}`` (vLLM and our server): the model can
    only emit an action name.
``guided_choice``
    ``extra_body={"guided_choice": [...]}`` (older vLLM).
``json``
    ``response_format`` with a JSON schema ``{"action": enum[...]}`` (OpenAI and most servers).
``none``
    Free text, parsed robustly (:mod:`splitsecond.agents.parsing`).
``auto`` (default)
    Tries ``choice``, then ``json``, then ``none``, moving on when the backend rejects the request
    (HTTP 400/422) and remembering what worked.

Envs with text actions (HFTBench orders) use the same knob: ``choice``/``guided_choice``/``json``
constrain the answer to a *menu* of concrete, feasible orders built from the current observation
(``HOLD``; a market buy/sell of a default size per symbol; limit orders that join or improve the
touch; cancels of resting orders; see :mod:`splitsecond.agents.prompts.order_menu`). The menu
travels in the constraint, not in the prompt: the system message states its shape once, so the
prompt stays as short as the free-text one. ``none`` (or ``auto`` on a backend that rejects
constraints) asks for free-text orders, parsed line by line with the env's validator.

Chain-of-thought and free-text plan calls are never constrained. A ``plan-follow`` plan is: where the
backend takes a JSON schema, the plan call asks for ``{"steps": [<action name>, ...]}`` (one to
``max(2, N)`` names from the action list), so every plan names playable actions; a backend that
rejects the schema gets the free-text plan, parsed for action names. An unparseable answer or a failed call
never raises: the decision falls back (``fallback="previous"``: the previous valid action, or the
idle action at the start; ``"idle"``: the idle action; an ``int``: that action index), is marked
``Decision.fallback`` and is counted in :attr:`LLMAgent.stats`. A failed call also sets
``Decision.error``, so the arena counts it as an error, not as a mere fallback.
:func:`check_endpoint` tells before a match whether an endpoint answers at all.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from splitsecond.agents.base import Decision, EnvSpec, Observation, TokenUsage, Trace
from splitsecond.agents.parsing import ParseResult, actions_in_order, parse_action, parse_text_action
from splitsecond.agents.prompts import VARIANTS, PromptTemplate, template_for
from splitsecond.agents.prompts.order_menu import OrderMenu
from splitsecond.agents.thinking import ChainOfThought, PlanThenAct, Reflex, ThinkingStyle, parse_thinking

logger = logging.getLogger(__name__)

STRUCTURED_MODES = ("auto", "choice", "guided_choice", "json", "none")
FALLBACKS = ("previous", "idle")
IDLE_NAMES = ("idle", "noop", "no_op", "none", "wait", "hold", "stay", "neutral")
_AUTO_ORDER = ("choice", "json", "none")
MENU_ENVS = ("HFTBench",)
"""Env families (``<family>-v<N>``) whose text actions are constrained to an :class:`OrderMenu`."""
TEXT_ACTION_MIN_TOKENS = 32
"""Output bound of a text-action (order text) decision at least."""
JSON_ACTION_MIN_TOKENS = 32
"""Output bound of a JSON-schema-constrained decision at least."""
JSON_TEXT_ACTION_MIN_TOKENS = 48
"""Output bound of a JSON-schema-constrained text-action decision at least (``{"action": "<order>"}``)."""


def idle_action(spec: EnvSpec) -> Any:
    """The env's do-nothing action: ``spec.metadata["noop_action"]`` if given, else the first
    action named like ``idle``/``noop``/``wait``, else action 0."""
    if "noop_action" in spec.metadata:
        return spec.metadata["noop_action"]
    for i, name in enumerate(spec.action_names or ()):
        if name.lower() in IDLE_NAMES:
            return i
    return 0


@dataclass
class LLMAgentStats:
    """Counters of an :class:`LLMAgent` since construction (not reset between episodes).

    Attributes:
        decisions: decisions made.
        fallbacks: decisions that used the fallback action.
        parse_failures: answers that named no valid action.
        call_errors: model calls that raised (network, server, timeout).
        requests: model calls made.
        usage: tokens spent in total.
        structured_mode: the output constraint in use (``auto`` until one has worked).
        last_error: the most recent error message.
    """

    decisions: int = 0
    fallbacks: int = 0
    parse_failures: int = 0
    call_errors: int = 0
    requests: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    structured_mode: str = "auto"
    last_error: str | None = None


@dataclass(frozen=True)
class _Call:
    """One model call requested by the decision procedure."""

    messages: list[dict[str, str]]
    max_tokens: int
    constrained: bool
    choices: tuple[str, ...] | None = None  # the allowed answers (default: the action names)
    plan_steps: int | None = None  # a plan-follow plan: a JSON list of at most this many action names
    plan: bool = False  # a plan call (the plan cache's ``apc_role``)


@dataclass(frozen=True)
class _Reply:
    text: str | None
    usage: TokenUsage
    error: str | None = None


class _Rejected(Exception):
    """The backend rejected the output constraint (HTTP 400/422)."""


class EndpointUnreachable(ConnectionError):
    """A model endpoint did not answer (refused, timed out, unknown host, malformed URL)."""


def check_endpoint(api_base: str, timeout_s: float = 5.0) -> None:
    """Probe an OpenAI-compatible endpoint with one ``GET {api_base}/models``.

    Any HTTP answer (even 401 or 404) shows that something listens there; only a request that gets
    no answer fails.

    Raises:
        EndpointUnreachable: with a one-line reason naming ``api_base``.
    """
    import httpx

    url = api_base.rstrip("/") + "/models"
    try:
        httpx.get(url, timeout=timeout_s)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise EndpointUnreachable(f"the model endpoint {api_base} does not answer ({reason})") from None


class LLMAgent:
    """An agent backed by a language model reached through LiteLLM (see the module docstring).

    Args:
        model: a LiteLLM model string, e.g. ``openai/smollm2-135m``.
        api_base: the OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8000/v1``.
        api_key: the key; when ``api_base`` is set and no key is given or in ``OPENAI_API_KEY``,
            a placeholder is sent (local servers ignore it).
        thinking: a thinking style or its name (``reflex``, ``plan-then-act:4``, ``cot:96``).
        structured: output constraint, one of :data:`STRUCTURED_MODES`.
        temperature: sampling temperature (0 = greedy, reproducible on our server).
        seed: sampling seed sent with each request (``None``: the episode seed, if any).
        history: how many past decisions the prompt recalls.
        prompt: a prompt template, or a variant name of the env's template: ``"full"`` (default,
            the env's complete rules) or ``"compact"`` (short rules, for small models on a CPU).
        fallback: ``"previous"``, ``"idle"`` or an action index.
        timeout_s: per-call timeout.
        name: the agent's display name (default: the model string and style).
        extra_params: further keyword arguments for ``litellm.completion``.
        order_menu: how the order menu of text-action envs (HFTBench) is built (default
            :class:`OrderMenu`: 100 shares, join/improve the touch, up to 4 cancels).
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        thinking: str | ThinkingStyle = "reflex",
        structured: str = "auto",
        temperature: float = 0.0,
        seed: int | None = None,
        history: int = 4,
        prompt: PromptTemplate | str | None = None,
        fallback: str | int = "previous",
        timeout_s: float = 60.0,
        name: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
        order_menu: OrderMenu | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be a non-empty LiteLLM model string, e.g. 'openai/smollm2-135m'")
        if structured not in STRUCTURED_MODES:
            raise ValueError(f"structured must be one of {STRUCTURED_MODES}, got {structured!r}")
        if not isinstance(fallback, int) and fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS} or an action index, got {fallback!r}")
        if isinstance(fallback, int) and fallback < 0:
            raise ValueError(f"fallback action index must be >= 0, got {fallback}")
        if not (isinstance(history, int) and history >= 0):
            raise ValueError(f"history must be an integer >= 0, got {history!r}")
        if not (isinstance(temperature, int | float) and temperature >= 0):
            raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
        if not (isinstance(timeout_s, int | float) and timeout_s > 0):
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if order_menu is not None and not isinstance(order_menu, OrderMenu):
            raise ValueError(f"order_menu must be an OrderMenu, got {type(order_menu).__name__}")
        self.model = model
        self.api_base = api_base
        self.api_key = api_key
        if api_base and api_key is None and not os.environ.get("OPENAI_API_KEY"):
            self.api_key = "splitsecond-local"
        self.thinking: ThinkingStyle = parse_thinking(thinking)
        self.structured = structured
        self.temperature = float(temperature)
        self.seed = seed
        self.history = history
        if isinstance(prompt, str) and prompt not in VARIANTS:
            raise ValueError(f"prompt must be a PromptTemplate or one of {VARIANTS}, got {prompt!r}")
        self.prompt = prompt
        self.fallback = fallback
        self.timeout_s = float(timeout_s)
        self.extra_params = dict(extra_params or {})
        self.order_menu = order_menu or OrderMenu()
        self.name = name or f"{model} ({self.thinking.name})"
        self.stats = LLMAgentStats(structured_mode=structured)
        self._mode = structured  # resolved constraint (auto narrows it down)
        self._spec: EnvSpec | None = None
        self._template: PromptTemplate = template_for("")
        self._episode_seed: int | None = None
        self._history: deque[str] = deque(maxlen=max(1, history))
        self._previous: int | None = None
        self._plan: str | None = None
        self._since_plan = 0
        self._plan_steps: list[int] = []  # plan-follow: the actions the plan in force names
        self._text_mode = False
        self._menu: OrderMenu | None = None  # in use for this episode (text-action envs in MENU_ENVS)
        self._call_error: str | None = None  # the first failed call of the decision in progress

    # ------------------------------------------------------------------ episode
    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Start an episode of the env in ``spec`` (its action names are required)."""
        self._text_mode = not spec.action_names
        if self._text_mode and not spec.metadata.get("text_action_grammar"):
            raise ValueError(
                f"LLMAgent needs named discrete actions or a text action grammar; env {spec.env_id!r} "
                "gives neither action_names nor metadata['text_action_grammar']"
            )
        if self._text_mode and isinstance(self.fallback, int):
            raise ValueError("an action index fallback needs named discrete actions")
        if self._text_mode and isinstance(self.thinking, PlanThenAct) and self.thinking.actor == "follow":
            raise ValueError(
                f"plan-follow plays the action names a plan mentions; env {spec.env_id!r} has text "
                "actions (use plan-then-act)"
            )
        if isinstance(self.fallback, int) and self.fallback >= len(spec.action_names or ()):
            raise ValueError(
                f"fallback action {self.fallback} out of range for {len(spec.action_names)} actions"
            )
        import_litellm()  # import it now, not inside the first (timed) decision
        self._spec = spec
        if isinstance(self.prompt, PromptTemplate):
            self._template = self.prompt
        else:
            self._template = template_for(spec.env_id, self.prompt or "full")
        family = spec.env_id.rsplit("/", 1)[-1].split("-v")[0]
        use_menu = self._text_mode and family in MENU_ENVS and self.structured != "none"
        self._menu = self.order_menu if use_menu and spec.metadata.get("symbols") else None
        self._episode_seed = seed
        self._history.clear()
        self._previous = None
        self._plan = None
        self._since_plan = 0
        self._plan_steps = []

    @property
    def prompt_version(self) -> str:
        """The version of the prompt template in use (``<template version>`` of the current env, or of
        the env-independent template before the first episode); result rows and plan-cache scopes
        carry it."""
        return self._template.version

    @property
    def spec(self) -> EnvSpec:
        """The env spec of the current episode."""
        if self._spec is None:
            raise RuntimeError("LLMAgent.reset(spec, seed) must be called before act()")
        return self._spec

    def fallback_action(self) -> int:
        """The action used when the model gives no valid one (see the module docstring)."""
        if isinstance(self.fallback, int):
            return self.fallback
        if self.fallback == "previous" and self._previous is not None and not self._text_mode:
            return self._previous
        return idle_action(self.spec)

    # ------------------------------------------------------------------ decisions
    def act(self, observation: Observation) -> Decision:
        """Decide for ``observation`` with blocking model calls."""
        steps = self._steps(observation)
        try:
            call = next(steps)
            while True:
                call = steps.send(self._complete(call))
        except StopIteration as stop:
            return stop.value

    async def aact(self, observation: Observation) -> Decision:
        """Decide for ``observation`` with asynchronous model calls."""
        steps = self._steps(observation)
        try:
            call = next(steps)
            while True:
                call = steps.send(await self._acomplete(call))
        except StopIteration as stop:
            return stop.value

    def _steps(self, obs: Observation) -> Generator[_Call, _Reply, Decision]:
        """The decision procedure of the thinking style; yields calls, receives replies."""
        spec = self.spec
        self._call_error = None
        names = list(spec.action_names or ())
        if names:
            shown = names
        elif self._menu is not None:
            shown = [self._menu.syntax(spec)]
        else:
            shown = [str(spec.metadata["text_action_grammar"])]
        style = self.thinking
        usage = TokenUsage()
        history = list(self._history)[-self.history :] if self.history else []
        plan_made = None
        messages: Any = None
        last_reply: _Reply | None = None

        if isinstance(style, PlanThenAct):
            if self._plan is None or self._since_plan >= style.every:
                kind = "plan-steps" if style.actor == "follow" else "plan"
                messages = self._template.messages(spec, kind, shown, obs.text, history)
                steps = max(2, style.every) if style.actor == "follow" and names else None
                reply = yield _Call(
                    messages, style.plan_tokens, constrained=steps is not None, plan_steps=steps, plan=True
                )
                usage = usage + reply.usage
                if reply.error is None and reply.text and reply.text.strip():
                    self._plan = _plan_text(reply.text)
                    self._plan_steps = actions_in_order(self._plan, names) if names else []
                    plan_made = self._plan
                    self._since_plan = 0
                else:
                    logger.debug("plan call failed: %s", reply.error)
                    last_reply = reply
            self._since_plan += 1
            if style.actor == "follow":
                return self._follow_plan(obs, names, usage, messages, last_reply, plan_made)
            messages = self._template.messages(spec, "act-with-plan", shown, obs.text, history, self._plan)
            max_tokens, constrained = style.act_tokens, True
        elif isinstance(style, ChainOfThought):
            messages = self._template.messages(spec, "chain-of-thought", shown, obs.text, history)
            max_tokens, constrained = style.max_tokens, False
        else:
            assert isinstance(style, Reflex)
            messages = self._template.messages(spec, "reflex", shown, obs.text, history)
            max_tokens, constrained = style.max_tokens, True
        choices: tuple[str, ...] | None = None
        if self._text_mode:  # orders: a menu constraint where there is one, room for a line or two
            max_tokens = max(max_tokens, TEXT_ACTION_MIN_TOKENS)
            if constrained and self._menu is not None:
                choices = tuple(self._menu.build(spec, obs))
            else:
                constrained = False

        reply = yield _Call(messages, max_tokens, constrained, choices)
        usage = usage + reply.usage
        parsed: ParseResult | None = None
        error = reply.error
        if error is None:
            parsed = (
                parse_text_action(reply.text, spec) if self._text_mode else parse_action(reply.text, names)
            )
            if choices is not None and parsed.ok and reply.text is not None and reply.text.strip() in choices:
                parsed = ParseResult(parsed.index, parsed.name, "menu")
            if not parsed.ok:
                error = f"parse: {parsed.error}"
                self.stats.parse_failures += 1
        return self._decide(obs, names, usage, messages, reply.text, parsed, error, plan_made)

    def _follow_plan(
        self,
        obs: Observation,
        names: list[str],
        usage: TokenUsage,
        messages: Any,
        plan_reply: _Reply | None,
        plan_made: str | None,
    ) -> Decision:
        """plan-follow: the next action the plan in force names (cycling), without a model call."""
        parsed: ParseResult | None = None
        error: str | None = None
        if self._plan_steps:
            step = (self._since_plan - 1) % len(self._plan_steps)
            index = self._plan_steps[step]
            parsed = ParseResult(index, names[index], "plan")
        elif plan_reply is not None and plan_reply.error is not None:
            error = plan_reply.error
        else:
            error = "the plan names no action" if self._plan is not None else "no plan"
        return self._decide(obs, names, usage, messages, plan_made or self._plan, parsed, error, plan_made)

    def _decide(
        self,
        obs: Observation,
        names: list[str],
        usage: TokenUsage,
        messages: Any,
        raw_output: str | None,
        parsed: ParseResult | None,
        error: str | None,
        plan_made: str | None,
    ) -> Decision:
        """Book-keeping of one decision: fallback when ``parsed`` failed, history, stats, trace."""
        style = self.thinking
        if parsed is not None and parsed.ok:
            action, fallback = (parsed.name if self._text_mode else parsed.index), False
        else:
            action, fallback = self.fallback_action(), True
            self.stats.fallbacks += 1
            self.stats.last_error = error
            logger.debug("%s falls back to %r: %s", self.name, action, error)

        self._previous = action
        t_s = obs.time_us / 1e6
        label = str(action).replace("\n", "; ") if self._text_mode else names[action]
        self._history.append(f"t={t_s:.2f}s: {label}" + (" (fallback)" if fallback else ""))
        self.stats.decisions += 1
        self.stats.usage = self.stats.usage + usage
        trace = Trace(
            prompt=messages,
            raw_output=raw_output,
            parsed=None
            if parsed is None
            else {"action": parsed.name, "method": parsed.method, "error": parsed.error},
            error=error,
            plan=plan_made
            if plan_made is not None
            else (self._plan if isinstance(style, PlanThenAct) else None),
        )
        return Decision(action=action, usage=usage, trace=trace, fallback=fallback, error=self._call_error)

    # ------------------------------------------------------------------ model calls
    def _request(self, call: _Call, mode: str) -> dict[str, Any]:
        """Keyword arguments of ``litellm.completion`` for ``call`` under constraint ``mode``."""
        max_tokens = call.max_tokens
        if call.constrained and mode == "json":  # braces, key and quotes need room
            floor = JSON_TEXT_ACTION_MIN_TOKENS if call.choices is not None else JSON_ACTION_MIN_TOKENS
            max_tokens = max(max_tokens, floor)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": call.messages,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "timeout": self.timeout_s,
            "num_retries": 0,
            **self.extra_params,
        }
        if self.model.startswith("apc/"):  # the plan cache scopes its templates by env and prompt version
            family = self.spec.env_id.rsplit("/", 1)[-1]
            kwargs["metadata"] = {
                **dict(kwargs.get("metadata") or {}),
                "apc_env": family,
                "apc_prompt_version": self.prompt_version,
                "apc_role": "plan" if call.plan else "act",  # a JSON-constrained plan is still a plan
            }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        seed = self.seed if self.seed is not None else self._episode_seed
        if seed is not None:
            kwargs["seed"] = seed
        names = list(call.choices) if call.choices is not None else list(self.spec.action_names or ())
        if call.plan_steps is not None and mode == "json":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "plan",
                    "strict": True,
                    "schema": plan_schema(names, call.plan_steps),
                },
            }
        elif call.constrained and mode == "choice":
            extra = dict(kwargs.get("extra_body") or {})
            extra["structured_outputs"] = {"choice": names}
            kwargs["extra_body"] = extra
        elif call.constrained and mode == "guided_choice":
            extra = dict(kwargs.get("extra_body") or {})
            extra["guided_choice"] = names
            kwargs["extra_body"] = extra
        elif call.constrained and mode == "json":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "action",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {"action": {"type": "string", "enum": names}},
                        "required": ["action"],
                        "additionalProperties": False,
                    },
                },
            }
        return kwargs

    def _modes(self, call: _Call) -> tuple[str, ...]:
        if not call.constrained:
            return ("none",)
        if call.plan_steps is not None:  # a JSON-schema plan where the backend takes one, else free text
            return ("json", "none") if self._mode in ("auto", "choice", "json") else ("none",)
        if self._mode == "auto":
            return _AUTO_ORDER
        return (self._mode,)

    def _complete(self, call: _Call) -> _Reply:
        litellm = import_litellm()
        for mode in self._modes(call):
            try:
                response = self._send(litellm.completion, self._request(call, mode), mode, litellm, call)
            except _Rejected as exc:
                logger.info(
                    "%s: backend rejected output constraint %r (%s); trying the next", self.name, mode, exc
                )
                continue
            except Exception as exc:  # noqa: BLE001 - a failed call must not crash a match
                return self._failed(exc)
            return self._accept(response, call, mode)
        return self._failed(RuntimeError("the backend rejected every output constraint"))

    async def _acomplete(self, call: _Call) -> _Reply:
        litellm = import_litellm()
        for mode in self._modes(call):
            try:
                response = await self._asend(self._request(call, mode), mode, litellm, call)
            except _Rejected as exc:
                logger.info(
                    "%s: backend rejected output constraint %r (%s); trying the next", self.name, mode, exc
                )
                continue
            except Exception as exc:  # noqa: BLE001 - a failed call must not crash a match
                return self._failed(exc)
            return self._accept(response, call, mode)
        return self._failed(RuntimeError("the backend rejected every output constraint"))

    def _send(self, completion: Any, kwargs: dict[str, Any], mode: str, litellm: Any, call: _Call) -> Any:
        self.stats.requests += 1
        try:
            return completion(**kwargs)
        except (litellm.BadRequestError, litellm.UnprocessableEntityError) as exc:
            if mode != "none" and (self._mode == "auto" or call.plan_steps is not None):
                raise _Rejected(str(exc)[:200]) from exc
            raise

    async def _asend(self, kwargs: dict[str, Any], mode: str, litellm: Any, call: _Call) -> Any:
        self.stats.requests += 1
        try:
            return await litellm.acompletion(**kwargs)
        except (litellm.BadRequestError, litellm.UnprocessableEntityError) as exc:
            if mode != "none" and (self._mode == "auto" or call.plan_steps is not None):
                raise _Rejected(str(exc)[:200]) from exc
            raise

    def _accept(self, response: Any, call: _Call, mode: str) -> _Reply:
        if call.constrained and self._mode == "auto" and call.plan_steps is None:
            self._mode = mode
            self.stats.structured_mode = mode
        return _Reply(text=_content(response), usage=usage_of(response))

    def _failed(self, exc: BaseException) -> _Reply:
        self.stats.call_errors += 1
        message = f"{type(exc).__name__}: {exc}"[:300]
        self.stats.last_error = message
        if self._call_error is None:
            self._call_error = message
        logger.warning("%s: model call failed: %s", self.name, message)
        return _Reply(text=None, usage=TokenUsage(), error=message)


def plan_schema(names: list[str], max_steps: int) -> dict[str, Any]:
    """The JSON schema of a plan-follow plan: ``{"steps": [...]}``, 1 to ``max_steps`` action names."""
    return {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {"type": "string", "enum": names},
                "minItems": 1,
                "maxItems": max_steps,
            }
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


def _plan_text(text: str) -> str:
    """A plan reply as one line: a JSON plan (``{"steps": [...]}``) becomes its names joined by commas."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            steps = json.loads(stripped).get("steps")
        except (ValueError, AttributeError):
            steps = None
        if isinstance(steps, list) and steps and all(isinstance(x, str) for x in steps):
            return ", ".join(steps)
    return " ".join(text.split())


def import_litellm() -> Any:
    """Import LiteLLM offline (local cost map) and quiet its INFO logging."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
        if logging.getLogger(name).level < logging.WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)
    return litellm


def _content(response: Any) -> str | None:
    try:
        return response.choices[0].message.content
    except (AttributeError, IndexError, KeyError):
        return None


def usage_of(response: Any) -> TokenUsage:
    """Token usage of a response, cached prompt tokens included (``prompt_tokens_details``)."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return TokenUsage(requests=1)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if cached is None and isinstance(details, dict):
        cached = details.get("cached_tokens")
    return TokenUsage(
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        cached_tokens=int(cached or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        requests=1,
    )
