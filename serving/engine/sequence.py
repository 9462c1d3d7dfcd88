"""``Sequence`` (one completion being generated) and ``Request`` (a prompt with its ``n`` sequences)."""

from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from splitsecond.serving.outputs import Logprob
from splitsecond.serving.sampling_params import SamplingParams

if TYPE_CHECKING:
    import torch

    from splitsecond.serving.engine.detokenizer import IncrementalDetokenizer

_seq_ids = itertools.count()


class SequenceStatus(enum.Enum):
    """Where a sequence is: queued, in the running batch, swapped out (reserved for a flash tier), done."""

    WAITING = "waiting"
    RUNNING = "running"
    SWAPPED = "swapped"
    FINISHED = "finished"


class Sequence:
    """Token ids (prompt + output) and the KV bookkeeping of one completion.

    ``num_computed_tokens`` tokens have their KV in ``block_table``'s blocks; the rest
    (``token_ids[num_computed_tokens:]``) are run by the next forward pass that schedules this sequence:
    the prompt (possibly in chunks), then one sampled token at a time, or several forced tokens at once.
    ``block_hashes[i]`` is the prefix-cache hash of full block ``i`` once it is registered.
    """

    def __init__(
        self,
        request: Request,
        index: int,
        prompt_token_ids: list[int],
        generator: torch.Generator | None,
        grammar: Any | None,
        detokenizer: IncrementalDetokenizer,
    ) -> None:
        self.seq_id = next(_seq_ids)
        self.request = request
        self.index = index
        self.token_ids: list[int] = list(prompt_token_ids)
        self.num_prompt_tokens = len(prompt_token_ids)
        self.num_computed_tokens = 0
        self.num_cached_tokens = 0
        self.block_table: list[int] = []
        self.block_hashes: list[int] = []
        self.status = SequenceStatus.WAITING
        self.finish_reason: str | None = None
        self.stop_reason: str | int | None = None
        self.generator = generator
        self.grammar = grammar
        self.detokenizer = detokenizer
        self.logprobs: list[Logprob] | None = [] if request.params.logprobs is not None else None
        self.num_emitted_tokens = 0  # output tokens already streamed
        self.num_emitted_chars = 0  # output text already streamed
        self.num_emitted_logprobs = 0
        self.wait_for: Sequence | None = None  # n > 1: start after this sibling's prompt is in the cache
        self.num_preemptions = 0
        # Speculative sessions (``Request.speculative``): after each sample the sequence waits for an
        # edge's draft; ``draft`` tokens then sit at the end of ``token_ids`` until they are verified.
        self.awaiting_draft = False
        self.draft: list[int] | None = None
        self.draft_dists: list | None = None
        self.verdict_time: float | None = None  # when it last started waiting for a draft
        self.draft_time: float | None = None  # when its pending draft arrived
        self.free_run = 0  # tokens to decode on its own after the pending draft, before the next one

    @property
    def params(self) -> SamplingParams:
        """The request's sampling parameters."""
        return self.request.params

    @property
    def num_tokens(self) -> int:
        """Prompt + output tokens."""
        return len(self.token_ids)

    @property
    def num_output_tokens(self) -> int:
        """Generated tokens so far."""
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def output_token_ids(self) -> list[int]:
        """The generated tokens."""
        return self.token_ids[self.num_prompt_tokens :]

    @property
    def num_schedulable_tokens(self) -> int:
        """Tokens whose KV may be computed now: all of them, except the newest token of a sequence
        waiting for a draft (it is run together with the draft, which it precedes)."""
        return len(self.token_ids) - (1 if self.awaiting_draft else 0)

    @property
    def num_draft_tokens(self) -> int:
        """Draft tokens at the end of ``token_ids`` awaiting verification (0 when none)."""
        return len(self.draft) if self.draft is not None else 0

    @property
    def prompt_done(self) -> bool:
        """True once the whole prompt's KV is computed."""
        return self.num_computed_tokens >= self.num_prompt_tokens

    @property
    def finished(self) -> bool:
        """True once the sequence has a finish reason."""
        return self.status is SequenceStatus.FINISHED

    def __repr__(self) -> str:
        return (
            f"Sequence(id={self.seq_id}, req={self.request.request_id!r}, idx={self.index}, "
            f"tokens={self.num_tokens}, computed={self.num_computed_tokens}, status={self.status.value})"
        )


@dataclass
class Request:
    """A submitted prompt and its ``n`` sequences (sharing the prompt's prefix blocks)."""

    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    params: SamplingParams
    arrival_time: float = field(default_factory=time.monotonic)
    seqs: list[Sequence] = field(default_factory=list)
    first_scheduled_time: float | None = None
    first_token_time: float | None = None
    finish_time: float | None = None
    num_forward_passes: int = 0
    speculative: bool = False  # tokens after the first come from verifying an edge's drafts
    spec_metrics: dict[str, float] = field(default_factory=dict)  # the last verification round
    draft_gap_s: float | None = None  # EWMA of the time an edge takes to answer a verdict with a draft
    error: str | None = None  # why the request failed inside a step (its sequences end with "error")

    @property
    def finished(self) -> bool:
        """True when every sequence has finished."""
        return all(s.finished for s in self.seqs)

    @property
    def num_cached_tokens(self) -> int:
        """Prompt tokens of the first sequence served from the prefix cache."""
        return self.seqs[0].num_cached_tokens if self.seqs else 0
