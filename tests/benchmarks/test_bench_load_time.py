"""The start-up benchmark's pieces that need no model: the cold cache folder and the worker's modes (the
cold-then-warm path itself is tested on a real model in ``tests/serving/test_loader_packed_weights.py``)."""

from __future__ import annotations

import pytest

from splitsecond.benchmarks import load_time


def test_a_cold_cache_shares_models_and_compiled_code_but_no_prepared_weights(tmp_path, monkeypatch):
    real = tmp_path / "real"
    for name in ("models", "kernels", "prepared"):
        (real / name).mkdir(parents=True)
    monkeypatch.setenv("SPLITSECOND_CACHE_DIR", str(real))
    root = load_time.cold_root(tmp_path)
    assert (root / "models").resolve() == (real / "models").resolve()
    assert (root / "kernels").is_symlink()
    assert not (root / "packed_fp16").exists()  # absent in the real cache: not linked
    assert not (root / "prepared").exists() and not (root / "digests.json").exists()


def test_an_unknown_worker_mode_is_refused():
    with pytest.raises(ValueError, match="unknown mode 'bogus'"):
        load_time.worker("bogus", "smollm2-135m")
