"""``SuffixCache`` and ``SuffixProposer``: draft from what this edge generated for earlier requests.

SuffixDecoding (Oliaro et al., NeurIPS 2025) observes that agentic workloads repeat themselves: an
agent's decisions share phrasings, field names and reasoning patterns from one call to the next, so
the continuation of the current output's tail is often something an earlier output already said. It
keeps a suffix tree over earlier outputs, matches the longest suffix of the current context in it and
speculates along the most frequent continuation; a second tree over the request's own prompt covers
what the answer copies from its prompt.

Here the earlier outputs live in a bounded token log (``SuffixCache``: the most recent ``max_tokens``
tokens, outputs separated by a marker that no token matches). A lookup finds the longest suffix of
the context (``min_match`` .. ``max_match`` tokens; occurrence is monotone in the length, so a binary
search over it) by C-speed ``bytes.rfind`` over the packed log, collects its ``max_occurrences`` most
recent occurrences, then walks forward token by token along the most frequent next token among the
occurrences still in agreement, multiplying the empirical probabilities, and stops when the product
falls below ``min_prob``, an output ends, or ``k`` tokens are drafted. That is the suffix tree's
greedy most-frequent path, counted over the recent occurrences only (memory stays 4 bytes a token).

``SuffixProposer`` serves one request: it asks the shared cache and a ``PromptLookupProposer`` over
the request's own context, and the longer match wins (ties go to the cache, whose counts span many
requests). ``learn(output)`` adds a finished request's output to the cache.
"""

from __future__ import annotations

import threading
from array import array
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

from splitsecond.serving.speculative.proposers.base import Proposal
from splitsecond.serving.speculative.proposers.prompt_lookup import PromptLookupProposer, last_aligned_match

_WIDTH = 4  # bytes per token in the packed log (array "i", as prompt lookup packs its context)
_END = -1  # written after every output; no token id matches it


def _positive_int(owner: str, label: str, v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{owner}: {label} must be an integer >= 1, got {v!r}")
    return v


@dataclass
class SuffixStats:
    """Which candidate each ``SuffixProposer`` proposal used (counted over every request of a cache)."""

    from_cache: int = 0  # the earlier outputs' continuation won
    from_context: int = 0  # the request's own prompt/output (prompt lookup) won
    empty: int = 0  # neither had a match


class SuffixCache:
    """The most recent ``max_tokens`` tokens of earlier outputs, searched for continuations.

    Thread-safe: one cache is shared by every request of an edge.
    """

    def __init__(self, max_tokens: int = 1 << 18, max_occurrences: int = 32) -> None:
        self.max_tokens = _positive_int("SuffixCache", "max_tokens", max_tokens)
        self.max_occurrences = _positive_int("SuffixCache", "max_occurrences", max_occurrences)
        self.stats = SuffixStats()
        self._log = array("i")
        self._lengths: deque[int] = deque()  # length of each stored output, its end marker included
        self._packed = b""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Outputs held."""
        return len(self._lengths)

    @property
    def num_tokens(self) -> int:
        """Tokens held (end markers included)."""
        return len(self._log)

    def clear(self) -> None:
        """Forget every output."""
        with self._lock:
            self._log = array("i")
            self._lengths.clear()
            self._packed = b""

    def outputs(self) -> list[list[int]]:
        """The outputs held, oldest first (truncated ones as kept)."""
        with self._lock:
            out, pos = [], 0
            for n in self._lengths:
                out.append(self._log[pos : pos + n - 1].tolist())
                pos += n
            return out

    def add(self, tokens: Sequence[int]) -> None:
        """Append one output (the oldest outputs make room; a longer one keeps its last tokens)."""
        ids = [int(t) for t in tokens]
        if any(t < 0 or t >= 1 << 31 for t in ids):
            raise ValueError("SuffixCache.add: token ids must be integers in [0, 2**31)")
        if not ids:
            return
        ids = ids[-(self.max_tokens - 1) :] if self.max_tokens > 1 else []
        if not ids:
            return
        with self._lock:
            self._log.extend(ids)
            self._log.append(_END)
            self._lengths.append(len(ids) + 1)
            drop = 0
            while len(self._log) - drop > self.max_tokens:
                drop += self._lengths.popleft()
            if drop:
                self._log = self._log[drop:]
            self._packed = self._log.tobytes()

    def lookup(
        self, context: Sequence[int], k: int, max_match: int = 16, min_match: int = 2, min_prob: float = 0.1
    ) -> tuple[list[int], int]:
        """Up to ``k`` tokens that followed the longest matching suffix of ``context`` in earlier outputs,
        and that suffix's length (0 and no tokens when fewer than ``min_match`` tokens match)."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ValueError(f"k must be an integer >= 0, got {k!r}")
        if not 1 <= min_match <= max_match:
            raise ValueError(f"need 1 <= min_match <= max_match, got {min_match}, {max_match}")
        if not 0 <= min_prob <= 1:
            raise ValueError(f"min_prob must be in [0, 1], got {min_prob!r}")
        if k == 0 or len(context) < min_match:
            return [], 0
        with self._lock:
            log, buf = self._log, self._packed
        if not buf:
            return [], 0
        try:
            tail = array("i", context[-max_match:]).tobytes()
        except OverflowError as e:
            raise ValueError(f"context token ids must fit in 32 bits: {e}") from None

        def needle(n: int) -> bytes:
            return tail[len(tail) - n * _WIDTH :]

        if last_aligned_match(buf, needle(min_match), len(buf)) is None:
            return [], 0
        lo, hi = min_match, len(tail) // _WIDTH
        while lo < hi:  # the longest suffix that occurs
            mid = (lo + hi + 1) // 2
            if last_aligned_match(buf, needle(mid), len(buf)) is None:
                hi = mid - 1
            else:
                lo = mid
        match = lo
        pattern, live, end = needle(match), [], len(buf)
        while len(live) < self.max_occurrences:
            at = last_aligned_match(buf, pattern, end)
            if at is None:
                break
            live.append(at + match)  # the token after this occurrence (an end marker at worst)
            end = at * _WIDTH + len(pattern) - 1  # the next search finds an earlier start
        out: list[int] = []
        prob = 1.0
        while live and len(out) < k:
            tok, count = Counter(log[i] for i in live).most_common(1)[0]  # ties: the most recent
            prob *= count / len(live)
            if tok == _END or prob < min_prob:
                break
            out.append(tok)
            live = [i + 1 for i in live if log[i] == tok]
        return out, match


class SuffixProposer:
    """Drafts for one request from a shared ``SuffixCache`` and the request's own context (see module)."""

    name = "suffix"

    def __init__(
        self, cache: SuffixCache, max_match: int = 16, min_match: int = 2, min_prob: float = 0.1
    ) -> None:
        _positive_int("SuffixProposer", "max_match", max_match)
        _positive_int("SuffixProposer", "min_match", min_match)
        if min_match > max_match:
            raise ValueError(f"SuffixProposer: min_match ({min_match}) must be <= max_match ({max_match})")
        if not isinstance(min_prob, int | float) or not 0 <= min_prob <= 1:
            raise ValueError(f"SuffixProposer: min_prob must be in [0, 1], got {min_prob!r}")
        self.cache = cache
        self.max_match, self.min_match, self.min_prob = max_match, min_match, float(min_prob)
        self._context = PromptLookupProposer(max_ngram=max_match)
        self.last_match = 0  # tokens of context the last proposal's continuation matched (0: none)

    def propose(self, context: list[int], k: int) -> Proposal:
        """Up to ``k`` tokens: the earlier outputs' continuation or the context's own, whichever matched longer."""
        local, local_match = self._context.lookup(context, k)
        shared, shared_match = self.cache.lookup(context, k, self.max_match, self.min_match, self.min_prob)
        stats = self.cache.stats
        if shared and shared_match >= local_match:
            stats.from_cache += 1
            self.last_match = shared_match
            return Proposal(shared)
        if local:
            stats.from_context += 1
        else:
            stats.empty += 1
        self.last_match = local_match if local else 0
        return Proposal(local)

    def reset(self) -> None:
        """Forget the request's packed context (the shared cache stays)."""
        self._context.reset()

    def learn(self, output: list[int]) -> None:
        """Add a finished request's output to the shared cache."""
        self.cache.add(output)
