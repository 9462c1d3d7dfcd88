"""``check_supported``: refuse from the GGUF header what the engine cannot run, in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from splitsecond.serving.loader.registry import ModelNotInstalledError, ResolvedModel, resolve_model
from splitsecond.serving.loader.support import UnsupportedModelError, check_supported


def _gguf(path: Path, arch: str = "llama", tokenizer: str | None = "gpt2", qtype=None) -> ResolvedModel:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    if tokenizer is not None:
        writer.add_tokenizer_model(tokenizer)
    writer.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    if qtype is not None:
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        writer.add_tensor("blk.0.ffn_up.weight", np.zeros((2, type_size), dtype=np.uint8), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return ResolvedModel(name=path.stem, path=path, format="gguf")


def test_supported_tiny_gguf_passes(tmp_path):
    check_supported(_gguf(tmp_path / "ok.gguf"))


def test_packaged_model_passes():
    try:
        resolved = resolve_model("smollm2-135m")
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))
    check_supported(resolved)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"arch": "mamba"}, "architecture 'mamba' is not supported"),
        ({"tokenizer": "bert"}, "tokenizer kind 'bert' is not supported"),
        ({"tokenizer": None}, "tokenizer kind None is not supported"),
    ],
)
def test_unsupported_header_is_refused_in_one_line(tmp_path, kwargs, expected):
    with pytest.raises(UnsupportedModelError) as err:
        check_supported(_gguf(tmp_path / "m.gguf", **kwargs))
    assert isinstance(err.value, ValueError)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_unsupported_tensor_type_is_refused(tmp_path):
    import gguf

    with pytest.raises(UnsupportedModelError, match=r"tensor types IQ4_NL \(1 tensors\) are not supported"):
        check_supported(_gguf(tmp_path / "q.gguf", qtype=gguf.GGMLQuantizationType.IQ4_NL))


@pytest.mark.parametrize("content", [b"", b"not a gguf at all, just bytes", "truncated"])
def test_unreadable_file_is_refused(tmp_path, content):
    path = tmp_path / "junk.gguf"
    if content == "truncated":
        content = _gguf(tmp_path / "whole.gguf").path.read_bytes()[:40]
    path.write_bytes(content)
    with pytest.raises(UnsupportedModelError, match="not a readable GGUF file"):
        check_supported(ResolvedModel(name="junk", path=path, format="gguf"))


def test_safetensors_folders_are_left_to_the_loader(tmp_path):
    check_supported(ResolvedModel(name="hf", path=tmp_path, format="safetensors"))
