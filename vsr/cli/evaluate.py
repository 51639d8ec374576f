"""``vsr eval``: the standard protocol on image folders, ESPCN beside bicubic."""
import argparse
import json
from pathlib import Path

from ..errors import VsrError
from .common import add_model_arguments, build_upscaler


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="PSNR/SSIM of ESPCN and bicubic on image sets",
                       description="Evaluate under the standard SR protocol (MATLAB bicubic degradation, "
                                   "BT.601 Y, border shaved by the scale).")
    p.add_argument("folders", type=Path, nargs="+", help="folders of HR images (e.g. Set5 Set14)")
    add_model_arguments(p, ("scale", "device", "weights", "precision", "backend", "tile"))
    p.add_argument("--no-ssim", action="store_true", help="PSNR only (faster)")
    p.add_argument("--json", type=Path, help="also write per-image results as JSON")
    p.add_argument("--write-metrics", action="store_true",
                   help="store the mean scores in the --weights file's metadata")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import weight_files
    from ..evaluate import evaluate, image_files, set_name
    from ..protocol import matlab_bicubic

    for folder in args.folders:
        if not folder.is_dir():
            raise VsrError(f"not a folder: {folder}")
        if not image_files(folder):
            raise VsrError(f"no images in {folder}")
    if args.write_metrics and args.weights is None:
        raise VsrError("--write-metrics needs --weights FILE (the shipped files are read-only)", exit_code=2)
    up = build_upscaler(args)
    methods = {"bicubic": lambda lr: matlab_bicubic(lr, args.scale), "ESPCN": up.upscale_y}
    results = evaluate(args.folders, args.scale, methods, with_ssim=not args.no_ssim)
    ssim_cols = not args.no_ssim
    head = f"{'set':<12}{'images':>7}  {'bicubic':>15}  {'ESPCN':>15}  {'gain':>6}"
    print(f"x{args.scale}, weights {up.weights_path.name}; PSNR dB" + (" / SSIM" if ssim_cols else ""))
    print(head)
    summary = {}
    for res, folder in zip(results, args.folders):
        name = set_name(folder)
        cells = []
        for m in ("bicubic", "ESPCN"):
            cell = f"{res.mean_psnr(m):.2f}" + (f" / {res.mean_ssim(m):.4f}" if ssim_cols else "")
            cells.append(f"{cell:>15}")
        gain = res.mean_psnr("ESPCN") - res.mean_psnr("bicubic")
        print(f"{name:<12}{len(res.images):>7}  {cells[0]}  {cells[1]}  {gain:>+6.2f}")
        summary[name] = {"psnr": round(res.mean_psnr("ESPCN"), 3), "bicubic_psnr": round(res.mean_psnr("bicubic"), 3)}
        if ssim_cols:
            summary[name].update(ssim=round(res.mean_ssim("ESPCN"), 4), bicubic_ssim=round(res.mean_ssim("bicubic"), 4))
    if args.json:
        args.json.write_text(json.dumps({set_name(f): {"images": r.images, "psnr": r.psnr, "ssim": r.ssim}
                                         for r, f in zip(results, args.folders)}, indent=1))
    if args.write_metrics:
        model, meta = weight_files.load(args.weights, scale=args.scale)
        meta.setdefault("metrics", {}).update(summary)
        weight_files.save(model, args.weights, meta)
        print(f"metrics written to {args.weights}")
    return 0
