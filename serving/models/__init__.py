"""Model definitions (one architecture per file) and ``model_class_for``, which picks one for a config."""

from __future__ import annotations

from splitsecond.serving.models.causal_lm import CausalLM
from splitsecond.serving.models.gemma3 import Gemma3ForCausalLM
from splitsecond.serving.models.llama import LlamaForCausalLM
from splitsecond.serving.models.model_config import ModelConfig

__all__ = ["CausalLM", "Gemma3ForCausalLM", "LlamaForCausalLM", "model_class_for"]

_LLAMA_FAMILY = ("llama", "mistral", "qwen2")


def model_class_for(config: ModelConfig) -> type[CausalLM]:
    """The module class for ``config.architecture`` (a GGUF name like "qwen2" or an HF class name)."""
    arch = config.architecture.lower()
    if arch.startswith("gemma3"):
        return Gemma3ForCausalLM
    if arch.startswith(_LLAMA_FAMILY):
        return LlamaForCausalLM
    raise ValueError(f"no model class for architecture {config.architecture!r}")
