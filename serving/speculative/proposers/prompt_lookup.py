"""``PromptLookupProposer``: draft by copying what followed the last earlier occurrence of the context's tail.

Prompt lookup decoding (Saxena 2023; vLLM's "ngram" speculator): agents repeat their prompt a lot —
action names, JSON keys, state fields — so the tokens that followed the most recent earlier occurrence
of the context's last ``n`` tokens are a free, often right, guess. The longest suffix n-gram wins
(``max_ngram`` down to ``min_ngram``). When the copied span runs into the end of the context, copying
continues over the tokens just proposed (an overlapping copy, as in LZ77), so a periodic tail such as
``a b a b a b`` still yields ``k`` tokens.

The search is ``bytes.rfind`` over the context packed as 4-byte integers (C speed, O(len)); the packed
buffer is kept between calls and only extended when the new context extends the old one.
"""

from __future__ import annotations

from array import array

from splitsecond.serving.speculative.proposers.base import Proposal

_WIDTH = 4  # bytes per token in the packed buffer ('i' is 4 bytes on every platform torch supports)


class PromptLookupProposer:
    """Deterministic n-gram copy proposer (``dists`` is always None)."""

    name = "prompt-lookup"

    def __init__(self, max_ngram: int = 4, min_ngram: int = 1) -> None:
        for label, v in (("max_ngram", max_ngram), ("min_ngram", min_ngram)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"PromptLookupProposer: {label} must be an integer >= 1, got {v!r}")
        if min_ngram > max_ngram:
            raise ValueError(
                f"PromptLookupProposer: min_ngram ({min_ngram}) must be <= max_ngram ({max_ngram})"
            )
        self.max_ngram = max_ngram
        self.min_ngram = min_ngram
        self._tokens: list[int] = []
        self._packed = array("i")

    def reset(self) -> None:
        """Forget the packed copy of the last context."""
        self._tokens = []
        self._packed = array("i")

    def _pack(self, context: list[int]) -> bytes:
        n = len(self._tokens)
        if len(context) >= n and context[:n] == self._tokens:
            self._packed.extend(context[n:])
        else:
            self._packed = array("i", context)
        self._tokens = list(context)
        return self._packed.tobytes()

    def propose(self, context: list[int], k: int) -> Proposal:
        """Up to ``k`` tokens copied from after the latest earlier match of the longest suffix n-gram."""
        return Proposal(self.lookup(context, k)[0])

    def lookup(self, context: list[int], k: int) -> tuple[list[int], int]:
        """``propose``'s tokens and the length of the suffix n-gram that matched (0: no match)."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ValueError(f"k must be an integer >= 0, got {k!r}")
        n_ctx = len(context)
        if k == 0 or n_ctx < self.min_ngram + 1:
            return [], 0
        try:
            buf = self._pack(context)
        except OverflowError as e:
            raise ValueError(f"context token ids must fit in 32 bits: {e}") from None
        for n in range(min(self.max_ngram, n_ctx - 1), self.min_ngram - 1, -1):
            start = last_aligned_match(buf, buf[(n_ctx - n) * _WIDTH :], (n_ctx - 1) * _WIDTH)
            if start is None:
                continue
            src = start + n  # first copied position; <= n_ctx - 1
            out: list[int] = []
            for t in range(k):
                i = src + t
                out.append(context[i] if i < n_ctx else out[i - n_ctx])
            return out, n
        return [], 0

    def learn(self, output: list[int]) -> None:
        """Nothing to learn across requests: the context alone is searched."""


def last_aligned_match(buf: bytes, needle: bytes, end: int) -> int | None:
    """Token index of the last token-aligned occurrence of ``needle`` ending at or before byte ``end``
    (``buf`` and ``needle`` hold 4-byte token ids)."""
    while True:
        r = buf.rfind(needle, 0, end)
        if r < 0:
            return None
        if r % _WIDTH == 0:
            return r // _WIDTH
        end = r + len(needle) - 1  # a misaligned hit: search strictly before it
