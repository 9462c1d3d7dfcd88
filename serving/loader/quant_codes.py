"""The 4-bit codes of GGUF tensors quantised on an affine 16-level grid (Q4_0, Q4_1, Q4_K).

Each of these formats stores groups of 32 weights as codes ``q`` in 0..15 with one scale and one offset
per group: ``w = scale * q + offset``.

- Q4_0: ``scale = d``, ``offset = -8 d``.
- Q4_1: ``scale = d``, ``offset = m``.
- Q4_K: super-blocks of 256 hold 8 groups with 6-bit scale and min indices: ``scale = d * sc``,
  ``offset = -dmin * m``.

Reading the codes straight from the file lets the engine keep such a checkpoint in 4 bits exactly
(``layers.int4_weight.Int4Weight.from_codes``), whatever values the group happens to use; recovering the
grid from dequantised floats is exact only when a group spans its whole grid (Q4_1 always does, Q4_K
rarely). ``scale`` and ``offset`` are computed in float32 the way ``gguf.quants.dequantize`` does, so
``scale * q + offset`` reproduces its output bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from splitsecond.serving.loader.gguf_file import GGUFTensorInfo

GROUP = 32
Q4_0, Q4_1, Q4_K = 2, 3, 12
FOUR_BIT_TYPES = frozenset({Q4_0, Q4_1, Q4_K})
"""ggml types whose codes ``four_bit_codes`` reads."""


@dataclass(frozen=True)
class FourBitCodes:
    """A [out, in] weight as codes [out, in] (uint8, 0..15) and per-group scale/offset [out, in / 32]."""

    codes: np.ndarray
    scale: np.ndarray
    offset: np.ndarray

    def dequantize(self) -> np.ndarray:
        """The float32 weight ``scale * q + offset``."""
        out, n = self.codes.shape
        q = self.codes.reshape(out, n // GROUP, GROUP).astype(np.float32)
        return (self.scale[..., None] * q + self.offset[..., None]).reshape(out, n)

    @staticmethod
    def concat(parts: list[FourBitCodes]) -> FourBitCodes:
        """Stack weights along the output dimension (a fused q|k|v or gate|up projection)."""
        return FourBitCodes(
            np.concatenate([p.codes for p in parts]),
            np.concatenate([p.scale for p in parts]),
            np.concatenate([p.offset for p in parts]),
        )


def four_bit_codes(tensor: GGUFTensorInfo) -> FourBitCodes:
    """The codes of a 2-D Q4_0 / Q4_1 / Q4_K tensor (shape [out, in], in a multiple of 32)."""
    if tensor.ggml_type not in FOUR_BIT_TYPES:
        raise ValueError(f"{tensor.name}: ggml type {tensor.ggml_type} is not a 4-bit affine format")
    if len(tensor.shape) != 2:
        raise ValueError(f"{tensor.name}: expected a 2-D weight, got shape {tensor.shape}")
    out, n = tensor.shape
    raw = np.asarray(tensor.data)
    if tensor.ggml_type == Q4_K:
        blocks = raw.reshape(-1, 144)
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        dmin = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
        sc, m = _q4k_scale_min(blocks[:, 4:16])
        scale = d * sc.astype(np.float32)
        offset = -(dmin * m.astype(np.float32))
        qs = blocks[:, 16:].reshape(-1, 4, 1, 32)
        q = (qs >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)) & np.uint8(0x0F)
    else:
        size = 18 if tensor.ggml_type == Q4_0 else 20
        blocks = raw.reshape(-1, size)
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        if tensor.ggml_type == Q4_0:
            scale, offset = d, d * np.float32(-8.0)
            qs = blocks[:, 2:]
        else:
            scale, offset = d, blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
            qs = blocks[:, 4:]
        q = (qs.reshape(-1, 1, 16) >> np.array([0, 4], dtype=np.uint8).reshape(1, 2, 1)) & np.uint8(0x0F)
    groups = n // GROUP
    return FourBitCodes(
        np.ascontiguousarray(q.reshape(out, n)),
        np.ascontiguousarray(scale.reshape(out, groups)),
        np.ascontiguousarray(offset.reshape(out, groups)),
    )


def _q4k_scale_min(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8 six-bit (scale, min) indices of each Q4_K super-block's 12 packed bytes."""
    s = scales.reshape(-1, 3, 4)
    d, m, md = s[:, 0], s[:, 1], s[:, 2]
    sc = np.concatenate([d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)], axis=-1)
    mn = np.concatenate([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], axis=-1)
    return sc, mn
