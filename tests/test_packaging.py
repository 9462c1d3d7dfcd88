"""The package layout promised by pyproject.toml: folders mapped into the `splitsecond` namespace."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import gymnasium
import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_folders() -> set[str]:
    """Every folder with an __init__.py, as its dotted name in the `splitsecond` namespace."""
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    names = set()
    for package, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            names.add(".".join([package, *rel.parts]) if rel.parts else package)
    return names


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    missing = sorted(_package_folders() - listed)
    assert not missing, f"add these packages to [tool.setuptools].packages in pyproject.toml: {missing}"


def test_no_global_packages_named_like_our_folders() -> None:
    code = (
        "import importlib.util as u, sys; sys.exit(any(u.find_spec(n) for n in ('envs', 'agents', 'cache')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True)
    assert result.returncode == 0, "a global `envs`, `agents` or `cache` package is importable"


@pytest.mark.parametrize("name", ["envs", "agents", "serving", "cache", "benchmarks"])
def test_subsystems_import_under_the_namespace(name: str) -> None:
    module = importlib.import_module(f"splitsecond.{name}")
    assert Path(module.__file__).parent == ROOT / name


def test_import_registers_the_envs() -> None:
    import splitsecond  # noqa: F401

    assert "splitsecond/StreetFighter-v0" in gymnasium.registry
    assert "splitsecond/HFTBench-v0" in gymnasium.registry


def test_cli_help_lists_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "splitsecond", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
