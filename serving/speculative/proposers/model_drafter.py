"""``ModelDrafter``: draft with a (small or early-exit) Llama model over its own private KV cache.

One drafter serves one sequence. It remembers which tokens its KV cache holds; each ``propose(context,
k)`` keeps the longest common prefix of those and ``context`` (a rejected draft is rolled back just by
forgetting the tail: later forwards overwrite those slots), runs the missing context tokens in one
chunked forward, then drafts ``k`` tokens with one forward each.

``temperature == 0`` drafts greedily and returns no distributions (a point mass is exact). With
``temperature > 0`` it samples from the temperature-scaled distribution truncated to its ``top_k`` most
likely tokens and returns that exact ``q`` per position (``SparseDraftDist``) for rejection sampling.

``self_speculative_model`` builds the drafter model out of the target itself (LayerSkip-style early
exit, no training): the first N decoder layers, then the target's final norm and LM head.
``reduced_vocab_model`` gives a drafter a cheaper LM head: it scores a subset of the vocabulary (the
others get -inf), which for Qwen2.5's 151,936 tokens is a quarter of the 0.5B model's work per token.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from splitsecond.serving.engine.kv_cache import KVCache
from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner
from splitsecond.serving.models.llama import LlamaForCausalLM
from splitsecond.serving.speculative.proposers.base import Proposal
from splitsecond.serving.speculative.verification import SparseDraftDist

logger = logging.getLogger(__name__)

_PREFILL_CHUNK = 512  # context tokens per forward when catching up (bounds the attention mask's memory)


def self_speculative_model(model: LlamaForCausalLM, num_layers: int) -> LlamaForCausalLM:
    """A view of ``model`` that runs only its first ``num_layers`` decoder layers, then its norm and head.

    Shares every weight with ``model`` (nothing is copied; ``model`` is left unchanged). Its ``config``
    says ``num_layers`` so a ``KVCache`` built from it has one layer per kept decoder layer. Make the
    view after ``model.pack_weights`` (if at all): the view keeps the packed LM head present at creation.
    """
    total = len(model.layers)
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or not 1 <= num_layers <= total:
        raise ValueError(
            f"num_layers must be an integer in [1, {total}] (the target's layers), got {num_layers!r}"
        )
    view = copy.copy(model)
    # copy.copy shares the registries of submodules/parameters: give the view its own before replacing.
    view._modules = dict(model._modules)
    view._parameters = dict(model._parameters)
    view._buffers = dict(model._buffers)
    view.layers = nn.ModuleList(list(model.layers)[:num_layers])
    view.config = dataclasses.replace(
        model.config, num_layers=num_layers, name=f"{model.config.name or 'model'}[:{num_layers} layers]"
    )
    return view


def reduced_vocab_model(model: LlamaForCausalLM, token_ids: list[int]) -> LlamaForCausalLM:
    """A view of ``model`` whose LM head scores only ``token_ids`` (every other logit is -inf).

    Shares every weight with ``model`` but the head, whose chosen rows are copied (and FBGEMM-packed
    when ``model`` is packed "fp16"). Greedy drafts then pick the best of ``token_ids``; sampled drafts
    draw from the distribution over them, which stays the exact ``q`` rejection sampling needs. Needs
    the head's float weights (a tied head, or an unpacked one).
    """
    vocab = model.config.vocab_size
    ids = sorted({int(t) for t in token_ids})
    if not ids or ids[0] < 0 or ids[-1] >= vocab:
        raise ValueError(f"token_ids must be a non-empty list of ids in [0, {vocab}), got {len(ids)} ids")
    head = model.lm_head_weight
    if head.numel() == 0:
        raise ValueError(
            "reduced_vocab_model needs the LM head's float weights; this model's head is packed away"
        )
    if getattr(model.config, "final_logit_softcapping", None) is not None:
        raise ValueError("reduced_vocab_model does not support final logit soft-capping")
    index = torch.tensor(ids, dtype=torch.long)
    rows = head.detach()[index].float().contiguous()
    if model.weight_packing == "fp16":
        from splitsecond.serving.layers.linear import linear_packed, pack_weight

        packed = pack_weight(rows, None, "fp16")

        def scores(hidden: torch.Tensor) -> torch.Tensor:
            return linear_packed(hidden.float(), packed)
    else:

        def scores(hidden: torch.Tensor) -> torch.Tensor:
            return F.linear(hidden.to(rows.dtype), rows).float()

    def compute_logits(hidden: torch.Tensor) -> torch.Tensor:
        out = torch.full((hidden.shape[0], vocab), float("-inf"), dtype=torch.float32)
        out[:, index] = scores(hidden)
        return out

    view = copy.copy(model)
    view._modules = dict(model._modules)
    view._parameters = dict(model._parameters)
    view._buffers = dict(model._buffers)
    object.__setattr__(view, "compute_logits", compute_logits)
    view.config = dataclasses.replace(model.config, name=f"{model.config.name or 'model'}[{len(ids)} tokens]")
    return view


class ModelDrafter:
    """Drafts tokens for one sequence with ``model`` (see the module docstring).

    ``max_len`` bounds the tokens the private KV cache holds: ``propose`` raises ``ValueError`` for a
    longer context and drafts at most ``max_len - len(context)`` tokens. ``top_k`` (only used when
    ``temperature > 0``) is the size of the sampled support; ``seed`` makes sampled drafts reproducible.
    """

    def __init__(
        self,
        model: LlamaForCausalLM,
        max_len: int,
        *,
        name: str = "draft-model",
        temperature: float = 0.0,
        top_k: int = 8,
        seed: int | None = None,
        block_size: int = 16,
    ) -> None:
        cfg = model.config
        if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 2:
            raise ValueError(f"ModelDrafter: max_len must be an integer >= 2, got {max_len!r}")
        if max_len > cfg.max_position_embeddings:
            raise ValueError(
                f"ModelDrafter: max_len ({max_len}) exceeds the model's max_position_embeddings "
                f"({cfg.max_position_embeddings})"
            )
        if not isinstance(temperature, int | float) or not 0 <= temperature < float("inf"):
            raise ValueError(f"ModelDrafter: temperature must be a finite number >= 0, got {temperature!r}")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= cfg.vocab_size:
            raise ValueError(
                f"ModelDrafter: top_k must be an integer in [1, {cfg.vocab_size}], got {top_k!r}"
            )
        if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 1:
            raise ValueError(f"ModelDrafter: block_size must be a positive integer, got {block_size!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"ModelDrafter: seed must be an integer or None, got {seed!r}")
        if len(model.layers) != cfg.num_layers:
            raise ValueError(
                f"ModelDrafter: model has {len(model.layers)} layers but its config says {cfg.num_layers}"
            )
        self.name = name
        self.model = model
        self.max_len = max_len
        self.temperature = float(temperature)
        self.top_k = top_k
        weight = model.embed_tokens.weight
        num_blocks = -(-max_len // block_size)
        self.kv_cache = KVCache(cfg, num_blocks, block_size, weight.dtype, weight.device)
        self.runner = ModelRunner(model, self.kv_cache, str(weight.device))
        self.block_table = list(range(num_blocks))
        self.generator = torch.Generator(device=weight.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        self._cached: list[int] = []  # tokens whose K/V sit at positions 0..len-1 of the cache
        self._lock = threading.Lock()  # held while drafting (and while another drafter copies this one)
        self.seed: ModelDrafter | None = None  # copied from at the first propose while the cache is empty

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens whose keys/values the private cache holds (positions ``0 .. len - 1``)."""
        return list(self._cached)

    def reset(self) -> None:
        """Forget the cached tokens (the KV slots are simply overwritten later)."""
        self._cached = []

    def adopt(self, other: ModelDrafter) -> int:
        """Take over ``other``'s cached tokens and their keys/values (a copy of its cache's used blocks), so a
        new drafter for a prompt sharing ``other``'s prefix (an agent's system prompt) does not recompute it.
        Both must draft with the same model; waits while ``other`` drafts. Returns the tokens taken over."""
        if other is self:
            return len(self._cached)
        if (
            other.kv_cache.tensor.shape != self.kv_cache.tensor.shape
            or other.model.config != self.model.config
        ):
            raise ValueError("ModelDrafter.adopt: the other drafter has another model or cache size")
        with other._lock:
            n = len(other._cached)
            blocks = -(-n // self.kv_cache.block_size)
            self.kv_cache.tensor[:blocks].copy_(other.kv_cache.tensor[:blocks])
            self._cached = list(other._cached)
        return n

    def learn(self, output: list[int]) -> None:
        """Nothing to learn: the model's weights are fixed."""

    def propose(self, context: list[int], k: int, stop: Callable[[], bool] | None = None) -> Proposal:
        """Draft up to ``k`` tokens after ``context`` (every token so far).

        ``stop``: asked after every drafted token; once it answers True the draft ends there (at least one
        token is drafted). The edge's proactive drafting passes "the verdict has arrived". A drafter with
        a ``seed`` and nothing cached first copies the seed's cache (``adopt``).
        """
        if self.seed is not None and not self._cached:
            seed, self.seed = self.seed, None
            self.adopt(seed)
        with self._lock:
            return self._propose(context, k, stop)

    def _propose(self, context: list[int], k: int, stop: Callable[[], bool] | None) -> Proposal:
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ValueError(f"k must be an integer >= 0, got {k!r}")
        if len(context) > self.max_len:
            raise ValueError(f"context has {len(context)} tokens; this drafter holds at most {self.max_len}")
        common = self._common_prefix_len(context)
        vocab = self.model.config.vocab_size
        if any(not isinstance(t, int) or not 0 <= t < vocab for t in context[common:]):
            raise ValueError(f"context token ids must be integers in [0, {vocab})")
        k = min(k, self.max_len - len(context))
        if k == 0 or not context:
            return Proposal([], None if self.temperature == 0 else [])
        keep = min(common, len(context) - 1)  # rerun at least the last token: its logits start the draft
        self._cached = self._cached[:keep]
        logits = self._extend(context[keep:])
        tokens: list[int] = []
        dists: list[SparseDraftDist] = []
        while True:
            tok = self._pick(logits, dists)
            tokens.append(tok)
            if len(tokens) == k or (stop is not None and stop()):
                break
            logits = self._extend([tok])
        return Proposal(tokens, None if self.temperature == 0 else dists)

    def _common_prefix_len(self, context: list[int]) -> int:
        cached = self._cached
        n = min(len(cached), len(context))
        if cached[:n] == context[:n]:
            return n
        lo, hi = 0, n  # invariant: cached[:lo] == context[:lo] and cached[:hi] != context[:hi]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if cached[:mid] == context[:mid]:
                lo = mid
            else:
                hi = mid
        return lo

    def _extend(self, tokens: list[int]) -> torch.Tensor:
        """Run ``tokens`` after the cached ones; returns the logits row after the last of them."""
        logits = None
        for i in range(0, len(tokens), _PREFILL_CHUNK):
            chunk = tokens[i : i + _PREFILL_CHUNK]
            last = i + _PREFILL_CHUNK >= len(tokens)
            item = ForwardItem(chunk, len(self._cached), self.block_table, num_logits=1 if last else 0)
            out = self.runner.run([item])
            self._cached.extend(chunk)
            if last:
                logits = out[0]
        return logits

    def _pick(self, logits: torch.Tensor, dists: list[SparseDraftDist]) -> int:
        if self.temperature == 0:
            return int(logits.argmax().item())
        values, ids = (logits.float() / self.temperature).topk(self.top_k)
        probs = torch.softmax(values, dim=-1)
        j = int(torch.multinomial(probs, 1, generator=self.generator).item())
        dists.append(SparseDraftDist(ids.tolist(), probs.tolist()))
        return int(ids[j].item())
