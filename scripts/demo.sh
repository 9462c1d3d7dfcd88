#!/usr/bin/env bash
# Sets everything up, then runs the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${SPLITSECOND_VENV:-.venv}
exec "$VENV/bin/splitsecond" demo "$@"
