"""OpenAI-style error objects and the exception handlers that produce them.

Every failure leaves the server as ``{"error": {"message", "type", "param", "code"}}`` with the
status OpenAI would use: 400 for a bad request (the offending parameter named in ``param``), 401 for
a missing or wrong API key, 404 for an unknown model, 413 for a body over the limit, 415 for a body
that is not ``application/json``, 429 with ``Retry-After`` when the engine's queue is full, 500 for a
fault of ours.

A fault of ours never shows its exception text (a library's panic message, a backtrace, a file path):
``internal_error`` logs it with a fresh error id, and the client's message carries only that id
(``code`` "internal_error"), which finds the log entry.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

# OpenAI's error `type` strings.
INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
NOT_FOUND = "not_found_error"
RATE_LIMIT = "rate_limit_error"
SERVER_ERROR = "server_error"


class APIError(Exception):
    """An error answered to the client as an OpenAI error object.

    Args:
        status: HTTP status code.
        message: Human-readable explanation (what was wrong and what is valid).
        type: OpenAI error type, e.g. ``"invalid_request_error"``.
        param: The request parameter at fault, if any.
        code: A machine-readable code, e.g. ``"model_not_found"``.
        headers: Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {...}}``."""
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> JSONResponse:
        """This error as a JSON response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An OpenAI error object."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 ``invalid_request_error`` naming ``param``."""
    return APIError(400, message, INVALID_REQUEST, param, code)


def new_error_id() -> str:
    """A short id that ties an error answered to a client to its entry in the server log."""
    return f"err-{uuid.uuid4().hex[:16]}"


def internal_error(
    what: str, exc: BaseException | None = None, detail: str | None = None, status: int = 500
) -> APIError:
    """A ``status`` (500 by default) ``server_error`` whose message names only ``what`` failed and an
    error id; the exception (with its traceback) or ``detail`` goes to the log under that id."""
    error_id = new_error_id()
    if exc is not None:
        logger.error("%s [%s]: %r", what, error_id, exc, exc_info=exc)
    else:
        logger.error("%s [%s]: %s", what, error_id, detail)
    return APIError(
        status,
        f"{what} (error id {error_id}; the server log has the details).",
        SERVER_ERROR,
        None,
        "internal_error",
        headers={"X-Error-Id": error_id},
    )


def model_not_found(model: str, served: list[str]) -> APIError:
    """A 404 like OpenAI's ``model_not_found``, listing the names served."""
    return APIError(
        404,
        f"The model `{model}` does not exist. This server serves: {', '.join(served)}.",
        INVALID_REQUEST,
        "model",
        "model_not_found",
    )


def _param_from_loc(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # pydantic adds the union member's type name (e.g. "str", "list[str]") to the location.
    parts = [p for p in parts if not p.startswith(("list[", "function-", "tagged-union"))]
    parts = [p for p in parts if p not in ("str", "int", "float", "bool", "dict", "list")]
    return ".".join(parts) or None


def validation_error(exc: RequestValidationError) -> APIError:
    """Turn FastAPI's request validation error into a 400 naming the first bad parameter."""
    errors = exc.errors()
    if not errors:
        return bad_request("Invalid request.")
    first = errors[0]
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        detail = ctx.get("error", "")
        return bad_request(f"The request body is not valid JSON: {detail}".rstrip(": "), code="invalid_json")
    if first.get("type") == "model_attributes_type" or (
        first.get("loc") == ("body",) and first.get("type") in ("dict_type", "model_type")
    ):
        return bad_request("The request body must be a JSON object.", code="invalid_json")
    param = _param_from_loc(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "invalid value"))
    # Our own ValueErrors come through as "Value error, <message>".
    msg = msg.removeprefix("Value error, ")
    if first.get("type") == "missing":
        msg = f"Missing required parameter: '{param}'."
    elif param:
        msg = f"Invalid value for '{param}': {msg}"
    return bad_request(msg, param=param, code="invalid_value" if first.get("type") != "missing" else None)


def install_exception_handlers(app: FastAPI) -> None:
    """Make every error the app raises leave as an OpenAI error object."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = NOT_FOUND if exc.status_code == 404 else INVALID_REQUEST
        return APIError(exc.status_code, str(exc.detail), kind, headers=dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return internal_error("Internal server error", exc).response()
