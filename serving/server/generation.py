"""Drive engine requests on behalf of one HTTP request.

Maps engine errors to OpenAI errors, feeds the latency metrics, merges the streams of a batch of
prompts, and aborts every engine request whose client went away (polling
``request.is_disconnected()``) or whose handler stopped early, so its KV blocks are freed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from splitsecond.serving import (
    EngineError,
    EngineOverloadedError,
    InvalidSchemaError,
    PromptTooLongError,
    RequestAbortedError,
)
from splitsecond.serving.errors import EngineDeadError, InvalidParameterError, RequestFailedError
from splitsecond.serving.server.errors import RATE_LIMIT, SERVER_ERROR, APIError, bad_request, internal_error
from splitsecond.serving.server.metrics import RequestTimer
from splitsecond.serving.server.state import ServerState

logger = logging.getLogger(__name__)


#: Longest library message a client sees for a refused output constraint.
MAX_SCHEMA_MESSAGE = 400

_PANIC_MARKERS = ("panic", "backtrace", "stack backtrace", ".rs:", "Traceback")


def schema_error(exc: Exception, constraint_param: str | None) -> APIError:
    """A 400 for a refused output constraint: the compiler's one-line reason, or, when that looks like a
    crash report (a panic, a backtrace, many lines), only an error id (the text goes to the log)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not first or any(m in text for m in _PANIC_MARKERS) or len(first) > MAX_SCHEMA_MESSAGE:
        err = internal_error("The output constraint could not be compiled", exc, status=400)
        return bad_request(err.message, constraint_param, "invalid_schema")
    return bad_request(f"Invalid output constraint: {first}", constraint_param, "invalid_schema")


def request_param(param: str, constraint_param: str | None, is_chat: bool) -> str:
    """The request field for a ``SamplingParams`` field named by ``InvalidParameterError``."""
    if param == "logprobs" and is_chat:
        return "top_logprobs"
    if param == "structured":
        return constraint_param or "response_format"
    return param


def engine_error(
    exc: Exception, state: ServerState, constraint_param: str | None, is_chat: bool = True
) -> APIError:
    """The OpenAI error for an exception the engine raised (faults of ours show only an error id)."""
    if isinstance(exc, PromptTooLongError):
        return bad_request(str(exc), "messages" if is_chat else "prompt", "context_length_exceeded")
    if isinstance(exc, InvalidSchemaError):
        return schema_error(exc, constraint_param)
    if isinstance(exc, InvalidParameterError):
        message = str(exc).removeprefix("SamplingParams: ")
        return bad_request(message, request_param(exc.param, constraint_param, is_chat), "invalid_value")
    if isinstance(exc, EngineOverloadedError):
        retry = str(state.config.retry_after_s)
        return APIError(
            429,
            f"The server is overloaded ({exc}); retry after {retry} s.",
            RATE_LIMIT,
            None,
            "engine_overloaded",
            headers={"Retry-After": retry},
        )
    if isinstance(exc, RequestFailedError):
        return internal_error("The request failed inside the engine", detail=exc.detail)
    if isinstance(exc, EngineDeadError):
        return internal_error("The engine is not running", exc, status=503)
    if isinstance(exc, ValueError):
        text = str(exc).strip()
        return bad_request(text.splitlines()[0][:MAX_SCHEMA_MESSAGE] if text else "Invalid request.")
    if isinstance(exc, EngineError):
        return internal_error("Engine error", exc)
    return internal_error("Internal error", exc)


def finish_label(final: Any) -> str:
    """One finish reason for a finished request's choices (for the metrics)."""
    reasons = {c.finish_reason for c in final.outputs}
    return "abort" if "abort" in reasons else ("length" if "length" in reasons else "stop")


class GenerationSession:
    """The engine requests serving one HTTP request, and their clean-up.

    Use as an async context manager; on exit every engine request that did not finish is aborted.

    Args:
        state: The server's shared state.
        raw_request: The HTTP request (watched for disconnects); ``None`` watches nothing.
        base_id: Prefix of the engine request ids (the response's id).
        constraint_param: Request parameter named when the engine rejects the output constraint.
        is_chat: A chat completion (errors name ``messages``), else a text completion (``prompt``).
    """

    def __init__(
        self,
        state: ServerState,
        raw_request: Request | None,
        base_id: str,
        constraint_param: str | None,
        is_chat: bool = True,
    ) -> None:
        self.state = state
        self.raw_request = raw_request
        self.base_id = base_id
        self.constraint_param = constraint_param
        self.is_chat = is_chat
        self.timer = RequestTimer(state.metrics)
        self.disconnected = False
        self._ids: list[str] = []
        self._finished: set[str] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._open = False

    async def __aenter__(self) -> GenerationSession:
        self.state.metrics.in_flight.inc()
        self._open = True
        if self.raw_request is not None:
            self._watcher = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop watching and abort unfinished engine requests (idempotent).

        Metrics are recorded before any ``await``: ``close`` may run while its task is being cancelled
        (the client went away mid-stream).
        """
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self._open:
            self._open = False
            self.state.metrics.in_flight.dec()
        pending = [rid for rid in self._ids if rid not in self._finished]
        if not self.timer.done:
            self.timer.finish("abort" if self.disconnected or pending else "error")
        await self._abort(pending)

    async def _abort(self, rids: list[str]) -> None:
        rids = [rid for rid in rids if rid not in self._finished]
        if not rids:
            return
        self._finished.update(rids)
        # Scheduled as tasks so they complete even if this coroutine is being cancelled.
        tasks = [asyncio.ensure_future(self.state.engine.abort(rid)) for rid in rids]
        results = await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        for rid, result in zip(rids, results, strict=True):
            if isinstance(result, Exception):
                logger.warning("aborting %s failed: %s", rid, result)

    def _reserve(self, count: int, params: Any) -> None:
        """Admit ``count`` prompts at once (engines without ``reserve`` admit each in ``generate``)."""
        reserve = getattr(self.state.engine, "reserve", None)
        if reserve is None:
            return
        rids = [f"{self.base_id}-{i}" for i in range(count)]
        try:
            reserve(rids, params)
        except (EngineError, ValueError) as exc:
            raise engine_error(exc, self.state, self.constraint_param, self.is_chat) from exc
        self._ids.extend(rids)

    async def _watch(self) -> None:
        assert self.raw_request is not None
        try:
            while True:
                await asyncio.sleep(self.state.config.disconnect_poll_s)
                if await self.raw_request.is_disconnected():
                    self.disconnected = True
                    logger.info("client of %s disconnected; aborting", self.base_id)
                    await self._abort(list(self._ids))
                    return
        except asyncio.CancelledError:
            pass

    async def first(self, stream: AsyncIterator[Any]) -> Any | None:
        """Enter the session and wait for ``stream``'s first output.

        Returns ``None`` (the session closed) when the stream ended before any output, i.e. the
        client went away; any error closes the session and propagates.
        """
        await self.__aenter__()
        try:
            return await anext(stream)
        except StopAsyncIteration:
            await self.close()
            return None
        except BaseException:
            await self.close()
            raise

    async def stream(self, prompt: str | list[int], params: Any, index: int = 0) -> AsyncIterator[Any]:
        """The engine's outputs for one prompt; engine errors leave as :class:`APIError`."""
        rid = f"{self.base_id}-{index}"
        if rid not in self._ids:
            self._ids.append(rid)
        try:
            async for out in self.state.engine.generate(prompt, params, rid):
                self.timer.tokens(sum(len(c.delta_token_ids) for c in out.outputs))
                if out.finished:
                    self._finished.add(rid)
                yield out
                if out.finished:
                    return
        except RequestAbortedError:
            self._finished.add(rid)
            if not self.disconnected:
                raise APIError(503, "The request was aborted by the server.", SERVER_ERROR) from None
        except (EngineError, ValueError) as exc:
            self._finished.add(rid)
            raise engine_error(exc, self.state, self.constraint_param, self.is_chat) from exc

    async def stream_many(
        self, prompts: list[str | list[int]], params: Any
    ) -> AsyncIterator[tuple[int, Any]]:
        """Outputs of several prompts as they come, tagged with the prompt's index.

        A batch is admitted as one (``AsyncEngine.reserve``): when the engine's queue cannot take all of
        its prompts, none of them is queued, so the refusal leaves nothing behind.
        """
        if len(prompts) == 1:
            async for out in self.stream(prompts[0], params, 0):
                yield 0, out
            return
        self._reserve(len(prompts), params)
        queue: asyncio.Queue[tuple[int, Any] | tuple[int, BaseException] | None] = asyncio.Queue()

        async def pump(i: int, p: str | list[int]) -> None:
            try:
                async for out in self.stream(p, params, i):
                    await queue.put((i, out))
            except BaseException as exc:  # handed to the consumer, re-raised there
                await queue.put((i, exc))
            finally:
                await queue.put(None)

        tasks = [asyncio.create_task(pump(i, p)) for i, p in enumerate(prompts)]
        remaining = len(tasks)
        try:
            while remaining:
                item = await queue.get()
                if item is None:
                    remaining -= 1
                    continue
                i, value = item
                if isinstance(value, BaseException):
                    if isinstance(value, asyncio.CancelledError):
                        continue
                    raise value
                yield i, value
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
