"""Optional bearer-token check of ``/v1/*`` requests."""

from __future__ import annotations

import hmac

from fastapi import Request

from splitsecond.serving.server.errors import INVALID_REQUEST, APIError


def check_api_key(request: Request, api_key: str | None) -> None:
    """Raise a 401 unless ``api_key`` is ``None`` or the request sends ``Authorization: Bearer <api_key>``."""
    if api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode()):
        return
    message = (
        "Incorrect API key provided." if header else "Missing API key: send 'Authorization: Bearer <key>'."
    )
    raise APIError(
        401, message, INVALID_REQUEST, None, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
    )
