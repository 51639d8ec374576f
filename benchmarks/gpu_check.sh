#!/usr/bin/env bash
# Every GPU check of the speed issue in one go (< 8 min on an H100), written to
# benchmarks/results/speed-gpu.md. Needs CUDA PyTorch, opencv-python-headless and tqdm; PyAV comes
# from the wheels in .whl/ when it is not installed. `--cpu` runs the same paths small on the CPU.
#   bash benchmarks/gpu_check.sh [--cpu] [extra gpu_check.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import av" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
    else
        echo "gpu_check: PyAV is missing and .whl/ has no wheels; the video checks will fail" >&2
    fi
fi
export PYTHONPATH=".:${PYTHONPATH:-}"
status=0
timeout 470 python3 benchmarks/gpu_check.py "$@" || status=$?
# On the lent GPU machine only files under $OUT come back.
if [ -n "${OUT:-}" ]; then
    cp benchmarks/results/speed-gpu*.md "$OUT/" 2>/dev/null || true
fi
exit "$status"
