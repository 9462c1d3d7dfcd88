"""What the engine returns: ``RequestOutput`` per step of a request, and ``EngineStats``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Logprob:
    """The log-probability of one generated token and the top-k alternatives at that position.

    ``top`` maps token id -> logprob for the ``k`` most likely tokens (k = ``SamplingParams.logprobs``);
    ``decoded`` is the token's text.
    """

    token_id: int
    logprob: float
    rank: int
    decoded: str
    top: dict[int, float] = field(default_factory=dict)


@dataclass
class CompletionOutput:
    """One of the ``n`` completions of a request, cumulative so far plus the delta of this step.

    ``text`` excludes a matched stop string; ``token_ids`` include every generated token (also EOS or
    the stop token). ``logprobs`` is cumulative, ``delta_logprobs`` covers ``delta_token_ids``. Tokens
    forced by a grammar carry no logprob, so with ``logprobs`` set the engine samples every token.
    """

    index: int
    text: str
    token_ids: list[int]
    delta_text: str = ""
    delta_token_ids: list[int] = field(default_factory=list)
    logprobs: list[Logprob] | None = None
    finish_reason: str | None = None  # None | "stop" | "length" | "abort" | "error"
    stop_reason: str | int | None = None  # the stop string or stop token id that ended it
    delta_logprobs: list[Logprob] | None = None  # logprobs of delta_token_ids (when logprobs asked)

    @property
    def finished(self) -> bool:
        """True once this completion has a finish reason."""
        return self.finish_reason is not None


@dataclass
class RequestOutput:
    """The state of a request after one engine step (streamed by ``AsyncEngine.generate``).

    ``num_cached_tokens`` counts prompt tokens whose KV came from the prefix cache (not recomputed).
    ``metrics`` holds ``arrival_time``, ``first_scheduled_time``, ``first_token_time``,
    ``finish_time`` (``time.monotonic()`` seconds) and ``num_forward_passes``.
    ``error``: why the request failed inside an engine step (its completions end with finish_reason
    "error"; the other requests of the batch go on); an internal detail for logs, not for end users.
    """

    request_id: str
    prompt_token_ids: list[int]
    num_cached_tokens: int
    outputs: list[CompletionOutput]
    finished: bool
    metrics: dict = field(default_factory=dict)
    prompt: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class EngineStats:
    """A snapshot of the engine's load and counters (for /metrics and benchmarks).

    ``kv_swap_*`` summarise the KV tier (``LLMEngine.kv_tier_stats()`` has every detail):
    ``kv_swap_policy`` is the policy in effect ("recompute" also when a flash zone could not be
    created); bytes are KV payload moved to / from the tier (preempted sequences and spilled prefix
    blocks); ``kv_swap_integrity_failures`` counts pages read back torn or stale (never used);
    ``kv_swap_fallbacks`` counts times the tier could not help and the engine recomputed instead
    (swap-out refused because full or unhealthy, or swap-in lost/corrupt);
    ``kv_swap_write_amplification`` is physical bytes written / payload bytes (1.0 when nothing was).
    ``kv_prefix_blocks_spilled`` / ``kv_prefix_blocks_restored`` count evicted prefix-cache blocks
    written to the tier and brought back on a prefix hit. ``busy_seconds`` is the server-side
    denominator of speculative decoding's "server throughput"; ``spec_*`` count verified drafts.
    """

    num_running: int
    num_waiting: int
    num_swapped: int
    free_blocks: int
    total_blocks: int
    block_size: int
    prefix_cache_queries: int  # prompt tokens looked up in the prefix cache
    prefix_cache_hits: int  # prompt tokens found there
    prompt_tokens_total: int
    generation_tokens_total: int
    num_preemptions: int
    num_forward_passes: int
    forced_tokens_total: int  # tokens emitted by constrained decoding without a forward pass
    requests_finished: int
    kv_swap_policy: str = "recompute"
    kv_swap_outs: int = 0  # swap-outs to the tier (sequences and prefix blocks)
    kv_swap_ins: int = 0
    kv_swap_out_bytes: int = 0
    kv_swap_in_bytes: int = 0
    kv_swap_integrity_failures: int = 0
    kv_swap_fallbacks: int = 0
    kv_swap_write_amplification: float = 1.0
    kv_prefix_blocks_spilled: int = 0
    kv_prefix_blocks_restored: int = 0
    busy_seconds: float = 0.0  # wall time spent in steps that ran a forward pass
    spec_rounds: int = 0  # speculative drafts verified
    spec_draft_tokens: int = 0  # draft tokens received
    spec_accepted_tokens: int = 0  # of which accepted

    @property
    def kv_cache_usage(self) -> float:
        """Fraction of KV blocks in use."""
        return 1.0 - self.free_blocks / self.total_blocks if self.total_blocks else 0.0

    @property
    def prefix_cache_hit_rate(self) -> float:
        """Prefix-cache hits / queries, in tokens (0 when nothing was queried)."""
        return self.prefix_cache_hits / self.prefix_cache_queries if self.prefix_cache_queries else 0.0
