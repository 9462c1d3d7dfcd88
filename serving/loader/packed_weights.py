"""A GGUF model ready for fp16-packed decode in about a second's worth of copying: the packed entry.

On CPU with float32 activations the engine packs every projection and the LM head for FBGEMM
(``CausalLM.pack_weights("fp16")``). Packing runs element by element (``layers.packed_fp16``): about
20-50 s of the 1.5B ladder model's start on two AVX2 cores, on top of copying 7 GB of float32 prepared
weights into the module. ``load_fp16_packed`` keeps, in the prepared-weights cache (keyed by the
GGUF's sum and by ``packed_fp16.layout_tag()``), what the packed model holds instead: FBGEMM's packed
buffers (fp16, half the bytes of float32) with their layouts in the entry's metadata, and the float32
weights that stay unpacked (embeddings, norms, biases). A later start memory-maps the entry and
rebuilds the packed weights with one copy each: bit for bit the buffers a fresh pack makes, so
outputs do not change. Float32 parameters are never materialised for packed weights.

A first start builds the model as before (from the float32 entry when one exists, else by
dequantising; it writes no float32 entry, the packed one replaces it for this path) and then stores the
packed entry. An entry that is unreadable or does not fit the model is deleted with a warning and
rebuilt; a full disk only skips the write (``PreparedWeights``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from splitsecond.serving.layers import packed_fp16
from splitsecond.serving.loader.gguf import _read_state, load_gguf
from splitsecond.serving.loader.gguf_file import GGUFFile
from splitsecond.serving.loader.tokenizer import Tokenizer
from splitsecond.serving.loader.weight_cache import PreparedWeights
from splitsecond.serving.models import CausalLM, model_class_for
from splitsecond.serving.models.model_config import ModelConfig

logger = logging.getLogger(__name__)

PARAM = "param."
PACKED = "packed."


def entry_tensors(model: CausalLM) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of the packed entry of ``model`` (after ``pack_weights("fp16")``)."""
    tensors = {PARAM + n: p.data for n, p in model.named_parameters() if p.numel()}
    layouts = {}
    for name, packed in model.packed_fp16().items():
        tensors[PACKED + name], layouts[name] = packed_fp16.to_raw(packed)
    return tensors, {"layouts": json.dumps(layouts)}


def fill_from_entry(model: CausalLM, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Load a freshly built float32 ``model`` from a packed entry; KeyError / ValueError / RuntimeError
    when the entry does not fit it (missing or extra weights, other shapes, a bad packed layout)."""
    layouts = json.loads(metadata["layouts"])

    def make(name: str, bias: torch.Tensor | None):
        return packed_fp16.from_raw(tensors[PACKED + name], layouts[name], bias)

    packed_names = {name + ".weight" for name in layouts}
    params = dict(model.named_parameters())
    wanted = {n for n in params if n not in packed_names and n != "lm_head.weight"}
    if not model.config.tie_word_embeddings:
        wanted.discard("lm_head_weight")
    stored = {k.removeprefix(PARAM) for k in tensors if k.startswith(PARAM)}
    if stored != wanted:
        raise KeyError(f"weights differ: {sorted(stored ^ wanted)[:4]}")
    with torch.no_grad():
        for name in wanted:
            src, dst = tensors[PARAM + name], params[name]
            if src.shape != dst.shape or src.dtype != dst.dtype:
                raise ValueError(f"{name}: {tuple(src.shape)} {src.dtype} for {tuple(dst.shape)} {dst.dtype}")
            dst.copy_(src)
    model.use_packed_fp16(make)


def _new_module(config: ModelConfig, rope_freqs: torch.Tensor | None) -> CausalLM:
    module = model_class_for(config)(config).to(device="cpu", dtype=torch.float32)  # untouched pages
    module.rotary.build_tables(rope_freqs.float() if rope_freqs is not None else None, torch.float32)
    return module


def load_fp16_packed(path: Path, cache: PreparedWeights | None = None) -> tuple[CausalLM, Tokenizer] | None:
    """(float32 model packed for fp16 decode, tokenizer) of the GGUF at ``path``, from the packed
    entry when there is one (see module docstring); None when the cache is off or the packed-weight
    ops are unavailable (the caller loads and packs as usual)."""
    cache = cache if cache is not None else PreparedWeights()
    if not cache.enabled or not packed_fp16.available():
        return None
    path = Path(path)
    tag = packed_fp16.layout_tag()
    config, small, tokenizer = load_gguf(path, torch.float32, None, matrices=False)
    rope_freqs = small.get("rope_freqs")
    entry = cache.load_tagged(path, tag)
    if entry is not None:
        module = _new_module(config, rope_freqs)
        try:
            fill_from_entry(module, *entry)
            return module.eval().requires_grad_(False), tokenizer
        except (KeyError, ValueError, RuntimeError) as exc:
            cache.drop(cache.entry_path(path, tag), f"unusable ({str(exc).splitlines()[0]})")
        del entry, module
    state = cache.load(path, torch.float32)  # a float32 entry left by another path, else dequantise
    if state is None:
        state = _read_state(GGUFFile(path), config, torch.float32)
    state.pop("rope_freqs", None)
    module = _new_module(config, rope_freqs)
    module.load_hf_state_dict(state)
    del state
    module.eval().requires_grad_(False)
    module.pack_weights("fp16")
    cache.store_tagged(path, tag, *entry_tensors(module))
    return module, tokenizer
