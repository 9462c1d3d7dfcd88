"""The API key on the gRPC verifier: the edge sends ``authorization: Bearer <key>`` metadata on every call,
and ``ApiKeyInterceptor`` refuses any call without it (``UNAUTHENTICATED``) before a handler runs.

The same key guards the HTTP API of ``splitsecond serve --api-key`` (see ``serving.server.auth``); an edge
reads it from ``$SPLITSECOND_API_KEY`` or ``--api-key-file``, never from its command line.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import grpc

#: The metadata key (gRPC metadata keys are lower case).
AUTH_METADATA = "authorization"


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``api_key`` (empty without one)."""
    return ((AUTH_METADATA, f"Bearer {api_key}"),) if api_key else ()


def key_matches(metadata, api_key: str) -> bool:
    """True when ``metadata`` (pairs) carries ``Bearer <api_key>`` (compared in constant time)."""
    for key, value in metadata or ():
        if key == AUTH_METADATA and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode()):
                return True
    return False


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    """Refuse every call whose metadata does not carry the key (see module docstring)."""

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("ApiKeyInterceptor needs a non-empty key")
        self._api_key = api_key

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Pass an authenticated call on; answer any other with ``UNAUTHENTICATED``."""
        handler = await continuation(handler_call_details)
        if handler is None or key_matches(handler_call_details.invocation_metadata, self._api_key):
            return handler
        sent = any(k == AUTH_METADATA for k, _ in handler_call_details.invocation_metadata or ())
        message = (
            "incorrect API key" if sent else "missing API key: send 'authorization: Bearer <key>' metadata"
        )

        async def deny(request, context) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        async def deny_stream(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
            yield  # pragma: no cover - abort raises

        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(deny_stream)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(deny)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(deny_stream)
        return grpc.unary_unary_rpc_method_handler(deny)
