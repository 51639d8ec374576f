"""Regenerates benchmarks/results/video.md: ``vsr bench`` on every clip in ../shared/data/video at x3 and x4,
with OpenCV's ESPCN/FSRCNN peers scored and timed on the same LR frames, and a 1080p-output speed
comparison against the ESPCN paper's video claim.

    python benchmarks/video.py --frames 4            # CPU; a few minutes on 2 cores
    python benchmarks/video.py --device cuda --frames 50 --out results/video-gpu.md

Quality uses the bench protocol (MATLAB-bicubic LR, Y, 8-bit, shave = scale). The shared clips are
lossy 720p-and-smaller H.264/MPEG-4/Cinepak, not the paper's 1080p Xiph set, so PSNRs compare methods
with each other, not with the paper.
"""
import argparse
import hashlib
import json
import logging
import os
from pathlib import Path
import platform
import sys
import time
from typing import Callable, Dict, List, Sequence

import cv2
import numpy as np

from peers import MODELS, PeerModel, available as peers_available, unavailable_reason
from vsr import devices
from vsr.bench import report
from vsr.bench.run import BICUBIC, ESPCN, ClipResult, measure_clip
from vsr.bench.timing import DECODE, END_TO_END, SR
from vsr.protocol import matlab_bicubic
from vsr.upscaler import Upscaler
from vsr.video import Frame, open_video
from vsr.video.sr import SuperResolver

ROOT = Path(__file__).resolve().parent
VIDEO_DIR = ROOT.parents[1] / "shared" / "data" / "video"
SPEED_CLIP = VIDEO_DIR / "sam2" / "01_dog.mp4"
PAPER_S_PER_FRAME = {3: 0.038, 4: 0.029}  # Shi et al. 2016, 1080p output on an NVIDIA K2 GPU
OUT_1080P = (1080, 1920)
SCALES = (3, 4)


def clips() -> List[Path]:
    return sorted(p for p in VIDEO_DIR.rglob("*") if p.suffix in {".mp4", ".avi", ".webm"})


def peer_methods(scale: int) -> Dict[str, Callable[[np.ndarray], np.ndarray]]:
    if not peers_available():
        print(f"warning: no OpenCV peers: {unavailable_reason()}", file=sys.stderr)
        return {}
    return {f"OpenCV {name}": PeerModel(name, scale).upscale_y for name in MODELS}


def speed_1080p(up: Upscaler, frames: int) -> Dict[str, float]:
    """Seconds per frame for 1080p output: LR frames are real frames of SPEED_CLIP shrunk to 1080p / scale."""
    r = up.scale
    h, w = OUT_1080P[0] // r, OUT_1080P[1] // r
    with open_video(SPEED_CLIP) as video:
        lr = []
        for f, _ in zip(video, range(frames + 1)):
            planes = [cv2.resize(f.planes[0], (w, h), interpolation=cv2.INTER_AREA)]
            planes += [cv2.resize(p, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for p in f.planes[1:]]
            lr.append(Frame(tuple(planes), f.pts, f.time_base, f.index))
        layout = video.info.layout
    sr = SuperResolver(up, layout, layout, w, h)
    methods: Dict[str, Callable[[Frame], object]] = {
        "vsr ESPCN (Y + chroma)": lambda f: sr([f]),
        "vsr ESPCN (Y only)": lambda f: up.upscale_y(f.planes[0]),
    }
    methods.update({k: (lambda f, m=m: m(f.planes[0])) for k, m in peer_methods(r).items()})
    methods["bicubic, cv2.resize (Y)"] = lambda f: cv2.resize(f.planes[0], None, fx=r, fy=r, interpolation=cv2.INTER_CUBIC)
    methods["bicubic, MATLAB-compatible (Y)"] = lambda f: matlab_bicubic(f.planes[0], r)
    seconds = {}
    for name, method in methods.items():
        method(lr[0])  # warm-up
        devices.synchronize(up.device)
        start = time.perf_counter()
        for f in lr[1:]:
            method(f)
        devices.synchronize(up.device)
        seconds[name] = (time.perf_counter() - start) / frames
    return seconds


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def quality_table(results: Sequence[ClipResult], peers: Sequence[str]) -> List[str]:
    head = ["clip", "HR size", "codec", "frames", "decode fps", "SR fps", "e2e fps", "bicubic dB", "ESPCN dB", "gain"]
    head += [f"{p} dB" for p in peers] + ["ESPCN SSIM", "bicubic SSIM"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.name, f"{r.size[0]}x{r.size[1]}", r.codec, str(r.frames), fmt(r.fps(DECODE)), fmt(r.fps(SR)),
                 fmt(r.fps(END_TO_END)), f"{r.mean('psnr', BICUBIC):.2f}", f"{r.mean('psnr', ESPCN):.2f}",
                 f"{r.mean('psnr', ESPCN) - r.mean('psnr', BICUBIC):+.2f}"]
        cells += [f"{r.mean('psnr', p):.2f}" for p in peers]
        cells += [f"{r.mean('ssim', ESPCN):.4f}", f"{r.mean('ssim', BICUBIC):.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    means = [np.mean([r.mean("psnr", m) for r in results]) for m in [BICUBIC, ESPCN] + list(peers)]
    lines.append("| **mean** | | | | | | | " + f"{means[0]:.2f} | {means[1]:.2f} | {means[1] - means[0]:+.2f} | "
                 + " | ".join(f"{m:.2f}" for m in means[2:]) + " | | |")
    return lines


def peer_speed_table(results: Sequence[ClipResult], peers: Sequence[str]) -> List[str]:
    """Mean fps over the clips of one size (the 1280x720 ones), every method on the same LR frames."""
    hd = [r for r in results if r.size[1] == 720] or list(results)
    timed = {SR: "vsr ESPCN (Y + chroma, SR stage)", BICUBIC: "bicubic, MATLAB-compatible (Y)"}
    timed.update({p: f"{p} (Y)" for p in peers})
    lines = [f"| method | fps on the {len(hd)} clips of {hd[0].size[0]}x{hd[0].size[1]} output (mean) |", "|---|---|"]
    for key, label in timed.items():
        lines.append(f"| {label} | {np.mean([r.fps(key) for r in hd]):.1f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=4, help="frames per clip (default 4)")
    parser.add_argument("--speed-frames", type=int, default=5, help="frames for the 1080p speed test")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights", help="weights files instead of the shipped ones, e.g. 'runs/x{scale}.pt'")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "video.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not VIDEO_DIR.is_dir():
        print(f"shared clips not found at {VIDEO_DIR}", file=sys.stderr)
        return 1
    started, load_before = time.time(), os.getloadavg()[0]
    sections, raw, env = [], {}, None
    for scale in SCALES:
        up = Upscaler(scale, device=args.device, weights=args.weights.format(scale=scale) if args.weights else None)
        batch = up.default_batch
        env = report.environment(up, batch)
        peers = peer_methods(scale)
        results = []
        for path in clips():
            name = f"{path.parent.name}/{path.stem}"
            print(f"x{scale} {name}", file=sys.stderr, flush=True)
            results.append(measure_clip(path, up, name=name, max_frames=args.frames, batch=batch, extra_methods=peers))
        speed = speed_1080p(up, args.speed_frames)
        raw[f"x{scale}"] = {"clips": report.to_json(results, env)["clips"], "speed_1080p_s_per_frame": speed}
        digest = hashlib.sha256(up.weights_path.read_bytes()).hexdigest()[:12]
        sections += [f"## x{scale}", "", f"Weights `{env['weights']}` (sha256 {digest}...); first {args.frames} frames "
                     "of each clip.", ""]
        sections += quality_table(results, list(peers)) + [""]
        sections += ["Speed of every method on the same LR frames of the quality run (peers and bicubic: luma only):", ""]
        sections += peer_speed_table(results, list(peers)) + [""]
        sections += [f"1080p output ({OUT_1080P[1] // scale}x{OUT_1080P[0] // scale} -> 1920x1080), "
                     f"{args.speed_frames} real frames of `sam2/01_dog.mp4` shrunk to the LR size, one warm-up "
                     "frame excluded:", "", "| method | s/frame | fps |", "|---|---|---|"]
        sections += [f"| {k} | {v:.3f} | {1 / v:.1f} |" for k, v in speed.items()]
        sections += [f"| *ESPCN paper, NVIDIA K2 GPU* | *{PAPER_S_PER_FRAME[scale]:.3f}* | "
                     f"*{1 / PAPER_S_PER_FRAME[scale]:.1f}* |", ""]
    minutes = (time.time() - started) / 60
    load = f"1-minute load average {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end"
    v = env["versions"]
    text = "\n".join([
        "# Video benchmark: `vsr bench` on the shared clips, OpenCV peers, and the paper's video claim",
        "",
        f"Regenerate: `python benchmarks/video.py --frames {args.frames} --speed-frames {args.speed_frames}"
        f"{'' if args.device == 'auto' else ' --device ' + args.device}` ({minutes:.1f} min on this machine). "
        f"Raw per-frame numbers: `{args.out.with_suffix('.json').name}`.",
        "",
        f"- Machine: {env['device']}, {env['cpu_count']} cores, {env['torch_threads']} torch threads, "
        f"{platform.system()} {platform.machine()}; shared with other jobs while it ran ({load}), so CPU "
        "timings are pessimistic and vary by tens of percent between runs.",
        f"- Precision {env['precision']}, batch {env['batch']}; vsr {v['vsr']}, torch {v['torch']}, PyAV {v['av']} "
        f"(FFmpeg {v['ffmpeg']}), OpenCV {v['opencv']}, numpy {v['numpy']}, Python {v['python']}.",
        "- Clips: every file in `../shared/data/video`. They are **lossy** (H.264, MPEG-4, Cinepak) and "
        "**720p or smaller**, not the paper's uncompressed 1080p Xiph set: the HR reference already carries "
        "codec artefacts, so the PSNRs rank methods against each other and are not comparable with the paper's "
        "Xiph table. Xiph 1080p numbers need `vsr bench --download` (about 10 GB) and are not here.",
        "- Protocol (as `vsr bench`): HR luma cropped to a multiple of the scale, LR by MATLAB-compatible bicubic "
        "rounded to 8 bits; PSNR/SSIM on 8-bit Y with `scale` pixels shaved. decode fps = the reader alone; "
        "SR fps = ESPCN luma + bicubic chroma, host to host (the pipeline's SR stage); e2e fps = "
        "`upscale_video` on a lossless LR copy, libx264 crf 18 preset fast output, as `vsr upscale` runs. "
        "With a few frames per clip, decode and e2e include opening the file and starting the encoder, so "
        "they understate steady-state speed.",
        "- Peers: OpenCV `dnn_superres` ESPCN / FSRCNN / FSRCNN-small graphs (`../shared/data/peer-models`), run "
        "through plain `cv2.dnn` exactly as `dnn_superres` runs them (`benchmarks/peers.py`): luma only, on the "
        "CPU. They were trained on another degradation (not MATLAB bicubic), which costs them some PSNR here.",
        "- The paper's video claim: real time for 1080p output on a K2 GPU, 0.038 s/frame at x3 and 0.029 s/frame "
        "at x4. The CPU numbers below are not a like-for-like check of it; GPU numbers come from "
        "`python benchmarks/video.py --device cuda` on a GPU machine.",
        "",
    ] + sections)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(dict(env, scales=raw), indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
