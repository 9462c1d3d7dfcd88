"""Builds (once, cached) and loads SplitSecond's C++ CPU kernels (``csrc/*.cpp``).

The extension is compiled with PyTorch's extension tooling (``torch.utils.cpp_extension``, ninja and the
machine's C++ compiler) into ``<cache>/kernels/<key>/``, where the key hashes the sources, the compiler
flags, the torch version and the Python version: a second start imports the built module in
milliseconds, a changed source rebuilds it. ``scripts/setup.sh`` builds it (``python -m
splitsecond.serving.kernels.build``); a start that finds no build compiles it then. With no compiler,
no ninja or a failed build, ``load_kernels`` returns None and logs why, once: the engine then runs on
PyTorch's own kernels. ``SPLITSECOND_KERNELS=0`` turns the extension off.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import sys
import threading
from pathlib import Path
from types import ModuleType

import torch

from splitsecond.serving.loader.cache_dir import cache_root

logger = logging.getLogger(__name__)

CSRC = Path(__file__).parent / "csrc"
CFLAGS = ("-O3", "-fopenmp", "-std=c++17", "-ffp-contract=off")  # no fused mul-adds: exact weights
LDFLAGS = ("-fopenmp",)
_lock = threading.Lock()


def kernels_enabled() -> bool:
    """False when ``SPLITSECOND_KERNELS`` is 0/false/no/off."""
    return os.environ.get("SPLITSECOND_KERNELS", "1").lower() not in ("0", "false", "no", "off")


def _sources() -> list[Path]:
    return sorted(CSRC.glob("*.cpp"))


def build_key() -> str:
    """Hash of what the built module depends on (sources, flags, torch and Python versions)."""
    h = hashlib.sha256()
    for src in _sources():
        h.update(src.name.encode())
        h.update(src.read_bytes())
    h.update(" ".join(CFLAGS + LDFLAGS).encode())
    h.update(torch.__version__.encode())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def build_dir() -> Path:
    """Where this key's build lives."""
    return cache_root() / "kernels" / build_key()


def _module_name() -> str:
    return f"splitsecond_kernels_{build_key()}"


def _import_built(folder: Path, name: str) -> ModuleType | None:
    for so in folder.glob(f"{name}*.so"):
        loader = importlib.machinery.ExtensionFileLoader(name, str(so))
        spec = importlib.util.spec_from_file_location(name, so, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module
    return None


def put_venv_on_path() -> None:
    """Put this interpreter's folder on PATH: the ninja that PyTorch's extension tooling runs is
    installed in the virtual environment, whose ``bin`` need not be on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")


def build(verbose: bool = False) -> ModuleType:
    """Compile the extension (a no-op when this key is built already) and import it; raises on failure."""
    from torch.utils import cpp_extension

    folder, name = build_dir(), _module_name()
    with _lock:
        built = _import_built(folder, name) if folder.exists() else None
        if built is not None:
            return built
        folder.mkdir(parents=True, exist_ok=True)
        put_venv_on_path()
        logger.info("building the CPU kernels in %s (once; about a minute)", folder)
        module = cpp_extension.load(
            name=name,
            sources=[str(s) for s in _sources()],
            extra_cflags=list(CFLAGS),
            extra_ldflags=list(LDFLAGS),
            build_directory=str(folder),
            verbose=verbose,
        )
        for old in folder.parent.iterdir():  # builds of older sources
            if old.is_dir() and old != folder:
                shutil.rmtree(old, ignore_errors=True)
        return module


@functools.cache
def load_kernels() -> ModuleType | None:
    """The kernel module, built if needed; None (logged once) when disabled or it cannot be built."""
    if not kernels_enabled():
        logger.info("CPU kernels off (SPLITSECOND_KERNELS=0): using PyTorch's kernels")
        return None
    try:
        return build()
    except Exception as exc:  # no compiler, no ninja, a compile error: fall back, say so once
        first = str(exc).strip().splitlines()[:1]
        logger.warning(
            "CPU kernels unavailable (%s: %s); using PyTorch's kernels",
            type(exc).__name__,
            first[0] if first else "",
        )
        return None


def main() -> None:
    """Build the kernels now (the set-up calls this); exits non-zero when the build fails."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        module = build(verbose=False)
    except Exception as exc:
        print(f"[kernels] build failed, the engine will use PyTorch's kernels: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    print(f"[kernels] ready in {build_dir()} (instruction set: {module.isa()})")


if __name__ == "__main__":
    main()
