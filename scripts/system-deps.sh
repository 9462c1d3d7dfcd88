#!/usr/bin/env bash
# Best-effort install of the system programs that some tests start for real: redis-server (the plan
# cache's shared store) and chromium (the leaderboard report check). Tests that need one skip with
# a clear reason when it is missing, so a machine without root or apt still runs the suite.
set -uo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "[system-deps] cannot install ${missing[*]} (needs root and apt-get); the tests that need them will skip"
  exit 0
fi
echo "[system-deps] installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || echo "[system-deps] apt-get install ${missing[*]} failed; the tests that need them will skip"
exit 0
