"""``LLMEngine``: the synchronous core — add requests, ``step()`` the batch, collect outputs.

One ``step`` = schedule (continuous batching, chunked prefill, preemption) -> one forward pass ->
sample (grammar masks, min-tokens bans; ``SamplingStep``) -> append tokens (plus grammar-forced tokens,
which need no forward pass) and stop checks (``TokenAppender``) -> ``RequestOutput`` deltas
(``output_builder``). Not thread-safe: ``AsyncEngine`` drives it from one thread; ``make_request``
(tokenise, validate against the model, compile grammar; ``RequestBuilder``) and ``stats`` are safe to
call from others.

A failure in one request's own part of a step (its grammar, sampling, token appending or draft
verification) ends that request alone, with finish reason "error" and ``RequestOutput.error``
(``StepFailures``); only a failing forward pass fails the whole batch.

``EngineConfig.kv_swap_policy`` picks what preemption does with a victim's KV: "recompute" (plain
``Scheduler``), or a KV tier ("dram" / "flash", ``serving.kvtier``) that the ``TieredScheduler`` swaps
sequences out to and back from; with prefix caching, cold prefix-cache blocks spill to the same tier.
``close()`` releases the tier (and deletes a zone file the engine created); ``LLMEngine`` is a
context manager that does so.

Speculative requests (``make_request(..., speculative=True)``, driven by ``serving.speculative``):
after its first token the sequence waits for a draft (``submit_draft``); the next step runs the
newest token and the k draft tokens in one forward pass with k + 1 logits rows, verifies the draft
losslessly (``DraftVerifier``; greedy: identical to plain decoding; sampling: rejection sampling) and
appends the accepted tokens plus the target's own next token, then waits for the next draft.
"""

from __future__ import annotations

import collections
import logging
import time

import torch

from splitsecond.serving.config import EngineConfig
from splitsecond.serving.constrained.grammar import GrammarCompiler
from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.draft_verifier import DraftVerifier
from splitsecond.serving.engine.kv_cache import KVCache
from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner
from splitsecond.serving.engine.output_builder import request_output
from splitsecond.serving.engine.request_builder import RequestBuilder
from splitsecond.serving.engine.sampling_step import SamplingStep
from splitsecond.serving.engine.scheduler import Scheduler
from splitsecond.serving.engine.sequence import Request, Sequence
from splitsecond.serving.engine.step_failures import StepFailures
from splitsecond.serving.engine.token_appender import TokenAppender
from splitsecond.serving.errors import EngineDeadError, EngineOverloadedError, InvalidParameterError
from splitsecond.serving.kvtier.metrics import KVTierStats
from splitsecond.serving.kvtier.policy import build_kv_tier
from splitsecond.serving.kvtier.preemption import SwapPreemption
from splitsecond.serving.kvtier.prefix_spill import PrefixSpill
from splitsecond.serving.kvtier.scheduler import TieredScheduler
from splitsecond.serving.loader.model_loader import LoadedModel, load_model
from splitsecond.serving.outputs import EngineStats, RequestOutput
from splitsecond.serving.sampling_params import SamplingParams
from splitsecond.serving.speculative.batching import PipelineBatcher
from splitsecond.serving.speculative.cost_model import StepCostModel
from splitsecond.serving.speculative.verification import SparseDraftDist, validate_draft

logger = logging.getLogger(__name__)


class LLMEngine:
    """Loads the model and serves requests step by step (see module docstring)."""

    def __init__(self, config: EngineConfig, loaded: LoadedModel | None = None) -> None:
        """Load ``config.model`` (or reuse ``loaded``) and size the cache.

        A preloaded model must match ``config.dtype`` unless that is "auto", which then takes the model's.
        """
        self.config = config
        self.device = config.resolved_device()
        self.dtype = (
            loaded.dtype if loaded is not None and config.dtype == "auto" else config.resolved_dtype()
        )
        if self.device == "cpu":
            torch.set_num_threads(config.resolved_num_threads())
        torch.manual_seed(config.seed)
        if loaded is None:
            planned = config.resolved_weight_packing(self.dtype)
            direct = planned == "quant"  # matrices straight to the kernels
            loaded = load_model(
                config.model,
                self.dtype,
                self.device,
                kernel_precision=config.precision if direct else None,
                packing=planned,  # "fp16": comes packed (from the prepared-weights cache once stored)
            )
        elif loaded.dtype != self.dtype:
            raise ValueError(f"preloaded model is {loaded.dtype} but the config asks for {self.dtype}")
        self.loaded = loaded
        packing = config.resolved_weight_packing(self.dtype)
        current = loaded.model.weight_packing  # packing happens in place, once per loaded model
        if current is not None:
            if config.weight_packing not in ("auto", current):
                raise ValueError(
                    f"preloaded model is packed as {current!r}; the config asks for {config.weight_packing!r}"
                )
            packing = current
        elif packing is not None:
            packing = loaded.model.pack_weights(
                packing, exact_only=config.weight_packing == "auto", precision=config.precision
            )
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        self.model_name = loaded.resolved.name
        self.weight_packing = packing
        self.model_config = self.model.config
        ctx = self.model_config.max_position_embeddings
        if config.max_model_len is not None and config.max_model_len > ctx:
            raise ValueError(f"max_model_len {config.max_model_len} exceeds the model's context of {ctx}")
        num_blocks = config.num_kv_blocks
        if num_blocks is None:
            per_block = KVCache.bytes_per_block(self.model_config, config.block_size, self.dtype)
            num_blocks = max(2, config.kv_cache_memory_mb * 2**20 // per_block)
        self.max_model_len = min(config.max_model_len or ctx, num_blocks * config.block_size)
        self.kv_cache = KVCache(self.model_config, num_blocks, config.block_size, self.dtype, self.device)
        self.runner = ModelRunner(self.model, self.kv_cache, self.device)
        self._closed = False
        self.kv_tier = build_kv_tier(config.swap_tier_config(), self.kv_cache.tensor)
        self.prefix_spill: PrefixSpill | None = None
        if self.kv_tier is not None and config.enable_prefix_caching and config.kv_spill_prefix_cache:
            page = getattr(self.kv_tier, "page_bytes", self.kv_cache.block_bytes)
            self.prefix_spill = PrefixSpill(
                self.kv_tier, max(1, self.kv_tier.stats().capacity_bytes // page // 2)
            )
        self.block_manager = BlockManager(
            num_blocks, config.block_size, config.enable_prefix_caching, spill=self.prefix_spill
        )
        if self.kv_tier is None:
            self.scheduler = Scheduler(self.block_manager, config.max_num_seqs, config.max_num_batched_tokens)
        else:
            self.scheduler = TieredScheduler(
                self.block_manager,
                config.max_num_seqs,
                config.max_num_batched_tokens,
                SwapPreemption(self.kv_tier, config.block_size),
            )
        vocab = self.model_config.vocab_size
        self.grammars = GrammarCompiler(self.tokenizer)
        self.builder = RequestBuilder(self.tokenizer, self.grammars, vocab, self.max_model_len, self.device)
        self.requests: dict[str, Request] = {}
        self.eos_ids = frozenset(self.tokenizer.eos_token_ids)
        self.appender = TokenAppender(self.scheduler, self.eos_ids, self.max_model_len)
        self.sampling = SamplingStep(self.model, self.tokenizer, self.appender, vocab)
        self.verifier = DraftVerifier(self.block_manager, self.appender, vocab)
        self._prompt_tokens_total = 0
        self._requests_finished = 0
        self._busy_seconds = 0.0
        self.spec_batch_sizes: collections.Counter[int] = collections.Counter()  # drafts verified per step
        self.batcher = PipelineBatcher(config.spec_batch_hold_ms / 1000)
        self._step_ewma_s: float | None = None  # recent duration of a step (for the batcher)
        self.step_costs = StepCostModel()  # decode/verify steps: time = a + b * tokens
        self._spec_token_cost: float | None = None
        self._spec_active = 0  # unfinished speculative requests (refreshed each step)
        self._spec_limit = min(config.spec_max_draft_tokens, config.spec_verify_token_budget - 1)
        self.last_step_scheduled = False  # False: the last step found nothing it could run
        logger.info(
            "engine ready: %s on %s/%s (weights packed: %s), %d KV blocks x %d tokens, max_model_len %d, "
            "KV swap: %s",
            self.model_name,
            self.device,
            self.dtype,
            packing,
            num_blocks,
            config.block_size,
            self.max_model_len,
            self.kv_tier.policy if self.kv_tier is not None else "recompute",
        )

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the KV tier: wait for its I/O, delete the zone file it created (idempotent).

        The engine cannot step afterwards (``EngineDeadError``).
        """
        if self._closed:
            return
        self._closed = True
        if self.kv_tier is not None:
            self.kv_tier.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran."""
        return self._closed

    def __enter__(self) -> LLMEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- submitting ------------------------------------------------------------------------------
    def make_request(
        self, request_id: str, prompt: str | list[int], params: SamplingParams, speculative: bool = False
    ) -> Request:
        """Tokenise and validate a request against the model (raises ``PromptTooLongError``,
        ``InvalidSchemaError``, ``InvalidParameterError``; see ``RequestBuilder``).

        ``speculative``: after its first token the request advances only by verified drafts
        (``submit_draft``); it must have ``n == 1`` and no logprobs.
        """
        return self.builder.build(request_id, prompt, params, speculative)

    def add_request(self, request_id: str, prompt: str | list[int], params: SamplingParams) -> Request:
        """Validate and queue a request; raises ``EngineOverloadedError`` when the queue is full."""
        self.check_admission(request_id, count=getattr(params, "n", 1))
        req = self.make_request(request_id, prompt, params)
        self.enqueue(req)
        return req

    def check_admission(self, request_id: str, pending: int = 0, count: int = 1) -> None:
        """Raise unless ``count`` more sequences fit in the waiting queue beside the waiting ones and
        ``pending`` others admitted but not yet queued (``EngineOverloadedError``), or if
        ``request_id`` is in use. A batch larger than the whole queue can never fit: ``InvalidParameterError``
        naming "n"."""
        if request_id in self.requests:
            raise ValueError(f"request id {request_id!r} is already in use")
        limit = self.config.max_waiting
        if count > limit:
            raise InvalidParameterError(
                "n", f"{count} sequences in one request exceed the waiting queue (max_waiting={limit})"
            )
        waiting = len(self.scheduler.waiting) + pending
        if waiting + count > limit:
            raise EngineOverloadedError(f"{waiting} sequences waiting (max_waiting={limit})")

    def enqueue(self, req: Request) -> None:
        """Queue a request built by ``make_request``."""
        if req.request_id in self.requests:
            raise ValueError(f"request id {req.request_id!r} is already in use")
        self.requests[req.request_id] = req
        first = req.seqs[0]
        for seq in req.seqs:
            if (
                seq is not first
                and self.config.enable_prefix_caching
                and len(first.token_ids) > self.config.block_size
            ):
                seq.wait_for = first  # share the prompt's blocks once the first sibling computed them
            self.scheduler.add(seq)
        if req.speculative:
            self._refresh_spec_state()

    def abort_request(self, request_id: str) -> RequestOutput | None:
        """Stop a request now, freeing its blocks; returns its final output (None if unknown/finished)."""
        req = self.requests.get(request_id)
        if req is None:
            return None
        for seq in req.seqs:
            if not seq.finished:
                self.appender.finish(seq, "abort", None)
        out = self._finish_request_output(req)
        if req.speculative:
            self._refresh_spec_state()
        return out

    def submit_draft(
        self,
        request_id: str,
        tokens: list[int],
        dists: list[SparseDraftDist] | None = None,
        free_run: int = 0,
    ) -> int:
        """Give a waiting speculative request its next draft; returns how many tokens were kept.

        ``tokens`` continue the request's output (after its newest token); ``dists`` are the draft's
        sparse distributions when it sampled (None: deterministic proposals). A draft longer than what
        ``max_tokens`` / the context can still use is cut. ``free_run``: after verifying it, decode
        that many more tokens as a plain request (one output per step) before waiting for the next
        draft — what an edge asks for when it has nothing worth drafting. Raises ``ValueError`` for an
        unknown request, one not waiting for a draft, or an invalid draft.
        """
        if not isinstance(free_run, int) or not 0 <= free_run <= 1024:
            raise ValueError(f"free_run must be an integer in [0, 1024], got {free_run!r}")
        req = self.requests.get(request_id)
        if req is None:
            raise ValueError(f"no unfinished request {request_id!r}")
        if not req.speculative:
            raise ValueError(f"request {request_id!r} is not speculative")
        seq = req.seqs[0]
        if seq.finished or not seq.awaiting_draft:
            raise ValueError(f"request {request_id!r} is not waiting for a draft")
        validate_draft(tokens, dists, self.model_config.vocab_size, self.config.spec_max_draft_tokens)
        room = min(
            seq.params.max_tokens - seq.num_output_tokens - 1,
            self.max_model_len - seq.num_tokens - 1,
            self.config.max_num_batched_tokens - 1,  # the draft and its predecessor run in one step
        )
        tokens = [int(t) for t in tokens[: max(0, room)]]
        seq.draft = tokens
        seq.draft_dists = list(dists[: len(tokens)]) if dists is not None else None
        seq.token_ids.extend(tokens)
        seq.awaiting_draft = False
        seq.free_run = free_run
        now = time.monotonic()
        seq.draft_time = now
        if seq.verdict_time is not None:
            gap = now - seq.verdict_time
            req.draft_gap_s = gap if req.draft_gap_s is None else 0.7 * req.draft_gap_s + 0.3 * gap
        return len(tokens)

    def spec_hold_time(self) -> float:
        """Seconds the next step should wait so more edges' drafts join it (``PipelineBatcher``)."""
        if self._spec_active == 0:
            return 0.0
        ready: list[float] = []
        due: list[float | None] = []
        other = False
        now = time.monotonic()
        for seq in self.scheduler.running:
            if not seq.request.speculative:
                other = True
            elif seq.draft is not None:
                ready.append(seq.draft_time or 0.0)
            elif seq.awaiting_draft and seq.num_computed_tokens >= seq.num_schedulable_tokens:
                gap = seq.request.draft_gap_s
                due.append(None if gap is None or seq.verdict_time is None else seq.verdict_time + gap)
            elif seq.free_run > 0 and seq.prompt_done:
                ready.append(now)  # an edge's free run: it may wait with the drafts it runs beside
            else:
                other = True  # a speculative sequence still prefilling
        other = other or bool(self.scheduler.waiting) or bool(self.scheduler.swapped)
        return self.batcher.hold(now, ready, due, other, self._step_ewma_s)

    def spec_draft_limit(self) -> int:
        """The draft length advised to each speculative session now (0: send empty drafts).

        Splits ``spec_verify_token_budget`` among the unfinished speculative requests (each verifies
        its draft plus one token), capped at ``spec_max_draft_tokens``. Refreshed by every step, so it
        is safe to read from another thread.
        """
        return self._spec_limit

    def spec_token_cost(self) -> float | None:
        """What one more draft token costs the server, relative to a session's share of a step
        (``StepCostModel.relative_token_cost``; None until measured). Safe from another thread."""
        return self._spec_token_cost

    def _refresh_spec_state(self) -> None:
        self._spec_active = sum(1 for r in self.requests.values() if r.speculative)
        share = self.config.spec_verify_token_budget // max(1, self._spec_active) - 1
        self._spec_limit = max(0, min(self.config.spec_max_draft_tokens, share))
        self._spec_token_cost = self.step_costs.relative_token_cost()

    # --- stepping --------------------------------------------------------------------------------
    def has_unfinished_requests(self) -> bool:
        """True while any request is waiting or running."""
        return bool(self.requests)

    @torch.inference_mode()
    def step(self) -> list[RequestOutput]:
        """Run one scheduling step + forward pass; returns outputs of requests that progressed."""
        if self._closed:
            raise EngineDeadError("the engine is closed")
        batch = self.scheduler.schedule()
        self.last_step_scheduled = not batch.empty
        if batch.empty:
            return []
        t0 = time.perf_counter()
        now = time.monotonic()
        items: list[ForwardItem] = []
        sample_seqs: list[Sequence] = []
        sample_rows: list[int] = []
        spec: list[tuple[Sequence, int, int]] = []  # (sequence, first logits row, rows)
        row = 0
        for seq, n in zip(batch.seqs, batch.num_tokens, strict=False):
            c = seq.num_computed_tokens
            ends = c + n == seq.num_tokens
            num_logits = (1 + seq.num_draft_tokens) if ends and seq.draft is not None else int(ends)
            items.append(ForwardItem(seq.token_ids[c : c + n], c, seq.block_table, num_logits))
            if ends and seq.draft is not None:
                spec.append((seq, row, num_logits))
            elif ends:
                sample_seqs.append(seq)
                sample_rows.append(row)
            row += num_logits
            req = seq.request
            if req.first_scheduled_time is None:
                req.first_scheduled_time = now
        failures = StepFailures()
        grammar_masks = self.sampling.grammar_masks(sample_seqs, failures)
        draft_masks = self._draft_masks(spec, failures)
        hidden = self.runner.run_hidden(items)
        sample_hidden = hidden if not spec else hidden[sample_rows]
        logits = self.sampling.logits(sample_hidden, sample_seqs, grammar_masks)
        touched: dict[str, Request] = {}
        verifying = {s.seq_id for s, _, _ in spec}
        for seq, n in zip(batch.seqs, batch.num_tokens, strict=False):
            seq.request.num_forward_passes += 1
            if seq.seq_id in verifying:
                continue  # DraftVerifier.verify sets what is computed
            seq.num_computed_tokens += n
            if seq.num_computed_tokens <= seq.num_prompt_tokens:
                self._prompt_tokens_total += n
            self.block_manager.register_computed(seq)
        if sample_seqs:
            self.sampling.sample_and_append(logits, sample_seqs, grammar_masks, failures)
            for seq in sample_seqs:
                touched[seq.request.request_id] = seq.request
        if spec:
            self._verify_drafts(hidden, spec, draft_masks, failures)
            for seq, _, _ in spec:
                touched[seq.request.request_id] = seq.request
        for req in failures.apply(self.appender):
            touched[req.request_id] = req
        if spec:
            self.spec_batch_sizes[len(spec)] += 1
        elapsed = time.perf_counter() - t0
        self._busy_seconds += elapsed
        prev = self._step_ewma_s
        self._step_ewma_s = elapsed if prev is None else 0.8 * prev + 0.2 * elapsed
        longest = self.config.spec_max_draft_tokens + 1
        if all(n <= longest for n in batch.num_tokens):  # decode / verify steps, not prefill chunks
            self.step_costs.observe(sum(batch.num_tokens), len(batch.seqs), elapsed)
        # Each request's share of its latest step (an edge's server cost): the step's fixed part split
        # evenly, its per-token part by tokens (StepCostModel), so a long draft pays for its length.
        fit = self.step_costs.fit()
        total, n = sum(batch.num_tokens), len(batch.seqs)
        for seq, tokens in zip(batch.seqs, batch.num_tokens, strict=True):
            if fit is not None and fit[0] + fit[1] * total > 0:
                weight = (fit[0] / n + fit[1] * tokens) / (fit[0] + fit[1] * total)
            else:
                weight = 1 / n
            seq.request.spec_metrics["step_seconds"] = elapsed * weight
        outputs = []
        for req in touched.values():
            outputs.append(self._make_output(req))
        self._refresh_spec_state()
        return outputs

    def _draft_masks(
        self, spec: list[tuple[Sequence, int, int]], failures: StepFailures
    ) -> dict[int, tuple[torch.Tensor, int]]:
        """Grammar masks of each constrained draft (by sequence id), computed before the forward pass."""
        masks = {}
        for seq, _, _ in spec:
            if seq.grammar is not None:
                try:
                    masks[seq.seq_id] = self.verifier.draft_masks(seq)
                except Exception as exc:
                    failures.record(seq, "grammar mask", exc)
        return masks

    def _verify_drafts(
        self,
        hidden: torch.Tensor,
        spec: list[tuple[Sequence, int, int]],
        draft_masks: dict[int, tuple[torch.Tensor, int]],
        failures: StepFailures,
    ) -> None:
        """Verify every draft of the batch; one LM-head pass for all their rows (it streams the whole
        head's weights once)."""
        live = [(seq, first, rows) for seq, first, rows in spec if seq not in failures]
        usable = [rows if s.grammar is None else draft_masks[s.seq_id][1] + 1 for s, _, rows in live]
        picks = [i for (_, first, _), n in zip(live, usable, strict=True) for i in range(first, first + n)]
        spec_logits = self.model.compute_logits(hidden[picks]) if picks else hidden[:0]
        offset = 0
        for (seq, _, _), n in zip(live, usable, strict=True):
            try:
                self.verifier.verify(seq, spec_logits[offset : offset + n], draft_masks.get(seq.seq_id))
            except Exception as exc:
                failures.record(seq, "draft verification", exc)
            offset += n

    # --- outputs ---------------------------------------------------------------------------------
    def _make_output(self, req: Request) -> RequestOutput:
        finished = req.finished
        if finished:
            return self._finish_request_output(req)
        return request_output(req, finished=False)

    def _finish_request_output(self, req: Request) -> RequestOutput:
        req.finish_time = time.monotonic()
        self.requests.pop(req.request_id, None)
        self._requests_finished += 1
        return request_output(req, finished=True)

    def kv_tier_stats(self) -> KVTierStats | None:
        """A snapshot of the KV tier's counters (None under recompute); safe from another thread."""
        return self.kv_tier.stats() if self.kv_tier is not None else None

    def stats(self) -> EngineStats:
        """Current load and counters."""
        bm = self.block_manager
        tier = self.kv_tier_stats()
        spill = self.prefix_spill
        swap = {}
        if tier is not None:
            swap = {
                "kv_swap_policy": tier.policy,
                "kv_swap_outs": tier.swap_outs,
                "kv_swap_ins": tier.swap_ins,
                "kv_swap_out_bytes": tier.bytes_out,
                "kv_swap_in_bytes": tier.bytes_in,
                "kv_swap_integrity_failures": tier.integrity_failures,
                "kv_swap_fallbacks": tier.fallbacks_full + tier.fallbacks_unhealthy + tier.recomputes,
                "kv_swap_write_amplification": tier.write_amplification,
            }
        if spill is not None:
            swap["kv_prefix_blocks_spilled"] = spill.num_spilled
            swap["kv_prefix_blocks_restored"] = spill.num_restored
        return EngineStats(
            num_running=len(self.scheduler.running),
            num_waiting=len(self.scheduler.waiting),
            num_swapped=len(self.scheduler.swapped),
            free_blocks=bm.num_free_blocks,
            total_blocks=bm.num_blocks,
            block_size=bm.block_size,
            prefix_cache_queries=bm.prefix_queries,
            prefix_cache_hits=bm.prefix_hits,
            prompt_tokens_total=self._prompt_tokens_total,
            generation_tokens_total=self.appender.generated_total,
            num_preemptions=self.scheduler.num_preemptions,
            num_forward_passes=self.runner.num_forward_passes,
            forced_tokens_total=self.appender.forced_total,
            requests_finished=self._requests_finished,
            busy_seconds=self._busy_seconds,
            spec_rounds=self.verifier.rounds,
            spec_draft_tokens=self.verifier.draft_tokens,
            spec_accepted_tokens=self.verifier.accepted_tokens,
            **swap,
        )
