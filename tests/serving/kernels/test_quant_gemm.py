"""The CPU kernels against PyTorch references: exact re-encoding of every GGUF type they take, the int8
activation quantisation bit for bit, and the matmuls (ladder shapes, odd sizes, 1-64 rows) to float32
rounding on both the AVX2 and the portable path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType
from gguf.quants import dequantize

from splitsecond.serving.kernels.ops import GGML_BLOCK, QuantSegment, QuantWeight, kernels_available

pytestmark = pytest.mark.skipif(not kernels_available(), reason="the CPU kernels could not be built here")

FP16_FIELDS = {2: (0,), 3: (0, 2), 6: (0,), 8: (0,), 12: (0, 2), 14: (208,)}
"""ggml type -> byte offsets of the fp16 scales in a block (set to sane values; the rest is random)."""


def random_blocks(ggml_type: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A random [rows, cols] tensor's GGUF bytes with finite, modest fp16 scales."""
    elems, size = GGML_BLOCK[ggml_type]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(rows * cols // elems, size), dtype=np.uint8)
    for off in FP16_FIELDS[ggml_type]:
        blocks[:, off : off + 2] = (
            (rng.standard_normal(len(blocks)) * 0.01).astype(np.float16).view(np.uint8).reshape(-1, 2)
        )
    return blocks.reshape(-1)


def gguf_float(raw: np.ndarray, ggml_type: int, rows: int, cols: int) -> torch.Tensor:
    return torch.from_numpy(
        dequantize(raw, GGMLQuantizationType(ggml_type)).reshape(rows, cols).astype(np.float32)
    )


def quantize_reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 codes and per-32 scales, computed as the kernel does (llama.cpp's Q8_0 rule)."""
    g = x.view(x.shape[0], -1, 32)
    d = g.abs().amax(-1) / 127
    inv = torch.where(d != 0, 1 / d, torch.zeros_like(d))
    q = torch.round(g * inv[..., None])
    return q.view_as(x).to(torch.int8), d


def reference_matmul(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x's int8 blocks dequantised @ w.T in float64, the same with absolute values: the error scale)."""
    q, d = quantize_reference(x)
    xd = (q.view(x.shape[0], -1, 32).double() * d.double()[..., None]).view(x.shape)
    return xd @ w.double().T, xd.abs() @ w.double().abs().T


TYPES = [2, 3, 6, 8, 12, 14]


@pytest.mark.parametrize("ggml_type", TYPES)
def test_reencoding_is_exact(ggml_type):
    rows, cols = 7, 512
    raw = random_blocks(ggml_type, rows, cols)
    seg = QuantSegment.from_gguf(raw, ggml_type, rows, cols)
    expected = gguf_float(raw, ggml_type, rows, cols)
    assert torch.equal(seg.dequantize(), expected)
    ids = torch.tensor([6, 0, 3])
    assert torch.equal(seg.rows(ids), expected[ids])


def test_activation_quantisation_bit_for_bit():
    from splitsecond.serving.kernels.build import load_kernels

    k = load_kernels()
    x = torch.randn(5, 320) * torch.logspace(-3, 2, 320)
    x[1, :32] = 0  # an all-zero block
    x[2, 40] = 0.5 * 127 / 127  # ties are rounded to even
    q, d, s = k.quantize_activations(x)
    q_ref, d_ref = quantize_reference(x)
    assert torch.equal(q, q_ref) and torch.equal(d, d_ref)
    assert torch.allclose(s, d_ref * q_ref.view(5, -1, 32).sum(-1).float())


SHAPES = [
    (1536, 576),  # smollm2 gate|up, full size (how rows split across threads)
    (64, 1536),  # in-features of qwen2.5-1.5b's hidden size (out-features only change the split)
    (48, 8960),  # ... and of its down projection
    (40, 640),  # gemma3-270m's hidden size (not whole super-blocks: 32-blocks only)
    (37, 256),  # odd out-features
    (41, 96),  # in-features not a multiple of 256
]
ROWS = [1, 2, 3, 4, 5, 8, 13, 16, 33, 64]


@pytest.mark.parametrize("int8_activations", [False, True])
@pytest.mark.parametrize("ggml_type", TYPES)
@pytest.mark.parametrize(("out_f", "in_f"), SHAPES)
def test_gemm_matches_reference(ggml_type, out_f, in_f, int8_activations):
    """float32 activations (the default): the dense float32 matmul of the exact weights; int8 ones: the
    same of the activations' int8 blocks; both to float32 summation error."""
    elems, _ = GGML_BLOCK[ggml_type]
    if in_f % elems:
        pytest.skip("a K-quant needs in_features in whole super-blocks")
    raw = random_blocks(ggml_type, out_f, in_f, seed=out_f + in_f)
    w = QuantWeight([QuantSegment.from_gguf(raw, ggml_type, out_f, in_f)], int8_activations=int8_activations)
    wf = gguf_float(raw, ggml_type, out_f, in_f)
    gen = torch.Generator().manual_seed(ggml_type)
    for r in ROWS:
        x = torch.randn(r, in_f, generator=gen)
        if int8_activations:
            ref, scale = reference_matmul(x, wf)
        else:
            ref, scale = x.double() @ wf.double().T, x.double().abs() @ wf.double().abs().T
        err = (w.matmul(x).double() - ref).abs()
        assert (err <= 2e-6 * scale + 1e-9).all(), f"rows {r}: worst {float((err / scale).max())}"


def test_portable_path_matches_avx2():
    from splitsecond.serving.kernels.build import load_kernels

    k = load_kernels()
    x = torch.randn(6, 512)
    for t in TYPES:
        raw = random_blocks(t, 19, 512, seed=t)
        w = QuantWeight([QuantSegment.from_gguf(raw, t, 19, 512)], int8_activations=True)
        ref, scale = reference_matmul(x, gguf_float(raw, t, 19, 512))
        k.set_force_scalar(True)
        try:
            assert k.isa() == "scalar"
            slow = w.matmul(x)
        finally:
            k.set_force_scalar(False)
        for y in (w.matmul(x), slow):
            assert ((y.double() - ref).abs() <= 2e-6 * scale + 1e-9).all()


def test_segments_write_their_columns_and_3d_inputs_keep_shape():
    parts = [(12, 64, 8), (6, 32, 14), (2, 32, 3)]
    segs, floats = [], []
    for ggml_type, out_f, seed in parts:
        raw = random_blocks(ggml_type, out_f, 512, seed=seed)
        segs.append(QuantSegment.from_gguf(raw, ggml_type, out_f, 512))
        floats.append(gguf_float(raw, ggml_type, out_f, 512))
    w = QuantWeight(segs, int8_activations=True)
    x = torch.randn(2, 3, 512)
    y = w.matmul(x)
    assert y.shape == (2, 3, 128)
    ref, scale = reference_matmul(x.view(6, 512), torch.cat(floats))
    assert ((y.view(6, 128).double() - ref).abs() <= 2e-6 * scale + 1e-9).all()
    assert torch.equal(w.dequantize(), torch.cat(floats))


@pytest.mark.parametrize(
    ("fmt", "group", "tol"), [("q4", 32, 0.5 / 15 + 0.002), ("q8", 16, 0.5 / 127 + 0.001)]
)
def test_from_float_is_within_half_a_step(fmt, group, tol):
    w = torch.randn(33, 256) * 0.05
    err = (QuantSegment.from_float(w, fmt).dequantize() - w).view(33, -1, group).abs().amax(-1)
    g = w.view(33, -1, group)
    span = g.amax(-1) - g.amin(-1) if fmt == "q4" else g.abs().amax(-1)
    assert (err <= tol * span).all()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no kernel format"):
        QuantSegment.from_gguf(np.zeros(10, np.uint8), 1, 1, 32)
    seg = QuantSegment.from_float(torch.randn(4, 64), "q8")
    with pytest.raises(RuntimeError, match="in-features"):
        QuantWeight([seg]).matmul(torch.randn(2, 96))
    with pytest.raises(ValueError, match="unknown kernel format"):
        QuantSegment.from_float(torch.randn(4, 64), "q3")


def test_float_activation_portable_path_matches():
    from splitsecond.serving.kernels.build import load_kernels

    k = load_kernels()
    x = torch.randn(7, 512)
    for t in TYPES:
        raw = random_blocks(t, 19, 512, seed=t)
        w = QuantWeight([QuantSegment.from_gguf(raw, t, 19, 512)], int8_activations=False)
        wf = gguf_float(raw, t, 19, 512).double()
        ref, scale = x.double() @ wf.T, x.double().abs() @ wf.abs().T
        k.set_force_scalar(True)
        try:
            slow = w.matmul(x)
        finally:
            k.set_force_scalar(False)
        for y in (w.matmul(x), slow):
            assert ((y.double() - ref).abs() <= 2e-6 * scale + 1e-9).all()
