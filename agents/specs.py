"""Agent specs: one string that names an agent, as ``splitsecond play --agent`` takes it.

======================================================  =============================================
spec                                                    agent
======================================================  =============================================
``random``, ``rushdown`` ...                            a built-in (:func:`builtin_names` lists them)
``builtin:<name>``                                      the same, explicitly
``<provider>/<model>``                                  :class:`~splitsecond.agents.llm_agent.LLMAgent`
                                                        on any LiteLLM model, e.g. ``openai/gpt-4o-mini``
``<provider>/<model>@<api_base>``                       ... served at ``api_base`` (``http(s)://...``),
                                                        e.g. ``openai/smollm2-135m@http://127.0.0.1:8000/v1``
``llm:<model>[@<api_base>]``                            an LLM whose LiteLLM name has no ``/``
``package.module:Class``                                a user-defined agent class
``path/to/file.py:Class``                               ... loaded from a file
======================================================  =============================================

Any spec may end in ``?key=value&key=value`` options: constructor arguments of the agent, e.g.
``openai/smollm2-135m@http://127.0.0.1:8000/v1?thinking=plan-then-act:4&temperature=0.2``.
LLM options: ``thinking``, ``structured``, ``temperature``, ``seed``, ``history``, ``fallback``,
``timeout_s``, ``name``, ``prompt`` (``full`` or ``compact``), ``api_key_env`` (the name of an environment variable holding the key; keys
never go in specs) and ``extra.<param>`` (passed to ``litellm.completion``). Values are read as
int, float, ``true``/``false`` or text.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitsecond.agents.base import Agent

KINDS = ("builtin", "llm", "class")
LLM_OPTIONS = (
    "thinking",
    "structured",
    "temperature",
    "seed",
    "history",
    "fallback",
    "timeout_s",
    "name",
    "prompt",
    "api_key_env",
)
_CLASS_RE = re.compile(r"^(?P<module>[A-Za-z_][\w.]*|[^?]+\.py):(?P<cls>[A-Za-z_]\w*)$")


@dataclass(frozen=True)
class AgentSpec:
    """A parsed agent spec (see the module docstring).

    Attributes:
        kind: ``builtin``, ``llm`` or ``class``.
        target: the built-in name, the LiteLLM model string, or ``module:Class``.
        api_base: the LLM endpoint, if given.
        options: constructor options from the ``?key=value`` part.
        text: the original spec string.
    """

    kind: str
    target: str
    api_base: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"AgentSpec.kind must be one of {KINDS}, got {self.kind!r}")

    def build(self) -> Agent:
        """Construct the agent."""
        return make_agent(self)


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _options(query: str, spec: str) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad option {part!r} in agent spec {spec!r}; write key=value")
        opts[key.strip()] = _value(value.strip())
    return opts


def builtin_names() -> list[str]:
    """Names of the built-in agents (``random``, the StreetFighter fighters, HFTBench baselines)."""
    from splitsecond.agents.baselines import builtin_agents

    return sorted(builtin_agents())


def parse_agent_spec(text: str) -> AgentSpec:
    """Parse an agent spec string (see the module docstring).

    Raises:
        ValueError: when the string matches no form; the message lists the forms and built-ins.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("agent spec must be a non-empty string")
    spec = text.strip()
    body, _, query = spec.partition("?")
    options = _options(query, spec)
    if body.startswith("builtin:"):
        return AgentSpec("builtin", body.removeprefix("builtin:"), None, options, spec)
    if body.startswith("llm:"):
        model, api_base = _split_api_base(body.removeprefix("llm:"))
        return AgentSpec("llm", model, api_base, options, spec)
    match = _CLASS_RE.match(body)
    if match:
        return AgentSpec("class", body, None, options, spec)
    if "/" in body or "@http" in body:
        model, api_base = _split_api_base(body)
        return AgentSpec("llm", model, api_base, options, spec)
    if re.fullmatch(r"[\w\-]+", body):
        return AgentSpec("builtin", body, None, options, spec)
    raise ValueError(
        f"cannot read agent spec {spec!r}; valid forms: a built-in name, builtin:NAME, "
        "PROVIDER/MODEL[@http://HOST:PORT/v1], llm:MODEL[@URL], package.module:Class, file.py:Class "
        "(each optionally followed by ?key=value&...)"
    )


def _split_api_base(body: str) -> tuple[str, str | None]:
    match = re.search(r"@(https?://.+)$", body)
    if not match:
        return body, None
    model = body[: match.start()]
    if not model:
        raise ValueError(f"agent spec {body!r} names no model before '@'")
    return model, match.group(1)


def _load_class(target: str) -> type:
    module_name, _, cls_name = target.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"agent file {module_name!r} does not exist")
        mod_name = f"splitsecond_user_agent_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ValueError(f"cannot load agent file {module_name!r}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        loader_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(f"agent module {module_name!r} not found ({exc})") from exc
    try:
        return getattr(module, cls_name)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {cls_name!r}") from None


def make_agent(spec: str | AgentSpec | Agent) -> Agent:
    """Build an agent from a spec string or :class:`AgentSpec`; an agent object passes through.

    Raises:
        ValueError: for an unknown built-in, a bad option, or a class that is not an agent.
    """
    if not isinstance(spec, str | AgentSpec):
        if callable(getattr(spec, "act", None)):
            return spec
        raise TypeError(f"expected an agent spec or an agent, got {type(spec).__name__}")
    parsed = parse_agent_spec(spec) if isinstance(spec, str) else spec
    opts = dict(parsed.options)
    if parsed.kind == "builtin":
        from splitsecond.agents.baselines import builtin_agents

        factories = builtin_agents()
        if parsed.target not in factories:
            raise ValueError(
                f"unknown built-in agent {parsed.target!r}; built-ins: {', '.join(sorted(factories))}"
            )
        try:
            return factories[parsed.target](**opts)
        except TypeError as exc:
            raise ValueError(f"bad options for built-in {parsed.target!r}: {exc}") from exc
    if parsed.kind == "llm":
        from splitsecond.agents.llm_agent import LLMAgent

        extra = {k.removeprefix("extra."): opts.pop(k) for k in list(opts) if k.startswith("extra.")}
        unknown = sorted(set(opts) - set(LLM_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown LLM agent options {unknown}; valid: {', '.join(LLM_OPTIONS)}, extra.<param>"
            )
        key_env = opts.pop("api_key_env", None)
        api_key = None
        if key_env is not None:
            api_key = os.environ.get(str(key_env))
            if api_key is None:
                raise ValueError(f"environment variable {key_env!r} (api_key_env) is not set")
        for text_opt in ("thinking", "name", "structured", "prompt"):
            if text_opt in opts:
                opts[text_opt] = str(opts[text_opt])
        return LLMAgent(parsed.target, api_base=parsed.api_base, api_key=api_key, extra_params=extra, **opts)
    cls = _load_class(parsed.target)
    try:
        agent = cls(**opts)
    except TypeError as exc:
        raise ValueError(f"cannot construct {parsed.target} with options {opts}: {exc}") from exc
    if not callable(getattr(agent, "act", None)):
        raise ValueError(f"{parsed.target} is not an agent: it has no act(observation) method")
    if not hasattr(agent, "name"):
        with contextlib.suppress(AttributeError):
            agent.name = parsed.target.rpartition(":")[2]
    return agent


def llm_endpoints(specs: Iterable[str]) -> dict[str, str]:
    """``{api_base: the first spec naming it}`` of the LLM specs that name an endpoint after ``@`` (specs
    that do not parse are skipped: building the agent reports them)."""
    out: dict[str, str] = {}
    for text in specs:
        try:
            parsed = parse_agent_spec(text)
        except ValueError:
            continue
        if parsed.kind == "llm" and parsed.api_base:
            out.setdefault(parsed.api_base, text)
    return out
