"""``ModelConfig``: the hyperparameters of a Llama-family decoder, independent of the file format."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters (Llama 2/3, SmolLM2, Mistral, Qwen2).

    ``rope_scaling`` follows Hugging Face's dict (``{"rope_type": "llama3", "factor": ...}``) or None.
    ``attention_bias`` is True for Qwen2 (bias on q/k/v projections).
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

    def __post_init__(self) -> None:
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")

    @classmethod
    def from_hf_config(cls, cfg: dict, name: str = "") -> ModelConfig:
        """Build from a Hugging Face ``config.json`` dict (LlamaForCausalLM, MistralForCausalLM, Qwen2...)."""
        archs = cfg.get("architectures") or [cfg.get("model_type", "llama")]
        arch = str(archs[0])
        supported = ("Llama", "Mistral", "Qwen2", "llama", "mistral", "qwen2")
        if not arch.startswith(supported) or arch.startswith(("Qwen2Moe", "Qwen2VL", "qwen2_moe")):
            raise ValueError(f"unsupported architecture {arch!r}; supported: Llama, Mistral, Qwen2 decoders")
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        rope_scaling = cfg.get("rope_scaling")
        if rope_scaling is not None and rope_scaling.get("rope_type", rope_scaling.get("type")) in (
            None,
            "default",
        ):
            rope_scaling = None
        theta = cfg.get("rope_theta")
        if theta is None and isinstance(cfg.get("rope_parameters"), dict):
            params = cfg["rope_parameters"]
            theta = params.get("rope_theta")
            if params.get("rope_type", "default") != "default":
                rope_scaling = params
        return cls(
            architecture=arch,
            vocab_size=int(cfg["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(cfg["intermediate_size"]),
            num_layers=int(cfg["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(cfg.get("head_dim") or hidden // heads),
            rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            rope_theta=float(theta or 10000.0),
            max_position_embeddings=int(cfg.get("max_position_embeddings", 4096)),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            rope_scaling=rope_scaling,
            attention_bias=bool(cfg.get("attention_bias", arch.lower().startswith("qwen2"))),
            name=name,
        )
