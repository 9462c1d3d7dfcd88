"""``DraftVerifier``: check a speculative sequence's draft against the target's logits and append what
the target emits (greedy: identical to plain decoding; sampling: rejection sampling)."""

from __future__ import annotations

import time

import torch

from splitsecond.serving.constrained.grammar import apply_bitmask
from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.sequence import Sequence
from splitsecond.serving.engine.token_appender import TokenAppender
from splitsecond.serving.speculative.verification import target_probs, verify_greedy, verify_rejection


class DraftVerifier:
    """Verifies drafts and counts rounds, draft tokens and accepted tokens.

    Args:
        block_manager: Trims a sequence's blocks to what the verdict keeps.
        appender: Appends the accepted tokens and the target's own next token.
        vocab_size: The model's vocabulary size.
    """

    def __init__(self, block_manager: BlockManager, appender: TokenAppender, vocab_size: int) -> None:
        self.block_manager = block_manager
        self.appender = appender
        self.vocab_size = vocab_size
        self.rounds = 0
        self.draft_tokens = 0
        self.accepted_tokens = 0

    def draft_masks(self, seq: Sequence) -> tuple[torch.Tensor, int]:
        """Grammar bitmasks for the k + 1 verification rows of ``seq``'s draft, and how many draft
        tokens the grammar accepts (rows past the first refused token are never used)."""
        draft = seq.draft or []
        words = (self.vocab_size + 31) // 32
        masks = torch.full((len(draft) + 1, words), -1, dtype=torch.int32)
        consumed = 0
        seq.grammar.fill_bitmask(masks, 0)
        for i, tok in enumerate(draft):
            if not seq.grammar.accept(tok):
                break
            consumed += 1
            seq.grammar.fill_bitmask(masks, i + 1)
        seq.grammar.rollback(consumed)
        return masks[: consumed + 1], consumed

    def verify(self, seq: Sequence, logits: torch.Tensor, masks: tuple[torch.Tensor, int] | None) -> None:
        """Check ``seq``'s draft against the target's logits rows (one per draft token the grammar
        allows, plus one) and append what the target emits."""
        draft = seq.draft or []
        k = len(draft)
        pending = seq.num_tokens - k - 1  # position of the newest token before the draft
        usable = k if masks is None else masks[1]
        if masks is not None:
            apply_bitmask(logits, masks[0])
        p = seq.params
        banned = set(p.stop_token_ids or ()) | (set() if p.ignore_eos else set(self.appender.eos_ids))
        if banned and seq.num_output_tokens < p.min_tokens:
            n_out = seq.num_output_tokens  # includes the draft: row i emits output token n_out - k + i
            for i in range(usable + 1):
                if n_out - k + i < p.min_tokens:
                    logits[i, list(banned)] = float("-inf")
        candidate = draft[:usable]
        if p.temperature == 0:
            verdict = verify_greedy(logits, candidate)
        else:
            dists = seq.draft_dists[:usable] if seq.draft_dists is not None else None
            probs = target_probs(logits, p.temperature, p.top_p, p.top_k)
            verdict = verify_rejection(probs, candidate, dists, seq.generator)
        del seq.token_ids[pending + 1 :]
        seq.draft, seq.draft_dists = None, None
        seq.num_computed_tokens = pending + 1 + verdict.accepted  # those tokens' KV was just written
        self.block_manager.truncate(seq, seq.num_computed_tokens)
        self.rounds += 1
        self.draft_tokens += k
        self.accepted_tokens += verdict.accepted
        seq.request.spec_metrics.update(proposed=k, accepted=verdict.accepted)
        now = time.monotonic()
        for tok in candidate[: verdict.accepted]:
            self.appender.append(seq, tok)
            if seq.finished:
                return
        self.block_manager.register_computed(seq)
        if seq.request.first_token_time is None:
            seq.request.first_token_time = now
        self.appender.append_with_forced(seq, verdict.token)
        if not seq.finished and seq.free_run == 0:
            seq.awaiting_draft = True
            seq.verdict_time = time.monotonic()
