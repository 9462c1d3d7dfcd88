"""``load_model``: resolve a model name/path, read its weights and build the torch module on a device."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from splitsecond.serving.loader.gguf import FourBitSources, load_gguf
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


def load_model(model: str, dtype: torch.dtype, device: str) -> LoadedModel:
    """Load ``model`` (short name or path) as an eval-mode module in ``dtype`` on ``device``."""
    t0 = time.perf_counter()
    resolved = resolve_model(model)
    if resolved.format == "gguf":
        config, state, tokenizer = load_gguf(resolved.path, dtype, PreparedWeights())
    else:
        config, state, tokenizer = load_safetensors_folder(resolved.path)
    rope_freqs = state.pop("rope_freqs", None)
    # weights stay uninitialised until loaded
    module = model_class_for(config)(config).to(device=device, dtype=dtype)
    module.rotary.build_tables(rope_freqs.float() if rope_freqs is not None else None, dtype)
    module.load_hf_state_dict(state)
    if resolved.format == "gguf":
        module.four_bit_sources = FourBitSources(resolved.path, config)
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
