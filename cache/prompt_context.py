"""Cheap-model calls as continuations of the agent's own prompt, so a prefix cache serves them.

Adapting a template is about the situation the agent's plan call already describes (rules,
history, observation: hundreds of tokens). Asked with its own short prompt, the adaptation makes
the server prefill the situation anew, and the action call that follows a hit then finds none of
the agent's prompt warm (on a miss, the planner's call warmed it). Given the plan call's messages
as *context*, the call instead sends those messages with its task appended to the last user
message: a server with prefix caching (ours, vLLM) computes the agent's prompt once, for the
adaptation, and the agent's next action call reuses it as it would after a planner call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Context = Sequence[Mapping[str, Any]]
"""The chat messages of the plan call a cheap-model call continues."""


def message_text(content: Any, strict: bool = False) -> str | None:
    """The text of a chat message's ``content``: a string, or OpenAI content parts joined by lines.

    Non-text parts (images...) are skipped, or with ``strict`` make the answer ``None`` (a content
    that cannot be extended as text).
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        if strict and (len(texts) != len(content) or not all(isinstance(t, str) for t in texts)):
            return None
        return "\n".join(str(t or "") for t in texts)
    if strict:
        return None
    return "" if content is None else str(content)


def usable(context: Context | None) -> bool:
    """Whether ``context`` can carry a task: chat messages ending with a plain-text user message."""
    if not context:
        return False
    last = context[-1]
    return (
        isinstance(last, Mapping)
        and last.get("role") == "user"
        and message_text(last.get("content"), strict=True) is not None
    )


def with_task(context: Context, task: str) -> list[dict[str, Any]]:
    """The context's messages with ``task`` appended to the last user message (copies).

    Raises:
        ValueError: when ``context`` is not :func:`usable`.
    """
    if not usable(context):
        raise ValueError("a prompt context must be chat messages ending with a plain-text user message")
    *head, last = context
    text = message_text(last.get("content"), strict=True)
    return [dict(m) for m in head] + [{"role": "user", "content": f"{text}\n\n{task}"}]
