"""Fixtures shared by the serving tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def transformers_gguf_tokenizer():
    """A function: GGUF metadata -> transformers' own tokenizer conversion (the fast tokenizer that
    ``AutoTokenizer.from_pretrained(dir, gguf_file=...)`` builds, without its 20 s header parse)."""
    try:
        from transformers.integrations.gguf.gguf_tokenizer_mapping import (
            GGUF_TOKENIZER_MAPPING,
            convert_gguf_tokenizer,
        )
    except ImportError:
        pytest.skip("this transformers has no transformers.integrations.gguf tokenizer converter")

    def convert(meta: dict):
        fields = GGUF_TOKENIZER_MAPPING["tokenizer"].items()
        found = {name: meta[f"tokenizer.{key}"] for key, name in fields if f"tokenizer.{key}" in meta}
        fast, _ = convert_gguf_tokenizer(meta["general.architecture"], found)
        return fast

    return convert
