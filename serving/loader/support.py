"""Refuse, from the GGUF header alone, a model the engine cannot run, before anything slow starts.

``check_supported(resolved)`` reads only metadata and tensor descriptors (``GGUFFile`` parses them in
milliseconds, without touching the weights) and raises :class:`UnsupportedModelError` with a one-line
reason: an architecture the loader does not build, a tokenizer kind it cannot read, or tensors stored in
a ggml type it cannot dequantise. The lists themselves belong to the loader modules.
"""

from __future__ import annotations

import collections
import struct

from splitsecond.serving.loader.gguf import SUPPORTED_ARCHITECTURES
from splitsecond.serving.loader.gguf_file import SUPPORTED_GGML_TYPES, GGUFFile
from splitsecond.serving.loader.registry import ResolvedModel
from splitsecond.serving.loader.tokenizer import SUPPORTED_TOKENIZER_MODELS


class UnsupportedModelError(ValueError):
    """The model's file is readable but the engine cannot run it; the message says why, in one line."""


def _type_name(ggml_type: int) -> str:
    import gguf

    try:
        return gguf.GGMLQuantizationType(ggml_type).name
    except ValueError:
        return f"type {ggml_type}"


def _read_header(resolved: ResolvedModel) -> GGUFFile:
    try:
        return GGUFFile(resolved.path)
    except (ValueError, KeyError, IndexError, OverflowError, struct.error) as exc:
        raise UnsupportedModelError(f"{resolved.path} is not a readable GGUF file: {exc}") from exc


def check_supported(resolved: ResolvedModel) -> None:
    """Raise :class:`UnsupportedModelError` unless the engine can load ``resolved``.

    A safetensors folder passes: its ``config.json`` is checked by the loader itself.
    """
    if resolved.format != "gguf":
        return
    gf = _read_header(resolved)
    meta = gf.metadata
    arch = meta.get("general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModelError(
            f"model {resolved.name!r}: architecture {arch!r} is not supported "
            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
        )
    tokenizer = meta.get("tokenizer.ggml.model")
    if tokenizer not in SUPPORTED_TOKENIZER_MODELS:
        raise UnsupportedModelError(
            f"model {resolved.name!r}: tokenizer kind {tokenizer!r} is not supported "
            f"(supported: {', '.join(SUPPORTED_TOKENIZER_MODELS)})"
        )
    unsupported = collections.Counter(
        _type_name(t.ggml_type) for t in gf.tensors if t.ggml_type not in SUPPORTED_GGML_TYPES
    )
    if unsupported:
        found = ", ".join(f"{name} ({count} tensors)" for name, count in sorted(unsupported.items()))
        supported = ", ".join(sorted(_type_name(t) for t in SUPPORTED_GGML_TYPES))
        raise UnsupportedModelError(
            f"model {resolved.name!r}: tensor types {found} are not supported (supported: {supported})"
        )
