#!/usr/bin/env bash
# Issue 15's GPU measurements in one call of at most 6 minutes, written to benchmarks/results/gpu.md
# (what each section measures: benchmarks/gpu_check.py). Three modes:
#
#   bash benchmarks/gpu_check.sh --prepare   here, with the shared data and a package index: PyAV wheels
#                                            into .whl/, clips into .gpu/ (both ignored by git), and the
#                                            CPU reference benchmarks/results/gpu-reference-cpu.json
#   bash benchmarks/gpu_check.sh --cpu       here: every section small on the CPU, a self-test written to
#                                            benchmarks/results/gpu-selftest-cpu.md; run it before the GPU
#   bash benchmarks/gpu_check.sh             on the lent GPU machine (no network; python3 3.12 with CUDA
#                                            torch, OpenCV, ONNX Runtime, tqdm; PyAV from .whl/)
#
# The device call (the `run` tool), after --prepare and --cpu passed here. The tool sends the checkout its
# session started in, so .whl/ (35 MB) and .gpu/ (6 MB) must be there: run --prepare in it, or copy both
# folders in from the checkout that made them (the clips are reproducible; their sha256 is in the reference).
#   command:   bash benchmarks/gpu_check.sh
#   carry:     [".whl", ".gpu"]
#   timeout_s: 360
# Results come back under $OUT: gpu.md and gpu_check.log; copy gpu.md to benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
AV_VERSION=18.1.0

if [ "${1:-}" = "--prepare" ]; then
    if ! compgen -G ".whl/av-${AV_VERSION}-*.whl" >/dev/null; then
        python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .whl "av==${AV_VERSION}"
    fi
    exec env PYTHONPATH=".:benchmarks:${PYTHONPATH:-}" python3 benchmarks/gpu_check.py --prepare
fi

if ! python3 -c "import av" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
    else
        echo "gpu_check: PyAV is missing and .whl/ has no wheels (run --prepare where pip works)" >&2
    fi
fi
export PYTHONPATH=".:benchmarks:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
log=/dev/null
if [ -n "${OUT:-}" ]; then  # on the lent machine only files under $OUT come back
    log="$OUT/gpu_check.log"
    nvidia-smi >"$log" 2>&1 || true
fi
status=0
timeout 320 python3 benchmarks/gpu_check.py "$@" 2>&1 | tee -a "$log" || status=$?
if [ -n "${OUT:-}" ]; then
    cp benchmarks/results/gpu.md "$OUT/" 2>/dev/null || true
fi
exit "$status"
