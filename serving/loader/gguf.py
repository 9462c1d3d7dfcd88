"""Load a Llama-family model from a GGUF file: config, dequantised weights and tokenizer.

The file is parsed by ``gguf_file.GGUFFile``; weights are dequantised with ``gguf.quants.dequantize`` and renamed to Hugging Face names
(``layers.0.self_attn.q_proj.weight``...). llama.cpp's converter permutes the rows of ``attn_q`` and
``attn_k`` of llama models so that RoPE rotates adjacent pairs; we undo that permutation (as
transformers' GGUF loader does) because our rotary layer rotates halves, like Hugging Face's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from splitsecond.serving.loader.gguf_file import GGUFFile
from splitsecond.serving.loader.tokenizer import Tokenizer
from splitsecond.serving.models.model_config import ModelConfig

logger = logging.getLogger(__name__)

_SUPPORTED_ARCHS = ("llama", "qwen2")

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
_GLOBAL_NAMES = {
    "token_embd.weight": "embed_tokens.weight",
    "output_norm.weight": "norm.weight",
    "output.weight": "lm_head.weight",
    "rope_freqs.weight": "rope_freqs",
}


def _config_from_metadata(meta: dict, has_output: bool, vocab_size: int, name: str) -> ModelConfig:
    arch = meta.get("general.architecture")
    if arch not in _SUPPORTED_ARCHS:
        raise ValueError(f"GGUF architecture {arch!r} is not supported; supported: {_SUPPORTED_ARCHS}")

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
    )


def _unpermute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's ``permute`` of q/k rows (adjacent-pair RoPE -> rotate-half RoPE)."""
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


def load_gguf(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """Read ``path``: (model config, float32 state dict with Hugging Face names, tokenizer)."""
    path = Path(path)
    gf = GGUFFile(path)
    meta = gf.metadata
    names = {t.name for t in gf.tensors}
    tokenizer = Tokenizer.from_gguf_metadata(meta)
    config = _config_from_metadata(
        meta, has_output="output.weight" in names, vocab_size=tokenizer.vocab_size, name=path.stem
    )
    state: dict[str, torch.Tensor] = {}
    for tensor in gf.tensors:
        name = tensor.name
        if name in _GLOBAL_NAMES:
            hf_name = _GLOBAL_NAMES[name]
        elif name.startswith("blk."):
            _, idx, rest = name.split(".", 2)
            if rest not in _LAYER_NAMES:
                logger.warning("ignoring unknown GGUF tensor %s", name)
                continue
            hf_name = f"layers.{idx}.{_LAYER_NAMES[rest]}"
        else:
            logger.warning("ignoring unknown GGUF tensor %s", name)
            continue
        array = gf.dequantize(tensor)
        if config.architecture == "llama" and ".attn_q." in name:
            array = _unpermute_rope_rows(array, config.num_heads)
        elif config.architecture == "llama" and ".attn_k." in name:
            array = _unpermute_rope_rows(array, config.num_kv_heads)
        state[hf_name] = torch.from_numpy(np.ascontiguousarray(array))
    return config, state, tokenizer
