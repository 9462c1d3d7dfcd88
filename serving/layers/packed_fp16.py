"""FBGEMM fp16-packed weights as plain bytes: kept on disk, rebuilt with one copy instead of re-packing.

``quantized::linear_prepack_fp16`` converts and re-lays out a weight one element at a time: 15 ns per
weight when the matrix is small, up to 90 ns for a large LM head (its reads miss the cache), so packing
the 1.5B ladder model takes 20-50 s on two AVX2 cores, every start. The packed buffer is a pure function
of the weight, FBGEMM's version and the instruction set (its column block is 16 values on AVX2, 32 on
AVX-512). ``to_raw`` copies a packed weight's buffer out (a float16 tensor plus its 8-number layout);
``from_raw`` builds the identical ``PackedLinearWeightFp16`` from them: the same bytes, so every result
of ``linear_dynamic_fp16`` is bit for bit what a fresh pack gives.

The two ops live in a small C++ library (``csrc/packed_fp16.cpp``) built once with PyTorch's extension
tooling into ``<cache>/packed_fp16/<key>/`` (about 30 s; the key hashes the sources, torch and Python).
``scripts/setup.sh`` builds it. Without a compiler (or with ``SPLITSECOND_KERNELS=0``) ``available()`` is
False and the loader packs from float weights as before.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import threading
from pathlib import Path

import torch

from splitsecond.serving.kernels.build import put_venv_on_path
from splitsecond.serving.loader.cache_dir import cache_root

logger = logging.getLogger(__name__)

CSRC = Path(__file__).parent / "csrc"
SOURCES = (CSRC / "packed_fp16.cpp",)
STUB_HEADERS = CSRC  # holds asmjit/*.h: FBGEMM's headers include asmjit, which torch's wheel lacks
CFLAGS = ("-O2", "-std=c++17", "-DUSE_FBGEMM")
LAYOUT_SIZE = 8
"""Numbers in a layout: rows (in), columns (out), block rows, last block's rows, block columns, block
row count, block column count, kernel column blocks."""
_lock = threading.Lock()


def build_key() -> str:
    """Hash of what the library depends on (sources, stub headers, flags, torch and Python versions)."""
    h = hashlib.sha256()
    for src in (*SOURCES, *sorted((STUB_HEADERS / "asmjit").glob("*.h"))):
        h.update(src.name.encode() + src.read_bytes())
    h.update(" ".join(CFLAGS).encode() + torch.__version__.encode() + sys.version.encode())
    return h.hexdigest()[:16]


def build(verbose: bool = False) -> None:
    """Compile the library (a no-op when built for this key) and load its ops; raises on failure."""
    from torch.utils import cpp_extension

    key = build_key()
    folder, name = cache_root() / "packed_fp16" / key, f"splitsecond_packed_fp16_{key}"
    with _lock:
        if hasattr(torch.ops.splitsecond_packed_fp16, "from_raw"):
            return
        folder.mkdir(parents=True, exist_ok=True)
        built = sorted(folder.glob(f"{name}*.so"))
        if built:
            torch.ops.load_library(str(built[0]))
            return
        put_venv_on_path()
        logger.info("building the fp16 packed-weight ops in %s (once; about 30 s)", folder)
        cpp_extension.load(
            name=name,
            sources=[str(s) for s in SOURCES],
            extra_cflags=[*CFLAGS, f"-isystem{STUB_HEADERS}"],
            build_directory=str(folder),
            is_python_module=False,
            verbose=verbose,
        )


@functools.cache
def available() -> bool:
    """True when the ops are loaded (built if needed); False, logged once, when they cannot be."""
    if os.environ.get("SPLITSECOND_KERNELS", "1").lower() in ("0", "false", "no", "off"):
        return False
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        return False
    try:
        build()
    except Exception as exc:  # no compiler, no ninja, headers that changed: pack from floats instead
        first = str(exc).strip().splitlines()[:1]
        logger.warning(
            "fp16 packed-weight ops unavailable (%s: %s); packing from float weights at every start",
            type(exc).__name__,
            first[0] if first else "",
        )
        return False
    return True


def to_raw(packed) -> tuple[torch.Tensor, list[int]]:
    """(the packed buffer as float16 [n], its layout) of a ``linear_prepack_fp16`` result."""
    blob, layout = torch.ops.splitsecond_packed_fp16.raw(packed)
    return blob, list(layout)


def from_raw(blob: torch.Tensor, layout: list[int], bias: torch.Tensor | None):
    """The packed weight of ``to_raw``'s output (bias as given); RuntimeError when they do not fit."""
    if len(layout) != LAYOUT_SIZE:
        raise RuntimeError(f"a packed layout has {LAYOUT_SIZE} numbers, got {len(layout)}")
    return torch.ops.splitsecond_packed_fp16.from_raw(blob, [int(x) for x in layout], bias)


@functools.cache
def layout_tag() -> str:
    """What a packed buffer depends on besides the weight: torch (FBGEMM) and the column blocking."""
    probe = torch.ops.quantized.linear_prepack_fp16(torch.zeros(1, 1), None)
    _, layout = to_raw(probe)
    return f"fbgemm16-torch{torch.__version__}-col{layout[4]}x{layout[7]}"


def main() -> None:
    """Build the library now (the set-up calls this); exits non-zero when the build fails."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        build()
    except Exception as exc:
        print(f"[packed fp16] build failed, models will pack at every start: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    print(f"[packed fp16] ready ({layout_tag()})")


if __name__ == "__main__":
    main()
