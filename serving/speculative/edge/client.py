"""``VerifierClient``: the edge's gRPC connection to the verifier, one stream per session.

One channel (HTTP/2, keepalive, automatic reconnection of the transport) carries every session of an
edge. ``open`` starts a session and returns its first verdict; ``RemoteSession.verify`` sends a draft
and awaits the verdict, with a per-round timeout. ``one_way_delay_s`` adds an emulated network delay
to every message in each direction (an in-process stand-in where ``tc netem`` is unavailable); the
delay is awaited, so drafting runs meanwhile, as it would while bytes are on the wire. ``api_key``
travels as metadata on every call (``serving.speculative.api_key``); a refused key is a
``VerifierError`` with code ``unauthenticated`` (not retried).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc

from splitsecond.serving.speculative.api_key import auth_metadata
from splitsecond.serving.speculative.protocol import (
    SESSION_METHOD,
    Draft,
    ErrorMessage,
    OpenSession,
    VerdictMessage,
    decode,
    encode,
)

logger = logging.getLogger(__name__)


class VerifierError(RuntimeError):
    """The verifier answered with an error, or the session broke.

    ``code`` is the server's error code, or ``unavailable`` / ``timeout`` / ``closed`` for transport
    failures (``retryable`` tells whether re-opening the session may help).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        """True for transport failures (a new session may succeed), False for refusals."""
        return self.code in ("unavailable", "timeout", "closed")


def _failure(code: grpc.StatusCode | None, details: str | None) -> VerifierError:
    """A ``VerifierError`` for an RPC that ended: the server's own code when it ended the session."""
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return VerifierError("unauthenticated", details or "the verifier refused the API key")
    error = ErrorMessage.from_details(details) if code is not grpc.StatusCode.UNAVAILABLE else None
    if error is not None:
        return VerifierError(error.code, error.message)
    if code is grpc.StatusCode.CANCELLED:
        return VerifierError("closed", details or "cancelled")
    return VerifierError("unavailable", f"{code.name if code else 'UNKNOWN'}: {details or ''}")


@dataclass
class ClientStats:
    """Bytes this client moved (message payloads)."""

    bytes_out: int = 0
    bytes_in: int = 0


class RemoteSession:
    """One open session (a gRPC stream); ``verify`` one draft at a time."""

    def __init__(self, client: VerifierClient, call) -> None:
        self._client = client
        self._call = call
        self.closed = False

    async def _send(self, msg) -> None:
        if self._client.one_way_delay_s:
            await asyncio.sleep(self._client.one_way_delay_s)
        try:
            await self._call.write(msg)
        except grpc.aio.AioRpcError as e:
            raise _failure(e.code(), e.details()) from e
        except asyncio.InvalidStateError as e:  # the server already ended the RPC: its status says why
            raise _failure(await self._call.code(), await self._call.details()) from e

    async def _receive(self, timeout: float) -> VerdictMessage:
        try:
            msg = await asyncio.wait_for(self._call.read(), timeout)
        except TimeoutError:
            raise VerifierError("timeout", f"no verdict within {timeout:g} s") from None
        except grpc.aio.AioRpcError as e:
            raise _failure(e.code(), e.details()) from e
        if msg is grpc.aio.EOF:
            raise _failure(await self._call.code(), await self._call.details())
        if self._client.one_way_delay_s:
            await asyncio.sleep(self._client.one_way_delay_s)
        if not isinstance(msg, VerdictMessage):
            raise VerifierError("invalid_argument", f"expected a VerdictMessage, got {type(msg).__name__}")
        return msg

    async def verify(self, draft: Draft) -> VerdictMessage:
        """Send ``draft`` and return the server's verdict (raises ``VerifierError``)."""
        await self._send(draft)
        return await self._receive(self._client.round_timeout_s)

    async def next_verdict(self) -> VerdictMessage:
        """The next verdict of a free run (``Draft.free_run``): one per token the server decodes."""
        return await self._receive(self._client.round_timeout_s)

    async def close(self) -> None:
        """End the session (the server aborts the request if it is unfinished)."""
        if not self.closed:
            self.closed = True
            self._call.cancel()


class VerifierClient:
    """gRPC client for ``VerifierService`` at ``target`` ("host:port"); ``api_key`` authenticates every call."""

    def __init__(
        self,
        target: str,
        *,
        one_way_delay_s: float = 0.0,
        open_timeout_s: float = 30.0,
        round_timeout_s: float = 30.0,
        api_key: str | None = None,
    ) -> None:
        if not isinstance(target, str) or ":" not in target:
            raise ValueError(f"target must be 'host:port', got {target!r}")
        if one_way_delay_s < 0 or open_timeout_s <= 0 or round_timeout_s <= 0:
            raise ValueError("delays must be >= 0 and timeouts > 0")
        self.target = target
        self.one_way_delay_s = one_way_delay_s
        self.open_timeout_s = open_timeout_s
        self.round_timeout_s = round_timeout_s
        self.stats = ClientStats()
        self._metadata = auth_metadata(api_key)
        self._channel: grpc.aio.Channel | None = None
        self._method = None

    def _serialize(self, msg) -> bytes:
        raw = encode(msg)
        self.stats.bytes_out += len(raw)
        return raw

    def _deserialize(self, raw: bytes):
        self.stats.bytes_in += len(raw)
        return decode(raw)  # a ProtocolError ends the call with a clear status on our side

    def _ensure_channel(self):
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self.target,
                options=[
                    ("grpc.keepalive_time_ms", 10_000),
                    ("grpc.keepalive_timeout_ms", 5_000),
                    ("grpc.initial_reconnect_backoff_ms", 200),
                    ("grpc.max_reconnect_backoff_ms", 2_000),
                ],
            )
            self._method = self._channel.stream_stream(
                SESSION_METHOD, request_serializer=self._serialize, response_deserializer=self._deserialize
            )
        return self._method

    async def open(self, msg: OpenSession) -> tuple[RemoteSession, VerdictMessage]:
        """Open a session; returns it with its first verdict (the target's first token)."""
        method = self._ensure_channel()
        call = method(wait_for_ready=True, metadata=self._metadata or None)
        session = RemoteSession(self, call)
        try:
            await asyncio.wait_for(session._send(msg), self.open_timeout_s)
            verdict = await session._receive(self.open_timeout_s)
        except TimeoutError:
            await session.close()
            raise VerifierError("unavailable", f"verifier {self.target} not reachable") from None
        except BaseException:
            await session.close()
            raise
        return session, verdict

    async def close(self) -> None:
        """Close the channel (every open session breaks)."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
