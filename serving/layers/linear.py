"""``Linear`` and ``Embedding`` whose weights start uninitialised (they always come from a checkpoint, so
skipping PyTorch's random init saves seconds at load), and CPU weight packing for faster decode.

Decode on CPU is bound by reading the weights from memory (~540 MB per token in fp32 for SmolLM2-135M).
``Linear.pack("fp16")`` stores the weight as fp16 in FBGEMM's packed layout and multiplies with fp32
activations and fp32 accumulation (``quantized::linear_dynamic_fp16``): half the bytes, ~2e-4 relative
error (measured on SmolLM2: logits within 1.2e-3 of fp32 relative to the logit scale, same argmax at
every position; decode 1.6x and prefill 1.7x faster than fp32 on the 2-core dev box). FBGEMM's dynamic
int8 GEMM was measured too and rejected: per-tensor activation quantisation moved logits by up to 78% of
their scale (argmax agreement 48%).

For bf16/fp16 models on CPU, ``Linear.pack_onednn()`` re-lays the weight out in oneDNN's blocked format
once (``torch.ops.mkldnn._reorder_linear_weight``, what Inductor's freezing does): plain ``F.linear``
re-blocks it on every call, and the prepacked form measured 1.4-2x faster at 1 to 200 rows on AVX-512
BF16. ``Linear.int4`` (``layers.int4_weight``) adds a 4-bit copy used for passes of at most
``INT4_MAX_ROWS`` token rows (decode, verification): 4x fewer bytes than bf16.

``Linear.quant`` / ``Embedding.quant`` (``kernels.ops.QuantWeight``) hold a GGUF checkpoint's own 4-bit and
8-bit weights for SplitSecond's CPU kernels (``serving.kernels``); when set, they serve every pass and
the float weight is freed (``Linear.use_quant``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from splitsecond.serving.kernels.ops import QuantWeight
from splitsecond.serving.layers.int4_weight import Int4Weight

PACK_MODES = ("fp16",)
INT4_MAX_ROWS = 8
"""Passes with at most this many token rows use the int4 copy. Measured on AVX-512 BF16 (30 layers of
SmolLM2-135M): int4 3.5 / 6.4 / 9.3 ms at 1 / 4 / 8 rows, oneDNN-packed bf16 8.5 / ~9 / ~10.5 ms."""
ONEDNN_BATCH_HINT = 32


def pack_weight(weight: torch.Tensor, bias: torch.Tensor | None, mode: str):
    """FBGEMM-packed parameters of a [out, in] float32 weight for ``linear_packed``."""
    if mode == "fp16":
        return torch.ops.quantized.linear_prepack_fp16(weight.float().contiguous(), bias)
    raise ValueError(f"unknown weight packing {mode!r}; supported: {PACK_MODES}")


def linear_packed(x: torch.Tensor, packed) -> torch.Tensor:
    """``x @ W.T + b`` with FBGEMM-packed weights (x: float32 [..., in])."""
    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    y = torch.ops.quantized.linear_dynamic_fp16(x2, packed)
    return y.reshape(*shape[:-1], y.shape[-1])


def onednn_pack(weight: torch.Tensor) -> torch.Tensor | None:
    """oneDNN's blocked copy of a [out, in] weight for ``linear_onednn``; None where unsupported."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), ONEDNN_BATCH_HINT)
    except (RuntimeError, AttributeError):
        return None


def linear_onednn(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ W.T + b`` with a weight from ``onednn_pack`` (x in the weight's dtype)."""
    shape = x.shape
    y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, shape[-1]), packed, bias, "none", [], "")
    return y.reshape(*shape[:-1], y.shape[-1])


def packing_available() -> bool:
    """True when this torch build has FBGEMM (x86 CPU)."""
    return "fbgemm" in torch.backends.quantized.supported_engines


class Linear(nn.Module):
    """``y = x @ W.T (+ b)`` with ``W`` of shape [out_features, in_features]."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = False, dtype=None, device=None
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.empty(out_features, in_features, dtype=dtype, device=device), requires_grad=False
        )
        self.bias = (
            nn.Parameter(torch.empty(out_features, dtype=dtype, device=device), requires_grad=False)
            if bias
            else None
        )
        self._packed = None
        self._pack_mode: str | None = None
        self._onednn: torch.Tensor | None = None
        self.int4: Int4Weight | None = None
        self.quant: QuantWeight | None = None

    def use_quant(self, quant: QuantWeight) -> None:
        """Serve every pass from ``quant`` (the kernels' format) and free the float weight."""
        if (quant.out_features, quant.in_features) != tuple(self.weight.shape):
            raise ValueError(
                f"quantised weight {quant.out_features}x{quant.in_features} does not match "
                f"{tuple(self.weight.shape)}"
            )
        self.quant = quant
        self.weight = nn.Parameter(torch.empty(0, dtype=self.weight.dtype), requires_grad=False)

    def pack(self, mode: str) -> None:
        """Switch to FBGEMM-packed weights (CPU, float32 activations); frees the float32 weight."""
        self.use_packed(
            pack_weight(self.weight.data, None if self.bias is None else self.bias.data, mode), mode
        )

    def use_packed(self, packed, mode: str) -> None:
        """Serve from ``packed`` (a ``pack_weight`` result, e.g. rebuilt by ``layers.packed_fp16``) and free
        the float weight."""
        self._packed = packed
        self._pack_mode = mode
        self.weight = nn.Parameter(torch.empty(0), requires_grad=False)

    def pack_onednn(self) -> bool:
        """Keep the weight in oneDNN's blocked layout (frees the plain one); False where unsupported."""
        packed = onednn_pack(self.weight.data)
        if packed is None:
            return False
        self._onednn = packed
        self.weight = nn.Parameter(torch.empty(0, dtype=self.weight.dtype), requires_grad=False)
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the projection."""
        if self.quant is not None:
            y = self.quant.matmul(x)
            if self.bias is not None:
                y += self.bias
            return y if x.dtype == torch.float32 else y.to(x.dtype)
        if self._packed is not None:
            return linear_packed(x, self._packed)
        if self.int4 is not None and x.numel() <= INT4_MAX_ROWS * x.shape[-1]:
            y = self.int4.matmul(x.reshape(-1, x.shape[-1]))
            if self.bias is not None:
                y = y + self.bias
            return y.reshape(*x.shape[:-1], y.shape[-1])
        if self._onednn is not None:
            return linear_onednn(x, self._onednn, self.bias)
        return F.linear(x, self.weight, self.bias)


class Embedding(nn.Module):
    """Token embedding table [num_embeddings, dim]."""

    def __init__(self, num_embeddings: int, dim: int, dtype=None, device=None) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.empty(num_embeddings, dim, dtype=dtype, device=device), requires_grad=False
        )
        self.quant: QuantWeight | None = None

    def use_quant(self, quant: QuantWeight) -> None:
        """Look rows up in ``quant`` (dequantised on the fly) and free the float table."""
        self.quant = quant
        self.weight = nn.Parameter(torch.empty(0, dtype=self.weight.dtype), requires_grad=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Look up rows of the table."""
        if self.quant is not None:
            rows = self.quant.rows(ids)
            return rows.view(*ids.shape, rows.shape[-1]).to(self.weight.dtype)
        return F.embedding(ids, self.weight)
