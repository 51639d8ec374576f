"""Learning curves of 'vsr train' runs side by side, from their checkpoints, as a markdown table.

A/B runs share the seed and the budget, so the table compares validation PSNR at equal samples seen:

    python benchmarks/train_ab.py runs/a.ckpt runs/b.ckpt [--every 9600]
"""
import argparse
from pathlib import Path
from typing import Dict, List

from vsr.train import load_checkpoint


def curves(paths: List[Path]) -> Dict[str, Dict[int, float]]:
    """Checkpoint name -> {samples seen: validation PSNR}."""
    return {p.stem: {c["samples"]: c["psnr"] for c in load_checkpoint(p)["curve"]} for p in paths}


def table(runs: Dict[str, Dict[int, float]], every: int = 0) -> str:
    samples = sorted({s for curve in runs.values() for s in curve if not every or s % every == 0})
    lines = ["| samples | " + " | ".join(runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for s in samples:
        cells = [f"{curve[s]:.4f}" if s in curve else "" for curve in runs.values()]
        lines.append(f"| {s:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--every", type=int, default=0, help="only rows at multiples of this many samples")
    args = parser.parse_args()
    print(table(curves(args.checkpoints), args.every))
