"""``VerifierService``: the server side of edge speculation, a gRPC service over the ``AsyncEngine``.

Each edge session is one bidirectional stream (``protocol.SESSION_METHOD``). The service opens a
speculative engine request for the session's prompt, answers with the first token, then for every
draft hands it to the engine (``AsyncEngine.submit_draft``) and answers with the verdict. Drafts of
every session meet in the engine's continuous batch: one forward pass verifies all the drafts that have
arrived, next to ordinary requests — while the edges whose verdicts just left draft their next round,
the server verifies the others (the pipeline SpecEdge builds by grouping users falls out of this).

A session ends when the request finishes, the edge closes the stream, the edge vanishes (gRPC cancels
the handler), or no draft arrives within ``draft_timeout_s``; in every case the engine request is
aborted, so its KV blocks are freed at once.

With ``VerifierConfig.api_key`` (``serve --api-key`` sets it) every call must carry the key in its
metadata (``serving.speculative.api_key``); others end ``UNAUTHENTICATED`` before a session opens. A
session's sampling parameters pass the engine's own checks against the model (``RequestBuilder``), as an
HTTP request's do.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from splitsecond.serving.errors import (
    EngineOverloadedError,
    InvalidSchemaError,
    PromptTooLongError,
    RequestFailedError,
)
from splitsecond.serving.outputs import RequestOutput
from splitsecond.serving.speculative.api_key import ApiKeyInterceptor
from splitsecond.serving.speculative.protocol import (
    SERVICE,
    Draft,
    ErrorMessage,
    OpenSession,
    ProtocolError,
    VerdictMessage,
    decode,
    encode,
    params_from_wire,
)

logger = logging.getLogger(__name__)

_session_ids = itertools.count()


def tokenizer_fingerprint(tokenizer) -> str:
    """A short hash of ``tokenizer``'s vocabulary (id -> token) and EOS ids: equal on both ends or no deal."""
    vocab = tokenizer.get_vocab()
    h = hashlib.sha256()
    for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1]):
        h.update(f"{token_id}\x00{token}\x01".encode())
    h.update(repr(sorted(tokenizer.eos_token_ids)).encode())
    return h.hexdigest()[:16]


@dataclass
class VerifierConfig:
    """Settings of the verifier service.

    ``host``/``port``: where the gRPC server listens (port 0 picks a free one). ``open_timeout_s``: how
    long a new stream may take to send its ``OpenSession``; ``draft_timeout_s``: how long a session may
    wait for its next draft before it is aborted. ``max_sessions``: concurrent sessions (more are told
    ``overloaded``). ``max_free_run``: the longest free run (tokens decoded without a draft) a draft
    may ask for. ``api_key``: when set, every call must carry it (metadata ``authorization: Bearer
    <key>``); ``None`` leaves the port open to whoever reaches it.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    open_timeout_s: float = 10.0
    draft_timeout_s: float = 30.0
    max_sessions: int = 256
    max_free_run: int = 1024
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"VerifierConfig: port must be in [0, 65535], got {self.port!r}")
        for name in ("open_timeout_s", "draft_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"VerifierConfig: {name} must be > 0, got {value!r}")
        if not isinstance(self.max_sessions, int) or self.max_sessions < 1:
            raise ValueError(f"VerifierConfig: max_sessions must be >= 1, got {self.max_sessions!r}")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            raise ValueError("VerifierConfig: api_key must be None or a non-empty string")


@dataclass
class VerifierStats:
    """Counters of the service (sessions by how they ended, rounds, bytes)."""

    sessions_opened: int = 0
    sessions_active: int = 0
    sessions_finished: int = 0
    sessions_aborted: int = 0  # the edge went away or timed out mid-request
    sessions_refused: int = 0  # bad open, tokenizer mismatch, overload
    rounds: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


class _SessionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = ErrorMessage(code, message)


#: gRPC status a session ends with for each error code.
STATUS_OF = {
    "invalid_argument": grpc.StatusCode.INVALID_ARGUMENT,
    "tokenizer_mismatch": grpc.StatusCode.FAILED_PRECONDITION,
    "desync": grpc.StatusCode.FAILED_PRECONDITION,
    "timeout": grpc.StatusCode.DEADLINE_EXCEEDED,
    "overloaded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "engine_error": grpc.StatusCode.INTERNAL,
}


def _engine_error(exc: BaseException) -> ErrorMessage:
    """The error a session ends with; a fault of ours (or a library's crash report) is logged under an
    error id, and only the id travels to the edge."""
    text = str(exc).strip()
    if isinstance(exc, EngineOverloadedError):
        return ErrorMessage("overloaded", text)
    if isinstance(exc, PromptTooLongError | InvalidSchemaError | ValueError):
        first = text.splitlines()[0] if text else ""
        if first and len(first) <= 400 and not any(m in text for m in ("panic", "backtrace", "Traceback")):
            return ErrorMessage("invalid_argument", first)
    error_id = f"err-{uuid.uuid4().hex[:16]}"
    logger.error("speculative session failed [%s]: %r", error_id, exc, exc_info=exc)
    if isinstance(exc, RequestFailedError):
        logger.error("[%s] %s", error_id, exc.detail)
    code = "invalid_argument" if isinstance(exc, ValueError) else "engine_error"
    return ErrorMessage(code, f"the request failed on the server (error id {error_id})")


class VerifierService:
    """Serve edge sessions against ``engine`` (an ``AsyncEngine``); see the module docstring."""

    def __init__(self, engine, config: VerifierConfig | None = None) -> None:
        self.engine = engine
        self.config = config or VerifierConfig()
        self.fingerprint = tokenizer_fingerprint(engine.tokenizer)
        self.vocab_size = len(engine.tokenizer.get_vocab())
        self.stats = VerifierStats()
        self._server: grpc.aio.Server | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Start listening; returns the bound port."""
        key = self.config.api_key
        server = grpc.aio.server(
            interceptors=[ApiKeyInterceptor(key)] if key else None,
            options=[
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ],
        )
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Session": grpc.stream_stream_rpc_method_handler(
                    self._session, response_serializer=self._encode
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port(f"{self.config.host}:{self.config.port}")
        if port == 0:
            raise OSError(f"cannot listen on {self.config.host}:{self.config.port}")
        await server.start()
        self._server, self.port = server, port
        logger.info("speculative verifier listening on %s:%d", self.config.host, port)
        return port

    async def stop(self, grace_s: float = 2.0) -> None:
        """Stop listening; sessions in flight are cancelled (their requests aborted)."""
        if self._server is not None:
            await self._server.stop(grace_s)
            self._server = None

    def _encode(self, msg) -> bytes:
        raw = encode(msg)
        self.stats.bytes_out += len(raw)
        return raw

    async def _read(self, inbox: asyncio.Queue, timeout: float, what: str):
        # A queue fed by a reader task: cancelling a pending gRPC read on timeout would break the call.
        try:
            raw = await asyncio.wait_for(inbox.get(), timeout)
        except TimeoutError:
            raise _SessionError("timeout", f"no {what} within {timeout:g} s") from None
        if raw is None:
            raise StopAsyncIteration
        self.stats.bytes_in += len(raw)
        try:
            return decode(raw)
        except ProtocolError as e:
            raise _SessionError("invalid_argument", str(e)) from None

    def _verdict(self, out: RequestOutput, round_: int, length: int, verified: bool) -> VerdictMessage:
        comp = out.outputs[0]
        return VerdictMessage(
            round=round_,
            accepted=int(out.metrics.get("accepted", 0)) if verified else 0,
            token_ids=list(comp.delta_token_ids),
            num_tokens=length,
            finish_reason=comp.finish_reason,
            stop_reason=comp.stop_reason,
            draft_limit=self.engine.spec_draft_limit(),
            server_seconds=float(out.metrics.get("step_seconds", 0.0)),
            token_cost=float(self.engine.spec_token_cost() or 0.0),
            cached_tokens=int(out.num_cached_tokens or 0) if round_ == 0 else 0,
        )

    async def _session(self, requests: AsyncIterator[bytes], context) -> AsyncIterator:
        inbox: asyncio.Queue = asyncio.Queue()

        async def pump() -> None:
            try:
                async for raw in requests:
                    inbox.put_nowait(raw)
            finally:
                inbox.put_nowait(None)  # the edge closed its side (or went away)

        reader = asyncio.ensure_future(pump())
        gen = None
        opened = False
        finished = False
        try:
            try:
                msg = await self._read(inbox, self.config.open_timeout_s, "OpenSession")
            except StopAsyncIteration:
                return
            if not isinstance(msg, OpenSession):
                raise _SessionError("invalid_argument", f"the first message must be OpenSession, not {msg}")
            if msg.tokenizer_fingerprint != self.fingerprint:
                raise _SessionError(
                    "tokenizer_mismatch",
                    f"edge tokenizer {msg.tokenizer_fingerprint} != server tokenizer {self.fingerprint}: "
                    "drafts are token ids, so the edge must use the served model's tokenizer",
                )
            if self.stats.sessions_active >= self.config.max_sessions:
                raise _SessionError("overloaded", f"{self.config.max_sessions} sessions already open")
            try:
                params = params_from_wire(msg.params)
            except ProtocolError as e:
                raise _SessionError("invalid_argument", str(e)) from None
            bad = [t for t in msg.prompt_token_ids if not 0 <= t < self.vocab_size]
            if bad or not msg.prompt_token_ids:
                raise _SessionError("invalid_argument", f"prompt token ids must be in [0, {self.vocab_size})")
            request_id = f"edge-{next(_session_ids)}-{msg.session_id}"[:128]
            gen = self.engine.generate(msg.prompt_token_ids, params, request_id, speculative=not msg.plain)
            self.stats.sessions_opened += 1
            self.stats.sessions_active += 1
            opened = True
            try:
                out = await gen.__anext__()
            except Exception as e:
                raise _SessionError(**vars(_engine_error(e))) from None
            length = len(msg.prompt_token_ids) + len(out.outputs[0].delta_token_ids)
            yield self._verdict(out, 0, length, verified=False)
            round_ = 0
            while msg.plain and not out.finished:  # an ordinary request: every token as it comes
                try:
                    out = await gen.__anext__()
                except Exception as e:
                    raise _SessionError(**vars(_engine_error(e))) from None
                length += len(out.outputs[0].delta_token_ids)
                yield self._verdict(out, 0, length, verified=False)
            while not out.finished:
                try:
                    draft = await self._read(inbox, self.config.draft_timeout_s, "draft")
                except StopAsyncIteration:
                    logger.info("edge closed session %s mid-request; aborting it", request_id)
                    return
                if not isinstance(draft, Draft):
                    raise _SessionError("invalid_argument", f"expected a Draft, got {type(draft).__name__}")
                if draft.round != round_ + 1 or draft.position != length:
                    raise _SessionError(
                        "desync",
                        f"draft for round {draft.round} at position {draft.position}; the server is at "
                        f"round {round_ + 1}, position {length}",
                    )
                if not 0 <= draft.free_run <= self.config.max_free_run:
                    raise _SessionError(
                        "invalid_argument", f"free_run must be in [0, {self.config.max_free_run}]"
                    )
                round_ += 1
                self.engine.submit_draft(request_id, draft.token_ids, draft.dists, draft.free_run)
                self.stats.rounds += 1
                for i in range(1 + draft.free_run):  # the verdict, then one per free-run token
                    try:
                        out = await gen.__anext__()
                    except Exception as e:
                        raise _SessionError(**vars(_engine_error(e))) from None
                    length += len(out.outputs[0].delta_token_ids)
                    yield self._verdict(out, round_, length, verified=i == 0)
                    if out.finished:
                        break
            finished = True
        except _SessionError as e:
            if not opened:
                self.stats.sessions_refused += 1
            logger.info("speculative session failed: %s", e.error.details())
            context.set_code(STATUS_OF.get(e.error.code, grpc.StatusCode.UNKNOWN))
            context.set_details(e.error.details())
        finally:
            reader.cancel()
            if gen is not None:
                await gen.aclose()  # aborts the engine request (frees its KV) unless it finished
            if opened:
                self.stats.sessions_active -= 1
                if finished:
                    self.stats.sessions_finished += 1
                else:
                    self.stats.sessions_aborted += 1
