"""Turn the engine's per-token :class:`Logprob` records into OpenAI's two logprobs formats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from splitsecond.serving.server.protocol import (
    ChatChoiceLogprobs,
    ChatLogprob,
    CompletionLogprobs,
    TopLogprob,
)


def _alternatives(lp: Any) -> list[tuple[int, float]]:
    """The top alternatives of one :class:`Logprob` as (token id, logprob), best first."""
    return sorted(((int(k), float(v)) for k, v in (lp.top or {}).items()), key=lambda p: -p[1])


def _token_text(tokenizer: Any, token_id: int) -> str:
    return tokenizer.decode([token_id])


def chat_logprobs(
    tokenizer: Any, token_ids: Sequence[int], logprobs: Sequence[Any] | None
) -> ChatChoiceLogprobs:
    """``choices[i].logprobs`` of a chat completion: one entry per generated token."""
    content = []
    for tid, lp in zip(token_ids, logprobs or [], strict=False):
        text = lp.decoded if lp.decoded is not None else _token_text(tokenizer, int(tid))
        tops = [
            TopLogprob(token=(t := _token_text(tokenizer, alt)), logprob=v, bytes=list(t.encode("utf-8")))
            for alt, v in _alternatives(lp)
        ]
        content.append(
            ChatLogprob(
                token=text, logprob=float(lp.logprob), bytes=list(text.encode("utf-8")), top_logprobs=tops
            )
        )
    return ChatChoiceLogprobs(content=content)


def completion_logprobs(
    tokenizer: Any, token_ids: Sequence[int], logprobs: Sequence[Any] | None, text_offset: int = 0
) -> CompletionLogprobs:
    """``choices[i].logprobs`` of a text completion (tokens, token_logprobs, top_logprobs, text_offset)."""
    out = CompletionLogprobs()
    offset = text_offset
    for tid, lp in zip(token_ids, logprobs or [], strict=False):
        text = lp.decoded if lp.decoded is not None else _token_text(tokenizer, int(tid))
        out.tokens.append(text)
        out.token_logprobs.append(float(lp.logprob))
        alts = _alternatives(lp)
        out.top_logprobs.append({_token_text(tokenizer, a): v for a, v in alts} if alts else None)
        out.text_offset.append(offset)
        offset += len(text)
    return out


def delta_logprobs(c: Any, k: int) -> list[Any]:
    """The :class:`Logprob` records of the ``k`` tokens a :class:`CompletionOutput` added this step."""
    delta = getattr(c, "delta_logprobs", None)
    return list(delta) if delta is not None else list(c.logprobs or [])[-k:]
