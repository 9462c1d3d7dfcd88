"""Server-Sent Events framing of streamed completions, as OpenAI sends them."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

#: The event that ends every stream.
SSE_DONE = "data: [DONE]\n\n"

#: Media type of a streamed response.
SSE_MEDIA_TYPE = "text/event-stream"


def sse_event(payload: BaseModel | dict[str, Any], exclude_none: bool = False) -> str:
    """One ``data: <json>`` event; ``exclude_none`` drops null fields of a pydantic payload."""
    if isinstance(payload, BaseModel):
        body = payload.model_dump_json(exclude_none=exclude_none)
    else:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"data: {body}\n\n"


def parse_sse(text: str) -> list[dict[str, Any] | str]:
    """Split a stream's text back into payloads (dicts) and the final ``"[DONE]"`` marker.

    The inverse of :func:`sse_event`; used by tests and the benchmark client.
    """
    events: list[dict[str, Any] | str] = []
    for block in text.split("\n\n"):
        data = [line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")]
        if not data:
            continue
        joined = "\n".join(data)
        events.append(joined if joined == "[DONE]" else json.loads(joined))
    return events
