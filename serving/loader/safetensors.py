"""Load a Llama-family model from a Hugging Face folder: config.json, *.safetensors, tokenizer.json."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from splitsecond.serving.loader.tokenizer import Tokenizer
from splitsecond.serving.models.model_config import ModelConfig


def load_safetensors_folder(folder: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """Read ``folder``: (model config, state dict with Hugging Face names, tokenizer)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    with open(folder / "config.json") as f:
        config = ModelConfig.from_hf_config(json.load(f), name=folder.name)
    state: dict[str, torch.Tensor] = {}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {folder}")
    for file in files:
        state.update(load_file(str(file)))
    return config, state, Tokenizer.from_hf_folder(folder)
