"""``load_model``: resolve a model name/path, read its weights and build the torch module on a device."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from splitsecond.serving.kernels.ops import kernels_available
from splitsecond.serving.layers.linear import packing_available
from splitsecond.serving.loader.gguf import FourBitSources, load_gguf
from splitsecond.serving.loader.kernel_sources import KernelSources
from splitsecond.serving.loader.packed_weights import load_fp16_packed
from splitsecond.serving.loader.registry import ResolvedModel, resolve_model
from splitsecond.serving.loader.safetensors import load_safetensors_folder
from splitsecond.serving.loader.tokenizer import Tokenizer
from splitsecond.serving.loader.weight_cache import PreparedWeights
from splitsecond.serving.models import CausalLM, model_class_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to serve: the module, its tokenizer and where it came from."""

    model: CausalLM
    tokenizer: Tokenizer
    resolved: ResolvedModel

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights."""
        return self.model.embed_tokens.weight.dtype

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.model.embed_tokens.weight.device


def load_model(
    model: str,
    dtype: torch.dtype,
    device: str,
    kernel_precision: str | None = None,
    packing: str | None = None,
) -> LoadedModel:
    """Load ``model`` (short name or path) as an eval-mode module in ``dtype`` on ``device``.

    With ``kernel_precision`` ("source", "int8", "int4"; float32 on CPU) a GGUF's matrices go straight
    from the file into the CPU kernels' formats (``CausalLM.pack_weights("quant")``), never as float
    weights: no dequantising, no prepared-weights entry, a fraction of the memory. Where that cannot be
    done (no kernels, an unusual checkpoint) the model loads as without it.

    ``packing="fp16"`` says the caller packs the model for FBGEMM next (``pack_weights("fp16")``): a
    GGUF in float32 on CPU then comes already packed, from the packed entry of the prepared-weights
    cache when there is one (``loader.packed_weights``: a warm start copies the packed buffers
    instead of packing). Otherwise (or when that is unavailable) the model loads unpacked, as without it.
    """
    t0 = time.perf_counter()
    resolved = resolve_model(model)
    if (
        packing == "fp16"
        and kernel_precision is None
        and resolved.format == "gguf"
        and device == "cpu"
        and dtype == torch.float32
        and packing_available()
    ):
        packed = load_fp16_packed(resolved.path)
        if packed is not None:
            module, tokenizer = packed
            module.four_bit_sources = FourBitSources(resolved.path, module.config)
            module.kernel_sources = KernelSources(resolved.path, module.config)
            logger.info("loaded %s packed for fp16 in %.1fs", resolved.name, time.perf_counter() - t0)
            return LoadedModel(module, tokenizer, resolved)
    direct = (
        kernel_precision is not None
        and resolved.format == "gguf"
        and device == "cpu"
        and dtype == torch.float32
        and kernels_available()
    )
    if resolved.format == "gguf":
        config, state, tokenizer = load_gguf(resolved.path, dtype, PreparedWeights(), matrices=not direct)
    else:
        config, state, tokenizer = load_safetensors_folder(resolved.path)
    rope_freqs = state.pop("rope_freqs", None)
    # weights stay uninitialised (untouched pages: no memory) until loaded
    module = model_class_for(config)(config).to(device=device, dtype=dtype)
    module.rotary.build_tables(rope_freqs.float() if rope_freqs is not None else None, dtype)
    if resolved.format == "gguf":
        module.four_bit_sources = FourBitSources(resolved.path, config)
        module.kernel_sources = KernelSources(resolved.path, config)
    if direct and module.pack_weights("quant", precision=kernel_precision, fallback=False) is None:
        _, state, _ = load_gguf(resolved.path, dtype, PreparedWeights())  # the float weights after all
        state.pop("rope_freqs", None)
    module.load_hf_state_dict(state)
    module.eval().requires_grad_(False)
    logger.info(
        "loaded %s (%s) in %.1fs on %s as %s",
        resolved.name,
        resolved.format,
        time.perf_counter() - t0,
        device,
        dtype,
    )
    return LoadedModel(module, tokenizer, resolved)


def load_tokenizer(model: str) -> Tokenizer:
    """Only the tokenizer of ``model`` (short name or path), without reading its weights.

    An edge drafting by prompt lookup needs token ids identical to the server's, not the model.
    """
    resolved = resolve_model(model)
    if resolved.format == "gguf":
        from splitsecond.serving.loader.gguf_file import GGUFFile

        return Tokenizer.from_gguf_metadata(GGUFFile(resolved.path).metadata)
    return Tokenizer.from_hf_folder(resolved.path)
