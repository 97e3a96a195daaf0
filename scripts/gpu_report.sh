#!/bin/bash
# `make gpu-report`, on a machine with an NVIDIA GPU: installs the wheels that `make gpu-bundle` packed into
# BUNDLE (default build/gpu-report) as pip would, then runs the backend tests and a short bench on them.
#
#   bash scripts/gpu_report.sh [BUNDLE]      # OUT=folder: where the log and docs/benchmarks.md go
#
# Made for the GPU machine's limits (DEVELOPERS.md): nothing is fetched (cffi and pycparser come as wheels,
# the CUDA runtime and cuBLAS are the image's nvidia-* wheels), the bundle is under 64 MiB (the CUDA library
# travels xz-compressed and is made into its plugin wheel there), and the whole run is a few minutes.
# XLC_GPU_DRY_RUN=1 stops before the first CUDA call: the import with the CUDA backend asked for, which
# on a machine without the driver must be refused naming libcuda.so.1 (what `make gpu-bundle` checks here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=$(cd "${1:-$ROOT/build/gpu-report}" && pwd)
OUT=${OUT:-$BUNDLE/out}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-report.log") 2>&1
step() { echo "== $(date -u +%T) $*"; }

step "install: base and CUDA plugin wheels, into $($PYTHON -c 'import sys; print(sys.prefix)')"
WORK=$(mktemp -d)
xz -dc "$BUNDLE/libxlc-cuda.so.xz" > "$WORK/libxlc-cuda.so"
"$PYTHON" "$ROOT/scripts/plugin_wheel.py" cuda13 "$WORK/libxlc-cuda.so" -o "$WORK/wheels"
# --no-deps: the image has the plugin's nvidia-cuda-runtime and nvidia-cublas, and no network for the rest
"$PYTHON" -m pip install -q --no-index --no-deps --force-reinstall "$BUNDLE"/wheels/*.whl "$WORK"/wheels/*.whl
"$PYTHON" -m pip show -q nvidia-cuda-runtime nvidia-cublas >/dev/null || echo "note: the nvidia-* wheels are missing"

# the tests and bench from a copy outside the checkout, so that they import the installed package
mkdir -p "$WORK/run/docs"
cp -r "$ROOT/tests" "$ROOT/bench" "$WORK/run/"
cp "$ROOT/docs/benchmarks.md" "$WORK/run/docs/"
export XLLAMACPP_TEST_MODEL="$BUNDLE/model.gguf" BENCH_MODEL="$BUNDLE/model.gguf" PYTHONUNBUFFERED=1
cd "$WORK/run"

step "the CUDA library, asked for by name (the first CUDA call)"
if [ "${XLC_GPU_DRY_RUN:-0}" = 1 ]; then
  XLLAMACPP_BACKEND=cuda "$PYTHON" -c "import xllamacpp" 2>&1 | tail -3 || true
  "$PYTHON" -c "import xllamacpp as x; print('automatic:', x.library_choice)"
  step "dry run: stopped before the first CUDA call"
  exit 0
fi
XLLAMACPP_BACKEND=cuda "$PYTHON" -c "import xllamacpp as x; print(x.library_choice)"
"$PYTHON" -c "import xllamacpp as x; print('automatic:', x.library_choice)"

step "backend tests"
"$PYTHON" -m pytest -q -p no:cacheprovider -x tests/test_backends.py tests/test_backends_cuda.py || true

step "bench: prefill/decode, CPU and CUDA libraries interleaved"
"$PYTHON" bench/backends.py --write --reps 5 --name "CUDA library (gpu-report)" \
  cpu=XLLAMACPP_BACKEND=cpu cuda=XLLAMACPP_BACKEND=cuda || true
cp docs/benchmarks.md "$OUT/benchmarks.md"
step "done: $OUT"
