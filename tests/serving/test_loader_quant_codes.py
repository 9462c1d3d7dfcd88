"""4-bit codes read from GGUF blocks reproduce ``gguf``'s dequantisation exactly, and re-encode into the
engine's int4 layout without loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from splitsecond.serving.layers.int4_weight import Int4Weight, int4_available
from splitsecond.serving.loader.gguf_file import GGUFFile, GGUFTensorInfo
from splitsecond.serving.loader.quant_codes import FOUR_BIT_TYPES, Q4_0, Q4_1, Q4_K, four_bit_codes
from splitsecond.serving.loader.registry import resolve_model

BLOCK_BYTES = {Q4_0: (32, 18), Q4_1: (32, 20), Q4_K: (256, 144)}


def random_tensor(ggml_type: int, out: int, n: int, seed: int = 0) -> GGUFTensorInfo:
    """A tensor of random blocks: random codes and scale bytes, finite fp16 scales and mins."""
    rng = np.random.default_rng(seed)
    per, size = BLOCK_BYTES[ggml_type]
    n_blocks = out * n // per
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    halves = 2 if ggml_type == Q4_0 else 4  # d (and m / dmin) as finite fp16
    raw[:, :halves] = rng.normal(0, 0.05, size=(n_blocks, halves // 2)).astype(np.float16).view(np.uint8)
    return GGUFTensorInfo("blk.0.ffn_up.weight", (out, n), ggml_type, raw.reshape(-1))


def dequantize_ref(t: GGUFTensorInfo) -> np.ndarray:
    from gguf.quants import dequantize

    return dequantize(np.asarray(t.data).reshape(t.shape[0], -1), t.ggml_type).reshape(t.shape)


@pytest.mark.parametrize("ggml_type", sorted(FOUR_BIT_TYPES))
def test_codes_reproduce_gguf_dequantisation_bit_for_bit(ggml_type):
    t = random_tensor(ggml_type, 24, 512)
    codes = four_bit_codes(t)
    assert codes.codes.shape == (24, 512) and codes.codes.max() <= 15
    assert codes.scale.shape == codes.offset.shape == (24, 16)
    np.testing.assert_array_equal(codes.dequantize(), dequantize_ref(t))


def test_concat_stacks_output_rows():
    a, b = four_bit_codes(random_tensor(Q4_K, 8, 256, 1)), four_bit_codes(random_tensor(Q4_K, 4, 256, 2))
    both = type(a).concat([a, b])
    np.testing.assert_array_equal(both.dequantize(), np.concatenate([a.dequantize(), b.dequantize()]))


def test_refuses_other_formats_and_shapes():
    t = random_tensor(Q4_0, 4, 64)
    with pytest.raises(ValueError, match="not a 4-bit affine format"):
        four_bit_codes(GGUFTensorInfo(t.name, t.shape, 8, t.data))
    with pytest.raises(ValueError, match="2-D"):
        four_bit_codes(GGUFTensorInfo(t.name, (256,), Q4_0, t.data))


@pytest.mark.skipif(not int4_available(), reason="this torch build has no CPU int4 matmul")
@pytest.mark.parametrize("ggml_type", [Q4_1, Q4_K])
def test_int4_weight_from_codes_is_the_checkpoint(ggml_type):
    t = random_tensor(ggml_type, 64, 512, 3)
    codes = four_bit_codes(t)
    w = torch.from_numpy(codes.dequantize())
    packed = Int4Weight.from_codes(
        torch.from_numpy(codes.codes),
        torch.from_numpy(codes.scale),
        torch.from_numpy(codes.offset),
        torch.float32,
    )
    assert packed.max_error < 1e-5
    x = torch.randn(3, 512)
    torch.testing.assert_close(packed.matmul(x), x @ w.t(), rtol=1e-4, atol=1e-4)
    # from the floats, min/max grid recovery is exact only where every group uses codes 0 and 15
    assert Int4Weight.from_weight(w, torch.float32).max_error > 1e-3


def test_real_checkpoint_codes_match():
    """SmolLM2's Q4_1 projections and Gemma 3's Q4_K ones (both installed by the set-up) read exactly."""
    for path in (resolve_model("smollm2-135m").path, resolve_model("gemma3-270m").path):
        gf = GGUFFile(path)
        four_bit = [t for t in gf.tensors if t.ggml_type in FOUR_BIT_TYPES and len(t.shape) == 2][:4]
        assert four_bit, path
        for t in four_bit:
            np.testing.assert_array_equal(four_bit_codes(t).dequantize(), gf.dequantize(t))
