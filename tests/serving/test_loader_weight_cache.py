"""The prepared-weights cache: keyed by the file's sum, hashed once, atomic, corrupt entries rebuilt."""

from __future__ import annotations

import os

import pytest
import torch

from splitsecond.serving.loader import weight_cache
from splitsecond.serving.loader.cache_dir import cache_root
from splitsecond.serving.loader.weight_cache import FileDigests, PreparedWeights


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLITSECOND_CACHE_DIR", str(tmp_path / "a"))
    assert cache_root() == tmp_path / "a"
    monkeypatch.delenv("SPLITSECOND_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "splitsecond"


def test_digest_is_computed_once_per_file_version(tmp_path, monkeypatch):
    f = tmp_path / "model.gguf"
    f.write_bytes(b"weights v1")
    digests = FileDigests(tmp_path / "digests.json")
    calls = []
    real = weight_cache.hashlib.sha256
    monkeypatch.setattr(weight_cache.hashlib, "sha256", lambda: calls.append(1) or real())
    first = digests.sha256(f)
    assert first == real(b"weights v1").hexdigest()
    assert FileDigests(tmp_path / "digests.json").sha256(f) == first and len(calls) == 1
    f.write_bytes(b"weights v2, changed")
    os.utime(f, ns=(1, 1))
    assert digests.sha256(f) == real(b"weights v2, changed").hexdigest() and len(calls) == 2


def test_store_then_load_round_trip(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x" * 100)
    cache = PreparedWeights(tmp_path / "cache", enabled=True)
    state = {"layers.0.w": torch.randn(4, 8), "norm.weight": torch.ones(8)}
    assert cache.load(f, torch.float32) is None
    path = cache.store(f, torch.float32, state)
    assert path is not None and path.exists() and not list(path.parent.glob("*.tmp"))
    back = cache.load(f, torch.float32)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    assert cache.load(f, torch.bfloat16) is None  # another dtype is another entry
    bf = cache.store(f, torch.bfloat16, state)
    assert cache.load(f, torch.bfloat16)["layers.0.w"].dtype == torch.bfloat16 and bf != path


def test_corrupt_entry_is_dropped_and_reported(tmp_path, caplog):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"y" * 10)
    cache = PreparedWeights(tmp_path / "cache", enabled=True)
    path = cache.store(f, torch.float32, {"w": torch.zeros(3)})
    path.write_bytes(path.read_bytes()[:20])  # truncated
    assert cache.load(f, torch.float32) is None
    assert not path.exists() and "unreadable" in caplog.text


def test_no_space_or_unwritable_folder_skips_the_entry(tmp_path, monkeypatch, caplog):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"z")
    cache = PreparedWeights(tmp_path / "cache", enabled=True)
    monkeypatch.setattr(weight_cache, "FREE_SPACE_MARGIN", 2**62)
    assert cache.store(f, torch.float32, {"w": torch.zeros(3)}) is None
    assert "GB free" in caplog.text
    assert not list((tmp_path / "cache" / "prepared").glob("*"))


def test_disabled_by_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITSECOND_WEIGHT_CACHE", "0")
    f = tmp_path / "m.gguf"
    f.write_bytes(b"z")
    cache = PreparedWeights(tmp_path / "cache")
    assert not cache.enabled
    assert (
        cache.store(f, torch.float32, {"w": torch.zeros(3)}) is None and cache.load(f, torch.float32) is None
    )


@pytest.mark.slow
def test_model_loads_identically_from_the_cache(tmp_path, monkeypatch):
    from splitsecond.serving.loader.gguf import load_gguf
    from splitsecond.serving.loader.registry import resolve_model

    path = resolve_model("smollm2-135m").path
    cache = PreparedWeights(tmp_path / "cache", enabled=True)
    _, fresh, _ = load_gguf(path, torch.float32, cache)
    assert list((tmp_path / "cache" / "prepared").glob("*.safetensors"))
    _, cached, _ = load_gguf(path, torch.float32, cache)
    assert set(cached) == set(fresh) and all(torch.equal(cached[k], fresh[k]) for k in fresh)


def test_entries_are_standard_safetensors_with_metadata(tmp_path):
    from safetensors import safe_open

    f = tmp_path / "m.gguf"
    f.write_bytes(b"w")
    cache = PreparedWeights(tmp_path / "cache", enabled=True)
    tensors = {
        "half": torch.randn(3, 5).half(),
        "float": torch.randn(7),
        "bf16": torch.randn(2, 2).bfloat16(),
        "empty": torch.zeros(0),
        "bytes": torch.arange(5, dtype=torch.uint8),
    }
    path = cache.store_tagged(f, "mixed", tensors, {"layouts": "[1, 2]"})
    with safe_open(str(path), "pt") as sf:
        assert sf.metadata()["layouts"] == "[1, 2]"
        assert all(torch.equal(sf.get_tensor(k), v) for k, v in tensors.items())
    back, meta = cache.load_tagged(f, "mixed")
    assert meta["layouts"] == "[1, 2]" and all(torch.equal(back[k], v) for k, v in tensors.items())
    assert cache.load_tagged(f, "other") is None
