"""GGUF loading: short-name resolution, header parsing, config, tokenizer, chat template."""

from __future__ import annotations

import numpy as np
import pytest

from splitsecond.serving import resolve_model
from splitsecond.serving.loader.gguf import _config_from_metadata, _unpermute_rope_rows
from splitsecond.serving.loader.gguf_file import GGUFFile
from splitsecond.serving.loader.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def gguf_file():
    return GGUFFile(resolve_model("smollm2-135m").path)


@pytest.fixture(scope="module")
def tokenizer(gguf_file):
    return Tokenizer.from_gguf_metadata(gguf_file.metadata)


def test_short_name_and_path_resolve_to_packaged_file(tmp_path):
    by_name = resolve_model("smollm2-135m")
    assert by_name.format == "gguf" and by_name.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct").path == by_name.path
    by_path = resolve_model(str(by_name.path))
    assert by_path.path == by_name.path and by_path.format == "gguf"
    with pytest.raises(ValueError, match="unknown model"):
        resolve_model("no-such-model")
    with pytest.raises(ValueError, match="neither"):
        resolve_model(str(tmp_path))


def test_header_metadata_and_tensors(gguf_file):
    meta = gguf_file.metadata
    assert meta["general.architecture"] == "llama"
    assert meta["llama.block_count"] == 30
    assert len(meta["tokenizer.ggml.tokens"]) == 49152
    assert len(gguf_file.tensors) == 272
    embd = next(t for t in gguf_file.tensors if t.name == "token_embd.weight")
    assert embd.shape == (49152, 576)
    assert gguf_file.dequantize(embd).shape == (49152, 576)


def test_config_from_metadata(gguf_file):
    cfg = _config_from_metadata(gguf_file.metadata, has_output=False, vocab_size=49152, name="x")
    assert (cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim) == (
        30,
        576,
        9,
        3,
        64,
    )
    assert cfg.tie_word_embeddings and cfg.rope_theta == 100000.0


def test_unpermute_inverts_llama_cpp_permute():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4 * 8, 5)).astype(np.float32)
    n_head = 4
    # llama.cpp's convert_hf_to_gguf.py permute
    permuted = w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    assert np.array_equal(_unpermute_rope_rows(permuted, n_head), w)


def test_tokenizer_matches_reference_ids(tokenizer):
    # Reference ids from transformers' tokenizer for the same GGUF / SmolLM2's tokenizer.json.
    assert tokenizer.encode("Hello world, how are you?") == [19556, 905, 28, 638, 359, 346, 47]
    assert tokenizer.decode([19556, 905, 28]) == "Hello world,"
    # SmolLM2 splits digits one by one (its tokenizer.json and llama.cpp's "smollm" pre-tokenizer).
    assert tokenizer.encode("2024") == [tokenizer.token_to_id(d) for d in "2024"]
    assert tokenizer.encode("<|im_start|>user") == [1, 4093]
    # <|im_end|> is SmolLM2's EOS; <|endoftext|> also ends generation (llama.cpp's end-of-generation set)
    assert tokenizer.eos_token_ids == [2, 0] and tokenizer.bos_token_id == 1


def test_chat_template_renders_like_transformers(tokenizer):
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}])
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    no_gen = tokenizer.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}], add_generation_prompt=False
    )
    assert no_gen == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nu<|im_end|>\n"


def test_unsupported_tokenizer_kind_is_rejected():
    with pytest.raises(ValueError, match="not supported"):
        Tokenizer.from_gguf_metadata({"tokenizer.ggml.model": "bert"})


# --- Qwen2.5-Coder: byte-level BPE with the "qwen2" pre-tokenizer, and its own chat template ----------

QWEN_STRINGS = [
    "Hello world, how are you?",
    "Distance: 120 px (in range of LK). Opponent: recovering (12 frames).",
    "It's 12345 don't I'LL we'Ve 3.14159",
    "  two\n\n\n  spaces\t\ttabs   ",
    "def f(x):\n    return x ** 2  # square\r\n",
    '{"action": "walk_forward", "frames": 12}',
    "emoji \U0001f44b\U0001f3fd \u65e5\u672c\u8a9e na\u00efve e\u0301 \u017ft",
    "<|im_start|>user\nhi<|im_end|>\n<tool_call>\n{}\n</tool_call>",
    "x" * 40,
    "",
]


@pytest.fixture(scope="module")
def qwen_meta() -> dict:
    try:
        return GGUFFile(resolve_model("qwen2.5-coder-0.5b").path).metadata
    except FileNotFoundError as e:
        pytest.skip(f"qwen2.5-coder-0.5b is not installed: {e}")


@pytest.fixture(scope="module")
def qwen(qwen_meta) -> Tokenizer:
    return Tokenizer.from_gguf_metadata(qwen_meta)


def test_qwen_encodes_like_transformers_gguf_conversion(qwen, qwen_meta, transformers_gguf_tokenizer):
    reference = transformers_gguf_tokenizer(qwen_meta)
    for text in QWEN_STRINGS:
        ids = qwen.encode(text)
        assert ids == reference.encode(text, add_special_tokens=False).ids, text
        assert qwen.decode(ids, skip_special_tokens=False) == text
    assert qwen.eos_token_ids == [151645, 151643]  # <|im_end|>, then <|endoftext|>
    assert not qwen.add_bos_token


def test_qwen_chat_template_renders_system_tools_and_tool_results(qwen):
    convo = [
        {"role": "system", "content": "You are a fighter."},
        {"role": "user", "content": "Distance: 120 px."},
        {"role": "assistant", "content": "LP"},
        {"role": "user", "content": "Now?"},
    ]
    assert qwen.apply_chat_template(convo) == (
        "<|im_start|>system\nYou are a fighter.<|im_end|>\n<|im_start|>user\nDistance: 120 px.<|im_end|>\n"
        "<|im_start|>assistant\nLP<|im_end|>\n<|im_start|>user\nNow?<|im_end|>\n<|im_start|>assistant\n"
    )
    default_system = qwen.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=False
    )
    assert default_system == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n"
    )
    tool = {"type": "function", "function": {"name": "kick", "parameters": {"type": "object"}}}
    with_tools = qwen.apply_chat_template(
        [
            {"role": "user", "content": "hit"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "kick", "arguments": {}}}],
            },
            {"role": "tool", "content": "ok"},
        ],
        tools=[tool],
    )
    assert "# Tools" in with_tools and '\n{"type": "function", "function": {"name": "kick"' in with_tools
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "kick", "arguments": {}}\n</tool_call><|im_end|>'
        in with_tools
    )
    assert with_tools.endswith(
        "<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    )
