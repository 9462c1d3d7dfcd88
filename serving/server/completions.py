"""``POST /v1/completions``: raw text (or token ids, or a batch of either) in, continuations out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from splitsecond.serving import EngineError
from splitsecond.serving.engine.prompt_encoding import encode_prompt
from splitsecond.serving.server.errors import APIError, bad_request, internal_error
from splitsecond.serving.server.generation import GenerationSession, engine_error, finish_label
from splitsecond.serving.server.logprobs import completion_logprobs, delta_logprobs
from splitsecond.serving.server.protocol import (
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    new_id,
)
from splitsecond.serving.server.sampling import (
    constraint_param,
    reject_unsupported,
    resolve_max_tokens,
    sampling_params,
)
from splitsecond.serving.server.sse import SSE_DONE, SSE_MEDIA_TYPE, sse_event
from splitsecond.serving.server.state import ServerState
from splitsecond.serving.server.usage import usage_of


def completion_prompts(req: CompletionRequest, tokenizer: Any, vocab_size: int | None) -> list[list[int]]:
    """Each prompt of the request as token ids (text is encoded, ids are range-checked)."""
    prompts: list[list[int]] = []
    for i, p in enumerate(req.prompts()):
        if isinstance(p, str):
            prompts.append(encode_prompt(tokenizer, p))
            continue
        if vocab_size is not None:
            bad = [t for t in p if not 0 <= t < vocab_size]
            if bad:
                raise bad_request(
                    f"Token ids must be in [0, {vocab_size}); got {bad[:5]} in prompt {i}.", "prompt"
                )
        prompts.append(list(p))
    if any(not p for p in prompts):
        raise bad_request("The prompt is empty after tokenisation.", "prompt")
    return prompts


def _vocab_size(tokenizer: Any) -> int | None:
    for attr in ("vocab_size", "n_vocab"):
        v = getattr(tokenizer, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


async def create_completion(req: CompletionRequest, raw: Request, state: ServerState) -> Response:
    """Validate, run and answer one text completion request."""
    model = state.check_model(req.model)
    reject_unsupported(req, state.config)
    engine = state.engine
    prompts = await asyncio.to_thread(  # off the event loop
        completion_prompts, req, engine.tokenizer, _vocab_size(engine.tokenizer)
    )
    # One max_tokens for the batch: the tightest prompt decides when none was asked for.
    longest = max(len(p) for p in prompts)
    max_tokens = resolve_max_tokens(req, longest, engine.max_model_len)
    param = constraint_param(req)
    try:
        params = sampling_params(req, max_tokens)
    except (EngineError, ValueError) as exc:
        raise engine_error(exc, state, param, is_chat=False) from exc

    response_id = new_id("cmpl")
    created = int(time.time())
    session = GenerationSession(state, raw, response_id, param, is_chat=False)
    stream = session.stream_many(list(prompts), params)
    first = await session.first(stream)
    if first is None:
        return JSONResponse({}, status_code=499)

    if req.stream:
        body = _stream_chunks(req, state, session, stream, first, response_id, created, model, len(prompts))
        return StreamingResponse(body, media_type=SSE_MEDIA_TYPE, headers={"Cache-Control": "no-cache"})

    finals: dict[int, Any] = {first[0]: first[1]}
    try:
        async for i, out in stream:
            finals[i] = out
        all_done = len(finals) == len(prompts) and all(o.finished for o in finals.values())
        if all_done and not session.disconnected:
            _record_finish(session, list(finals.values()))
    finally:
        await session.close()
    if session.disconnected or not all_done:
        return JSONResponse({}, status_code=499)
    choices = []
    for i in sorted(finals):
        for c in sorted(finals[i].outputs, key=lambda c: c.index):
            choices.append(
                CompletionChoice(
                    index=i * req.n + c.index,
                    text=c.text,
                    logprobs=(
                        completion_logprobs(engine.tokenizer, c.token_ids, c.logprobs)
                        if req.logprobs is not None
                        else None
                    ),
                    finish_reason=c.finish_reason,
                    stop_reason=c.stop_reason,
                )
            )
    resp = CompletionResponse(
        id=response_id, created=created, model=model, choices=choices, usage=usage_of(finals.values())
    )
    return JSONResponse(resp.model_dump(mode="json"))


def _record_finish(session: GenerationSession, finals: list[Any]) -> None:
    labels = [finish_label(f) for f in finals]
    label = "abort" if "abort" in labels else ("length" if "length" in labels else "stop")
    prompt = sum(len(f.prompt_token_ids) for f in finals)
    cached = sum(int(f.num_cached_tokens or 0) for f in finals)
    session.timer.finish(label, prompt, cached)


async def _stream_chunks(
    req: CompletionRequest,
    state: ServerState,
    session: GenerationSession,
    stream: AsyncIterator[tuple[int, Any]],
    first: tuple[int, Any],
    response_id: str,
    created: int,
    model: str,
    num_prompts: int,
) -> AsyncIterator[str]:
    tokenizer = state.engine.tokenizer

    def chunk(choices: list[CompletionChoice]) -> str:
        data = CompletionResponse(id=response_id, created=created, model=model, choices=choices).model_dump(
            mode="json"
        )
        if not req.include_usage:
            data.pop("usage")
        return sse_event(data)

    finals: dict[int, Any] = {}
    try:
        item: tuple[int, Any] | None = first
        done: set[int] = set()
        while item is not None:
            i, out = item
            finals[i] = out
            choices = []
            for c in sorted(out.outputs, key=lambda c: c.index):
                index = i * req.n + c.index
                if index in done or (not c.delta_text and c.finish_reason is None and not c.delta_token_ids):
                    continue
                lps = None
                if req.logprobs is not None and c.delta_token_ids:
                    k = len(c.delta_token_ids)
                    offset = len(c.text) - len(c.delta_text)
                    lps = completion_logprobs(tokenizer, c.token_ids[-k:], delta_logprobs(c, k), offset)
                choices.append(
                    CompletionChoice(
                        index=index,
                        text=c.delta_text,
                        logprobs=lps,
                        finish_reason=c.finish_reason,
                        stop_reason=c.stop_reason,
                    )
                )
                if c.finish_reason is not None:
                    done.add(index)
            if choices:
                yield chunk(choices)
            try:
                item = await anext(stream)
            except StopAsyncIteration:
                item = None
        all_done = len(finals) == num_prompts and all(o.finished for o in finals.values())
        if all_done and not session.disconnected:
            _record_finish(session, list(finals.values()))
            if req.include_usage:
                usage = CompletionResponse(
                    id=response_id, created=created, model=model, choices=[], usage=usage_of(finals.values())
                )
                yield sse_event(usage)
        yield SSE_DONE
    except APIError as exc:
        yield sse_event(exc.body())
        yield SSE_DONE
    except Exception as exc:  # the stream has started: the error travels as its last event
        yield sse_event(internal_error("Internal error while streaming", exc).body())
        yield SSE_DONE
    finally:
        await session.close()
