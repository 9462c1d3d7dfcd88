"""``CausalLM``: what every decoder of ours shares: the LM head, logits, CPU weight packing, weight loading.

A subclass builds ``embed_tokens``, ``layers``, ``rotary`` and its norms, calls ``_init_head`` and
implements ``forward`` and ``_load_weights``. The engine, the model runner and the drafters only use
the interface defined here.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn

from splitsecond.serving.kernels.mixed_precision import is_mixed, plan_for
from splitsecond.serving.kernels.ops import QuantWeight, kernels_available
from splitsecond.serving.layers.int4_weight import EXACT_MAX_ERROR, Int4Weight
from splitsecond.serving.layers.int4_weight import GROUP_SIZE as INT4_GROUP_SIZE
from splitsecond.serving.layers.linear import (
    Embedding,
    Linear,
    linear_onednn,
    linear_packed,
    onednn_pack,
    pack_weight,
    packing_available,
)
from splitsecond.serving.layers.rotary import RotaryEmbedding
from splitsecond.serving.models.model_config import ModelConfig

logger = logging.getLogger(__name__)


class StateReader:
    """Hands out a Hugging Face state dict's tensors by name (``model.`` prefix dropped) and notes which
    were used, so that ``finish`` can reject a checkpoint carrying weights the model does not use."""

    IGNORED = ("rope_freqs",)

    def __init__(self, state: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
        self.state = {k.removeprefix("model."): v for k, v in state.items()}
        self.dtype = dtype
        self.used: set[str] = set()

    def __call__(self, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The tensor ``name`` in ``dtype`` (default: the model's); KeyError when the checkpoint lacks it."""
        if name not in self.state:
            raise KeyError(f"checkpoint lacks weight {name!r}")
        self.used.add(name)
        return self.state[name].to(dtype or self.dtype)

    def skip(self, name: str) -> None:
        """Mark ``name`` as accounted for when present (e.g. a tied LM head saved anyway)."""
        if name in self.state:
            self.used.add(name)

    def finish(self) -> None:
        """Raise KeyError when some weights were never read."""
        unused = set(self.state) - self.used - set(self.IGNORED)
        unused = {k for k in unused if "rotary_emb" not in k}
        if unused:
            raise KeyError(f"checkpoint has weights the model does not use: {sorted(unused)[:5]}")


class CausalLM(nn.Module):
    """Decoder plus LM head. ``forward`` returns final hidden states; ``compute_logits`` float32 logits.

    Attributes the engine relies on: ``config``, ``embed_tokens``, ``layers``, ``rotary``,
    ``lm_head_weight`` (the head's float weights, tied or not) and ``weight_packing``.
    """

    config: ModelConfig
    embed_tokens: Embedding
    layers: nn.ModuleList
    rotary: RotaryEmbedding

    def _init_head(self, cfg: ModelConfig) -> None:
        """Create the LM head (tied to ``embed_tokens`` when the config says so) and the packing state."""
        self._packed_head = None
        self._onednn_head: torch.Tensor | None = None  # a oneDNN-blocked copy of the (possibly tied) head
        self._quant_head: QuantWeight | None = None  # the head in the CPU kernels' format
        self.weight_packing: str | None = None
        if cfg.tie_word_embeddings:
            self.lm_head_weight = self.embed_tokens.weight
        else:
            self.lm_head = Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
            self.lm_head_weight = self.lm_head.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        kv_caches: list[tuple[torch.Tensor, torch.Tensor]],
        meta,
    ) -> torch.Tensor:
        """input_ids, positions: [T] -> final-normed hidden states [T, hidden]."""
        raise NotImplementedError

    def _softcap(self, logits: torch.Tensor) -> torch.Tensor:
        cap = self.config.final_logit_softcapping
        return logits if cap is None else torch.tanh(logits / cap) * cap

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden: [N, hidden] -> logits [N, vocab] in float32."""
        if self._quant_head is not None:
            return self._softcap(self._quant_head.matmul(hidden))
        if self._packed_head is not None:
            return self._softcap(linear_packed(hidden, self._packed_head))
        if self._onednn_head is not None:
            return self._softcap(linear_onednn(hidden, self._onednn_head, None).float())
        return self._softcap(F.linear(hidden, self.lm_head_weight).float())

    @property
    def can_compute_subset(self) -> bool:
        """True when ``compute_logits_subset`` is available (the LM head's float weights are kept)."""
        return self.lm_head_weight.numel() > 0 or self._quant_head is not None

    def compute_logits_subset(self, hidden: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        """Logits of one position for ``token_ids`` only ([hidden] -> [len(token_ids)], float32).

        A grammar often allows a handful of tokens (a choice among actions); reading just their rows of
        the LM head saves most of its 49152 x 576 weights' memory traffic on that step.
        """
        if self._quant_head is not None:
            return self._softcap(self._quant_head.rows(token_ids) @ hidden.float())
        return self._softcap((self.lm_head_weight[token_ids] @ hidden.to(self.lm_head_weight.dtype)).float())

    def pack_weights(
        self, mode: str, exact_only: bool = False, precision: str = "source", fallback: bool = True
    ) -> str | None:
        """Pack the weights for CPU decode (see ``layers.linear``); returns the mode applied (or None).

        "fp16" (float32 models): every projection and the LM head for FBGEMM. The input embedding stays
        float32 (only looked up row by row); a tied LM head gets its own packed copy.
        "int4" (bf16/fp16 models): every projection and the LM head go to oneDNN's blocked layout, and
        projections gain a 4-bit copy for small passes ("onednn" is returned when none does). A
        projection stored in a 4-bit GGUF format (``four_bit_sources``, set by the loader) is
        re-encoded from the file's own codes, exactly; others are quantised from their floats. With
        ``exact_only`` only the exact copies are made (so nothing is lost: Q4_K / Q4_1 / Q4_0 layers go
        to 4 bits, Q5_0 / Q6_K / Q8_0 layers stay in the dense dtype).
        "quant" (float32 activations, ``serving.kernels``): every projection, the LM head and the
        embedding table keep the GGUF's own 4-bit / 8-bit codes (``loader.kernel_sources``) at
        ``precision`` ("source", "int8", "int4", or "mixed:<target>": per projection, see
        ``kernels.mixed_precision``; the head and table always at "source") and the float
        weights are freed; without a GGUF or without the kernels, "fp16" where that applies (None with
        ``fallback=False``: nothing changed).
        Packing runs on ``torch.get_num_threads()`` threads (the kernels release the GIL).
        """
        if mode == "int4":
            return self._pack_int4(exact_only)
        if mode == "quant":
            done = self._pack_quant(precision)
            if done is not None or not fallback:
                return done
            if self.embed_tokens.weight.dtype != torch.float32 or not packing_available():
                return None
            mode = "fp16"  # no GGUF or no kernels: today's FBGEMM path
        linears = [m for layer in self.layers for m in layer.modules() if isinstance(m, Linear)]
        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
            head = pool.submit(pack_weight, self.lm_head_weight.data, None, mode)
            list(pool.map(lambda m: m.pack(mode), linears))
            self._packed_head = head.result()
        if not self.config.tie_word_embeddings:
            self.lm_head.weight = nn.Parameter(torch.empty(0), requires_grad=False)
            self.lm_head_weight = self.lm_head.weight
        self.weight_packing = mode
        return mode

    def packed_fp16(self) -> dict[str, object]:
        """After ``pack_weights("fp16")``: the FBGEMM-packed weights, each projection by its module name
        (``layers.0.self_attn.qkv_proj``), the LM head as ``lm_head``."""
        if self.weight_packing != "fp16":
            raise ValueError(f"the model is packed as {self.weight_packing!r}, not 'fp16'")
        packed = {
            f"layers.{i}.{name}": m._packed
            for i, layer in enumerate(self.layers)
            for name, m in layer.named_modules()
            if isinstance(m, Linear)
        }
        return {**packed, "lm_head": self._packed_head}

    def use_packed_fp16(self, make) -> None:
        """Take FBGEMM-packed weights made elsewhere instead of packing (a float32 model whose other
        weights are loaded): ``make(name, bias)`` returns the packed weight of each name of
        ``packed_fp16``. The float weights of the projections and of an untied head are freed."""
        for i, layer in enumerate(self.layers):
            for name, m in layer.named_modules():
                if isinstance(m, Linear):
                    m.use_packed(make(f"layers.{i}.{name}", None if m.bias is None else m.bias.data), "fp16")
        self._packed_head = make("lm_head", None)
        if not self.config.tie_word_embeddings:
            self.lm_head.weight = nn.Parameter(torch.empty(0), requires_grad=False)
            self.lm_head_weight = self.lm_head.weight
        self.weight_packing = "fp16"

    def _int4_copy(self, prefix: str, name: str, linear: Linear, exact_only: bool) -> Int4Weight | None:
        """The 4-bit copy of projection ``prefix + name`` (None where it would not be exact enough)."""
        if linear.weight.shape[1] % INT4_GROUP_SIZE:
            return None
        sources = getattr(self, "four_bit_sources", None)
        codes = None if sources is None else sources.get([prefix + p for p in FUSED_PROJECTIONS[name]])
        if codes is None and sources is not None and exact_only:
            return None  # stored in another format (Q5_0, Q6_K, Q8_0...): not on a 4-bit grid
        if codes is not None:
            return Int4Weight.from_codes(
                *(torch.from_numpy(a) for a in (codes.codes, codes.scale, codes.offset)), linear.weight.dtype
            )
        pack = Int4Weight.from_weight(linear.weight.data)
        return None if exact_only and pack.max_error > EXACT_MAX_ERROR else pack

    def _pack_quant(self, precision: str) -> str | None:
        sources = getattr(self, "kernel_sources", None)
        if sources is None or not kernels_available():
            return None
        jobs = [
            (layer.get_submodule(name), [f"layers.{i}.{p}" for p in parts])
            for i, layer in enumerate(self.layers)
            for name, parts in FUSED_PROJECTIONS.items()
        ]
        head_name = "embed_tokens.weight" if self.config.tie_word_embeddings else "lm_head.weight"
        needed = [n for _, names in jobs for n in names] + [head_name, "embed_tokens.weight"]
        if not all(sources.has(n) for n in needed):
            logger.info("kernel packing skipped: the checkpoint lacks some 2-D weights")
            return None
        per_job = [precision] * len(jobs)
        if is_mixed(precision):  # per projection: the plan of the GGUF's measured sensitivities
            plan = plan_for(sources.path, precision)
            per_job = [
                plan.precision_of(f"layers.{i}.{name}")
                for i in range(len(self.layers))
                for name in FUSED_PROJECTIONS
            ]
        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
            quants = list(pool.map(lambda job, p: sources.weight(job[1], p), jobs, per_job))
            head = sources.weight([head_name])
            table = head if self.config.tie_word_embeddings else sources.weight(["embed_tokens.weight"])
        for (linear, _), quant in zip(jobs, quants, strict=True):
            linear.use_quant(quant)
        self._quant_head = head
        self.embed_tokens.use_quant(table)
        if not self.config.tie_word_embeddings:
            self.lm_head.weight = nn.Parameter(torch.empty(0), requires_grad=False)
        self.lm_head_weight = (
            self.embed_tokens.weight if self.config.tie_word_embeddings else self.lm_head.weight
        )
        sources.release()  # the file's memory map: its pages would count as resident memory
        nbytes = sum(q.nbytes for q in quants)
        logger.info(
            "kernel weights (%s): %d projections, %.0f MB, head %s %.0f MB",
            precision,
            len(quants),
            nbytes / 1e6,
            "/".join(head.formats),
            head.nbytes / 1e6,
        )
        self.weight_packing = "quant"
        return "quant"

    def _pack_int4(self, exact_only: bool) -> str | None:
        jobs = [
            (f"layers.{i}.", name, layer.get_submodule(name))
            for i, layer in enumerate(self.layers)
            for name in FUSED_PROJECTIONS
        ]
        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
            packs = list(pool.map(lambda job: self._int4_copy(*job, exact_only), jobs))
            onednn = all(pool.map(lambda job: job[2].pack_onednn(), jobs))
        for (_, _, linear), pack in zip(jobs, packs, strict=True):
            linear.int4 = pack
        n = sum(p is not None for p in packs)
        worst = max((p.max_error for p in packs if p is not None), default=0.0)
        logger.info(
            "int4 copies of %d of %d projections (worst group error %.4f of its range)", n, len(jobs), worst
        )
        head = onednn_pack(self.lm_head_weight.data)
        if head is not None:
            self._onednn_head = head
        mode = "int4" if n else ("onednn" if onednn else None)
        self.weight_packing = mode
        return mode

    @torch.no_grad()
    def load_hf_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load Hugging Face-named weights (``layers.N.self_attn.q_proj.weight``...), fusing qkv and gate/up.

        A module already in the kernels' formats (``pack_weights("quant")`` before loading) takes only
        the rest (norms, biases): its state need not hold the matrices.
        """
        take = StateReader(state, self.embed_tokens.weight.dtype)
        if self.embed_tokens.quant is None:
            self.embed_tokens.weight.copy_(take("embed_tokens.weight"))
        else:
            take.skip("embed_tokens.weight")
        if not self.config.tie_word_embeddings and self._quant_head is None:
            self.lm_head.weight.copy_(take("lm_head.weight"))
        else:
            take.skip("lm_head.weight")
        for i, layer in enumerate(self.layers):
            _load_projections(layer, f"layers.{i}.", take, self.config.attention_bias)
        self._load_norms(take)
        take.finish()

    def _load_norms(self, take: StateReader) -> None:
        """Load the final norm and every layer's norms (their conventions differ between models)."""
        raise NotImplementedError


FUSED_PROJECTIONS = {
    "self_attn.qkv_proj": ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"),
    "self_attn.o_proj": ("self_attn.o_proj.weight",),
    "mlp.gate_up_proj": ("mlp.gate_proj.weight", "mlp.up_proj.weight"),
    "mlp.down_proj": ("mlp.down_proj.weight",),
}
"""Each decoder layer's projection modules -> the Hugging Face weights stacked (by rows) into it."""


def _load_projections(layer: nn.Module, prefix: str, take: StateReader, attention_bias: bool) -> None:
    """q/k/v (fused), o, gate/up (fused) and down projections of one decoder layer."""
    for module, parts in FUSED_PROJECTIONS.items():
        linear = layer.get_submodule(module)
        if linear.quant is not None:  # already in the kernels' format
            for p in parts:
                take.skip(prefix + p)
            continue
        linear.weight.copy_(torch.cat([take(prefix + p) for p in parts], dim=0))
    if attention_bias:
        layer.self_attn.qkv_proj.bias.copy_(
            torch.cat([take(prefix + f"self_attn.{n}_proj.bias") for n in "qkv"])
        )
