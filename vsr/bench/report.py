"""What a bench run reports: the environment, a text table, JSON with per-frame arrays, and per-frame CSV."""
import csv
import io
import json
import os
from pathlib import Path
import platform
from typing import Any, Dict, List, Optional, Sequence

import av
import cv2
import numpy as np
import torch

from .. import __version__
from ..files import write_atomic
from ..upscaler import Upscaler
from .run import BICUBIC, ESPCN, ClipResult
from .timing import DECODE, END_TO_END, SR

STAGES = (DECODE, SR, END_TO_END)


def environment(upscaler: Upscaler, batch: int) -> Dict[str, Any]:
    """Device, precision, backend, batch and library versions: what a reader needs to compare two runs."""
    dev = upscaler.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_name()
    return {
        "device": f"{dev} ({name})",
        "precision": str(upscaler.dtype).replace("torch.", ""),
        "backend": upscaler.backend,
        "batch": batch,
        "scale": upscaler.scale,
        "weights": upscaler.weights_path.name,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "versions": {"vsr": __version__, "torch": torch.__version__, "av": av.__version__,
                     "ffmpeg": av.ffmpeg_version_info, "opencv": cv2.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _fmt(x: Optional[float], spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def table(results: Sequence[ClipResult], env: Dict[str, Any]) -> str:
    """Per clip: frames, fps of each stage, mean/min PSNR of ESPCN and bicubic, and the gain."""
    lines = [f"x{env['scale']} on {env['device']}, {env['precision']} on {env['backend']}, batch {env['batch']}, "
             f"weights {env['weights']}; "
             f"torch {env['versions']['torch']}, PyAV {env['versions']['av']}",
             "fps: decode = reader alone, SR = ESPCN luma + bicubic chroma, e2e = decode+SR+encode (libx264); "
             "PSNR on Y in dB, mean / min"]
    head = (f"{'clip':<18}{'frames':>7}{'HR size':>11}{'decode':>9}{'SR':>8}{'e2e':>8}"
            f"{'ESPCN':>15}{'bicubic':>15}{'gain':>7}")
    lines += [head, "-" * len(head)]
    for r in results:
        psnrs = [f"{r.mean('psnr', m):.2f} / {r.min('psnr', m):.2f}" for m in (ESPCN, BICUBIC)]
        gain = r.mean("psnr", ESPCN) - r.mean("psnr", BICUBIC)
        lines.append(f"{r.name[:17]:<18}{r.frames:>7}{f'{r.size[0]}x{r.size[1]}':>11}"
                     + "".join(f"{_fmt(r.fps(s)):>{w}}" for s, w in zip(STAGES, (9, 8, 8)))
                     + f"{psnrs[0]:>15}{psnrs[1]:>15}{gain:>+7.2f}")
    extras = sorted({m for r in results for m in r.psnr} - {ESPCN, BICUBIC})
    for m in extras:
        cells = ", ".join(f"{r.name} {r.mean('psnr', m):.2f} dB at {_fmt(r.fps(m))} fps" for r in results if m in r.psnr)
        lines.append(f"{m}: {cells}")
    return "\n".join(lines)


def to_json(results: Sequence[ClipResult], env: Dict[str, Any]) -> Dict[str, Any]:
    """Everything, with per-frame PSNR/SSIM arrays for each method."""
    clips = []
    for r in results:
        methods = sorted(r.psnr, key=lambda m: (m != ESPCN, m != BICUBIC, m))
        clips.append({
            "name": r.name, "path": r.path, "codec": r.codec, "width": r.size[0], "height": r.size[1],
            "frame_rate": r.frame_rate, "frames": r.frames,
            "fps": _fps(r),
            "mean_psnr": {m: r.mean("psnr", m) for m in methods},
            "min_psnr": {m: r.min("psnr", m) for m in methods},
            "mean_ssim": {m: r.mean("ssim", m) for m in methods if m in r.ssim},
            "psnr": {m: r.psnr[m] for m in methods},
            "ssim": {m: r.ssim[m] for m in methods if m in r.ssim},
        })
    return dict(env, clips=clips)


def _fps(r: ClipResult) -> Dict[str, Optional[float]]:
    """Frames per second by stage and method; the sr stage also under "ESPCN", its key before 0.2."""
    fps = {k: r.fps(k) for k in r.seconds}
    if SR in fps:
        fps[ESPCN] = fps[SR]
    return fps


def csv_text(results: Sequence[ClipResult]) -> str:
    """One row per clip and frame: PSNR (and SSIM) of each method."""
    methods = sorted({m for r in results for m in r.psnr}, key=lambda m: (m != ESPCN, m != BICUBIC, m))
    has_ssim = any(r.ssim for r in results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["clip", "frame"] + [f"psnr_{m}" for m in methods] + ([f"ssim_{m}" for m in methods] if has_ssim else []))
    for r in results:
        for k in range(r.frames):
            row: List[Any] = [r.name, k] + [_cell(r.psnr, m, k) for m in methods]
            if has_ssim:
                row += [_cell(r.ssim, m, k) for m in methods]
            writer.writerow(row)
    return out.getvalue()


def _cell(values: Dict[str, List[float]], method: str, k: int) -> str:
    return f"{values[method][k]:.4f}" if method in values else ""


def write_text(path: Path, text: str) -> None:
    """Write a report so ``path`` never holds half of it."""
    write_atomic(path, text.encode())


def write_json(path: Path, results: Sequence[ClipResult], env: Dict[str, Any]) -> None:
    write_text(path, json.dumps(to_json(results, env), indent=1) + "\n")
