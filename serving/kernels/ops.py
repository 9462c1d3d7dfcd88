"""Quantised weights in the kernels' formats and the matmuls over them (see ``csrc/quant_gemm.cpp``).

A ``QuantSegment`` is one [out, in] weight in one of two formats:

- ``q4``: 16-level codes with a per-group (32 inputs) scale and offset, each the product of a per-group
  fp16 factor and a per-super-block (256 inputs) float32 factor. Q4_0, Q4_1 and Q4_K re-encode into it
  exactly (every weight equals ggml's own dequantised float32 value).
- ``q8``: int8 codes with a per-16-inputs scale (fp16 factor times a per-256 float32 factor). Q8_0, Q5_0
  and Q6_K re-encode into it exactly.

Either can also be quantised from float weights (``from_float``: lossy, for the precision knob).

The matmul keeps the activations in float32 and multiplies them by each weight's exact float value
(the result is the dense float32 matmul up to summation order), or, with ``int8_activations``,
quantises them to int8 per block of 32 (scale ``amax / 127``, as llama.cpp does) and accumulates exact
integer block dot products: faster for many rows, but the rounding moves the logits (KL about 0.005
nats per token on SmolLM2) and, amplified layer by layer, makes outputs depend on the batch they ran in.
``SPLITSECOND_KERNEL_ACTIVATIONS=int8`` makes that the default of new weights. A ``QuantWeight`` stacks
segments by output rows (a fused q|k|v projection whose parts come in different formats) and writes
each into its columns of one output.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from splitsecond.serving.kernels.build import load_kernels

logger = logging.getLogger(__name__)

GROUP = 32
SUPER = 256
FORMATS = ("q4", "q8")
GGML_FORMAT = {2: "q4", 3: "q4", 12: "q4", 6: "q8", 8: "q8", 14: "q8"}
"""ggml type -> the kernel format it re-encodes into exactly (Q4_0, Q4_1, Q4_K; Q5_0, Q8_0, Q6_K)."""
GGML_BLOCK = {2: (32, 18), 3: (32, 20), 12: (256, 144), 6: (32, 22), 8: (32, 34), 14: (256, 210)}
"""ggml type -> (elements, bytes) per block."""


def default_int8_activations() -> bool:
    """True when ``SPLITSECOND_KERNEL_ACTIVATIONS`` is "int8" (else float32 activations)."""
    value = os.environ.get("SPLITSECOND_KERNEL_ACTIVATIONS", "fp32").lower()
    if value not in ("fp32", "int8"):
        raise ValueError(f"SPLITSECOND_KERNEL_ACTIVATIONS must be fp32 or int8, got {value!r}")
    return value == "int8"


def kernels():
    """The loaded extension; RuntimeError when it is unavailable."""
    k = load_kernels()
    if k is None:
        raise RuntimeError("the SplitSecond CPU kernels are not available (see the log)")
    return k


def kernels_available() -> bool:
    """True when the extension is built (or builds now) and loads."""
    return load_kernels() is not None


@dataclass
class QuantSegment:
    """One [out, in] weight in a kernel format: ``tensors`` are (codes, fp16 factors, float32 factors)."""

    fmt: str
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor]

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown kernel format {self.fmt!r}; supported: {FORMATS}")
        codes = self.tensors[0]
        if self.in_features % GROUP:
            raise ValueError(f"in_features {self.in_features} is not a multiple of {GROUP}")
        if any(t.shape[0] != codes.shape[0] for t in self.tensors):
            raise ValueError("the tensors of a segment must have one row per output feature")

    @property
    def out_features(self) -> int:
        """Rows of the weight."""
        return self.tensors[0].shape[0]

    @property
    def in_features(self) -> int:
        """Columns of the weight."""
        n = self.tensors[0].shape[1]
        return 2 * n if self.fmt == "q4" else n

    @property
    def nbytes(self) -> int:
        """Bytes the segment holds (what one matmul reads)."""
        return sum(t.numel() * t.element_size() for t in self.tensors)

    @classmethod
    def from_gguf(cls, raw, ggml_type: int, out_features: int, in_features: int) -> QuantSegment:
        """Re-encode a GGUF tensor's blocks (``raw``: its bytes, [out, in] row-major), exactly."""
        if ggml_type not in GGML_FORMAT:
            raise ValueError(f"ggml type {ggml_type} has no kernel format; supported: {sorted(GGML_FORMAT)}")
        with warnings.catch_warnings():  # a read-only memory map: the kernel only reads it
            warnings.simplefilter("ignore")
            data = torch.from_numpy(np.ascontiguousarray(np.asarray(raw, dtype=np.uint8).reshape(-1)))
        tensors = kernels().repack(data, int(ggml_type), int(out_features), int(in_features))
        return cls(GGML_FORMAT[ggml_type], tuple(tensors))

    @classmethod
    def from_float(cls, weight: torch.Tensor, fmt: str) -> QuantSegment:
        """Quantise a float [out, in] weight (lossy): q4 min/max affine per 32, q8 absmax per 16."""
        w = weight.detach().float()
        out, n = w.shape
        if n % GROUP:
            raise ValueError(f"in_features {n} is not a multiple of {GROUP}")
        if fmt == "q4":
            g = w.view(out, n // GROUP, GROUP)
            lo, hi = g.amin(-1), g.amax(-1)
            a = ((hi - lo) / 15).half()
            b = lo.half()
            af = a.float().clamp(min=torch.finfo(torch.float16).tiny)
            q = ((g - b.float()[..., None]) / af[..., None]).round_().clamp_(0, 15).to(torch.uint8)
            packed = (q[..., :16] | (q[..., 16:] << 4)).reshape(out, n // 2).contiguous()
            ab = torch.stack([a, b], dim=-1).contiguous()
            dm = torch.ones(out, -(-n // SUPER), 2)
            return cls("q4", (packed, ab, dm))
        if fmt == "q8":
            g = w.view(out, n // 16, 16)
            a = (g.abs().amax(-1) / 127).half()
            af = a.float().clamp(min=torch.finfo(torch.float16).tiny)
            q = (g / af[..., None]).round_().clamp_(-127, 127).to(torch.int8).reshape(out, n).contiguous()
            return cls("q8", (q, a.contiguous(), torch.ones(out, -(-n // SUPER))))
        raise ValueError(f"unknown kernel format {fmt!r}; supported: {FORMATS}")

    def select_rows(self, index: torch.Tensor) -> QuantSegment:
        """The weight with its rows reordered (``index``: new row i is old row ``index[i]``)."""
        return QuantSegment(self.fmt, tuple(t.index_select(0, index).contiguous() for t in self.tensors))

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """float32 rows ``ids`` of the weight (an embedding lookup)."""
        k = kernels()
        fn = k.dequant_rows_q4 if self.fmt == "q4" else k.dequant_rows_q8
        return fn(*self.tensors, ids.reshape(-1))

    def dequantize(self) -> torch.Tensor:
        """The whole float32 weight."""
        return self.rows(torch.arange(self.out_features))

    def matmul_into(
        self, x: torch.Tensor, out: torch.Tensor, col: int = 0, int8_activations: bool = False
    ) -> None:
        """``out[:, col:col + out_features] = x @ W.T`` (x: contiguous float32 [rows, in])."""
        k = kernels()
        if int8_activations:
            fn = k.gemm_q4 if self.fmt == "q4" else k.gemm_q8
        else:
            fn = k.gemm_q4_f32 if self.fmt == "q4" else k.gemm_q8_f32
        fn(x, *self.tensors, out, col)


@dataclass
class QuantWeight:
    """A projection as segments stacked by output rows (each in its own format); ``int8_activations``
    picks the matmul flavour (see the module docstring)."""

    segments: list[QuantSegment]
    int8_activations: bool = field(default_factory=default_int8_activations)

    def __post_init__(self) -> None:
        self._calls = None
        if not self.segments:
            raise ValueError("a QuantWeight needs at least one segment")
        if len({s.in_features for s in self.segments}) != 1:
            raise ValueError("the segments of a QuantWeight must share in_features")

    @property
    def out_features(self) -> int:
        """Rows of the stacked weight."""
        return sum(s.out_features for s in self.segments)

    @property
    def in_features(self) -> int:
        """Columns of the weight."""
        return self.segments[0].in_features

    @property
    def nbytes(self) -> int:
        """Bytes held (read once per matmul)."""
        return sum(s.nbytes for s in self.segments)

    @property
    def formats(self) -> tuple[str, ...]:
        """The format of each segment."""
        return tuple(s.fmt for s in self.segments)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W.T`` for x [..., in] (float32 result; other dtypes are computed via float32)."""
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if x2.dtype != torch.float32 or not x2.is_contiguous():
            x2 = x2.float().contiguous()
        if self._calls is None:  # (kernel function, tensors, column) per segment: little Python per call
            k, col, calls = kernels(), 0, []
            for seg in self.segments:
                name = f"gemm_{seg.fmt}" + ("" if self.int8_activations else "_f32")
                calls.append((getattr(k, name), seg.tensors, col))
                col += seg.out_features
            self._calls = (calls, self.int8_activations)
        elif self._calls[1] != self.int8_activations:
            self._calls = None
            return self.matmul(x)
        out = torch.empty(x2.shape[0], self.out_features, dtype=torch.float32)
        for fn, (a, b, c), col in self._calls[0]:
            fn(x2, a, b, c, out, col)
        return out if len(shape) == 2 else out.reshape(*shape[:-1], self.out_features)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """float32 rows of a single-segment weight (embedding lookups)."""
        if len(self.segments) != 1:
            raise ValueError("row lookups need a single-segment weight")
        return self.segments[0].rows(ids)

    def dequantize(self) -> torch.Tensor:
        """The whole float32 weight."""
        return torch.cat([s.dequantize() for s in self.segments])
