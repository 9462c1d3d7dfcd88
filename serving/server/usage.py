"""Token accounting of a response: prompt, completion, total and prefix-cached tokens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from splitsecond.serving.server.protocol import PromptTokensDetails, Usage


def usage_of(finals: Iterable[Any]) -> Usage:
    """Usage over the final :class:`RequestOutput` of each prompt of a request.

    ``prompt_tokens`` counts each prompt once (its ``n`` choices share it), ``completion_tokens``
    counts every choice's tokens, ``cached_tokens`` the prompt tokens served from the prefix cache.
    """
    prompt = completion = cached = 0
    for out in finals:
        prompt += len(out.prompt_token_ids)
        cached += int(out.num_cached_tokens or 0)
        completion += sum(len(c.token_ids) for c in out.outputs)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
    )
