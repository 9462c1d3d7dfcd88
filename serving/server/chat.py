"""``POST /v1/chat/completions``: a conversation in, the assistant's reply out (streamed or not)."""

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
from splitsecond.serving.server.logprobs import chat_logprobs, delta_logprobs
from splitsecond.serving.server.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatDelta,
    ChatResponseMessage,
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


def chat_prompt(req: ChatCompletionRequest, tokenizer: Any) -> list[int]:
    """The conversation rendered with the model's chat template, as token ids."""
    messages = []
    for i, m in enumerate(req.messages):
        try:
            content = m.text()
        except ValueError as exc:
            raise bad_request(str(exc), f"messages.{i}.content") from exc
        role = "system" if m.role == "developer" else m.role
        messages.append({"role": role, "content": content})
    try:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=req.add_generation_prompt)
    except Exception as exc:  # the template raises (e.g. on an unsupported role order); name the cause
        raise bad_request(f"The chat template could not render these messages: {exc}", "messages") from exc
    return encode_prompt(tokenizer, text)


async def create_chat_completion(req: ChatCompletionRequest, raw: Request, state: ServerState) -> Response:
    """Validate, run and answer one chat completion request."""
    model = state.check_model(req.model)
    reject_unsupported(req, state.config)
    engine = state.engine
    prompt_ids = await asyncio.to_thread(chat_prompt, req, engine.tokenizer)  # off the event loop
    max_tokens = resolve_max_tokens(req, len(prompt_ids), engine.max_model_len)
    param = constraint_param(req)
    try:
        params = sampling_params(req, max_tokens)
    except (EngineError, ValueError) as exc:
        raise engine_error(exc, state, param, is_chat=True) from exc

    response_id = new_id("chatcmpl")
    created = int(time.time())
    session = GenerationSession(state, raw, response_id, param, is_chat=True)
    stream = session.stream(prompt_ids, params)
    first = await session.first(stream)
    if first is None:
        return JSONResponse({}, status_code=499)

    if req.stream:
        body = _stream_chunks(req, state, session, stream, first, response_id, created, model)
        return StreamingResponse(body, media_type=SSE_MEDIA_TYPE, headers={"Cache-Control": "no-cache"})

    final = first
    try:
        async for out in stream:
            final = out
        if final.finished and not session.disconnected:
            session.timer.finish(
                finish_label(final), len(final.prompt_token_ids), final.num_cached_tokens or 0
            )
    finally:
        await session.close()
    if session.disconnected or not final.finished:
        return JSONResponse({}, status_code=499)
    choices = [
        ChatChoice(
            index=c.index,
            message=ChatResponseMessage(content=c.text),
            logprobs=chat_logprobs(engine.tokenizer, c.token_ids, c.logprobs)
            if params.logprobs is not None
            else None,
            finish_reason=c.finish_reason,
            stop_reason=c.stop_reason,
        )
        for c in sorted(final.outputs, key=lambda c: c.index)
    ]
    resp = ChatCompletionResponse(
        id=response_id, created=created, model=model, choices=choices, usage=usage_of([final])
    )
    return JSONResponse(resp.model_dump(mode="json"))


async def _stream_chunks(
    req: ChatCompletionRequest,
    state: ServerState,
    session: GenerationSession,
    stream: AsyncIterator[Any],
    first: Any,
    response_id: str,
    created: int,
    model: str,
) -> AsyncIterator[str]:
    tokenizer = state.engine.tokenizer
    want_logprobs = req.logprobs
    usage_null = req.include_usage

    def chunk(choices: list[ChatChunkChoice]) -> str:
        c = ChatCompletionChunk(id=response_id, created=created, model=model, choices=choices)
        data = c.model_dump(mode="json")
        if not usage_null:
            data.pop("usage")
        for ch in data["choices"]:
            ch["delta"] = {k: v for k, v in ch["delta"].items() if v is not None}
        return sse_event(data)

    try:
        yield chunk(
            [ChatChunkChoice(index=i, delta=ChatDelta(role="assistant", content="")) for i in range(req.n)]
        )
        final = first
        out = first
        done: set[int] = set()
        while True:
            choices = []
            for c in sorted(out.outputs, key=lambda c: c.index):
                if c.index in done:
                    continue
                if not c.delta_text and c.finish_reason is None and not c.delta_token_ids:
                    continue
                lps = None
                if want_logprobs and c.delta_token_ids:
                    k = len(c.delta_token_ids)
                    lps = chat_logprobs(tokenizer, c.token_ids[-k:], delta_logprobs(c, k))
                choices.append(
                    ChatChunkChoice(
                        index=c.index,
                        delta=ChatDelta(content=c.delta_text),
                        logprobs=lps,
                        finish_reason=c.finish_reason,
                        stop_reason=c.stop_reason,
                    )
                )
                if c.finish_reason is not None:
                    done.add(c.index)
            if choices:
                yield chunk(choices)
            final = out
            if out.finished:
                break
            try:
                out = await anext(stream)
            except StopAsyncIteration:
                break
        if final.finished and not session.disconnected:
            session.timer.finish(
                finish_label(final), len(final.prompt_token_ids), final.num_cached_tokens or 0
            )
            if req.include_usage:
                usage = ChatCompletionChunk(
                    id=response_id, created=created, model=model, choices=[], usage=usage_of([final])
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
