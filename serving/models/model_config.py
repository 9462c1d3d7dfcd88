"""``ModelConfig``: the hyperparameters of a decoder (Llama family, Gemma 3), independent of the file format."""

from __future__ import annotations

from dataclasses import dataclass

SLIDING, FULL = "sliding_attention", "full_attention"
"""Hugging Face's names of the two attention layer types (``layer_types``)."""
ACTIVATIONS = ("silu", "gelu_pytorch_tanh")
"""Gated-MLP activations: SwiGLU (Llama, Qwen2) and GeGLU with tanh-approximated GELU (Gemma 3)."""
GEMMA3_SLIDING_WINDOW_PATTERN = 6
"""Gemma 3's default layer pattern: every 6th layer is global, the others use the sliding window."""


def sliding_window_layer_types(num_layers: int, pattern: int) -> tuple[str, ...]:
    """Layer types for "every ``pattern``-th layer global, the rest sliding" (layers 5, 11, ... for 6)."""
    return tuple(FULL if (i + 1) % pattern == 0 else SLIDING for i in range(num_layers))


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters (Llama 2/3, SmolLM2, Mistral, Qwen2, Gemma 3 text).

    ``rope_scaling`` follows Hugging Face's dict (``{"rope_type": "llama3", "factor": ...}``) or None; it
    applies to global (full-attention) layers only. ``attention_bias`` is True for Qwen2 (bias on q/k/v).

    Gemma 3 fields: ``layer_types`` (one of ``SLIDING``/``FULL`` per layer; None: all full) with
    ``sliding_window`` (a query at position p sees keys k with ``p - k < sliding_window``);
    ``rope_local_theta`` (RoPE base of sliding layers; None: ``rope_theta``); ``query_pre_attn_scalar``
    (attention scale ``query_pre_attn_scalar ** -0.5``; None: ``head_dim``); ``hidden_activation``;
    ``attn_logit_softcapping`` / ``final_logit_softcapping`` (``c * tanh(x / c)``; None: off);
    ``embedding_scale`` (input embeddings are multiplied by it, rounded to the weights' dtype).

    ``layer_types`` may be longer than ``num_layers``: an early-exit view of a deeper model keeps its
    list and uses the first ``num_layers`` entries.
    """

    architecture: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_position_embeddings: int
    tie_word_embeddings: bool
    rope_scaling: dict | None = None
    attention_bias: bool = False
    name: str = ""
    sliding_window: int | None = None
    layer_types: tuple[str, ...] | None = None
    rope_local_theta: float | None = None
    query_pre_attn_scalar: float | None = None
    hidden_activation: str = "silu"
    attn_logit_softcapping: float | None = None
    final_logit_softcapping: float | None = None
    embedding_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if self.hidden_activation not in ACTIVATIONS:
            raise ValueError(f"hidden_activation {self.hidden_activation!r} is not one of {ACTIVATIONS}")
        if self.layer_types is not None:
            if not isinstance(self.layer_types, tuple):
                object.__setattr__(self, "layer_types", tuple(self.layer_types))
            if len(self.layer_types) < self.num_layers:
                raise ValueError(
                    f"layer_types has {len(self.layer_types)} entries for {self.num_layers} layers"
                )
            unknown = set(self.layer_types) - {SLIDING, FULL}
            if unknown:
                raise ValueError(f"unknown layer types {sorted(unknown)}; known: {SLIDING!r}, {FULL!r}")
            if SLIDING in self.layer_types[: self.num_layers] and self.sliding_window is None:
                raise ValueError("sliding-window layers need a sliding_window")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise ValueError(f"sliding_window must be a positive integer, got {self.sliding_window}")
        for name in ("attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value}")
        if not self.embedding_scale > 0:
            raise ValueError(f"embedding_scale must be positive, got {self.embedding_scale}")

    def layer_window(self, layer: int) -> int | None:
        """The sliding window of decoder layer ``layer`` (None: it attends to the whole context)."""
        if self.layer_types is None or self.layer_types[layer] == FULL:
            return None
        return self.sliding_window

    @property
    def attention_windows(self) -> tuple[int, ...]:
        """The distinct sliding windows of this model's layers (empty when every layer is global)."""
        return tuple(sorted({w for i in range(self.num_layers) if (w := self.layer_window(i)) is not None}))

    @property
    def attention_scale(self) -> float:
        """The factor applied to q . k before the softmax."""
        return (self.query_pre_attn_scalar or self.head_dim) ** -0.5

    @classmethod
    def from_hf_config(cls, cfg: dict, name: str = "") -> ModelConfig:
        """Build from a Hugging Face ``config.json`` dict (Llama, Mistral, Qwen2, Gemma3ForCausalLM)."""
        archs = cfg.get("architectures") or [cfg.get("model_type", "llama")]
        arch = str(archs[0])
        if arch in ("Gemma3ForCausalLM", "gemma3_text"):
            return _gemma3_from_hf(cfg, name)
        supported = ("Llama", "Mistral", "Qwen2", "llama", "mistral", "qwen2")
        if not arch.startswith(supported) or arch.startswith(("Qwen2Moe", "Qwen2VL", "qwen2_moe")):
            raise ValueError(
                f"unsupported architecture {arch!r}; supported: Llama, Mistral, Qwen2 decoders, "
                "Gemma3ForCausalLM (text only)"
            )
        theta, rope_scaling = _hf_rope(cfg, cfg.get("rope_parameters"))
        return cls(
            **_hf_common(cfg),
            architecture=arch,
            rope_theta=float(theta or 10000.0),
            max_position_embeddings=int(cfg.get("max_position_embeddings", 4096)),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            rope_scaling=rope_scaling,
            attention_bias=bool(cfg.get("attention_bias", arch.lower().startswith("qwen2"))),
            name=name,
        )


def _hf_common(cfg: dict) -> dict:
    heads = int(cfg["num_attention_heads"])
    hidden = int(cfg["hidden_size"])
    return {
        "vocab_size": int(cfg["vocab_size"]),
        "hidden_size": hidden,
        "intermediate_size": int(cfg["intermediate_size"]),
        "num_layers": int(cfg["num_hidden_layers"]),
        "num_heads": heads,
        "num_kv_heads": int(cfg.get("num_key_value_heads") or heads),
        "head_dim": int(cfg.get("head_dim") or hidden // heads),
        "rms_norm_eps": float(cfg.get("rms_norm_eps", 1e-6)),
    }


def _hf_rope(cfg: dict, params: dict | None) -> tuple[float | None, dict | None]:
    """(rope_theta, rope_scaling or None) from the old keys or from a ``rope_parameters`` dict."""
    rope_scaling = cfg.get("rope_scaling")
    if rope_scaling is not None and rope_scaling.get("rope_type", rope_scaling.get("type")) in (
        None,
        "default",
    ):
        rope_scaling = None
    theta = cfg.get("rope_theta")
    if theta is None and isinstance(params, dict):
        theta = params.get("rope_theta")
        if params.get("rope_type", "default") != "default":
            rope_scaling = params
    return theta, rope_scaling


def _gemma3_from_hf(cfg: dict, name: str) -> ModelConfig:
    """A Gemma 3 text config: old keys (``rope_local_base_freq``, ``sliding_window_pattern``) or new ones
    (``layer_types``, per-layer-type ``rope_parameters``)."""
    if cfg.get("use_bidirectional_attention"):
        raise ValueError("bidirectional Gemma 3 (embedding) models are not supported")
    common = _hf_common(cfg)
    params = cfg.get("rope_parameters") if isinstance(cfg.get("rope_parameters"), dict) else {}
    theta, rope_scaling = _hf_rope(cfg, params.get(FULL))
    local_theta, _ = _hf_rope({"rope_theta": cfg.get("rope_local_base_freq")}, params.get(SLIDING))
    layer_types = cfg.get("layer_types")
    if layer_types is None:
        pattern = cfg.get("sliding_window_pattern") or cfg.get("_sliding_window_pattern")
        pattern = int(pattern or GEMMA3_SLIDING_WINDOW_PATTERN)
        layer_types = sliding_window_layer_types(common["num_layers"], pattern)
    hidden = common["hidden_size"]
    return ModelConfig(
        **common,
        architecture="Gemma3ForCausalLM",
        rope_theta=float(theta or 1_000_000.0),
        max_position_embeddings=int(cfg.get("max_position_embeddings", 131072)),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        rope_scaling=rope_scaling,
        attention_bias=bool(cfg.get("attention_bias", False)),
        name=name,
        sliding_window=int(cfg.get("sliding_window") or 4096),
        layer_types=tuple(layer_types),
        rope_local_theta=float(local_theta or 10_000.0),
        query_pre_attn_scalar=float(cfg.get("query_pre_attn_scalar") or 256),
        hidden_activation=str(cfg.get("hidden_activation") or "gelu_pytorch_tanh"),
        attn_logit_softcapping=cfg.get("attn_logit_softcapping"),
        final_logit_softcapping=cfg.get("final_logit_softcapping"),
        embedding_scale=hidden**0.5,
    )
