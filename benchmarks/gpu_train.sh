#!/usr/bin/env bash
# Trains the shipped weights on one GPU in a few minutes: x2, x3, x4, and x3 a second time with the same
# command to measure how well the recipe reproduces. Needs PyTorch, OpenCV and tqdm (not PyAV).
# Data: luma PNGs of T91, General-100 and BSDS500/train (identical to what 'vsr train' reads from the
# originals: it trains on luma), prepared by benchmarks/prepare_luma.py into .gpu/data.
set -u
out=${GPU_OUT:-out/gpu-train}
mkdir -p "$out"
data=".gpu/data/T91 .gpu/data/General-100 .gpu/data/train"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt"
python3 -c "import torch, cv2; print('torch', torch.__version__, 'opencv', cv2.__version__)" >> "$out/gpu.txt"
for job in x2:2 x3:3 x3-repeat:3 x4:4; do
  name=${job%%:*}; scale=${job##*:}
  OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1 timeout "${TRAIN_TIMEOUT:-235}" python3 -m vsr train --data $data \
    --scale "$scale" --out "$out/espcn_$name.pt" --device cuda --no-progress --time-budget "${BUDGET:-3.3}" -y \
    > "$out/train_$name.log" 2>&1 &
done
wait
mkdir -p vsr/weights && cp "$out"/espcn_x[234].pt vsr/weights/  # the speed probe loads the shipped files
PYTHONPATH=. PYTHONUNBUFFERED=1 timeout 25 python3 benchmarks/gpu_model_speed.py > "$out/model_speed.md" 2>&1
tail -n 3 "$out"/train_*.log
cat "$out/model_speed.md"
