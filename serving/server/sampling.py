"""Translate an OpenAI request body into the engine's :class:`SamplingParams`.

Everything the engine cannot honour is refused here with a 400 that names the parameter; nothing
is silently clamped or dropped.
"""

from __future__ import annotations

import json
from typing import Any

from splitsecond.serving import SamplingParams, StructuredOutput
from splitsecond.serving.server.config import ServerConfig
from splitsecond.serving.server.errors import bad_request
from splitsecond.serving.server.protocol import ChatCompletionRequest, CompletionRequest, _SamplingRequest

#: OpenAI's default temperature (used when a request leaves it out).
DEFAULT_TEMPERATURE = 1.0

#: OpenAI's default ``max_tokens`` of a text completion.
DEFAULT_COMPLETION_MAX_TOKENS = 16


def reject_unsupported(req: _SamplingRequest, config: ServerConfig) -> None:
    """Raise a 400 for any known parameter whose value this server cannot honour."""
    for name in ("frequency_penalty", "presence_penalty"):
        v = getattr(req, name)
        if v not in (None, 0, 0.0):
            raise bad_request(
                f"'{name}' is not supported by this server; only 0 (the default) is accepted.", name
            )
    if req.repetition_penalty not in (None, 1, 1.0):
        raise bad_request(
            "'repetition_penalty' is not supported by this server; only 1.0 (the default) is accepted.",
            "repetition_penalty",
        )
    if req.logit_bias:
        raise bad_request("'logit_bias' is not supported by this server; send null or {}.", "logit_bias")
    if req.n > config.max_n:
        raise bad_request(f"n must be between 1 and {config.max_n}, got {req.n}.", "n")
    if req.min_tokens and req.max_tokens is not None and req.min_tokens > req.max_tokens:
        raise bad_request(
            f"min_tokens ({req.min_tokens}) must not exceed max_tokens ({req.max_tokens}).", "min_tokens"
        )
    if isinstance(req, ChatCompletionRequest):
        if req.tools:
            raise bad_request("Tool calling is not supported by this server; send no 'tools'.", "tools")
        if req.tool_choice not in (None, "none", "auto"):
            raise bad_request("'tool_choice' is not supported by this server (no tools).", "tool_choice")
        if req.top_logprobs is not None:
            if not req.logprobs:
                raise bad_request("'top_logprobs' needs 'logprobs' set to true.", "top_logprobs")
            if req.top_logprobs > config.max_logprobs:
                raise bad_request(
                    f"top_logprobs must be between 0 and {config.max_logprobs}, got {req.top_logprobs}.",
                    "top_logprobs",
                )
        both = req.max_tokens is not None and req.max_completion_tokens is not None
        if both and req.max_tokens != req.max_completion_tokens:
            raise bad_request(
                "max_tokens and max_completion_tokens disagree; send only max_completion_tokens.",
                "max_tokens",
            )
    if isinstance(req, CompletionRequest):
        if req.logprobs is not None and req.logprobs > config.max_logprobs:
            raise bad_request(
                f"logprobs must be between 0 and {config.max_logprobs}, got {req.logprobs}.", "logprobs"
            )
        if req.echo:
            raise bad_request("'echo' is not supported by this server; send false.", "echo")
        if req.suffix:
            raise bad_request("'suffix' is not supported by this server.", "suffix")
        if req.best_of is not None and req.best_of != req.n:
            raise bad_request(f"best_of must equal n ({req.n}) on this server, got {req.best_of}.", "best_of")


def _schema(value: dict[str, Any] | str, param: str) -> dict[str, Any] | str:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise bad_request(f"The JSON schema is not valid JSON: {exc}.", param, "invalid_schema") from exc
        except RecursionError:
            raise bad_request("The JSON schema is nested too deeply.", param, "invalid_schema") from None
        if not isinstance(parsed, dict):
            raise bad_request("The JSON schema must be a JSON object.", param, "invalid_schema")
        return parsed
    return value


def _constraint(param: str, **kwargs: Any) -> StructuredOutput:
    try:
        return StructuredOutput(**kwargs)
    except ValueError as exc:
        raise bad_request(f"Invalid output constraint: {exc}.", param, "invalid_schema") from exc


def json_schema_mode(req: _SamplingRequest) -> str:
    """How the request's JSON schema is read: ``structured_outputs.json_schema_mode``, else "strict"
    (OpenAI's structured outputs; see ``serving.constrained.json_schema``)."""
    so = req.structured_outputs
    return (so.json_schema_mode if so is not None else None) or "strict"


def structured_output(req: _SamplingRequest) -> StructuredOutput | None:
    """The output constraint a request asks for, or ``None``; two constraints at once are a 400."""
    found: list[tuple[str, StructuredOutput]] = []
    mode = json_schema_mode(req)
    rf = req.response_format
    if rf is not None and rf.type == "json_object":
        found.append(("response_format", _constraint("response_format", json_object=True)))
    elif rf is not None and rf.type == "json_schema":
        assert rf.json_schema is not None and rf.json_schema.json_schema is not None
        schema = _schema(rf.json_schema.json_schema, "response_format")
        found.append(
            ("response_format", _constraint("response_format", json_schema=schema, json_schema_mode=mode))
        )
    so = req.structured_outputs
    if so is not None:
        if so.grammar is not None:
            raise bad_request(
                "structured_outputs.grammar is not supported; use choice, json, regex or json_object.",
                "structured_outputs.grammar",
            )
        if so.choice is not None:
            found.append(
                (
                    "structured_outputs.choice",
                    _constraint("structured_outputs.choice", choice=list(so.choice)),
                )
            )
        if so.json_ is not None:
            schema = _schema(so.json_, "structured_outputs.json")
            found.append(
                (
                    "structured_outputs.json",
                    _constraint("structured_outputs.json", json_schema=schema, json_schema_mode=mode),
                )
            )
        if so.regex is not None:
            found.append(
                ("structured_outputs.regex", _constraint("structured_outputs.regex", regex=so.regex))
            )
        if so.json_object:
            found.append(
                (
                    "structured_outputs.json_object",
                    _constraint("structured_outputs.json_object", json_object=True),
                )
            )
    if req.guided_choice is not None:
        found.append(("guided_choice", _constraint("guided_choice", choice=list(req.guided_choice))))
    if req.guided_json is not None:
        schema = _schema(req.guided_json, "guided_json")
        found.append(("guided_json", _constraint("guided_json", json_schema=schema, json_schema_mode=mode)))
    if req.guided_regex is not None:
        found.append(("guided_regex", _constraint("guided_regex", regex=req.guided_regex)))
    if len(found) > 1:
        names = ", ".join(name for name, _ in found)
        raise bad_request(f"Only one output constraint may be given; got {names}.", found[1][0])
    if found:
        name, constraint = found[0]
        if constraint.choice is not None and (
            not constraint.choice or any(c == "" for c in constraint.choice)
        ):
            raise bad_request("A choice constraint needs a non-empty list of non-empty strings.", name)
        return constraint
    return None


def constraint_param(req: _SamplingRequest) -> str | None:
    """The request parameter that carries the output constraint (named in schema errors)."""
    if req.response_format is not None and req.response_format.type != "text":
        return "response_format"
    for name in ("structured_outputs", "guided_json", "guided_regex", "guided_choice"):
        if getattr(req, name) is not None:
            return name
    return None


def requested_max_tokens(req: _SamplingRequest) -> int | None:
    """``max_completion_tokens`` (chat) or ``max_tokens``, whichever was sent."""
    if isinstance(req, ChatCompletionRequest) and req.max_completion_tokens is not None:
        return req.max_completion_tokens
    return req.max_tokens


def resolve_max_tokens(req: _SamplingRequest, prompt_len: int, max_model_len: int) -> int:
    """How many tokens may be generated; a prompt that leaves no room is a 400 with the numbers."""
    requested = requested_max_tokens(req)
    param = "messages" if isinstance(req, ChatCompletionRequest) else "prompt"
    if prompt_len >= max_model_len:
        raise bad_request(
            f"This model's maximum context length is {max_model_len} tokens. However, your prompt has "
            f"{prompt_len} tokens, which leaves no room for a completion. Please shorten the prompt.",
            param,
            "context_length_exceeded",
        )
    room = max_model_len - prompt_len
    if requested is None:
        # Like OpenAI and vLLM: a text completion defaults to 16 tokens, a chat to the rest of the context.
        return min(DEFAULT_COMPLETION_MAX_TOKENS, room) if isinstance(req, CompletionRequest) else room
    if requested > room:
        name = (
            "max_completion_tokens"
            if isinstance(req, ChatCompletionRequest) and req.max_completion_tokens
            else ("max_tokens")
        )
        raise bad_request(
            f"This model's maximum context length is {max_model_len} tokens. However, you requested "
            f"{prompt_len + requested} tokens ({prompt_len} in the prompt, {requested} for the completion). "
            f"Please reduce the prompt or the completion length (at most {room} here).",
            name,
            "context_length_exceeded",
        )
    return requested


def logprobs_count(req: _SamplingRequest) -> int | None:
    """How many top log-probabilities per token to return (``None``: none at all)."""
    if isinstance(req, ChatCompletionRequest):
        return (req.top_logprobs or 0) if req.logprobs else None
    if isinstance(req, CompletionRequest):
        return req.logprobs
    return None


def sampling_params(req: _SamplingRequest, max_tokens: int) -> SamplingParams:
    """The engine's sampling parameters for a validated request."""
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    top_k = req.top_k if req.top_k not in (None, 0) else -1
    return SamplingParams(
        n=req.n,
        temperature=DEFAULT_TEMPERATURE if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        top_k=top_k,
        seed=req.seed,
        max_tokens=max_tokens,
        min_tokens=req.min_tokens,
        stop=stop,
        stop_token_ids=list(req.stop_token_ids or []),
        ignore_eos=req.ignore_eos,
        logprobs=logprobs_count(req),
        structured=structured_output(req),
    )
