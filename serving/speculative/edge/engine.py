"""``EdgeEngine``: the edge's engine facade — drafts locally, verifies on the server.

It offers what the OpenAI-compatible app needs of an engine (``generate``, ``abort``, ``stats``,
``tokenizer``, ``model_name``, ``max_model_len``), so ``create_app(..., engine=EdgeEngine(...))`` serves
the same API on the agent's machine and an agent's LiteLLM call reaches its local edge unchanged.

One request = one verifier session. Each round: pick k (``AdaptiveDraftLength``, capped by the server's
advice), draft k tokens (plus one more: the bet for proactive drafting), send them, and while the round
is on the wire draft the next round from "all accepted + the bet" (``ProactiveDraft``); when the verdict
arrives, append the server's tokens and keep or discard the proactive continuation. A broken session is
re-opened with everything generated so far (``max_reconnects`` times per request).

What the edge learned carries over between requests: a new request starts from the acceptance seen so
far, and where drafting has been measured not to pay (``DraftPayoff``: pace and server efficiency
against the server decoding alone) the request is a *plain* session that the server decodes on its own,
exactly as without speculation; every ``probe_every``-th such request drafts to re-check. The "suffix"
source also keeps every finished output (``SuffixCache``) to draft later requests from.

A model drafter ("model:NAME", "self:N") costs a forward pass per token, so: it drafts in a worker
thread; its bet and the next round are drafted after the round is sent and only until the verdict
arrives (and only while this is the edge's one active request: with several, drafting ahead for one
takes the core from another's next draft); the drafting a round could not hide counts in k's price
(``_edge_token_cost``); drafters keep their KV cache between requests and a new one starts from a copy
of the newest one's (``ModelDrafter.adopt``), so a shared system prompt is computed once. "model:NAME"
keeps the suffix source beside the model (``ModelSuffixProposer``) unless ``suffix_with_model`` is off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable

from splitsecond.serving.engine.detokenizer import IncrementalDetokenizer
from splitsecond.serving.errors import EngineError, PromptTooLongError
from splitsecond.serving.outputs import CompletionOutput, EngineStats, RequestOutput
from splitsecond.serving.sampling_params import SamplingParams
from splitsecond.serving.speculative.adaptive import AdaptiveDraftLength
from splitsecond.serving.speculative.edge.client import RemoteSession, VerifierClient, VerifierError
from splitsecond.serving.speculative.edge.config import EdgeConfig
from splitsecond.serving.speculative.edge.stats import EdgeStats
from splitsecond.serving.speculative.payoff import DraftPayoff
from splitsecond.serving.speculative.proactive import ProactiveDraft, ProactiveStats
from splitsecond.serving.speculative.proposers.base import Proposal, Proposer
from splitsecond.serving.speculative.proposers.hybrid import HybridStats, ModelSuffixProposer
from splitsecond.serving.speculative.proposers.model_drafter import ModelDrafter
from splitsecond.serving.speculative.proposers.suffix import SuffixCache, SuffixProposer
from splitsecond.serving.speculative.protocol import Draft, OpenSession, VerdictMessage, params_to_wire
from splitsecond.serving.speculative.verification import SparseDraftDist
from splitsecond.serving.speculative.verifier_service import tokenizer_fingerprint

logger = logging.getLogger(__name__)

_ids = itertools.count()
_PRIOR_ROUNDS = 8  # rounds the edge must have seen before a new request starts from its acceptance
_MAX_RUN_DOUBLINGS = 3  # free runs double up to free_run_tokens << 3
_MAX_FREE_RUN = 1024  # the engine's (and the verifier's default) cap on one free run


def _model_drafter(proposer: Proposer) -> ModelDrafter | None:
    """The ``ModelDrafter`` inside ``proposer`` (itself, or a ``ModelSuffixProposer``'s model), if any."""
    if isinstance(proposer, ModelDrafter):
        return proposer
    inner = getattr(proposer, "model", None) if isinstance(proposer, ModelSuffixProposer) else None
    return inner if isinstance(inner, ModelDrafter) else None


def _takes_stop(proposer: Proposer) -> bool:
    """Whether ``proposer.propose`` takes ``stop`` (``ModelDrafter``, ``ModelSuffixProposer``)."""
    try:
        return "stop" in inspect.signature(proposer.propose).parameters
    except (TypeError, ValueError):
        return False


def _dists_or_points(proposal: Proposal) -> list[SparseDraftDist]:
    """A proposal's draft distributions, point masses for a deterministic one."""
    if proposal.dists is not None:
        return list(proposal.dists)
    return [SparseDraftDist([t], [1.0]) for t in proposal.tokens]


class _Output:
    """The output of one request as the edge has it (tokens, text, finish)."""

    def __init__(self, tokenizer, params: SamplingParams) -> None:
        self.params = params
        self.token_ids: list[int] = []
        self.detok = IncrementalDetokenizer(tokenizer, params.stop_strings, params.skip_special_tokens)
        self.finish_reason: str | None = None
        self.stop_reason: str | int | None = None
        self.cached_tokens = 0  # prompt tokens the server's prefix cache served (its first verdict says)
        self._emitted_tokens = 0
        self._emitted_chars = 0

    def extend(self, verdict: VerdictMessage) -> None:
        if verdict.round == 0 and not self.token_ids:
            self.cached_tokens = verdict.cached_tokens
        for tok in verdict.token_ids:
            self.token_ids.append(tok)
            self.detok.append(tok, check_stop=len(self.token_ids) > self.params.min_tokens)
        if verdict.finish_reason is not None:
            self.finish_reason, self.stop_reason = verdict.finish_reason, verdict.stop_reason

    def completion(self) -> CompletionOutput:
        finished = self.finish_reason is not None
        emit = self.detok.emittable_len(finished)
        text = self.detok.text[:emit]
        delta_text = text[self._emitted_chars :] if emit >= self._emitted_chars else ""
        self._emitted_chars = max(self._emitted_chars, emit)
        delta_ids = self.token_ids[self._emitted_tokens :]
        self._emitted_tokens = len(self.token_ids)
        return CompletionOutput(
            index=0,
            text=text,
            token_ids=list(self.token_ids),
            delta_text=delta_text,
            delta_token_ids=delta_ids,
            finish_reason=self.finish_reason,
            stop_reason=self.stop_reason,
        )


class EdgeEngine:
    """Serve requests by drafting here and verifying at ``config.server`` (see the module docstring).

    ``proposer_factory`` overrides the draft source of ``config.draft`` (called once per request; a
    proposer serves one sequence at a time).
    """

    def __init__(self, config: EdgeConfig, proposer_factory: Callable[[], Proposer] | None = None) -> None:
        from splitsecond.serving.loader.model_loader import load_tokenizer

        self.config = config
        self.tokenizer = load_tokenizer(config.model)
        self.model_name = config.model
        self.max_model_len = config.max_model_len
        self.fingerprint = tokenizer_fingerprint(self.tokenizer)
        self.client = VerifierClient(
            config.server,
            one_way_delay_s=config.one_way_delay_ms / 1000,
            open_timeout_s=config.open_timeout_s,
            round_timeout_s=config.round_timeout_s,
            api_key=config.api_key,
        )
        self.edge_stats = EdgeStats()
        self.proactive_stats = ProactiveStats()
        self.suffix_cache: SuffixCache | None = None  # the "suffix" source's earlier outputs
        self.hybrid_stats: HybridStats | None = None  # model + suffix: which source each draft came from
        kind = config.draft_kind()[0]
        self._model_drafts = kind in ("model", "self")  # a forward pass per drafted token
        # Acceptance over every round of every request (slow EWMA): a new request starts from it.
        self.acceptance = AdaptiveDraftLength(
            k_min=0, k_max=config.max_draft_tokens, k_init=min(4, config.max_draft_tokens), ewma=0.05
        )
        self.payoff = DraftPayoff()  # drafting pace against plain-decoding pace, over every request
        self._plain_streak = 0  # requests in a row sent to plain decoding
        self._proposer_factory = proposer_factory or self._default_proposer_factory()
        self._idle_proposers: list[Proposer] = []
        self._edge_cost: float | None = None  # a model draft token's price (``_edge_token_cost``)
        self._last_drafter: ModelDrafter | None = None  # the newest model drafter: a new one copies its cache
        self._sessions: dict[str, RemoteSession] = {}
        self._aborted: set[str] = set()
        self._active = 0
        self._finished = 0
        self.is_running = True

    # --- draft sources ---------------------------------------------------------------------------
    def _default_proposer_factory(self) -> Callable[[], Proposer]:
        from splitsecond.serving.speculative.proposers.prompt_lookup import PromptLookupProposer

        kind, arg = self.config.draft_kind()
        if kind in ("prompt-lookup", "none"):
            n = self.config.prompt_lookup_max_ngram
            return lambda: PromptLookupProposer(max_ngram=n)
        if kind == "suffix":
            cache = self.suffix_cache = SuffixCache(self.config.suffix_cache_tokens)
            n = self.config.suffix_max_match
            return lambda: SuffixProposer(cache, max_match=n)
        import torch

        from splitsecond.serving.loader.model_loader import load_model
        from splitsecond.serving.speculative.proposers.model_drafter import (
            ModelDrafter,
            reduced_vocab_model,
            self_speculative_model,
        )

        if self.config.num_threads is not None:
            torch.set_num_threads(self.config.num_threads)
        source = arg if kind == "model" and arg else self.config.model
        loaded = load_model(source, torch.float32, "cpu", packing="fp16")  # warm: the cached packed weights
        if tokenizer_fingerprint(loaded.tokenizer) != self.fingerprint:
            raise ValueError(f"draft model {arg!r} does not share the served model's tokenizer")
        if loaded.model.weight_packing is None:
            loaded.model.pack_weights("fp16")
        model = self_speculative_model(loaded.model, arg) if kind == "self" else loaded.model
        cfg = self.config
        if cfg.draft_vocab is not None and cfg.draft_vocab < model.config.vocab_size:
            keep = [*range(cfg.draft_vocab), *self.tokenizer.eos_token_ids]
            model = reduced_vocab_model(model, keep)

        def drafter() -> ModelDrafter:
            return ModelDrafter(
                model,
                cfg.max_model_len + cfg.max_draft_tokens + 2,  # room for a proactive draft past the end
                name=cfg.draft,
                temperature=cfg.draft_temperature,
                top_k=cfg.draft_top_k,
            )

        if not (kind == "model" and arg and cfg.suffix_with_model):
            return drafter
        cache = self.suffix_cache = SuffixCache(cfg.suffix_cache_tokens)
        stats = self.hybrid_stats = HybridStats()
        n = cfg.suffix_max_match
        return lambda: ModelSuffixProposer(drafter(), SuffixProposer(cache, max_match=n), stats)

    def _acquire_proposer(self) -> Proposer:
        if self._idle_proposers:
            return self._idle_proposers.pop()
        proposer = self._proposer_factory()
        drafter = _model_drafter(proposer)
        if drafter is not None and self._last_drafter is not None:
            drafter.seed = self._last_drafter  # start from its cache: the prompts share a prefix, most likely
        self._last_drafter = drafter or self._last_drafter
        return proposer

    def _release_proposer(self, proposer: Proposer) -> None:
        if isinstance(proposer, ModelDrafter):
            pass  # its cache is keyed by the tokens it holds: the next request reuses the shared prefix
        else:
            proposer.reset()
        self._idle_proposers.append(proposer)

    async def _propose(
        self, proposer: Proposer, context: list[int], k: int, until: asyncio.Future | None = None
    ) -> Proposal:
        """Up to ``k`` tokens after ``context``. A model drafts in a worker thread (the event loop keeps
        serving other sessions); with ``until`` it stops after the token during which ``until`` is done
        (a proactive draft must not hold up the round whose verdict has come)."""
        if k <= 0 or self.config.draft == "none":
            return Proposal([], None)
        if not self._model_drafts:
            return proposer.propose(context, k)  # microseconds: not worth a thread hop
        if until is None or not _takes_stop(proposer):
            return await asyncio.to_thread(proposer.propose, context, k)
        return await asyncio.to_thread(proposer.propose, context, k, stop=until.done)

    def _edge_token_cost(self, drafted: int, draft_s: float, round_s: float) -> float:
        """A model drafter's price of one draft token in units of a round without drafting (network and
        server), smoothed over rounds: the drafting that was not hidden behind a round in flight, which
        the acceptance model then weighs against the tokens a longer draft brings (0 for the other sources,
        whose drafts cost microseconds)."""
        if not self._model_drafts:
            return 0.0
        if drafted > 0 and round_s > draft_s:
            sample = (draft_s / drafted) / (round_s - draft_s)
            self._edge_cost = sample if self._edge_cost is None else 0.8 * self._edge_cost + 0.2 * sample
        return self._edge_cost or 0.0

    def _bets_ahead(self, tokens: list[int]) -> bool:
        """Whether a model drafter drafts the bet and the next round while this round is in flight: only
        when this is the edge's one active request (with several, the core drafting ahead for one is taken
        from another's next draft) and the draft does not end the sequence."""
        return (
            self.config.proactive
            and self._model_drafts
            and self._active == 1
            and bool(tokens)
            and tokens[-1] not in self.tokenizer.eos_token_ids
        )

    async def _draft_ahead(
        self, proposer: Proposer, context: list[int], sent: list[int], k: int, in_flight: asyncio.Future
    ) -> ProactiveDraft | None:
        """The bet on the round in flight (``sent`` all accepted, then the drafter's next token) and up to
        ``k`` tokens after it, drafted until the verdict arrives (at least the bet)."""
        ahead = await self._propose(proposer, context + sent, k + 1, in_flight)
        if not ahead.tokens:
            return None
        rest = Proposal(ahead.tokens[1:], ahead.dists[1:] if ahead.dists is not None else None)
        return ProactiveDraft([*sent, ahead.tokens[0]], rest)

    async def _top_up(self, proposer: Proposer, context: list[int], ready: Proposal, k: int) -> Proposal:
        """A kept proactive draft cut short by its verdict, extended to ``k`` tokens (model drafts)."""
        if not self._model_drafts or len(ready.tokens) >= k or not ready.tokens:
            return ready
        more = await self._propose(proposer, context + ready.tokens, k - len(ready.tokens))
        dists = None
        if ready.dists is not None or more.dists is not None:
            dists = [*_dists_or_points(ready), *_dists_or_points(more)]
        return Proposal(ready.tokens + more.tokens, dists)

    # --- engine facade ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Nothing to start (the channel connects on first use)."""

    async def shutdown(self) -> None:
        """Close the channel to the verifier (open sessions break and are aborted server-side)."""
        self.is_running = False
        await self.client.close()

    def stats(self) -> EngineStats:
        """An ``EngineStats`` for the app's /metrics (the edge holds no KV: block fields are 0)."""
        s = self.edge_stats
        return EngineStats(
            num_running=self._active,
            num_waiting=0,
            num_swapped=0,
            free_blocks=0,
            total_blocks=0,
            block_size=1,
            prefix_cache_queries=0,
            prefix_cache_hits=0,
            prompt_tokens_total=0,
            generation_tokens_total=s.round_tokens + s.first_tokens,
            num_preemptions=0,
            num_forward_passes=0,
            forced_tokens_total=0,
            requests_finished=self._finished,
            busy_seconds=s.server_seconds,
            spec_rounds=s.rounds,
            spec_draft_tokens=s.draft_tokens,
            spec_accepted_tokens=s.accepted_tokens,
        )

    def spec_summary(self) -> dict:
        """The SpecEdge metrics of every request so far (``EdgeStats.summary``)."""
        s = self.edge_stats
        s.bytes_out, s.bytes_in = self.client.stats.bytes_out, self.client.stats.bytes_in
        s.proactive_kept, s.proactive_discarded = self.proactive_stats.kept, self.proactive_stats.discarded
        summary = s.summary()
        if self.hybrid_stats is not None:
            summary["draft_sources"] = dataclasses.asdict(self.hybrid_stats)
        if self.suffix_cache is not None:
            c = self.suffix_cache
            summary["suffix_cache"] = {
                "outputs": len(c),
                "tokens": c.num_tokens,
                **dataclasses.asdict(c.stats),
            }
        return summary

    async def abort(self, request_id: str) -> None:
        """Stop a request in flight: its session is closed (the server aborts it and frees its KV) and
        its stream ends with finish_reason "abort"."""
        session = self._sessions.get(request_id)
        if session is not None:
            self._aborted.add(request_id)
            await session.close()

    async def generate(
        self, prompt: str | list[int], params: SamplingParams, request_id: str
    ) -> AsyncIterator[RequestOutput]:
        """Stream ``RequestOutput`` deltas for ``prompt``, drafting here and verifying on the server."""
        if params.n != 1 or params.logprobs is not None:
            raise ValueError("the edge serves n=1 without logprobs (speculative sessions have one sequence)")
        ids = self.tokenizer.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        if not ids:
            raise ValueError("prompt is empty")
        if len(ids) + params.max_tokens > self.max_model_len:
            raise PromptTooLongError(len(ids), params.max_tokens, self.max_model_len)
        self.edge_stats.requests += 1
        self._active += 1
        proposer = self._acquire_proposer()
        try:
            async for out in self._speculate(request_id, prompt, ids, params, proposer):
                yield out
        finally:
            self._sessions.pop(request_id, None)
            self._aborted.discard(request_id)
            self._active -= 1
            self._finished += 1
            self._release_proposer(proposer)

    def _cut_after_eos(self, proposal: Proposal) -> Proposal:
        """Nothing follows an end-of-sequence token: drafting past it only wastes verification."""
        eos = self.tokenizer.eos_token_ids
        for i, tok in enumerate(proposal.tokens):
            if tok in eos:
                dists = proposal.dists[: i + 1] if proposal.dists is not None else None
                return Proposal(proposal.tokens[: i + 1], dists)
        return proposal

    # --- the speculation loop ----------------------------------------------------------------------
    async def _open(
        self, request_id: str, context: list[int], params: SamplingParams, done: int, plain: bool = False
    ) -> tuple[RemoteSession, VerdictMessage]:
        """Open (or re-open after ``done`` generated tokens) the session for ``context`` (``plain``: the
        server decodes it alone, see ``OpenSession``)."""
        wire = params_to_wire(params)
        if done:
            wire["max_tokens"] = params.max_tokens - done
            wire["min_tokens"] = max(0, params.min_tokens - done)
        msg = OpenSession(request_id, list(context), wire, self.fingerprint, self.config.draft, plain=plain)
        try:
            return await self.client.open(msg)
        except VerifierError as e:
            if e.retryable:
                raise
            raise ValueError(f"the verifier refused the request: {e}") from e

    def _request_output(self, request_id: str, prompt, ids: list[int], out: _Output) -> RequestOutput:
        comp = out.completion()
        return RequestOutput(
            request_id=request_id,
            prompt_token_ids=ids,
            num_cached_tokens=out.cached_tokens,
            outputs=[comp],
            finished=comp.finish_reason is not None,
            metrics={"num_generated_tokens": len(out.token_ids)},
            prompt=prompt if isinstance(prompt, str) else None,
        )

    def _request_mode(self) -> tuple[AdaptiveDraftLength, str]:
        """A new request's draft-length policy and mode: "draft", "plain" or "probe".

        The policy starts from the edge's acceptance over earlier requests once there are
        ``_PRIOR_ROUNDS`` of them. Where drafting has not been paying (the acceptance model picks k = 0,
        or ``payoff`` measured drafting slower than the server alone), the request is "plain": one free
        run from its first token to its last, exactly plain decoding with no round trip that would take
        it out of the server's batch. Every ``probe_every``-th such request is a "probe" that drafts
        regardless, so the edge notices when drafts start to pay again.
        """
        cfg, prior = self.config, self.acceptance
        k_max = cfg.max_draft_tokens
        known = cfg.adaptive and prior.rounds >= _PRIOR_ROUNDS
        k0 = prior.next_k() if known else min(4, k_max)
        mode = "draft"
        if (
            cfg.adaptive
            and cfg.plain_fallback
            and cfg.free_run_tokens > 0
            and ((known and k0 == 0) or self.payoff.pays() is False)
        ):
            self._plain_streak += 1
            mode = "probe" if self._plain_streak % cfg.probe_every == 0 else "plain"
            k0 = 0 if mode == "plain" else max(k0, min(2, k_max))
        else:
            self._plain_streak = 0
        if not known:
            return AdaptiveDraftLength(k_min=0, k_max=k_max, k_init=k0), mode
        adaptive = AdaptiveDraftLength(k_min=0, k_max=k_max, k_init=k0, alpha_init=prior.alpha,
                                       draft_cost=prior.draft_cost)  # fmt: skip
        return adaptive, mode

    def _draft_length(self, adaptive: AdaptiveDraftLength, limit: int, mode: str, idle_rounds: int) -> int:
        """This round's k: the policy's, capped by the server's ``limit``; 0 (a free run) while the
        plain pace needs measuring or drafting was measured not to pay (not in a "probe" request); a
        short probe after ``probe_every`` rounds without a draft."""
        cfg, payoff = self.config, self.payoff
        k = adaptive.next_k(limit) if cfg.adaptive else min(cfg.max_draft_tokens, limit)
        fallback = cfg.adaptive and cfg.plain_fallback and mode == "draft"
        if k > 0 and fallback and (payoff.wants_plain_sample() or payoff.pays() is False):
            k = 0
        if k == 0 and limit > 0 and idle_rounds >= cfg.probe_every:
            k = min(2, limit)  # probe: drafts may pay again
        return k

    async def _speculate(
        self, request_id: str, prompt, ids: list[int], params: SamplingParams, proposer: Proposer
    ) -> AsyncIterator[RequestOutput]:
        cfg = self.config
        stats = self.edge_stats
        out = _Output(self.tokenizer, params)
        context = list(ids)
        adaptive, mode = self._request_mode()
        payoff = self.payoff
        if mode == "plain":
            self.edge_stats.plain_requests += 1
        idle_rounds = 0  # rounds since the last one that drafted
        reconnects = 0
        plain = mode == "plain"
        session, verdict = await self._open(request_id, context, params, 0, plain)
        self._sessions[request_id] = session
        in_flight: asyncio.Future | None = None
        try:
            context.extend(verdict.token_ids)
            out.extend(verdict)
            stats.first_tokens += len(verdict.token_ids)
            yield self._request_output(request_id, prompt, ids, out)
            ready: Proposal | None = None  # a kept proactive continuation
            round_ = 0
            last = time.perf_counter()
            while out.finish_reason is None:
                tokens: list[int] = []
                pending: ProactiveDraft | None = None
                if plain:  # the server decodes alone: one verdict per token, no round trips
                    in_flight = asyncio.ensure_future(session.next_verdict())
                else:
                    k = self._draft_length(adaptive, verdict.draft_limit, mode, idle_rounds)
                    t_draft = time.perf_counter()
                    # a model drafter bets after sending (below): its bet costs a forward pass
                    extra = 1 if cfg.proactive and not self._model_drafts else 0
                    if ready is None and k > 0:
                        proposal = await self._propose(proposer, context, k + extra)
                    elif ready is not None and k > 0:
                        proposal = await self._top_up(proposer, context, ready, k + extra)
                    else:
                        proposal = ready if ready is not None else Proposal([])
                    draft_s = time.perf_counter() - t_draft
                    proposal = self._cut_after_eos(proposal)
                    tokens = proposal.tokens[:k]
                    dists = proposal.dists[:k] if proposal.dists is not None else None
                    bet = (
                        proposal.tokens[k] if cfg.proactive and tokens and len(proposal.tokens) > k else None
                    )
                    idle_rounds = 0 if tokens else idle_rounds + 1
                    # Nothing to draft: the server decodes alone, for longer while drafting keeps not paying
                    # (each round trip takes this session out of a step, so long runs amortise it).
                    run = cfg.free_run_tokens << min(max(idle_rounds - 1, 0), _MAX_RUN_DOUBLINGS)
                    free_run = (
                        0 if tokens else min(run, _MAX_FREE_RUN, params.max_tokens - len(out.token_ids) - 1)
                    )
                    draft = Draft(round_ + 1, len(context), tokens, dists, free_run=max(0, free_run))
                    in_flight = asyncio.ensure_future(session.verify(draft))
                    if bet is not None:
                        assumed = [*tokens, bet]
                        continuation = await self._propose(proposer, context + assumed, k + 1)
                        pending = ProactiveDraft(assumed, continuation)
                    elif self._bets_ahead(tokens):
                        pending = await self._draft_ahead(proposer, context, tokens, k + 1, in_flight)
                try:
                    verdict = await in_flight
                except VerifierError as e:
                    if request_id in self._aborted:
                        out.finish_reason = "abort"
                        yield self._request_output(request_id, prompt, ids, out)
                        return
                    if not e.retryable or reconnects >= cfg.max_reconnects:
                        raise EngineError(f"verification failed: {e}") from e
                    reconnects += 1
                    stats.reconnects += 1
                    logger.warning("session %s broke (%s); re-opening (%d/%d)", request_id, e, reconnects,
                                   cfg.max_reconnects)  # fmt: skip
                    await session.close()
                    session, verdict = await self._open(
                        request_id, context, params, len(out.token_ids), plain
                    )
                    self._sessions[request_id] = session
                    round_, ready = 0, None
                    context.extend(verdict.token_ids)
                    out.extend(verdict)
                    last = time.perf_counter()
                    yield self._request_output(request_id, prompt, ids, out)
                    continue
                now = time.perf_counter()
                if plain:
                    stats.record_round(0, 0, len(verdict.token_ids), now - last, 0.0, verdict.server_seconds)
                    payoff.record_plain_token(max(now - last, 1e-9), verdict.server_seconds)
                    last = now
                    context.extend(verdict.token_ids)
                    out.extend(verdict)
                    yield self._request_output(request_id, prompt, ids, out)
                    continue
                round_ += 1
                last_round = last
                stats.record_round(len(tokens), verdict.accepted, len(verdict.token_ids), now - last, draft_s,
                                   verdict.server_seconds)  # fmt: skip
                if tokens:
                    payoff.record_round(len(verdict.token_ids), now - last, verdict.server_seconds)
                last = now
                if cfg.adaptive:
                    edge_cost = self._edge_token_cost(len(tokens), draft_s, now - last_round)
                    for estimate in (adaptive, self.acceptance):
                        estimate.update(len(tokens), min(verdict.accepted, len(tokens)))
                        if verdict.token_cost > 0:  # the server's measured price of a draft token
                            estimate.draft_cost = verdict.token_cost + edge_cost
                ready = pending.resolve(verdict.token_ids, self.proactive_stats) if pending else None
                context.extend(verdict.token_ids)
                out.extend(verdict)
                yield self._request_output(request_id, prompt, ids, out)
                for _ in range(draft.free_run):  # the server decodes on its own, token by token
                    if out.finish_reason is not None:
                        break
                    try:
                        verdict = await session.next_verdict()
                    except VerifierError:
                        break  # the next round's send fails too and re-opens (or aborts) the session
                    now = time.perf_counter()
                    stats.record_round(0, 0, len(verdict.token_ids), now - last, 0.0, verdict.server_seconds)
                    if now > last:
                        payoff.record_plain_token(now - last, verdict.server_seconds)
                    last = now
                    context.extend(verdict.token_ids)
                    out.extend(verdict)
                    yield self._request_output(request_id, prompt, ids, out)
            if out.finish_reason in ("stop", "length"):
                proposer.learn(list(out.token_ids))
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()
            await session.close()
