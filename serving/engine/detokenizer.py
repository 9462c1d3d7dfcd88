"""Incremental detokenization and stop-string matching for one sequence.

Text grows token by token without re-decoding the whole output (vLLM's prefix/read offsets), and never
ends in half a UTF-8 character. Stop strings are found even when they span token boundaries; the text
from the stop string on is trimmed. Text that could still turn into a stop string is held back from the
stream (``emittable_len``) so a streamed delta never has to be taken back.
"""

from __future__ import annotations

from splitsecond.serving.loader.tokenizer import Tokenizer


class IncrementalDetokenizer:
    """Output text of one sequence, maintained as tokens are appended."""

    def __init__(self, tokenizer: Tokenizer, stop: tuple[str, ...], skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.skip_special_tokens = skip_special_tokens
        self.max_stop_len = max((len(s) for s in stop), default=0)
        self.ids: list[int] = []
        self.text = ""
        self._prefix_offset = 0
        self._read_offset = 0

    def append(self, token_id: int, check_stop: bool = True) -> str | None:
        """Add one output token; returns the stop string if the text now contains one (text trimmed)."""
        self.ids.append(token_id)
        dec = self.tokenizer.decode
        prefix_text = dec(self.ids[self._prefix_offset : self._read_offset], self.skip_special_tokens)
        new_text = dec(self.ids[self._prefix_offset :], self.skip_special_tokens)
        if len(new_text) <= len(prefix_text) or new_text.endswith("\ufffd"):
            return None  # incomplete character: wait for more bytes
        old_len = len(self.text)
        self.text += new_text[len(prefix_text) :]
        self._prefix_offset = self._read_offset
        self._read_offset = len(self.ids)
        if not (check_stop and self.stop):
            return None
        search_from = max(0, old_len - self.max_stop_len + 1)
        best: tuple[int, str] | None = None
        for s in self.stop:
            idx = self.text.find(s, search_from)
            if idx != -1 and (best is None or idx < best[0]):
                best = (idx, s)
        if best is None:
            return None
        self.text = self.text[: best[0]]
        return best[1]

    def emittable_len(self, finished: bool) -> int:
        """How much of ``text`` may be streamed: all when finished, else all but a possible stop prefix."""
        if finished or not self.stop:
            return len(self.text)
        hold = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(self.text)), hold, -1):
                if self.text.endswith(s[:k]):
                    hold = k
                    break
        return len(self.text) - hold
