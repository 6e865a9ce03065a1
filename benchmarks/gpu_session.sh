#!/usr/bin/env bash
# Everything minicnn still needs a GPU for, in one go (docs/gpu.md says what and why).
#
#   bash benchmarks/gpu_session.sh [all|tests|train|bench]     (default: all)
#
# Run from anywhere on a machine with an NVIDIA GPU, CuPy and (for the benchmark) PyTorch with
# CUDA. If CuPy is missing, wheels carried in .whl/ (pip download --only-binary=:all:
# cupy-cuda12x, or cupy-cuda13x for CUDA 13) are installed from there, offline. Results go to
# $OUT (the device tool's folder that comes back) or ./gpu-results: the GPU's name, the pytest
# logs, the training log and the benchmark table (text and JSON).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
RESULTS=${OUT:-gpu-results}
WHAT=${1:-all}
mkdir -p "$RESULTS"
status=0

step() { echo; echo "=== $* ==="; }

step "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
    | tee "$RESULTS/gpu.txt" || { echo "error: nvidia-smi: no NVIDIA GPU here"; exit 2; }

if ! "$PY" -c "import cupy" 2>/dev/null; then
    step "installing CuPy from the carried wheels in .whl/"
    ls .whl/cupy*.whl >/dev/null 2>&1 \
        || { echo "error: CuPy: not installed and no wheel in .whl/; see docs/gpu.md"; exit 2; }
    "$PY" -m pip install -q --no-index --find-links .whl --no-deps .whl/*.whl || exit 2
fi
# minicnn itself, offline (its runtime dependencies are already in the GPU image)
"$PY" -m pip install -q --no-deps --no-build-isolation -e . || exit 2
"$PY" -c "from minicnn import backend; import sys; r = backend.gpu_unavailable_reason(); \
print('minicnn sees the GPU' if r is None else 'error: ' + r); sys.exit(r is not None)" \
    || exit 2

if [ "$WHAT" = all ] || [ "$WHAT" = tests ]; then
    step "pytest -m gpu (every test that needs the GPU)"
    "$PY" -m pytest -q -m gpu -rs -p no:cacheprovider tests 2>&1 | tee "$RESULTS/pytest-gpu.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
    step "the device parity and CUDA kernel files, GPU and CPU tests together"
    "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_device_parity.py \
        tests/test_cuda_compile.py 2>&1 | tee "$RESULTS/pytest-parity.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi

if [ "$WHAT" = all ] || [ "$WHAT" = train ]; then
    step "the training command on the GPU (LeNet-5, 1 epoch on 10k images)"
    "$PY" -m minicnn.train lenet5 --device gpu --epochs 1 --limit-train 10000 \
        --limit-test 2000 --no-download --out "$RESULTS/train-lenet5" 2>&1 \
        | tee "$RESULTS/train-lenet5.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi

if [ "$WHAT" = all ] || [ "$WHAT" = bench ]; then
    step "benchmark: minicnn vs PyTorch + cuDNN, strict FP32 and TF32"
    "$PY" benchmarks/gpu.py --json "$RESULTS/benchmark.json" 2>&1 \
        | tee "$RESULTS/benchmark.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi

step "done (status $status): results in $RESULTS/"
exit $status
