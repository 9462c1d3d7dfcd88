"""``EdgeConfig``: what an edge drafts with, where its verifier is, and how it behaves on the network."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Draft sources an edge accepts (``self:N`` takes the served model's first N layers).
DRAFT_SOURCES = ("prompt-lookup", "suffix", "self:N", "model", "model:NAME", "none")


@dataclass
class EdgeConfig:
    """Configuration of one edge.

    ``server`` is the verifier's ``host:port``. ``model`` names the served model: the edge loads its
    tokenizer (drafts are token ids) and, for model drafts, its weights. ``draft`` picks the draft
    source: "prompt-lookup" (n-gram match against the prompt and output so far; no model),
    "suffix" (SuffixDecoding: this edge's earlier outputs, the most recent ``suffix_cache_tokens``
    tokens, plus prompt lookup; the longer match wins, up to ``suffix_max_match`` tokens; no model),
    "self:N" (the served model's first N decoder layers plus its head: self-speculation),
    "model" (the whole served model as drafter: acceptance upper bound, no speed-up),
    "model:NAME" (another model that shares the tokenizer) or "none" (empty drafts: one token per
    round, the no-speculation baseline over the same path). With ``suffix_with_model`` (the default)
    a "model:NAME" edge keeps the suffix source beside the model: a round goes out with the suffix
    source's draft when it predicts all k tokens (the model is not run), else with the model's
    (``ModelSuffixProposer``).
    ``max_draft_tokens`` caps k; with ``adaptive`` k follows the observed acceptance (and never exceeds
    the server's advice), otherwise it is the cap. ``proactive`` drafts the next round while the current
    one is verified. ``one_way_delay_ms`` emulates network delay per message and direction.
    ``max_reconnects``: a broken session is re-opened with everything generated so far (the server's
    prefix cache makes that cheap) at most this many times per request.
    ``draft_temperature`` > 0 samples drafts from the drafter's top ``draft_top_k`` (exact sparse q for
    rejection sampling); 0 drafts greedily. ``num_threads``: torch threads for model drafts.
    When a round has nothing worth drafting (no proposal, or k chosen 0) the edge asks the server to
    decode ``free_run_tokens`` tokens on its own, streamed back one by one, instead of paying a round
    trip per token (0 disables); consecutive such rounds double the run, up to 8x. With k at 0 it
    still drafts every ``probe_every`` rounds to notice when drafts start to pay again.
    ``plain_fallback`` (with ``adaptive``): where drafting is measured slower than the server decoding
    alone (``DraftPayoff``), or the acceptance model picks k = 0, new requests open plain sessions that
    the server decodes alone, and every ``probe_every``-th one drafts to re-check; off, every request
    drafts.
    ``api_key``: the key the verifier requires (``serve --api-key``), sent as gRPC metadata on every
    call; the CLI reads it from ``$SPLITSECOND_API_KEY`` or ``--api-key-file``, never its command line.
    ``draft_vocab``: a model drafter scores only the first ``draft_vocab`` token ids (plus the
    end-of-sequence ids) with its LM head, a cheaper head for a large vocabulary (byte-level BPE ids
    come roughly in merge order, so the first ids are the frequent tokens); drafts stay lossless, a
    rarer token is simply never drafted. None scores the whole vocabulary.
    """

    server: str
    model: str = "smollm2-135m"
    draft: str = "suffix"
    max_draft_tokens: int = 8
    adaptive: bool = True
    proactive: bool = True
    one_way_delay_ms: float = 0.0
    open_timeout_s: float = 30.0
    round_timeout_s: float = 30.0
    max_reconnects: int = 3
    max_model_len: int = 2048
    draft_temperature: float = 0.0
    draft_top_k: int = 8
    num_threads: int | None = 1
    prompt_lookup_max_ngram: int = 4
    suffix_cache_tokens: int = 1 << 18
    suffix_max_match: int = 16
    free_run_tokens: int = 4
    probe_every: int = 8
    plain_fallback: bool = True
    suffix_with_model: bool = True
    draft_vocab: int | None = None
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"EdgeConfig: {msg}")

        if not isinstance(self.server, str) or not re.fullmatch(r"[^\s:]+:\d+", self.server):
            bad(f"server must be 'host:port', got {self.server!r}")
        self.draft_kind()  # validates draft
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            bad("api_key must be None or a non-empty string")
        for name in ("adaptive", "proactive", "plain_fallback", "suffix_with_model"):
            if not isinstance(getattr(self, name), bool):
                bad(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.max_draft_tokens, int) or not 0 <= self.max_draft_tokens <= 64:
            bad(f"max_draft_tokens must be an integer in [0, 64], got {self.max_draft_tokens!r}")
        if not isinstance(self.one_way_delay_ms, int | float) or self.one_way_delay_ms < 0:
            bad(f"one_way_delay_ms must be >= 0, got {self.one_way_delay_ms!r}")
        for name in ("open_timeout_s", "round_timeout_s"):
            if not isinstance(getattr(self, name), int | float) or getattr(self, name) <= 0:
                bad(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not isinstance(self.max_reconnects, int) or self.max_reconnects < 0:
            bad(f"max_reconnects must be an integer >= 0, got {self.max_reconnects!r}")
        if not isinstance(self.max_model_len, int) or self.max_model_len < 2:
            bad(f"max_model_len must be an integer >= 2, got {self.max_model_len!r}")
        if not isinstance(self.draft_temperature, int | float) or self.draft_temperature < 0:
            bad(f"draft_temperature must be >= 0, got {self.draft_temperature!r}")
        if not isinstance(self.draft_top_k, int) or self.draft_top_k < 1:
            bad(f"draft_top_k must be a positive integer, got {self.draft_top_k!r}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            bad(f"num_threads must be a positive integer or None, got {self.num_threads!r}")
        if self.draft_vocab is not None and (
            not isinstance(self.draft_vocab, int)
            or isinstance(self.draft_vocab, bool)
            or self.draft_vocab < 1
        ):
            bad(f"draft_vocab must be a positive integer or None, got {self.draft_vocab!r}")
        if not isinstance(self.free_run_tokens, int) or not 0 <= self.free_run_tokens <= 64:
            bad(f"free_run_tokens must be an integer in [0, 64], got {self.free_run_tokens!r}")
        if not isinstance(self.probe_every, int) or self.probe_every < 1:
            bad(f"probe_every must be a positive integer, got {self.probe_every!r}")
        for name in ("prompt_lookup_max_ngram", "suffix_cache_tokens", "suffix_max_match"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(f"{name} must be an integer >= 1, got {v!r}")
        if self.suffix_max_match < 2:
            bad(
                f"suffix_max_match must be >= 2 (a one-token match says little), got {self.suffix_max_match!r}"
            )

    def draft_kind(self) -> tuple[str, str | int | None]:
        """The draft source parsed: ("prompt-lookup", None), ("suffix", None), ("self", N), ("model", NAME or
        None), ("none", None)."""
        d = self.draft
        if d in ("prompt-lookup", "suffix", "none"):
            return d, None
        if d == "model":
            return "model", None
        if isinstance(d, str) and d.startswith("model:") and len(d) > 6:
            return "model", d[6:]
        m = re.fullmatch(r"self:(\d+)", d) if isinstance(d, str) else None
        if m and int(m.group(1)) >= 1:
            return "self", int(m.group(1))
        raise ValueError(f"EdgeConfig: draft must be one of {DRAFT_SOURCES}, got {d!r}")
