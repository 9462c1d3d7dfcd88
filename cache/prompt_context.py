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


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(  # OpenAI content parts: text only can be extended
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
    ):
        return "\n".join(p["text"] for p in content)
    return None


def usable(context: Context | None) -> bool:
    """Whether ``context`` can carry a task: chat messages ending with a plain-text user message."""
    if not context:
        return False
    last = context[-1]
    return isinstance(last, Mapping) and last.get("role") == "user" and _text(last.get("content")) is not None


def with_task(context: Context, task: str) -> list[dict[str, Any]]:
    """The context's messages with ``task`` appended to the last user message (copies).

    Raises:
        ValueError: when ``context`` is not :func:`usable`.
    """
    if not usable(context):
        raise ValueError("a prompt context must be chat messages ending with a plain-text user message")
    *head, last = context
    text = _text(last.get("content"))
    return [dict(m) for m in head] + [{"role": "user", "content": f"{text}\n\n{task}"}]
