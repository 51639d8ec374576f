"""The ESPCN paper's Table 1 setting, with our shipped weights beside bicubic, OpenCV's peers and the paper.

Set5, Set14, BSD100 (BSDS500/val) and BSD500-test (BSDS500/test) at x2, x3 and x4, all under the standard
protocol of ``vsr.protocol`` (MATLAB-bicubic LR, BT.601 Y, ``scale`` pixels shaved). The OpenCV peers are
the ESPCN and FSRCNN graphs users run through ``dnn_superres`` (see ``benchmarks/peers.py``).

    python -m benchmarks.table1            # from the repository root; writes benchmarks/results/table1.md
"""
import argparse
from datetime import datetime, timezone
import hashlib
import json
import os
from pathlib import Path
import platform
import shlex
import sys
import time
from typing import Dict, List

import cv2
import numpy as np
import torch

import vsr
from vsr import weight_files
from vsr import images
from vsr.evaluate import PAPER, SetResult, evaluate_set, image_files, set_name
from vsr.protocol import luma, matlab_bicubic, modcrop, psnr_y
from vsr.upscaler import Upscaler

from benchmarks import peers

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set5", "Set14", "BSDS500/val", "BSDS500/test")
SCALES = (2, 3, 4)
# The paper names the 100 BSDS500 validation images BSD300 (its test half) and the 200 test images BSD500.
PAPER_SET = {"Set5": "Set5", "Set14": "Set14", "BSD100": "BSD300", "BSD500-test": "BSD500"}
# Issue 2's floor for the shipped weights.
FLOOR = {2: {"Set5": 36.6, "Set14": 32.3, "BSD100": 31.2}, 3: {"Set5": 32.9, "Set14": 29.3, "BSD100": 28.3},
         4: {"Set5": 30.5, "Set14": 27.5, "BSD100": 26.8}}
OURS = "ours (vsr ESPCN)"


def methods_for(scale: int, weights_dir: Path) -> Dict[str, object]:
    """Everything scored at ``scale``: LR uint8 Y -> HR uint8 Y."""
    methods = {"bicubic": lambda lr: matlab_bicubic(lr, scale)}
    if peers.available():
        for name in peers.MODELS:
            methods[f"OpenCV {name}"] = peers.PeerModel(name, scale).upscale_y
    # PyTorch, the reference backend, so the scores do not depend on whether the onnx extra is installed.
    up = Upscaler(scale, device="cpu", weights=weights_dir / f"espcn_x{scale}.pt", backend="torch")
    methods[OURS] = up.upscale_y
    return methods


def opencv_degradation(folder: Path, scale: int, methods: Dict[str, object]) -> SetResult:
    """PSNR when LR comes from ``cv2.resize`` (bicubic a = -0.75, no antialiasing) rather than MATLAB's
    ``imresize``: the peers' home ground, it seems. The baseline is OpenCV's bicubic upscaling."""
    result = SetResult(folder.name)
    for path in image_files(folder):
        hr = modcrop(luma(images.read(path)), scale)
        size = (hr.shape[1] // scale, hr.shape[0] // scale)
        lr = cv2.resize(hr, size, interpolation=cv2.INTER_CUBIC)
        scored = {"OpenCV bicubic": lambda y: cv2.resize(y, hr.shape[::-1], interpolation=cv2.INTER_CUBIC)}
        scored.update((name, m) for name, m in methods.items() if name != "bicubic")
        result.images.append(path.name)
        for name, method in scored.items():
            result.psnr.setdefault(name, []).append(psnr_y(method(lr), hr, scale))
    return result


def cell(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def environment() -> List[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return [f"- machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}; "
            f"everything ran on the CPU, ours on the PyTorch backend in fp32 ({torch.get_num_threads()} threads)",
            f"- versions: Python {platform.python_version()}, vsr {vsr.__version__}, torch {torch.__version__}, "
            f"opencv-python {cv2.__version__}, numpy {np.__version__}"]


def weights_lines(weights_dir: Path) -> List[str]:
    lines = []
    for scale in SCALES:
        path = weights_dir / f"espcn_x{scale}.pt"
        model, meta = weight_files.load(path, scale=scale)
        digest = hashlib.sha256()  # of the parameters, so rewriting a file's metadata keeps its fingerprint
        for tensor in model.state_dict().values():
            digest.update(tensor.numpy().tobytes())
        recipe = meta.get("recipe", {})
        lines.append(f"- `{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}` (parameters sha256 {digest.hexdigest()[:12]}…): "
                     f"saved {meta.get('saved', '?')}, trained on {', '.join(meta.get('training_data', [])) or '?'}, "
                     f"{recipe.get('epochs', '?')} epochs of {recipe.get('patches_per_epoch', '?')} patches, "
                     f"best epoch {meta.get('best_epoch', '?')}, on {meta.get('device', '?')}")
    return lines


def render(results: Dict[int, List[SetResult]], names: Dict[int, List[str]], weights_dir: Path,
           command: str, minutes: float, per_image: Path, opencv: Dict[int, List[SetResult]]) -> str:
    methods = [m for m in results[SCALES[0]][0].psnr]
    paper_cols = list(PAPER)
    out = ["# Table 1 reproduction: ESPCN (Shi et al., CVPR 2016) under the standard protocol", "",
           "Mean PSNR (dB) and SSIM on the luma of each set: HR cropped to a multiple of the scale, LR made with "
           "MATLAB-compatible bicubic (a = -0.5, antialiased), BT.601 studio-range Y, 8-bit outputs, `scale` pixels "
           "shaved at each border (`vsr/protocol.py`). BSD100 is BSDS500/val (the paper's \"BSD300\" test images); "
           "BSD500-test is BSDS500/test (200 images, the paper's \"BSD500\").", "",
           "Columns: `bicubic` is MATLAB-style bicubic; `OpenCV …` are the frozen TensorFlow graphs that "
           "opencv-contrib's `dnn_superres` loads (`../shared/data/peer-models`), run with plain `cv2.dnn` on the "
           "same Y input as `dnn_superres` feeds them (`benchmarks/peers.py`); `ours` are the weights shipped in "
           "`vsr/weights`; the paper columns are published numbers (x3 and x4 only; `-` where the paper gives none). "
           "`floor` is issue 2's minimum for the shipped weights.", "",
           "## PSNR (dB)", "",
           "| set | scale | images | " + " | ".join(methods) + " | " + " | ".join(paper_cols) + " | floor |",
           "|---|---|---|" + "---|" * (len(methods) + len(paper_cols) + 1)]
    for scale in SCALES:
        for res, name in zip(results[scale], names[scale]):
            paper = [PAPER[c].get(scale, {}).get(PAPER_SET[name]) for c in paper_cols]
            row = [f"{res.mean_psnr(m):.2f}" for m in methods]
            best = max(methods, key=res.mean_psnr)
            row = [f"**{v}**" if m == best else v for m, v in zip(methods, row)]
            floor = FLOOR.get(scale, {}).get(name)
            floor_cell = "-" if floor is None else f"{floor:.1f} " + ("met" if res.mean_psnr(OURS) >= floor else "**missed**")
            out.append(f"| {name} | x{scale} | {len(res.images)} | " + " | ".join(row) + " | "
                       + " | ".join(cell(p) for p in paper) + f" | {floor_cell} |")
    out += ["", "Bold: the best measured method in the row.", "", "## SSIM", "",
            "| set | scale | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for scale in SCALES:
        for res, name in zip(results[scale], names[scale]):
            out.append(f"| {name} | x{scale} | " + " | ".join(f"{res.mean_ssim(m):.4f}" for m in methods) + " |")
    out += ["", "## Gain of ours over bicubic and over OpenCV ESPCN (PSNR, dB)", "",
            "| set | x2 | x3 | x4 |", "|---|---|---|---|"]
    for i, name in enumerate(names[SCALES[0]]):
        cells = []
        for scale in SCALES:
            res = results[scale][i]
            vs_peer = (f" / {res.mean_psnr(OURS) - res.mean_psnr('OpenCV ESPCN'):+.2f}"
                       if "OpenCV ESPCN" in res.psnr else "")
            cells.append(f"{res.mean_psnr(OURS) - res.mean_psnr('bicubic'):+.2f}{vs_peer}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    other = list(opencv[SCALES[0]][0].psnr)
    out += ["", "## Aside: LR made by OpenCV instead of MATLAB (PSNR, dB)", "",
            "Not the protocol: here LR comes from `cv2.resize(..., INTER_CUBIC)` (a = -0.75, no antialiasing, so "
            "sharper and aliased LR) and the baseline is OpenCV's bicubic upscaling. The peers gain clearly over "
            "bicubic here, unlike under the protocol, which suggests they were trained on LR made this way; it also "
            "shows how ours, trained on MATLAB-style LR, fares on such input.",
            "", "| set | scale | " + " | ".join(other) + " |", "|---|---|" + "---|" * len(other)]
    for scale in SCALES:
        for res in opencv[scale]:
            out.append(f"| {res.name} | x{scale} | " + " | ".join(f"{res.mean_psnr(m):.2f}" for m in other) + " |")
    out += ["", "## How this was made", "",
            f"- command (from the repository root): `{command}`",
            f"- run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {minutes:.1f} min",
            *environment(), "- weights:", *["  " + line for line in weights_lines(weights_dir)],
            f"- per-image PSNR/SSIM: `{per_image.name}` beside this file", ""]
    return "\n".join(out)


def _rounded(scores: Dict[str, List[float]], digits: int) -> Dict[str, List[float]]:
    return {method: [round(v, digits) for v in values] for method, values in scores.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "images",
                        help="folder holding Set5, Set14 and BSDS500 (default ../shared/data/images)")
    parser.add_argument("--weights-dir", type=Path, default=weight_files.SHIPPED_DIR,
                        help="folder with espcn_x{2,3,4}.pt (default: the shipped weights)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "table1.md")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.table1" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    if not peers.available():
        print(f"warning: {peers.unavailable_reason()}; their columns are left out", file=sys.stderr)
    started = time.monotonic()
    results: Dict[int, List[SetResult]] = {}
    names: Dict[int, List[str]] = {}
    opencv: Dict[int, List[SetResult]] = {}
    for scale in SCALES:
        methods = methods_for(scale, args.weights_dir)
        results[scale], names[scale] = [], []
        for sub in SETS:
            folder = args.data / sub
            res = evaluate_set(folder, scale, methods)
            results[scale].append(res)
            names[scale].append(set_name(folder))
            print(f"x{scale} {set_name(folder):<12} " + "  ".join(f"{m} {res.mean_psnr(m):.2f}" for m in methods),
                  file=sys.stderr)
        opencv[scale] = [opencv_degradation(args.data / sub, scale, methods) for sub in ("Set5", "Set14")]
    minutes = (time.monotonic() - started) / 60
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, names, args.weights_dir, command, minutes, args.out.with_suffix(".json"), opencv))
    per_image = {f"x{s}/{n}": {"images": r.images, "psnr": _rounded(r.psnr, 3), "ssim": _rounded(r.ssim, 4)}
                 for s in SCALES for r, n in zip(results[s], names[s])}
    args.out.with_suffix(".json").write_text(json.dumps(per_image, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name} in {minutes:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
