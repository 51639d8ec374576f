"""GPU probe: ESPCN + chroma to 1080p, frames/s by precision and batch (model resident, uint8 in/out on device).

Run on a machine with CUDA: ``python3 benchmarks/gpu_model_speed.py``. Prints a markdown table.
"""
import time

import torch

from vsr.upscaler import Upscaler

LR_SIZES = {2: (540, 960), 3: (360, 640), 4: (270, 480)}


def frames_per_second(up: Upscaler, batch: int, seconds: float = 1.0) -> float:
    h, w = LR_SIZES[up.scale]
    r = up.scale
    y = torch.randint(16, 236, (batch, 1, h, w), dtype=torch.uint8, device="cuda")
    uv = torch.randint(16, 241, (batch, 2, h // 2, w // 2), dtype=torch.uint8, device="cuda")

    def once():
        return up.upscale_planes(y, uv, (r * h // 2, r * w // 2))

    for _ in range(3):
        once()
    torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        once()
        n += 1
    torch.cuda.synchronize()
    return n * batch / (time.perf_counter() - start)


def main() -> None:
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| scale | precision | batch | frames/s (1080p out) |\n|---|---|---|---|")
    for scale in (3,):
        for precision in ("fp32", "fp16"):
            up = Upscaler(scale, device="cuda", precision=precision)
            for batch in (8, 32):
                print(f"| x{scale} | {precision} | {batch} | {frames_per_second(up, batch):.0f} |", flush=True)


if __name__ == "__main__":
    main()
