"""``TokenAppender``: append a chosen token to a sequence, then the grammar's forced tokens, and end the
sequence where it stops (EOS, stop token, stop string, grammar complete, length) or fails."""

from __future__ import annotations

import logging

from splitsecond.serving.engine.scheduler import Scheduler
from splitsecond.serving.engine.sequence import Request, Sequence

logger = logging.getLogger(__name__)


class TokenAppender:
    """Appends tokens and applies the stop rules; counts generated and forced tokens.

    Args:
        scheduler: Frees a sequence's blocks when it finishes.
        eos_ids: The model's end-of-generation token ids.
        max_model_len: Prompt + output tokens a sequence may reach.
    """

    def __init__(self, scheduler: Scheduler, eos_ids: frozenset[int], max_model_len: int) -> None:
        self.scheduler = scheduler
        self.eos_ids = eos_ids
        self.max_model_len = max_model_len
        self.generated_total = 0
        self.forced_total = 0

    def append_with_forced(self, seq: Sequence, token: int) -> None:
        """Append a sampled token, then any grammar-forced continuation (it needs no forward pass;
        skipped when logprobs are wanted)."""
        self.append(seq, token)
        while not seq.finished and seq.grammar is not None and seq.params.logprobs is None:
            forced = seq.grammar.forced_tokens()
            if not forced:
                break
            for tok in forced:
                self.forced_total += 1
                self.append(seq, tok)
                if seq.finished:
                    break

    def append(self, seq: Sequence, token: int) -> None:
        """Append one token and end the sequence if a stop rule says so."""
        seq.token_ids.append(token)
        self.generated_total += 1
        p = seq.params
        n_out = seq.num_output_tokens
        past_min = n_out > p.min_tokens  # EOS/stop may end the output only after min_tokens tokens
        if seq.grammar is not None and not seq.grammar.accept(token):
            logger.error("grammar rejected token %d of %s: %s", token, seq, seq.grammar.error)
            self.finish(seq, "stop", None)
            return
        if token in self.eos_ids and not p.ignore_eos and past_min:
            self.finish(seq, "stop", None)
            return
        if p.stop_token_ids and token in p.stop_token_ids and past_min:
            self.finish(seq, "stop", token)
            return
        stop = seq.detokenizer.append(token, check_stop=past_min)
        if stop is not None:
            self.finish(seq, "stop", stop)
        elif seq.grammar is not None and seq.grammar.is_stopped:
            self.finish(seq, "stop", None)
        elif n_out >= p.max_tokens or seq.num_tokens >= self.max_model_len:
            self.finish(seq, "length", None)

    def finish(self, seq: Sequence, reason: str, stop_reason: str | int | None) -> None:
        """End ``seq`` with ``reason`` and free its blocks."""
        seq.finish_reason = reason
        seq.stop_reason = stop_reason
        self.scheduler.finish(seq)

    def fail(self, req: Request, detail: str) -> None:
        """End every unfinished sequence of ``req`` with finish reason "error" (``req.error`` = ``detail``)."""
        if req.error is None:
            req.error = detail
        for seq in req.seqs:
            if not seq.finished:
                self.finish(seq, "error", None)
