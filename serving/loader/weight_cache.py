"""Prepared weights on disk, keyed by the checkpoint's sha256, so a model's second start skips dequantising.

Dequantising a GGUF in numpy is most of a cold start (about 17 s of the 1.5B ladder model's load on two
cores). ``PreparedWeights`` keeps the loader's result (Hugging Face-named tensors, RoPE rows restored,
in the engine's dtype) as one safetensors file per (checkpoint sum, dtype, format version) under
``<cache>/prepared/``; a later start memory-maps it instead. Other prepared forms are entries under a
tag instead of a dtype (``load_tagged`` / ``store_tagged``: the FBGEMM-packed weights of
``loader.packed_weights``, which the engine's default CPU path loads). The sum of a file is computed
once and remembered by (path, size, mtime) in ``digests.json``, so a start never re-hashes an
unchanged file. Entries are written tensor by tensor (``write_safetensors``), never copied whole in memory.

Writes go to a temporary file that is renamed into place, so a crash or a full disk leaves no partial
entry; a corrupt entry is deleted and rebuilt; when free space would fall under a margin the entry is
not written (the model still loads). ``SPLITSECOND_WEIGHT_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from splitsecond.serving.loader.cache_dir import cache_root

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bump when the loader's output for the same file changes (names, layout, conversions)."""
FREE_SPACE_MARGIN = 2 * 2**30
"""Bytes of free disk an entry must leave behind."""


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_DTYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F64": torch.float64,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def map_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file as views of a copy-on-write memory map.

    ``safetensors.torch.load_file`` copies every tensor into process memory (7 GB for the 1.5B model in
    fp32, on top of the model it is loaded into); these views cost nothing until read, and the pages
    they read belong to the page cache. Raises ValueError for a truncated or malformed file.
    """
    return map_safetensors_with_metadata(path)[0]


def map_safetensors_with_metadata(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``map_safetensors`` plus the file's ``__metadata__`` (string to string)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: no safetensors header")
        n = int.from_bytes(head, "little")
        if n > size - 8:
            raise ValueError(f"{path}: header of {n} bytes in a {size}-byte file")
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="c")
    start = 8 + n
    state = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        if start + hi > size or lo > hi:
            raise ValueError(f"{path}: tensor {name} lies outside the file")
        count = (hi - lo) // torch.empty(0, dtype=dtype).element_size()
        with warnings.catch_warnings():  # a copy-on-write map is writable; torch warns on read-only ones
            warnings.simplefilter("ignore")
            t = (
                torch.frombuffer(mm, dtype=dtype, count=count, offset=start + lo)
                if count
                else torch.empty(0, dtype=dtype)
            )
        state[name] = t.view(info["shape"])
    return state, dict(header.get("__metadata__") or {})


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write ``tensors`` as a safetensors file, streaming each tensor's bytes (no second copy in memory,
    as ``safetensors.torch.save_file`` makes). Wider elements come first, so every tensor starts at a
    multiple of its element size."""
    names = {v: k for k, v in _DTYPES.items()}
    order = sorted(tensors, key=lambda k: -tensors[k].element_size())
    header: dict = {"__metadata__": metadata}
    offset = 0
    for k in order:
        t = tensors[k]
        nbytes = t.numel() * t.element_size()
        header[k] = {
            "dtype": names[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for k in order:
            t = tensors[k].contiguous()
            if t.numel():
                f.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))


class FileDigests:
    """sha256 of files, remembered by (real path, size, mtime_ns) in a small JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def sha256(self, file: Path) -> str:
        """The file's sha256 (hex), hashed only when the file is new or changed since last time."""
        real = Path(file).resolve()
        st = real.stat()
        stamp = [st.st_size, st.st_mtime_ns]
        known = self._read()
        entry = known.get(str(real))
        if entry is not None and entry.get("stamp") == stamp:
            return entry["sha256"]
        h = hashlib.sha256()
        with open(real, "rb") as f:
            while block := f.read(8 * 2**20):
                h.update(block)
        digest = h.hexdigest()
        known = self._read()  # another process may have added entries meanwhile
        known[str(real)] = {"stamp": stamp, "sha256": digest}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(self.path, json.dumps(known, indent=1, sort_keys=True))
        except OSError as exc:
            logger.warning("could not remember the sum of %s: %s", real, exc)
        return digest


class PreparedWeights:
    """The on-disk cache of loaded state dicts (see module docstring).

    An entry is named by the checkpoint's sum and a tag: the dtype of a plain state dict
    (``load`` / ``store``), or any string naming another prepared form (``load_tagged`` /
    ``store_tagged``, e.g. the FBGEMM-packed weights of ``layers.packed_fp16``, with their layouts in
    the entry's metadata).
    """

    def __init__(self, root: Path | None = None, enabled: bool | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root()
        if enabled is None:
            enabled = os.environ.get("SPLITSECOND_WEIGHT_CACHE", "1") not in ("0", "false", "no", "off")
        self.enabled = enabled
        self.digests = FileDigests(self.root / "digests.json")

    def entry_path(self, checkpoint: Path, dtype: torch.dtype | str) -> Path:
        """Where the entry of ``checkpoint`` in ``dtype`` (or under a tag) lives (hashes the file if new)."""
        digest = self.digests.sha256(checkpoint)
        name = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
        return self.root / "prepared" / f"{digest[:32]}-{name}-v{FORMAT_VERSION}.safetensors"

    def drop(self, path: Path, why: str) -> None:
        """Delete an entry that cannot be used, saying why (the next start rebuilds it)."""
        logger.warning("prepared-weights entry %s is %s; rebuilding it", path, why)
        with contextlib.suppress(OSError):
            path.unlink()

    def load_tagged(
        self, checkpoint: Path, tag: str
    ) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
        """(memory-mapped tensors, metadata) of the entry ``tag`` of ``checkpoint``, or None."""
        if not self.enabled:
            return None
        path = self.entry_path(checkpoint, tag)
        if not path.exists():
            return None
        try:
            return map_safetensors_with_metadata(path)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            self.drop(path, f"unreadable ({exc})")
            return None

    def load(self, checkpoint: Path, dtype: torch.dtype) -> dict[str, torch.Tensor] | None:
        """The cached state dict of ``checkpoint`` in ``dtype`` (memory-mapped), or None."""
        entry = self.load_tagged(checkpoint, str(dtype).removeprefix("torch."))
        if entry is None:
            return None
        state = entry[0]
        if any(t.dtype != dtype for t in state.values() if t.is_floating_point()):
            self.drop(self.entry_path(checkpoint, dtype), "of the wrong dtype")
            return None
        return state

    def store(self, checkpoint: Path, dtype: torch.dtype, state: dict[str, torch.Tensor]) -> Path | None:
        """Write the entry (atomically); returns its path, or None when skipped (disabled, no space, error)."""
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        return self.store_tagged(checkpoint, str(dtype).removeprefix("torch."), tensors)

    def store_tagged(
        self,
        checkpoint: Path,
        tag: str,
        tensors: dict[str, torch.Tensor],
        metadata: dict[str, str] | None = None,
    ) -> Path | None:
        """Write ``tensors`` as the entry ``tag`` of ``checkpoint``, atomically (a temporary file renamed
        into place); returns its path, or None when skipped (disabled, too little free space, an error)."""
        if not self.enabled:
            return None
        path = self.entry_path(checkpoint, tag)
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(path.parent).free
            if free - size < FREE_SPACE_MARGIN:
                logger.warning(
                    "not caching prepared weights of %s: %.1f GB needed, %.1f GB free (margin %.1f GB)",
                    checkpoint.name,
                    size / 1e9,
                    free / 1e9,
                    FREE_SPACE_MARGIN / 1e9,
                )
                return None
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            try:
                meta = {"source": checkpoint.name, "format": str(FORMAT_VERSION), **(metadata or {})}
                write_safetensors(Path(tmp), tensors, meta)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            logger.warning("could not cache prepared weights of %s: %s", checkpoint.name, exc)
            return None
        logger.info("cached prepared weights of %s in %s (%.2f GB)", checkpoint.name, path, size / 1e9)
        return path
