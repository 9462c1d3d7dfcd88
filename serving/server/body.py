"""Read a POST body safely: ``application/json`` only, bounded in size while it is read, and bounded in
nesting, parsed off the event loop.

- A Content-Type other than ``application/json`` is a 415: a web page can make the user's browser send
  a "simple" cross-site POST (``text/plain``, a form) to a local server, but not one with a JSON type.
- A body over ``ServerConfig.max_body_bytes`` is a 413, refused from its ``Content-Length`` or as soon
  as the bytes read pass the limit, so an endless body is never buffered.
- JSON nested deeper than ``ServerConfig.max_json_depth`` is a 400 (Python's parser and pydantic
  recurse; ten thousand levels used to end in a ``RecursionError`` and a dropped connection).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

from splitsecond.serving.constrained.json_schema import json_depth
from splitsecond.serving.server.config import ServerConfig
from splitsecond.serving.server.errors import INVALID_REQUEST, APIError, bad_request

JSON_MEDIA_TYPE = "application/json"


def check_content_type(request: Request) -> None:
    """Raise a 415 unless the request declares ``Content-Type: application/json`` (parameters allowed)."""
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        shown = f"'{declared}'" if declared else "none"
        raise APIError(
            415,
            f"The request body must be JSON sent with 'Content-Type: application/json' (got {shown}).",
            INVALID_REQUEST,
            None,
            "unsupported_media_type",
        )


def _too_large(limit: int) -> APIError:
    return APIError(
        413, f"The request body is larger than {limit} bytes.", INVALID_REQUEST, None, "request_too_large"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes (413 beyond, before reading more than that)."""
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise APIError(499, "The client closed the request.", INVALID_REQUEST, code="client_closed") from None
    return b"".join(chunks)


def parse_json(body: bytes, max_depth: int) -> Any:
    """``body`` parsed as JSON; invalid or too deeply nested JSON is a 400."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        data = None
        depth = max_depth + 1
    else:
        depth = json_depth(data, max_depth + 1)
    if depth > max_depth:
        raise bad_request(
            f"The request body nests JSON arrays and objects deeper than {max_depth} levels.",
            code="nesting_too_deep",
        )
    return data


async def read_json_object(request: Request, config: ServerConfig) -> dict[str, Any]:
    """The body of a JSON POST as a dict, with every check of the module docstring."""
    check_content_type(request)
    body = await read_body(request, config.max_body_bytes)
    data = await asyncio.to_thread(parse_json, body, config.max_json_depth)
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return data
