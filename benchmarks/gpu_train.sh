#!/usr/bin/env bash
# One call trains x2, x3, x4, and x3 a second time with the same command (to show the recipe reproduces),
# as four processes sharing one GPU, with the resumable trainer: data gathered on the device, batch $BATCH,
# bfloat16 convolutions with float32 weights and Adam (--amp), torch.compile with CUDA graphs (--compile),
# a fixed number of epochs (so two runs of one command are the same run). Every process checkpoints each
# minute and on SIGTERM ($LIMIT s per process); running the script again with $out in place resumes every
# unfinished run (--resume) and skips finished ones.
# Needs PyTorch, OpenCV and tqdm (not PyAV). Data: luma PNGs of T91, General-100 and BSDS500/train (what
# 'vsr train' reads from the originals) in .gpu/data, made by benchmarks/prepare_luma.py.
#   bash benchmarks/gpu_train.sh                        # on the GPU machine: ~79M samples a scale
#   DEVICE=cpu SMOKE=1 bash benchmarks/gpu_train.sh     # the same path, tiny, on the CPU (self-test)
set -u
cd "$(dirname "$0")/.."
out=${GPU_OUT:-${OUT:-out}/gpu-train}
device=${DEVICE:-cuda}
data=${DATA:-.gpu/data}
batch=${BATCH:-1024}
epochs=${EPOCHS:-75}                       # 75 x 1,048,576 = 78.6M samples: 10x the shipped x3 run's 7.9M
per_epoch=${PATCHES_PER_EPOCH:-1048576}
limit=${LIMIT:-480}
loss=${LOSS:-l1}  # L1 beat MSE by +0.42 dB at equal samples from scratch (results/training.md; 38k samples only)
fast=${FAST:---amp --compile}
size=""
if [ -n "${SMOKE:-}" ]; then
  batch=16; epochs=2; per_epoch=64; size="--patch 12"; limit=${LIMIT:-600}
fi
mkdir -p "$out"
if [ ! -d "$data/T91" ]; then
  python3 benchmarks/prepare_luma.py ../shared/data/images "$data" || exit 1
fi
{
  date -u +"%F %T UTC"
  if [ "$device" = cuda ]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; fi
  python3 -c "import torch, cv2; print('torch', torch.__version__, 'opencv', cv2.__version__)"
  echo "device $device batch $batch epochs $epochs patches/epoch $per_epoch loss $loss limit ${limit}s options $fast $size"
} >> "$out/run.txt"
for job in x2:2 x3:3 x3-repeat:3 x4:4; do
  name=${job%%:*}; scale=${job##*:}
  ckpt="$out/espcn_$name.ckpt"
  resume=""
  if [ -f "$ckpt" ]; then resume="--resume"; fi
  OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1 timeout -s TERM -k 60 "$limit" python3 -m vsr train \
    --data "$data/T91" "$data/General-100" "$data/train" --scale "$scale" --out "$out/espcn_$name.pt" \
    --checkpoint "$ckpt" --checkpoint-every 1 --device "$device" --batch "$batch" --epochs "$epochs" \
    --patches-per-epoch "$per_epoch" --loss "$loss" $size $fast --no-progress $resume -y >> "$out/train_$name.log" 2>&1 &
done
status=0
for _ in 1 2 3 4; do
  wait -n || status=$?  # 130: stopped by the limit with its checkpoint written; run the script again to resume
done
tail -n 2 "$out"/train_*.log
exit "$status"
