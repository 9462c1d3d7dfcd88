"""The FastAPI application: routes of the OpenAI-compatible API over one :class:`AsyncEngine`.

With ``ServerConfig.api_key`` set, every route but ``/health`` needs the key: ``/v1/*``, ``/metrics``
(unless ``public_metrics``), ``/openapi.json`` and ``/debug/*``. POST bodies must be ``application/json``
(415 otherwise), within ``max_body_bytes`` (413) and ``max_json_depth`` (400); see ``body``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from splitsecond.serving.server.auth import check_api_key
from splitsecond.serving.server.body import read_json_object
from splitsecond.serving.server.chat import create_chat_completion
from splitsecond.serving.server.completions import create_completion
from splitsecond.serving.server.config import ServerConfig
from splitsecond.serving.server.errors import (
    SERVER_ERROR,
    APIError,
    install_exception_handlers,
    validation_error,
)
from splitsecond.serving.server.metrics import METRICS_CONTENT_TYPE, ServerMetrics
from splitsecond.serving.server.protocol import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList
from splitsecond.serving.server.state import ServerState, model_aliases

logger = logging.getLogger(__name__)


_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/models")


def _endpoint_label(path: str) -> str | None:
    """A bounded ``endpoint`` label for /v1 paths (``None``: not counted)."""
    if path in _ENDPOINTS:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    return "/v1/other" if path.startswith("/v1/") else None


class _StatusCounter:
    """ASGI middleware counting answered requests by endpoint and status (streaming-safe)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _endpoint_label(scope.get("path", ""))

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state: ServerState | None = getattr(scope["app"].state, "server", None)
                if state is not None and path is not None:
                    state.metrics.requests.labels(endpoint=path, status=str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def _state(request: Request) -> ServerState:
    state: ServerState | None = getattr(request.app.state, "server", None)
    if state is None:
        raise APIError(503, "The engine is still loading; retry shortly.", SERVER_ERROR, code="not_ready")
    return state


async def _parse_body(raw: Request, model: type[BaseModel]) -> Any:
    """The JSON body (checked by ``body.read_json_object``) validated as ``model``; errors are 4xx."""
    data = await read_json_object(raw, raw.app.state.config)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise validation_error(RequestValidationError(errors)) from None


def _auth(request: Request) -> None:
    check_api_key(request, request.app.state.config.api_key)


def create_app(
    config: ServerConfig,
    engine: Any | None = None,
    engine_factory: Callable[[], Any] | None = None,
    services: Sequence[Callable[[Any], Any]] = (),
) -> FastAPI:
    """Build the app serving ``engine`` (or the engine ``engine_factory`` builds at start-up).

    Args:
        config: The server's settings.
        engine: A ready :class:`splitsecond.serving.AsyncEngine`; the app does not shut it down.
        engine_factory: Called once at start-up to build the engine, which the app shuts down on exit.
            Exactly one of ``engine`` and ``engine_factory`` must be given.
        services: Factories called with the engine at start-up; each returns an object with async
            ``start()`` and ``stop()`` run in the app's event loop (e.g. the speculative verifier's
            gRPC service). They are listed in ``app.state.services`` and stopped before the engine.
    """
    if (engine is None) == (engine_factory is None):
        raise ValueError("create_app needs exactly one of engine= or engine_factory=")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        eng = engine_factory() if engine_factory is not None else engine
        if hasattr(eng, "start"):
            await eng.start()  # the step thread, so /health can tell whether it is alive
        name = config.served_model_name or eng.model_name
        metrics = ServerMetrics(name, eng.stats)
        app.state.server = ServerState(
            eng, config, metrics, name, model_aliases(name, eng, config.model_aliases)
        )
        logger.info("serving %s (max_model_len=%s)", name, eng.max_model_len)
        started: list[Any] = []
        try:
            for factory in services:
                service = factory(eng)
                await service.start()
                started.append(service)
            app.state.services = started
            yield
        finally:
            app.state.server = None
            for service in reversed(started):
                await service.stop()
            if owned:
                await eng.shutdown()

    app = FastAPI(
        title="SplitSecond OpenAI-compatible server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind the API key
    )
    app.state.config = config
    app.state.server = None
    app.state.services = []
    install_exception_handlers(app)
    app.add_middleware(_StatusCounter)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_auth)])

    @v1.post("/chat/completions")
    async def chat_completions(raw: Request) -> Response:
        """OpenAI Chat Completions (streamed as SSE when ``stream`` is true)."""
        state = _state(raw)
        return await create_chat_completion(await _parse_body(raw, ChatCompletionRequest), raw, state)

    @v1.post("/completions")
    async def completions(raw: Request) -> Response:
        """OpenAI (legacy) Completions (streamed as SSE when ``stream`` is true)."""
        state = _state(raw)
        return await create_completion(await _parse_body(raw, CompletionRequest), raw, state)

    @v1.get("/models")
    async def models(raw: Request) -> JSONResponse:
        """The one model served."""
        state = _state(raw)
        card = ModelCard(
            id=state.model_name, root=state.engine.model_name, max_model_len=state.engine.max_model_len
        )
        return JSONResponse(ModelList(data=[card]).model_dump(mode="json"))

    @v1.get("/models/{model_id:path}")
    async def model(model_id: str, raw: Request) -> JSONResponse:
        """One model by name or alias (404 when unknown)."""
        state = _state(raw)
        name = state.check_model(model_id)
        card = ModelCard(id=name, root=state.engine.model_name, max_model_len=state.engine.max_model_len)
        return JSONResponse(card.model_dump(mode="json"))

    app.include_router(v1)

    @app.get("/health")
    async def health(raw: Request) -> JSONResponse:
        """200 while the engine is loaded and its step thread alive (503 otherwise); needs no API key."""
        state = _state(raw)
        if getattr(state.engine, "is_running", True) is False:
            raise APIError(503, "The engine's step thread is not running.", SERVER_ERROR, code="engine_dead")
        return JSONResponse({"status": "ok", "model": state.model_name})

    metrics_auth = [] if config.public_metrics else [Depends(_auth)]

    @app.get("/metrics", dependencies=metrics_auth)
    async def metrics(raw: Request) -> Response:
        """Prometheus text exposition of this server's registry (needs the API key unless public)."""
        return Response(_state(raw).metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/openapi.json", dependencies=[Depends(_auth)], include_in_schema=False)
    async def openapi(raw: Request) -> JSONResponse:
        """The OpenAPI description of these routes."""
        return JSONResponse(raw.app.openapi())

    @app.get("/debug/engine_stats", dependencies=[Depends(_auth)])
    async def engine_stats(raw: Request) -> JSONResponse:
        """The engine's ``EngineStats`` as JSON (for tests and benchmarks)."""
        stats = _state(raw).engine.stats()
        body = dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) else dict(vars(stats))
        return JSONResponse(body)

    return app
