"""Time one 'vsr train' step on the CPU (patch sampling, forward, backward, Adam) and the ways to speed it up.

    python benchmarks/train_speed.py --threads 1 2 --batch 128 --patch 32 --scale 3 [--compile] [--amp]

Each figure is the median of --steps steps after warm-up steps, on random data of the training shapes.
"""
import argparse
import statistics
import time

import torch

from vsr.model import ESPCN
from vsr.train import Dataset, Recipe, dihedral, loss_function, sample_batch


def step_times(threads: int, recipe: Recipe, layout: str, compiled: bool, steps: int, amp: bool = False) -> list:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    n, h, w, r = 64, 120, 160, recipe.scale
    data = Dataset(torch.randint(0, 256, (n, h, w), dtype=torch.uint8),
                   torch.randint(0, 256, (n, r * h, r * w), dtype=torch.uint8),
                   torch.full((n,), float(h * w), dtype=torch.float64),
                   torch.full((n,), h - recipe.patch + 1), torch.full((n,), w - recipe.patch + 1))
    model = ESPCN(r).train()
    memory = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.Adam(model.parameters(), recipe.lr)
    forward = torch.compile(model.forward_valid) if compiled else model.forward_valid
    loss_fn = loss_function(recipe.loss)
    times = []
    for i in range(steps + 5):
        start = time.perf_counter()
        lr, hr = sample_batch(data, recipe, gen)
        k = i % 8
        x = dihedral(lr, k).unsqueeze(1).float().div_(255).contiguous(memory_format=memory)
        target = dihedral(hr, k).unsqueeze(1).float().div_(255)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):  # as vsr train --amp
            output = forward(x)
        loss = loss_fn(output.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times[5:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to start)")
    parser.add_argument("--amp", action="store_true", help="also time bf16 autocast (vsr train --amp)")
    args = parser.parse_args()
    recipe = Recipe(scale=args.scale, batch=args.batch, patch=args.patch)
    print(f"torch {torch.__version__}, batch {args.batch}, {args.patch}x{args.patch} LR patches, x{args.scale}")
    print("| threads | layout | compiled | bf16 autocast | median ms/step | min ms/step | samples/s (median) |")
    print("|---|---|---|---|---|---|---|")
    for threads in args.threads:
        for layout in ("contiguous", "channels_last"):
            for compiled in (False, True) if args.compile else (False,):
                for amp in (False, True) if args.amp else (False,):
                    t = step_times(threads, recipe, layout, compiled, args.steps, amp)
                    med = statistics.median(t)
                    print(f"| {threads} | {layout} | {compiled} | {amp} | {med * 1e3:.0f} | {min(t) * 1e3:.0f} | "
                          f"{args.batch / med:.0f} |", flush=True)


if __name__ == "__main__":
    main()
