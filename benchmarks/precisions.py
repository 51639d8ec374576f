"""Quality per CPU engine and precision under the standard protocol: every (backend, precision) the CPU
path offers, scored on the same images in one pass, beside PyTorch fp32 (the reference).

    python benchmarks/precisions.py                      # Set5, Set14, BSD100 at x2/x3/x4 (~10 min on 2 cores)
    python benchmarks/precisions.py --sets Set5 --scales 3

Writes ``benchmarks/results/precision-cpu.md``: mean PSNR per set and engine, the difference to fp32, and
the largest per-image difference. ``tests/test_precisions.py`` pins the bf16 figures of Set5.
"""
import argparse
from pathlib import Path
import platform
import sys
import time
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

from vsr import UpscalerSpec, VsrError  # noqa: E402
from vsr.evaluate import evaluate, set_name  # noqa: E402
from pipeline_speed import machine  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "images"
SETS = {"Set5": DATA / "Set5", "Set14": DATA / "Set14", "BSD100": DATA / "BSDS500" / "val"}
ENGINES: List[Tuple[str, str]] = [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
                                  ("openvino", "bf16"), ("torch", "bf16")]
REFERENCE = "torch fp32"


def engines(scale: int) -> Dict[str, object]:
    """The upscalers this machine can build, by name; the others are said and skipped."""
    out = {}
    for backend, precision in ENGINES:
        try:
            out[f"{backend} {precision}"] = UpscalerSpec(scale, "cpu", backend=backend, precision=precision).build()
        except VsrError as exc:
            print(f"x{scale}: {backend} {precision} skipped: {exc}", file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    ap.add_argument("--scales", nargs="+", type=int, choices=(2, 3, 4), default=[2, 3, 4])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "precision-cpu.md")
    args = ap.parse_args()
    missing = [s for s in args.sets if not SETS[s].is_dir()]
    if missing:
        print(f"precisions.py: {', '.join(missing)} not found under {DATA}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows = []
    names: List[str] = []
    for scale in args.scales:
        ups = engines(scale)
        names = names or list(ups)
        methods = {name: up.upscale_y for name, up in ups.items()}
        for result, key in zip(evaluate([SETS[s] for s in args.sets], scale, methods, with_ssim=False), args.sets):
            ref = result.psnr[REFERENCE]
            cells = []
            for name in ups:
                diffs = [a - b for a, b in zip(result.psnr[name], ref)]
                mean = result.mean_psnr(name)
                cells.append(f"{mean:.3f}" if name == REFERENCE else
                             f"{mean:.3f} ({mean - result.mean_psnr(REFERENCE):+.3f}; worst {min(diffs):+.3f})")
            rows.append(f"| {set_name(SETS[key])} | x{scale} | {len(result.images)} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    import openvino
    import onnxruntime

    lines = [
        "# Quality per CPU engine and precision",
        "",
        f"`python benchmarks/precisions.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{(time.perf_counter() - started) / 60:.1f} min): {machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, ONNX Runtime {onnxruntime.__version__}, OpenVINO {openvino.__version__}. "
        "The shipped weights, the standard protocol (`vsr eval`'s: MATLAB bicubic degradation, BT.601 Y, border "
        "shaved by the scale); mean PSNR (dB) per set, in brackets the difference to PyTorch fp32 and the "
        "worst per-image difference. bf16 is offered only within 0.05 dB of fp32 (issue 23).",
        "",
        "| set | scale | images | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
        *rows,
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
