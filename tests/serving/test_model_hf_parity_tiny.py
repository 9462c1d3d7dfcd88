"""Our engine vs transformers on tiny random checkpoints of each architecture we serve (llama, qwen2, gemma3).

Each checkpoint is built by transformers inside the test (random weights, norm weights perturbed so that a
wrong norm convention shows), saved as safetensors with a word-level ``tokenizer.json`` (the loader wants
one; prompts here are token ids) and loaded by our loader. The Gemma 3 model has a sliding window of 8
on three of its four layers, so prompts of 20+ tokens exercise the window.

Tolerance: float32, max |logit difference| < 1e-4 * max |logit| at every position, whether the prompt
runs in one pass, in chunks through the paged cache (block size 4) followed by one-token decodes, or
after a prefix-cache hit (measured: at most 1.0e-6 of the logit scale). Greedy continuations must be
token-for-token identical to ``generate``.
"""

from __future__ import annotations

import os

import pytest
import torch

from splitsecond.serving import LLM, EngineConfig, SamplingParams
from splitsecond.serving.engine.kv_cache import KVCache
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner
from splitsecond.serving.loader.model_loader import LoadedModel, load_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

VOCAB, BLOCK, WINDOW = 96, 4, 8
TOL = 1e-4
SMALL = dict(
    vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.1,
)  # fmt: skip


def _hf_model(arch: str):
    if arch == "llama":
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**SMALL, tie_word_embeddings=False))
    if arch == "qwen2":
        return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**SMALL, tie_word_embeddings=True))
    layer_types = ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]
    cfg = transformers.Gemma3TextConfig(
        **SMALL, head_dim=16, sliding_window=WINDOW, layer_types=layer_types, query_pre_attn_scalar=24
    )
    return transformers.Gemma3ForCausalLM(cfg)


def _write_tokenizer(folder) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(VOCAB)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))


@pytest.fixture(scope="module", params=["llama", "qwen2", "gemma3"])
def models(request, tmp_path_factory):
    """(transformers model, our loaded model) with the same random weights, both float32 on CPU."""
    arch = request.param
    torch.manual_seed(0)
    hf = _hf_model(arch).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "norm" in name:  # Gemma stores w of (1 + w), Llama the multiplier: both start non-trivial
                p.copy_(torch.randn_like(p) * 0.3 + (0.0 if arch == "gemma3" else 1.0))
    folder = tmp_path_factory.mktemp(arch)
    hf.save_pretrained(folder)
    _write_tokenizer(folder)
    ours = load_model(str(folder), torch.float32, "cpu")
    assert type(ours.model).__name__.lower().startswith(arch.rstrip("2").replace("qwen", "llama"))
    return hf, ours


def _prompt(seed: int, n: int) -> list[int]:
    return torch.randint(3, VOCAB, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def _hf_logits(hf, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return hf(torch.tensor([ids])).logits[0].float()


def _assert_close(mine: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    scale = ref.abs().max().item()
    diff = (mine - ref).abs().max().item()
    assert diff < TOL * scale, f"{what}: max |diff| {diff:.3g} vs logit scale {scale:.3g}"


def _runner(ours: LoadedModel) -> ModelRunner:
    return ModelRunner(ours.model, KVCache(ours.model.config, 64, BLOCK, torch.float32, "cpu"), "cpu")


def test_one_pass_logits_match(models):
    hf, ours = models
    ids = _prompt(1, 23)  # longer than the sliding window
    mine = _runner(ours).run([ForwardItem(ids, 0, list(range(1, 64)), num_logits=len(ids))])
    _assert_close(mine, _hf_logits(hf, ids), "one pass")


@pytest.mark.parametrize("models", ["gemma3"], indirect=True)
def test_window_changes_the_output(models):
    """The Gemma checkpoint's window must matter for these prompts, or the tests above could not see it."""
    hf, ours = models
    assert ours.model.config.attention_windows == (WINDOW,)
    ids = _prompt(1, 23)
    wide = type(hf)(hf.config.__class__(**{**hf.config.to_dict(), "sliding_window": 64})).eval()
    wide.load_state_dict(hf.state_dict())
    assert (_hf_logits(wide, ids) - _hf_logits(hf, ids)).abs().max() > 100 * TOL


def test_chunked_prefill_then_decode_match(models):
    hf, ours = models
    ids = _prompt(2, 26)
    runner, table = _runner(ours), list(range(5, 64))
    parts, start = [], 0
    for n in [5, 7, 3] + [1] * (len(ids) - 15):  # chunks crossing blocks and the window, then decodes
        parts.append(runner.run([ForwardItem(ids[start : start + n], start, table, num_logits=n)]))
        start += n
    _assert_close(torch.cat(parts), _hf_logits(hf, ids), "chunked prefill + decode")


def test_prefix_cache_hit_and_batched_decodes_match(models):
    hf, ours = models
    first = _prompt(3, 20)
    second = first[:12] + _prompt(4, 11)  # shares three full blocks with ``first``
    runner = _runner(ours)
    table_a = list(range(1, 8))
    table_b = table_a[:3] + list(range(20, 25))  # the shared blocks, as after a prefix-cache hit
    runner.run([ForwardItem(first[:-1], 0, table_a, num_logits=0)])
    # one pass: ``first`` decodes its last token while ``second`` prefills past the shared prefix
    out = runner.run(
        [
            ForwardItem(first[-1:], len(first) - 1, table_a),
            ForwardItem(second[12:], 12, table_b, num_logits=11),
        ]
    )
    _assert_close(out[0], _hf_logits(hf, first)[-1], "decode next to a prefill")
    _assert_close(out[1:], _hf_logits(hf, second)[12:], "prefill after a prefix-cache hit")
    # then both decode together (different lengths, both past the window)
    extra = _prompt(5, 2)
    out = runner.run(
        [ForwardItem(extra[:1], len(first), table_a), ForwardItem(extra[1:], len(second), table_b)]
    )
    _assert_close(out[0], _hf_logits(hf, first + extra[:1])[-1], "batched decode (first)")
    _assert_close(out[1], _hf_logits(hf, second + extra[1:])[-1], "batched decode (second)")


def test_greedy_generation_matches_generate(models):
    hf, ours = models
    config = EngineConfig(
        dtype="float32", block_size=BLOCK, num_kv_blocks=64, weight_packing="none",
        max_num_seqs=2, max_num_batched_tokens=7,  # chunked prefills next to decodes
    )  # fmt: skip
    engine = LLMEngine(config, loaded=ours)
    llm = LLM.from_engine(engine)
    params = SamplingParams(temperature=0, max_tokens=16, min_tokens=16)  # bans EOS like min_new_tokens
    first, other = _prompt(6, 21), _prompt(7, 9)
    second = first[:16] + _prompt(8, 5)
    outs = llm.generate([first, other], params)
    hits = engine.stats().prefix_cache_hits
    outs += llm.generate([second], params)
    assert engine.stats().prefix_cache_hits - hits >= 16, "the second prompt should reuse four cached blocks"
    for ids, out in zip([first, other, second], outs, strict=True):
        with torch.inference_mode():
            ref = hf.generate(
                torch.tensor([ids]), max_new_tokens=16, min_new_tokens=16, do_sample=False, pad_token_id=0
            )[0, len(ids) :].tolist()
        assert out.outputs[0].token_ids == ref, f"prompt of {len(ids)} tokens"


def test_gemma3_config_old_and_new_keys_agree():
    """Hub configs written before transformers 5 name the local RoPE base and the layer pattern differently."""
    from splitsecond.serving.models.model_config import ModelConfig

    sizes = dict(SMALL, num_hidden_layers=12, head_dim=16)
    old = dict(
        sizes, architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", sliding_window=WINDOW,
        sliding_window_pattern=6, rope_theta=1e6, rope_local_base_freq=1e4, query_pre_attn_scalar=24,
        rope_scaling={"rope_type": "linear", "factor": 8.0},
    )  # fmt: skip
    new = transformers.Gemma3TextConfig(
        **sizes,
        sliding_window=WINDOW,
        query_pre_attn_scalar=24,
        rope_scaling={"rope_type": "linear", "factor": 8.0},
    ).to_dict()
    a, b = ModelConfig.from_hf_config(old), ModelConfig.from_hf_config(new)
    assert a.layer_types == b.layer_types == tuple(new["layer_types"])
    assert [i for i in range(12) if a.layer_window(i) is None] == [5, 11]
    assert (a.rope_theta, a.rope_local_theta) == (b.rope_theta, b.rope_local_theta) == (1e6, 1e4)
    assert a.rope_scaling["factor"] == b.rope_scaling["factor"] == 8.0
    assert a.attention_scale == b.attention_scale == 24**-0.5
