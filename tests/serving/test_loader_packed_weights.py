"""FBGEMM fp16-packed weights kept on disk: rebuilt bit for bit, a wrong or corrupt entry rebuilt.

``layers.packed_fp16`` copies a packed weight's buffer out and back; ``loader.packed_weights`` stores a
packed model's entry in the prepared-weights cache and loads a fresh model from it. Every comparison
is exact (``torch.equal``): a warm start must serve the very outputs a fresh pack gives.
"""

from __future__ import annotations

import pytest
import torch

from splitsecond.serving.layers import packed_fp16
from splitsecond.serving.loader import weight_cache
from splitsecond.serving.loader.packed_weights import entry_tensors, fill_from_entry, load_fp16_packed
from splitsecond.serving.loader.weight_cache import PreparedWeights
from splitsecond.serving.models import model_class_for
from splitsecond.serving.models.model_config import ModelConfig

pytestmark = pytest.mark.skipif(not packed_fp16.available(), reason="fp16 packed-weight ops unavailable")


@pytest.mark.parametrize("shape", [(1, 1), (37, 20), (700, 1000), (16, 512), (1024, 513)])
def test_raw_round_trip_is_the_same_packed_weight(shape):
    w, b = torch.randn(*shape), torch.randn(shape[0])
    packed = torch.ops.quantized.linear_prepack_fp16(w, b)
    blob, layout = packed_fp16.to_raw(packed)
    assert blob.dtype == torch.float16 and blob.numel() == shape[1] * layout[4] * layout[6]
    again = packed_fp16.from_raw(blob.clone(), layout, b)
    x = torch.randn(5, shape[1])
    y = torch.ops.quantized.linear_dynamic_fp16(x, packed)
    assert torch.equal(torch.ops.quantized.linear_dynamic_fp16(x, again), y)
    assert torch.equal(torch.ops.quantized.linear_unpack_fp16(again)[0], w.half().float())


def test_from_raw_rejects_a_blob_that_does_not_fit():
    blob, layout = packed_fp16.to_raw(torch.ops.quantized.linear_prepack_fp16(torch.randn(64, 32), None))
    with pytest.raises(RuntimeError, match="values"):
        packed_fp16.from_raw(blob[:-1].clone(), layout, None)
    with pytest.raises(RuntimeError, match="layout"):
        packed_fp16.from_raw(blob, [layout[0] + 1, *layout[1:]], None)
    with pytest.raises(RuntimeError, match="8 numbers"):
        packed_fp16.from_raw(blob, layout[:7], None)


def _tiny(arch: str) -> ModelConfig:
    return ModelConfig(
        architecture=arch, vocab_size=80, hidden_size=64, intermediate_size=96, num_layers=2, num_heads=4,
        num_kv_heads=2, head_dim=16, rms_norm_eps=1e-6, rope_theta=10000.0, max_position_embeddings=128,
        tie_word_embeddings=arch == "qwen2", attention_bias=arch == "qwen2",
    )  # fmt: skip


def _random_model(cfg: ModelConfig, seed: int = 0):
    torch.manual_seed(seed)
    model = model_class_for(cfg)(cfg).float()
    model.rotary.build_tables(None, torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model.eval()


def _logits(model) -> torch.Tensor:
    from splitsecond.serving.engine.kv_cache import KVCache
    from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner

    runner = ModelRunner(model, KVCache(model.config, 8, 16, torch.float32, "cpu"), "cpu")
    ids = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 3]
    with torch.no_grad():
        return runner.run([ForwardItem(ids, 0, [0], num_logits=len(ids))])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])  # untied head; tied head with q/k/v biases
def test_model_from_a_packed_entry_gives_identical_logits(arch, tmp_path):
    cfg = _tiny(arch)
    packed = _random_model(cfg)
    packed.pack_weights("fp16")
    expected = _logits(packed)
    tensors, meta = entry_tensors(packed)
    f = tmp_path / "m.gguf"
    f.write_bytes(b"tiny")
    cache = PreparedWeights(tmp_path / "cache", enabled=True)
    assert cache.store_tagged(f, "packed", tensors, meta) is not None
    fresh = _random_model(cfg, seed=1)  # other weights: everything must come from the entry
    fill_from_entry(fresh, *cache.load_tagged(f, "packed"))
    assert fresh.weight_packing == "fp16" and torch.equal(_logits(fresh), expected)
    assert all(p.numel() == 0 for n, p in fresh.named_parameters() if n.endswith("_proj.weight"))


def test_an_entry_for_another_model_is_refused():
    small, other = _random_model(_tiny("llama")), _random_model(_tiny("qwen2"))
    small.pack_weights("fp16")
    tensors, meta = entry_tensors(small)
    with pytest.raises((KeyError, ValueError, RuntimeError)):
        fill_from_entry(other, tensors, meta)


@pytest.mark.slow
def test_real_model_cold_then_warm_and_a_corrupt_entry_is_rebuilt(tmp_path, monkeypatch, caplog):
    from splitsecond.serving.loader.model_loader import load_model

    reference = load_model("smollm2-135m", torch.float32, "cpu")
    reference.model.pack_weights("fp16")
    expected = _logits(reference.model)
    path = reference.resolved.path
    del reference
    cache = PreparedWeights(tmp_path / "cache", enabled=True)
    cold, _ = load_fp16_packed(path, cache)
    assert torch.equal(_logits(cold), expected)
    (entry,) = (tmp_path / "cache" / "prepared").glob("*fbgemm16*.safetensors")
    warm, tokenizer = load_fp16_packed(path, cache)
    assert warm.weight_packing == "fp16" and torch.equal(_logits(warm), expected)
    assert tokenizer.vocab_size == warm.config.vocab_size
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])  # a partial entry
    rebuilt, _ = load_fp16_packed(path, cache)
    assert "unreadable" in caplog.text and torch.equal(_logits(rebuilt), expected)
    assert entry.exists()  # written again
    monkeypatch.setattr(weight_cache, "FREE_SPACE_MARGIN", 2**62)  # a full disk: loads, stores nothing
    entry.unlink()
    full, _ = load_fp16_packed(path, cache)
    assert "GB free" in caplog.text and not entry.exists() and torch.equal(_logits(full), expected)
