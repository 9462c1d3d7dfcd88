#!/usr/bin/env bash
# Sets up what the demo needs (no test or benchmark extras), then runs the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
VENV=${SPLITSECOND_VENV:-.venv}
exec "$VENV/bin/splitsecond" demo "$@"
