"""4-bit weights for the small-batch forward passes on CPU (decode, verification, short prefill tails).

A GGUF model quantised to Q4_1 (as SmolLM2's is) stores each projection as groups of 32 input weights on
a 16-level grid (``w = d * q + m``) whose ends are the group's min and max. ``Int4Weight`` recovers that
grid from the dequantised weights and keeps it in PyTorch's packed int4 layout
(``_weight_int4pack_mm_for_cpu``, asymmetric, group size 32, ``w = (q - 8) * scale + zero``). For such a model this is the checkpoint itself, re-encoded: only the
per-group scale and zero are rounded to the activation dtype. For any other checkpoint it is a lossy
quantisation (so is a 4-bit format whose groups need not span their grid, such as Q4_0), and
``max_error`` (worst weight error over its group's range) says how lossy: about 0.03 for weights that
were never on a 4-bit grid; 0.0 for SmolLM2's Q4_1 projections in fp32, 0.004 in bf16.

Why: a decode step reads every weight once per token. On a 2-core AVX-512 BF16 CPU the 30 layers of
SmolLM2-135M took 15.6 ms per token as bf16 matmuls and 3.5 ms as int4 (4x fewer bytes); the int4
kernel's cost grows with the rows, so from about 8 rows (prefill) the dense weights are faster again
(``layers.linear.INT4_MAX_ROWS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GROUP_SIZE = 32
EXACT_MAX_ERROR = 0.01
"""``max_error`` at or below this counts as the checkpoint's own 4-bit grid (see module docstring)."""


def int4_available() -> bool:
    """True when this torch build has the CPU int4 matmul."""
    return hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu") and hasattr(
        torch.ops.aten, "_convert_weight_to_int4pack_for_cpu"
    )


@dataclass
class Int4Weight:
    """A [out, in] weight as packed int4 codes plus per-group (scale, zero) in the activation dtype."""

    packed: torch.Tensor
    scales_and_zeros: torch.Tensor  # [in / GROUP_SIZE, out, 2]
    max_error: float

    @classmethod
    def from_weight(cls, weight: torch.Tensor, dtype: torch.dtype | None = None) -> Int4Weight:
        """Quantise ``weight`` (in features a multiple of ``GROUP_SIZE``) group by group, min/max asymmetric."""
        out_f, in_f = weight.shape
        if in_f % GROUP_SIZE:
            raise ValueError(f"in_features {in_f} is not a multiple of the int4 group size {GROUP_SIZE}")
        dtype = dtype or weight.dtype
        g = weight.float().view(out_f, in_f // GROUP_SIZE, GROUP_SIZE)
        lo, hi = g.amin(-1), g.amax(-1)
        span = hi - lo
        scale = (span / 15).clamp(min=torch.finfo(torch.float32).tiny)
        q = ((g - lo[..., None]) / scale[..., None]).round_().clamp_(0, 15)
        scale_d = scale.to(dtype)
        zero_d = (lo + 8 * scale).to(dtype)
        recon = (q - 8) * scale_d.float()[..., None] + zero_d.float()[..., None]
        err = (recon - g).abs().amax(-1) / span.clamp(min=torch.finfo(torch.float32).tiny)
        codes = q.to(torch.int32).view(out_f, in_f)
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)
        sz = torch.stack([scale_d.t(), zero_d.t()], dim=-1).contiguous()
        return cls(packed, sz, float(err.max()))

    @classmethod
    def from_codes(
        cls, codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, dtype: torch.dtype
    ) -> Int4Weight:
        """Re-encode a checkpoint's own 4-bit grid: codes [out, in] in 0..15, ``w = scale * q + offset``
        per group of ``GROUP_SIZE`` (scale, offset: [out, in / GROUP_SIZE]); exact up to rounding the
        scale and zero to ``dtype`` (``loader.quant_codes`` reads them from Q4_0 / Q4_1 / Q4_K)."""
        out_f, in_f = codes.shape
        if in_f % GROUP_SIZE or scale.shape != (out_f, in_f // GROUP_SIZE) or offset.shape != scale.shape:
            raise ValueError(f"codes {tuple(codes.shape)} do not match scales {tuple(scale.shape)}")
        scale_d = scale.float().to(dtype)
        zero_d = (offset.float() + 8 * scale.float()).to(dtype)
        g = codes.view(out_f, -1, GROUP_SIZE).float()
        recon = (g - 8) * scale_d.float()[..., None] + zero_d.float()[..., None]
        exact = g * scale.float()[..., None] + offset.float()[..., None]
        # a group's range; a group whose scale is 0 holds one value, so its size is the measure
        span = torch.maximum(15 * scale.float().abs(), offset.float().abs()).clamp(
            min=torch.finfo(torch.float32).tiny
        )
        err = (recon - exact).abs().amax(-1) / span
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes.to(torch.int32).contiguous(), 1)
        sz = torch.stack([scale_d.t(), zero_d.t()], dim=-1).contiguous()
        return cls(packed, sz, float(err.max()))

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W.T`` for x [rows, in] in the dtype of the scales."""
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.packed, GROUP_SIZE, self.scales_and_zeros)
