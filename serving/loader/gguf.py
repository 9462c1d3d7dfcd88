"""Load a Llama-family or Gemma 3 model from a GGUF file: config, dequantised weights and tokenizer.

The file is parsed by ``gguf_file.GGUFFile``; weights are dequantised with ``gguf.quants.dequantize`` and renamed to Hugging Face names
(``layers.0.self_attn.q_proj.weight``...). llama.cpp's converter permutes the rows of ``attn_q`` and
``attn_k`` of llama models so that RoPE rotates adjacent pairs; we undo that permutation (as
transformers' GGUF loader does) because our rotary layer rotates halves, like Hugging Face's.

Gemma 3: llama.cpp's converter stores every ``*norm.weight`` as ``1 + w``; we subtract the 1 so the state
dict holds Hugging Face's values whatever the source (the model adds it back when loading). The GGUF
carries no layer pattern, local RoPE base or attention scale; we use llama.cpp's values (see
``_gemma3_fields``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from splitsecond.serving.loader.gguf_file import GGUFFile, GGUFTensorInfo
from splitsecond.serving.loader.quant_codes import FOUR_BIT_TYPES, FourBitCodes, four_bit_codes
from splitsecond.serving.loader.tokenizer import Tokenizer
from splitsecond.serving.loader.weight_cache import PreparedWeights
from splitsecond.serving.models.model_config import (
    FULL,
    GEMMA3_SLIDING_WINDOW_PATTERN,
    SLIDING,
    ModelConfig,
    sliding_window_layer_types,
)

logger = logging.getLogger(__name__)

SUPPORTED_ARCHITECTURES = ("llama", "qwen2", "gemma3")
"""GGUF ``general.architecture`` values this loader builds a model for."""

_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_GEMMA3_LAYER_NAMES = {
    **_LAYER_NAMES,
    "ffn_norm.weight": "pre_feedforward_layernorm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
}
_GLOBAL_NAMES = {
    "token_embd.weight": "embed_tokens.weight",
    "output_norm.weight": "norm.weight",
    "output.weight": "lm_head.weight",
    "rope_freqs.weight": "rope_freqs",
}


def _config_from_metadata(meta: dict, has_output: bool, vocab_size: int, name: str) -> ModelConfig:
    arch = meta.get("general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ValueError(f"GGUF architecture {arch!r} is not supported; supported: {SUPPORTED_ARCHITECTURES}")

    def get(key: str, default=None):
        value = meta.get(f"{arch}.{key}", default)
        if value is None:
            raise ValueError(f"GGUF metadata lacks {arch}.{key}")
        return value

    hidden = int(get("embedding_length"))
    heads = int(get("attention.head_count"))
    head_dim = int(meta.get(f"{arch}.attention.key_length", hidden // heads))
    rope_scaling = None
    scaling_type = meta.get(f"{arch}.rope.scaling.type")
    if scaling_type in ("linear", "yarn"):
        rope_scaling = {"rope_type": scaling_type, "factor": float(get("rope.scaling.factor"))}
        if scaling_type == "yarn":
            rope_scaling["original_max_position_embeddings"] = int(
                get("rope.scaling.original_context_length")
            )
    return ModelConfig(
        architecture=arch,
        vocab_size=int(meta.get(f"{arch}.vocab_size", vocab_size)),
        hidden_size=hidden,
        intermediate_size=int(get("feed_forward_length")),
        num_layers=int(get("block_count")),
        num_heads=heads,
        num_kv_heads=int(get("attention.head_count_kv", heads)),
        head_dim=head_dim,
        rms_norm_eps=float(get("attention.layer_norm_rms_epsilon")),
        rope_theta=float(meta.get(f"{arch}.rope.freq_base", 10000.0)),
        max_position_embeddings=int(get("context_length")),
        tie_word_embeddings=not has_output,
        rope_scaling=rope_scaling,
        attention_bias=arch == "qwen2",
        name=name,
        **(_gemma3_fields(meta) if arch == "gemma3" else {}),
    )


def _gemma3_fields(meta: dict) -> dict:
    """Gemma 3 fields of ``ModelConfig`` that llama.cpp derives rather than reads from the GGUF.

    llama.cpp (``llama-model.cpp``, LLM_ARCH_GEMMA3): every 6th layer global (unless the file has
    ``gemma3.attention.sliding_window_pattern``), local RoPE base 10000 without scaling, attention scale
    ``1/sqrt(key_length)`` except for the 27B (62 layers), which uses ``1/sqrt(hidden / heads)``.
    """
    layers = int(meta["gemma3.block_count"])
    hidden = int(meta["gemma3.embedding_length"])
    heads = int(meta["gemma3.attention.head_count"])
    key_length = int(meta.get("gemma3.attention.key_length", hidden // heads))
    value_length = int(meta.get("gemma3.attention.value_length", key_length))
    if value_length != key_length:
        raise ValueError(f"gemma3 GGUF: value_length {value_length} differs from key_length {key_length}")
    pattern = meta.get("gemma3.attention.sliding_window_pattern", GEMMA3_SLIDING_WINDOW_PATTERN)
    if isinstance(pattern, list):  # one flag per layer, True = sliding window
        layer_types = tuple(SLIDING if flag else FULL for flag in pattern)
    else:
        layer_types = sliding_window_layer_types(layers, int(pattern))
    return {
        "sliding_window": int(meta["gemma3.attention.sliding_window"]),
        "layer_types": layer_types,
        "rope_local_theta": 10_000.0,
        "query_pre_attn_scalar": float(hidden // heads if layers == 62 else key_length),
        "hidden_activation": "gelu_pytorch_tanh",
        "attn_logit_softcapping": meta.get("gemma3.attn_logit_softcapping"),
        "final_logit_softcapping": meta.get("gemma3.final_logit_softcapping"),
        "embedding_scale": hidden**0.5,
    }


def _layer_names(architecture: str) -> dict[str, str]:
    """GGUF per-layer tensor name (after ``blk.N.``) -> Hugging Face name (after ``layers.N.``)."""
    return _GEMMA3_LAYER_NAMES if architecture == "gemma3" else _LAYER_NAMES


def _to_hf_values(config: ModelConfig, name: str, array: np.ndarray) -> np.ndarray:
    """Undo what llama.cpp's converter did to tensor ``name``: q/k row permutation (llama), the +1 on
    Gemma's norm weights."""
    if config.architecture == "llama" and ".attn_q." in name:
        return _unpermute_rope_rows(array, config.num_heads)
    if config.architecture == "llama" and ".attn_k." in name:
        return _unpermute_rope_rows(array, config.num_kv_heads)
    if config.architecture == "gemma3" and name.endswith("norm.weight"):
        return array - np.float32(1.0)
    return array


def _unpermute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's ``permute`` of q/k rows (adjacent-pair RoPE -> rotate-half RoPE)."""
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


def load_gguf(
    path: str | Path,
    dtype: torch.dtype = torch.float32,
    cache: PreparedWeights | None = None,
    matrices: bool = True,
) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """Read ``path``: (model config, state dict in ``dtype`` with Hugging Face names, tokenizer).

    With a ``cache``, the state dict comes from its entry for this file and dtype when there is one,
    and is stored there after dequantising when there is not. ``matrices=False`` leaves the 2-D
    weights out (the CPU kernels read those from the file themselves: ``kernel_sources``) and skips
    the cache: only norms and biases are dequantised, in milliseconds.
    """
    path = Path(path)
    gf = GGUFFile(path)
    meta = gf.metadata
    names = {t.name for t in gf.tensors}
    tokenizer = Tokenizer.from_gguf_metadata(meta)
    config = _config_from_metadata(
        meta, has_output="output.weight" in names, vocab_size=tokenizer.vocab_size, name=path.stem
    )
    if not matrices:
        return config, _read_state(gf, config, dtype, matrices=False), tokenizer
    state = cache.load(path, dtype) if cache is not None else None
    if state is None:
        state = _read_state(gf, config, dtype)
        if cache is not None:
            cache.store(path, dtype, state)
    return config, state, tokenizer


def _hf_name(name: str, layer_names: dict[str, str]) -> str | None:
    """The Hugging Face name of GGUF tensor ``name`` (None, with a warning, for one we do not use)."""
    if name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[name]
    if name.startswith("blk."):
        _, idx, rest = name.split(".", 2)
        if rest in layer_names:
            return f"layers.{idx}.{layer_names[rest]}"
    logger.warning("ignoring unknown GGUF tensor %s", name)
    return None


def _read_state(
    gf: GGUFFile, config: ModelConfig, dtype: torch.dtype, matrices: bool = True
) -> dict[str, torch.Tensor]:
    """Dequantise every tensor of ``gf`` (without ``matrices``: but its 2-D weights) into a state dict
    with Hugging Face names."""
    state: dict[str, torch.Tensor] = {}
    layer_names = _layer_names(config.architecture)
    for tensor in gf.tensors:
        if not matrices and len(tensor.shape) == 2 and tensor.name.endswith(".weight"):
            continue
        hf_name = _hf_name(tensor.name, layer_names)
        if hf_name is None:
            continue
        array = _to_hf_values(config, tensor.name, gf.dequantize(tensor))
        state[hf_name] = torch.from_numpy(np.ascontiguousarray(array)).to(dtype)
    return state


class FourBitSources:
    """The 4-bit codes (``loader.quant_codes``) of a GGUF's Q4_0 / Q4_1 / Q4_K weights, by Hugging Face
    name, read on demand: the engine's int4 packing re-encodes them exactly instead of re-quantising
    dequantised floats. The file's header is parsed on the first ``get``."""

    def __init__(self, path: Path, config: ModelConfig) -> None:
        self.path, self.config = Path(path), config
        self._tensors: dict[str, GGUFTensorInfo] | None = None
        self._lock = threading.Lock()

    def _by_name(self) -> dict[str, GGUFTensorInfo]:
        with self._lock:  # packing asks from several threads at once
            if self._tensors is None:
                names = _layer_names(self.config.architecture)
                self._tensors = {
                    hf: t
                    for t in GGUFFile(self.path).tensors
                    if t.ggml_type in FOUR_BIT_TYPES and len(t.shape) == 2 and t.name.endswith(".weight")
                    if (hf := _hf_name(t.name, names)) is not None
                }
            return self._tensors

    def get(self, names: list[str]) -> FourBitCodes | None:
        """The codes of the weights ``names`` stacked by output rows (a fused projection), or None
        unless every one of them is stored in a 4-bit affine format."""
        tensors = self._by_name()
        if not all(n in tensors for n in names):
            return None
        parts = []
        for n in names:
            t = tensors[n]
            c = four_bit_codes(t)
            if self.config.architecture == "llama" and (".attn_q." in t.name or ".attn_k." in t.name):
                heads = self.config.num_heads if ".attn_q." in t.name else self.config.num_kv_heads
                c = FourBitCodes(*(_unpermute_rope_rows(a, heads) for a in (c.codes, c.scale, c.offset)))
            parts.append(c)
        return parts[0] if len(parts) == 1 else FourBitCodes.concat(parts)
