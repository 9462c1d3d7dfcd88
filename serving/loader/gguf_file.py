"""A minimal, fast GGUF (v2/v3) reader: metadata as Python values, tensors as memory-mapped bytes.

``gguf.GGUFReader`` builds a numpy view per array element, which takes seconds for a 49k-token
vocabulary; this reader parses the header with ``struct`` (tens of milliseconds) and leaves tensor data
in a read-only ``numpy.memmap`` for ``gguf.quants.dequantize``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MAGIC = b"GGUF"
# value type id -> struct format (scalars)
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9

SUPPORTED_GGML_TYPES = frozenset({0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30})
"""ggml tensor types ``GGUFFile.dequantize`` reads: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, BF16."""


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor: name, shape in PyTorch order (outermost first), ggml type id, raw bytes."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    data: np.ndarray  # uint8 view of the tensor's bytes


class GGUFFile:
    """Parsed GGUF file: ``metadata`` (dict) and ``tensors`` (list of ``GGUFTensorInfo``)."""

    def __init__(self, path: str | Path) -> None:
        import gguf

        self.path = Path(path)
        self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        buf = self._mm
        self._buf = memoryview(buf)
        self._pos = 0
        if bytes(self._buf[:4]) != _MAGIC:
            raise ValueError(f"{self.path} is not a GGUF file (bad magic)")
        self._pos = 4
        version = self._read("I")
        if version not in (2, 3):
            raise ValueError(f"{self.path}: GGUF version {version} is not supported (2 or 3)")
        n_tensors, n_kv = self._read("Q"), self._read("Q")
        self.metadata: dict = {}
        for _ in range(n_kv):
            key = self._read_string()
            vtype = self._read("I")
            self.metadata[key] = self._read_value(vtype)
        infos = []
        for _ in range(n_tensors):
            name = self._read_string()
            n_dims = self._read("I")
            dims = struct.unpack_from(f"<{n_dims}Q", self._buf, self._pos)
            self._pos += 8 * n_dims
            ggml_type = self._read("I")
            offset = self._read("Q")
            infos.append((name, dims, ggml_type, offset))
        alignment = int(self.metadata.get("general.alignment", 32))
        data_start = (self._pos + alignment - 1) // alignment * alignment
        self.tensors: list[GGUFTensorInfo] = []
        for name, dims, ggml_type, offset in infos:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
            n_elems = int(np.prod(dims)) if dims else 1
            nbytes = n_elems // block * type_size
            start = data_start + offset
            data = buf[start : start + nbytes]
            self.tensors.append(GGUFTensorInfo(name, tuple(int(d) for d in reversed(dims)), ggml_type, data))

    def _read(self, fmt: str):
        value = struct.unpack_from("<" + fmt, self._buf, self._pos)[0]
        self._pos += struct.calcsize(fmt)
        return value

    def _read_string(self) -> str:
        n = struct.unpack_from("<Q", self._buf, self._pos)[0]
        start = self._pos + 8
        self._pos = start + n
        return bytes(self._buf[start : start + n]).decode("utf-8", errors="replace")

    def _read_value(self, vtype: int):
        if vtype in _SCALAR:
            return self._read(_SCALAR[vtype])
        if vtype == _STRING:
            return self._read_string()
        if vtype == _ARRAY:
            itype = self._read("I")
            count = self._read("Q")
            if itype in _SCALAR:
                fmt = _SCALAR[itype]
                values = list(struct.unpack_from(f"<{count}{fmt}", self._buf, self._pos))
                self._pos += struct.calcsize(fmt) * count
                return values
            return [self._read_value(itype) for _ in range(count)]
        raise ValueError(f"{self.path}: unknown GGUF value type {vtype}")

    def dequantize(self, tensor: GGUFTensorInfo) -> np.ndarray:
        """The tensor as float32, shaped like ``tensor.shape``."""
        import gguf
        from gguf.quants import dequantize

        qtype = gguf.GGMLQuantizationType(tensor.ggml_type)
        if qtype == gguf.GGMLQuantizationType.F32:
            return np.array(tensor.data.view(np.float32).reshape(tensor.shape))
        if qtype == gguf.GGMLQuantizationType.F16:
            return tensor.data.view(np.float16).reshape(tensor.shape).astype(np.float32)
        rows = int(np.prod(tensor.shape[:-1])) if len(tensor.shape) > 1 else 1
        raw = np.asarray(tensor.data).reshape(rows, -1)
        return dequantize(raw, qtype).astype(np.float32, copy=False).reshape(tensor.shape)
