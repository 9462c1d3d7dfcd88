"""``SamplingStep``: from the forward pass's hidden states to appended tokens, one row per sequence.

Grammar masks are computed before the forward pass (``grammar_masks``); rows whose grammar allows few
tokens get logits for those tokens only (``logits``); ``sample_and_append`` masks, bans EOS and stop
tokens below ``min_tokens``, samples the whole batch at once and appends each token with its forced
continuation. Every per-sequence stage is isolated: when one row fails (a grammar error, a value no check
caught) it is recorded in ``StepFailures`` and the other rows go on; a failing batched sampler call is
retried row by row, so only the faulty rows are lost.
"""

from __future__ import annotations

import time

import torch

from splitsecond.serving.constrained.grammar import apply_bitmask, bitmask_to_ids
from splitsecond.serving.engine.sequence import Sequence
from splitsecond.serving.engine.step_failures import StepFailures
from splitsecond.serving.engine.token_appender import TokenAppender
from splitsecond.serving.layers.sampler import Sampler, SampleResult, SamplingRow
from splitsecond.serving.outputs import Logprob

# A grammar row allowing at most this many tokens gets logits for those tokens only (see logits).
SUBSET_LOGITS_MAX = 2048


class SamplingStep:
    """Samples the rows of one step (see module docstring).

    Args:
        model: The causal LM (``compute_logits``, ``compute_logits_subset``, ``can_compute_subset``).
        tokenizer: Decodes a token for its logprob entry.
        appender: Appends the chosen tokens.
        vocab_size: The model's vocabulary size.
    """

    def __init__(self, model, tokenizer, appender: TokenAppender, vocab_size: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.appender = appender
        self.vocab_size = vocab_size
        self.sampler = Sampler()

    def grammar_masks(self, seqs: list[Sequence], failures: StepFailures) -> dict[int, torch.Tensor]:
        """Allowed-token bitmask of each grammar-constrained row (computed before the forward pass)."""
        rows = [i for i, s in enumerate(seqs) if s.grammar is not None]
        if not rows:
            return {}
        words = (self.vocab_size + 31) // 32
        bitmask = torch.full((len(rows), words), -1, dtype=torch.int32)
        masks = {}
        for j, i in enumerate(rows):
            try:
                seqs[i].grammar.fill_bitmask(bitmask, j)
            except Exception as exc:
                failures.record(seqs[i], "grammar mask", exc)
                continue
            masks[i] = bitmask[j]
        return masks

    def logits(
        self, hidden: torch.Tensor, seqs: list[Sequence], masks: dict[int, torch.Tensor]
    ) -> torch.Tensor:
        """Float32 logits per sampled row; rows whose grammar allows few tokens compute only those."""
        vocab = self.vocab_size
        subset: dict[int, torch.Tensor] = {}
        if masks and self.model.can_compute_subset:
            for i, row_mask in masks.items():
                if seqs[i].params.logprobs is None:  # logprobs need the full distribution
                    ids = bitmask_to_ids(row_mask, vocab)
                    if 0 < len(ids) <= SUBSET_LOGITS_MAX:
                        subset[i] = ids.to(hidden.device)
        if not subset:
            return self.model.compute_logits(hidden) if hidden.shape[0] else hidden.new_empty(0, vocab)
        logits = torch.full((hidden.shape[0], vocab), float("-inf"), device=hidden.device)
        full = [i for i in range(hidden.shape[0]) if i not in subset]
        if full:
            logits[full] = self.model.compute_logits(hidden[full])
        for i, ids in subset.items():
            logits[i, ids] = self.model.compute_logits_subset(hidden[i], ids)
        return logits

    def sample_and_append(
        self,
        logits: torch.Tensor,
        seqs: list[Sequence],
        masks: dict[int, torch.Tensor],
        failures: StepFailures,
    ) -> None:
        """Sample one token per row of ``logits`` and append it to its sequence (rows of failed
        requests are skipped; new failures are recorded)."""
        raw = logits
        need_raw = any(s.params.logprobs is not None for s in seqs)
        masked = [s for s in seqs if s.grammar is not None or s.num_output_tokens < s.params.min_tokens]
        if masked and need_raw:
            logits = logits.clone()
        self._mask(logits, seqs, masks, failures)
        rows = [
            SamplingRow(s.params.temperature, s.params.top_p, s.params.top_k, s.generator, s.params.logprobs)
            for s in seqs
        ]
        live = [i for i, s in enumerate(seqs) if s not in failures]
        chosen = self._sample(logits, raw if need_raw else None, seqs, rows, live, failures)
        now = time.monotonic()
        for i, (tok, lp) in chosen.items():
            seq = seqs[i]
            try:
                self._append(seq, tok, lp, now)
            except Exception as exc:
                failures.record(seq, "token append", exc)

    def _mask(
        self,
        logits: torch.Tensor,
        seqs: list[Sequence],
        masks: dict[int, torch.Tensor],
        failures: StepFailures,
    ) -> None:
        """Apply grammar masks and the min_tokens bans in place."""
        if masks:
            rows = list(masks)
            sub = logits[rows]
            apply_bitmask(sub, torch.stack([masks[i] for i in rows]))
            logits[rows] = sub
        for i, s in enumerate(seqs):
            if s.num_output_tokens < s.params.min_tokens and s not in failures:
                banned = set(s.params.stop_token_ids or ())
                if not s.params.ignore_eos:
                    banned |= self.appender.eos_ids
                try:
                    if banned:
                        logits[i, list(banned)] = float("-inf")
                except Exception as exc:
                    failures.record(s, "min_tokens ban", exc)

    def _sample(
        self,
        logits: torch.Tensor,
        raw: torch.Tensor | None,
        seqs: list[Sequence],
        rows: list[SamplingRow],
        live: list[int],
        failures: StepFailures,
    ) -> dict[int, tuple[int, tuple | None]]:
        """Row index -> (token, logprob tuple) for the ``live`` rows; the batch at once, or row by row
        when the batched call fails (then only the rows that fail on their own are lost)."""
        if not live:
            return {}
        everyone = len(live) == len(seqs)
        try:
            res = self.sampler(
                logits if everyone else logits[live],
                rows if everyone else [rows[i] for i in live],
                raw_logits=None if raw is None else (raw if everyone else raw[live]),
            )
            return {i: (res.token_ids[j], res.logprobs[j]) for j, i in enumerate(live)}
        except Exception:
            pass
        out = {}
        for i in live:
            try:
                one: SampleResult = self.sampler(
                    logits[i : i + 1], [rows[i]], raw_logits=None if raw is None else raw[i : i + 1]
                )
            except Exception as exc:
                failures.record(seqs[i], "sampling", exc)
                continue
            out[i] = (one.token_ids[0], one.logprobs[0])
        return out

    def _append(self, seq: Sequence, tok: int, lp: tuple | None, now: float) -> None:
        req = seq.request
        if req.first_token_time is None:
            req.first_token_time = now
        if lp is not None and seq.logprobs is not None:
            top = dict(zip(lp[2], lp[3], strict=False))
            seq.logprobs.append(Logprob(tok, lp[0], lp[1], self.tokenizer.decode([tok], False), top))
        self.appender.append_with_forced(seq, tok)
        if req.speculative and not seq.finished:
            if seq.free_run > 0:
                seq.free_run -= 1  # a token decoded on its own (the edge asked for a free run)
            if seq.free_run == 0:
                seq.awaiting_draft = True
                seq.verdict_time = now
