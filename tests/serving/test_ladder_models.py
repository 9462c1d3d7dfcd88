"""Every model of the ladder, for real: our engine against Hugging Face transformers (the HTTP checks are
in ``server/test_ladder_http_e2e.py``).

The reference is transformers' own modeling code; only the config is written here from the file's
metadata. Its weights are our loader's float32 state dict (memory-mapped from the prepared-weights
cache: dequantising the 1.5B model again in numpy took 40 s), and
``test_reference_weights_match_the_gguf_package`` checks them against the ``gguf`` package's
dequantisation, named and converted by transformers' GGUF tensor map and processors (q/k rows of llama
models, Gemma's ``1 + w`` norms), on every tensor of the first block and one tensor of each
quantisation type.

Greedy identity is checked by teacher forcing: our engine generates 32 tokens greedily, then one
transformers forward pass over prompt + continuation must pick the same token at every step (EOS masked
where our ``min_tokens`` banned it, as transformers' ``min_new_tokens`` does). By induction that is
exactly "transformers' greedy generate gives the same 32 tokens", at the cost of one pass, not 32.

Tolerance: fp32 dense weights (``weight_packing="none"``), max |logit difference| < 1e-3 of the largest
|logit| at every position compared.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from splitsecond.serving import LLM, EngineConfig, SamplingParams
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.engine.model_runner import ForwardItem
from splitsecond.serving.loader.gguf import load_gguf
from splitsecond.serving.loader.gguf_file import GGUFFile
from splitsecond.serving.loader.model_loader import load_model
from splitsecond.serving.loader.registry import resolve_model
from splitsecond.serving.loader.weight_cache import PreparedWeights

pytestmark = pytest.mark.slow

LADDER = ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
NEW_TOKENS = 32
PROMPTS = [
    "Name three primary colours, briefly.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "You play a fighting game. The opponent jumps in from far away. What do you do, and why?",
]
LOGIT_TOL = 1e-3


def _resolve_or_skip(name: str):
    try:
        return resolve_model(name)
    except FileNotFoundError as exc:  # the ladder's packages are installed by scripts/setup.sh / test.sh
        pytest.skip(f"{name} is not installed: {exc}")


def _hf_model_class(gf: GGUFFile):
    """transformers' config, model class and GGUF tensor processor for the file's architecture."""
    import transformers
    from transformers.modeling_gguf_pytorch_utils import (
        Gemma2TensorProcessor,
        LlamaTensorProcessor,
        TensorProcessor,
    )

    m = gf.metadata
    arch = m["general.architecture"]

    def k(key, default=None):
        return m.get(f"{arch}.{key}", default)

    common = dict(
        vocab_size=len(m["tokenizer.ggml.tokens"]),
        hidden_size=k("embedding_length"),
        intermediate_size=k("feed_forward_length"),
        num_hidden_layers=k("block_count"),
        num_attention_heads=k("attention.head_count"),
        num_key_value_heads=k("attention.head_count_kv"),
        rms_norm_eps=k("attention.layer_norm_rms_epsilon"),
        max_position_embeddings=k("context_length"),
        tie_word_embeddings=all(t.name != "output.weight" for t in gf.tensors),
    )
    if arch == "llama":
        cfg = transformers.LlamaConfig(rope_theta=k("rope.freq_base"), **common)
        processor = LlamaTensorProcessor(
            config={
                "num_attention_heads": cfg.num_attention_heads,
                "num_key_value_heads": cfg.num_key_value_heads,
            }
        )
        return cfg, transformers.LlamaForCausalLM, processor
    if arch == "qwen2":
        cfg = transformers.Qwen2Config(rope_theta=k("rope.freq_base"), **common)
        return cfg, transformers.Qwen2ForCausalLM, TensorProcessor()
    if arch == "gemma3":
        head_dim = k("attention.key_length")
        cfg = transformers.Gemma3TextConfig(
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,
            sliding_window=k("attention.sliding_window"),
            rope_theta=k("rope.freq_base"),
            **common,
        )  # Google's defaults: every 6th layer global, local RoPE base 10000
        return cfg, transformers.Gemma3ForCausalLM, Gemma2TensorProcessor()
    raise AssertionError(f"no reference for {arch}")


def _float_state(path) -> dict[str, torch.Tensor]:
    """Our loader's float32 state dict of the file (Hugging Face names without ``model.``)."""
    _, state, _ = load_gguf(path, torch.float32, PreparedWeights())
    state.pop("rope_freqs", None)
    return state


def hf_reference(path) -> torch.nn.Module:
    """transformers' model for the GGUF at ``path`` in float32 (see module docstring)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.initialization import no_init_weights

    cfg, cls, _ = _hf_model_class(GGUFFile(path))
    cfg._attn_implementation = "eager"
    with no_init_weights():
        model = cls(cfg)
    state = {k if k == "lm_head.weight" else f"model.{k}": v for k, v in _float_state(path).items()}
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)  # no second copy
    assert not unexpected, unexpected
    assert set(missing) <= {"lm_head.weight"}, missing
    model.tie_weights()
    return model.eval()


def _sample_tensors(gf: GGUFFile) -> list:
    """The tensors whose dequantisation is checked against the ``gguf`` package: every tensor of the first
    block, the final norm, and the first tensor of each quantisation type not yet among them."""
    chosen = [t for t in gf.tensors if t.name.startswith("blk.0.") or t.name == "output_norm.weight"]
    seen = {t.ggml_type for t in chosen}
    for t in gf.tensors:
        if t.ggml_type not in seen:
            chosen.append(t)
            seen.add(t.ggml_type)
    return chosen


@dataclass
class LadderRun:
    """What our engine produced for one model (the engine itself is freed before the reference loads,
    so the 1.5B model's two fp32 copies are never in memory together), plus transformers' reference."""

    name: str
    path: object
    tokenizer: object
    eos: list[int]
    greedy: list[tuple[list[int], list[int]]]  # (prompt ids, 32 greedy tokens) per prompt
    long_ids: list[int]
    logits: dict[str, torch.Tensor]  # our logits of ``long_ids``: one pass, chunks of 100
    hf: torch.nn.Module


def _our_run(name: str) -> tuple:
    loaded = load_model(name, torch.float32, "cpu")
    engine = LLMEngine(
        EngineConfig(model=name, dtype="float32", weight_packing="none", num_kv_blocks=256), loaded=loaded
    )
    try:
        tok = engine.tokenizer
        prompts = [tok.apply_chat_template([{"role": "user", "content": p}]) for p in PROMPTS]
        # min_tokens bans EOS like transformers' min_new_tokens, so every prompt runs the full 32 tokens
        params = SamplingParams(temperature=0, max_tokens=NEW_TOKENS, min_tokens=NEW_TOKENS)
        outs = LLM.from_engine(engine).generate(prompts, params)
        greedy = [(o.prompt_token_ids, o.outputs[0].token_ids) for o in outs]
        ids = tok.encode(prompts[2])
        window = engine.model_config.sliding_window
        if window:  # longer than the local layers' window, so those layers must forget the start
            filler = " ".join(f"Round {i}: the opponent blocked low." for i in range(window // 8))
            ids = tok.encode(filler)[: window + 40]
            assert len(ids) > window
        table = list(range(1, 1 + (len(ids) + 15) // 16))
        run = engine.runner.run
        logits = {
            "one pass": run([ForwardItem(ids, 0, table, num_logits=len(ids))]),
            "chunks of 100": torch.cat(
                [
                    run([ForwardItem(ids[s : s + 100], s, table, num_logits=len(ids[s : s + 100]))])
                    for s in range(0, len(ids), 100)
                ]
            ),  # fmt: skip
        }
        return tok, sorted(engine.eos_ids), greedy, ids, logits
    finally:
        engine.close()


@pytest.fixture(scope="module", params=LADDER)
def ladder(request):
    """Our engine's outputs for one ladder model, then transformers' reference for the same file."""
    resolved = _resolve_or_skip(request.param)
    ours = _our_run(request.param)
    gc.collect()
    run = LadderRun(request.param, resolved.path, *ours, hf=hf_reference(resolved.path))
    yield run
    run.hf = None
    gc.collect()


def _hf_logits(hf, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return hf(torch.tensor([ids])).logits[0].float()


def test_greedy_continuations_match_transformers(ladder):
    tok = ladder.tokenizer
    for ids, new in ladder.greedy:
        assert len(new) == NEW_TOKENS
        logits = _hf_logits(ladder.hf, ids + new[:-1])[len(ids) - 1 :]
        logits[:, ladder.eos] = float("-inf")
        ref = logits.argmax(-1).tolist()
        first_diff = next((i for i, (a, b) in enumerate(zip(new, ref, strict=True)) if a != b), None)
        assert first_diff is None, (
            f"{ladder.name}: token {first_diff} differs: ours {tok.decode(new[: first_diff + 1])!r}, "
            f"transformers {tok.decode(ref[: first_diff + 1])!r} after {tok.decode(ids[-20:])!r}"
        )


def test_logits_match_transformers(ladder):
    ref = _hf_logits(ladder.hf, ladder.long_ids)
    scale = ref.abs().max().item()
    for label, mine in ladder.logits.items():
        diff = (mine - ref).abs().max().item()
        assert diff < LOGIT_TOL * scale, (
            f"{ladder.name}, {label}: max |diff| {diff:.3g} vs logit scale {scale:.3g}"
        )
        assert (mine.argmax(-1) == ref.argmax(-1)).float().mean() > 0.98, f"{ladder.name}, {label}"


def test_reference_weights_match_the_gguf_package(ladder):
    """The reference's weights are our loader's (dequantised once, from the prepared-weights cache); this
    checks them against the ``gguf`` package's dequantisation and transformers' names and conversions
    (q/k rows of llama models, Gemma's ``1 + w`` norms) on every tensor of the first block and one
    tensor of each quantisation type."""
    from gguf.quants import dequantize
    from transformers.initialization import no_init_weights
    from transformers.modeling_gguf_pytorch_utils import get_gguf_hf_weights_map

    gf = GGUFFile(ladder.path)
    cfg, cls, processor = _hf_model_class(gf)
    with torch.device("meta"), no_init_weights():
        names = get_gguf_hf_weights_map(cls(cfg), processor)
    ours = ladder.hf.state_dict()
    for t in _sample_tensors(gf):
        rows = int(np.prod(t.shape[:-1])) if len(t.shape) > 1 else 1
        ref = dequantize(np.asarray(t.data).reshape(rows, -1), t.ggml_type).reshape(t.shape)
        ref = torch.from_numpy(np.array(processor.process(ref, t.name).weights, dtype=np.float32))
        name = names[t.name]
        assert name in ours, f"{ladder.name}: {t.name} ({name}) missing from the reference"
        mine = ours[name]
        assert mine.shape == ref.shape, f"{ladder.name}: {name} {tuple(mine.shape)} vs {tuple(ref.shape)}"
        diff = (mine - ref).abs().max().item()
        assert diff <= 1e-6 * max(ref.abs().max().item(), 1.0), f"{ladder.name}: {name} differs by {diff:.3g}"
