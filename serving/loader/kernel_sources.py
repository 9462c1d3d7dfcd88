"""A GGUF's quantised weights in the CPU kernels' formats, re-encoded from the file's own blocks.

``KernelSources.weight`` builds the ``kernels.ops.QuantWeight`` of a projection (several GGUF tensors
stacked by output rows: a fused q|k|v) at a precision:

- ``source``: each tensor in the format its GGUF type re-encodes into exactly (Q4_0 / Q4_1 / Q4_K -> q4,
  Q5_0 / Q8_0 / Q6_K -> q8); a float tensor (F32, F16) is quantised to q8.
- ``int8``: every tensor in q8 (4-bit tensors from their exact floats; lossless up to int8 rounding).
- ``int4``: every tensor in q4 (5/6/8-bit tensors quantised down, lossy).

llama's q/k rows are un-permuted as the float loader does (``gguf._unpermute_rope_rows``).
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from pathlib import Path

import numpy as np
import torch

from splitsecond.serving.kernels.ops import GGML_FORMAT, QuantSegment, QuantWeight
from splitsecond.serving.loader.gguf import _hf_name, _layer_names, _to_hf_values, _unpermute_rope_rows
from splitsecond.serving.loader.gguf_file import GGUFFile, GGUFTensorInfo
from splitsecond.serving.models.model_config import ModelConfig

PRECISIONS = ("source", "int8", "int4")
"""Precisions ``KernelSources.weight`` builds."""


class KernelSources:
    """The 2-D weights of a GGUF by Hugging Face name, read on demand (the header is parsed once)."""

    def __init__(self, path: Path, config: ModelConfig) -> None:
        self.path, self.config = Path(path), config
        self._gf: GGUFFile | None = None
        self._tensors: dict[str, GGUFTensorInfo] | None = None
        self._lock = threading.Lock()

    def _by_name(self) -> dict[str, GGUFTensorInfo]:
        with self._lock:  # packing asks from several threads at once
            if self._tensors is None:
                self._gf = GGUFFile(self.path)
                names = _layer_names(self.config.architecture)
                self._tensors = {
                    hf: t
                    for t in self._gf.tensors
                    if len(t.shape) == 2 and t.name.endswith(".weight")
                    if (hf := _hf_name(t.name, names)) is not None
                }
            return self._tensors

    def has(self, name: str) -> bool:
        """True when the file holds the 2-D weight ``name`` (Hugging Face name)."""
        return name in self._by_name()

    def ggml_type(self, name: str) -> int:
        """The ggml type id of weight ``name``."""
        return self._by_name()[name].ggml_type

    def _rope_heads(self, t: GGUFTensorInfo) -> int | None:
        if self.config.architecture != "llama":
            return None
        if ".attn_q." in t.name:
            return self.config.num_heads
        if ".attn_k." in t.name:
            return self.config.num_kv_heads
        return None

    def segment(self, name: str, precision: str = "source") -> QuantSegment:
        """One weight as a kernel segment at ``precision`` (see the module docstring)."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; supported: {PRECISIONS}")
        t = self._by_name()[name]
        out_f, in_f = t.shape
        native = GGML_FORMAT.get(t.ggml_type)
        want = {"source": native or "q8", "int8": "q8", "int4": "q4"}[precision]
        if native == want:
            seg = QuantSegment.from_gguf(t.data, t.ggml_type, out_f, in_f)
            heads = self._rope_heads(t)
            if heads is not None:
                perm = _unpermute_rope_rows(np.arange(out_f), heads)
                seg = seg.select_rows(torch.from_numpy(np.ascontiguousarray(perm)))
        else:
            assert self._gf is not None
            dense = _to_hf_values(self.config, t.name, self._gf.dequantize(t))
            seg = QuantSegment.from_float(torch.from_numpy(np.ascontiguousarray(dense)), want)
        self._drop_pages(t)
        return seg

    def _drop_pages(self, t: GGUFTensorInfo) -> None:
        """Unmap the file pages of ``t`` from this process once re-encoded (they stay in the page
        cache): a 1.1 GB file read through its memory map would otherwise count as resident memory."""
        mm = getattr(getattr(self._gf, "_mm", None), "_mmap", None)
        if mm is None or not hasattr(mm, "madvise"):
            return
        start = t.data.ctypes.data - self._gf._mm.ctypes.data
        lo = start // mmap.PAGESIZE * mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_DONTNEED, lo, start + t.data.nbytes - lo)

    def release(self) -> None:
        """Drop the parsed file (and its memory map); a later call parses it again."""
        with self._lock:
            self._gf, self._tensors = None, None

    def weight(self, names: list[str], precision: str = "source") -> QuantWeight:
        """The weights ``names`` stacked by output rows, each a segment at ``precision``; adjacent
        segments of one format are merged so that a fused projection is one matmul where it can be."""
        segs = [self.segment(n, precision) for n in names]
        merged: list[QuantSegment] = []
        for s in segs:
            if merged and merged[-1].fmt == s.fmt:
                last = merged.pop()
                s = QuantSegment(
                    s.fmt, tuple(torch.cat(p) for p in zip(last.tensors, s.tensors, strict=True))
                )
            merged.append(s)
        return QuantWeight(merged)
