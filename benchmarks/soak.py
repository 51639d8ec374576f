"""Soak test: one long ``upscale_video`` run, recording resident memory as it goes, then checking that
every frame came out at exactly its input timestamp. Writes benchmarks/results/soak.md.

    python benchmarks/soak.py                       # 10,000 frames of 32x24 at x2 (CPU: about a minute)
    python benchmarks/soak.py --frames 2000 --out /tmp/soak.md

The input is generated (x264, variable frame rate: every 7th frame lasts twice as long, so timestamps
are not simply frame numbers). Memory is the process's RSS from /proc/self/statm, sampled by the
progress callback; "flat" means the RSS of the last quarter of the run is within ``--tolerance-mb`` of
the second quarter (the first quarter is warm-up: allocator pools, codec buffers).
"""
import argparse
from fractions import Fraction
import os
from pathlib import Path
import platform
import resource
import sys
import tempfile
import time
from typing import List, Tuple

import av
import numpy as np
import torch

from vsr import Upscaler
from vsr.video import EncodeOptions, upscale_video

PAGE = os.sysconf("SC_PAGE_SIZE")
RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def make_input(path: Path, frames: int, width: int, height: int) -> List[int]:
    """A VFR H.264 clip of moving noise blocks; returns the pts (1/50 s units) of its frames."""
    rng = np.random.default_rng(0)
    base = rng.integers(16, 236, (height, width), dtype=np.uint8)
    pts, t = [], 0
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "18"})
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.codec_context.time_base = s.time_base = Fraction(1, 50)
        for i in range(frames):
            y = np.roll(base, (i, 2 * i), axis=(0, 1))
            chroma = np.full((height // 2, width), 128, np.uint8)  # yuv420p as one (3H/2, W) array
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]), format="yuv420p")
            frame.pts, frame.time_base = t, Fraction(1, 50)
            pts.append(t)
            t += 4 if i % 7 == 6 else 2
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return pts


def read_pts(path: Path) -> Tuple[List[Fraction], Tuple[int, int]]:
    with av.open(str(path)) as c:
        times, size = [], None
        for frame in c.decode(video=0):
            size = size or (frame.width, frame.height)
            times.append(frame.pts * frame.time_base)
        return times, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--size", default="32x24", help="input WxH")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--every", type=int, default=250, help="sample RSS every N frames")
    ap.add_argument("--tolerance-mb", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=RESULTS / "soak.md")
    args = ap.parse_args()
    if args.frames < 8 * args.every:  # each quarter needs two RSS samples, or "flat" means nothing
        ap.error(f"--frames must be at least 8 x --every ({8 * args.every}) to judge growth")
    width, height = map(int, args.size.split("x"))
    torch.set_num_threads(1)
    upscaler = Upscaler(args.scale, "cpu")
    samples: List[Tuple[int, float, float]] = []  # (frames done, seconds, RSS MB)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.mkv", Path(tmp) / "out.mkv"
        t0 = time.perf_counter()
        pts = make_input(src, args.frames, width, height)
        made = time.perf_counter() - t0
        started = time.perf_counter()
        samples.append((0, 0.0, rss_mb()))

        def progress(done, total):
            if done % args.every == 0:
                samples.append((done, time.perf_counter() - started, rss_mb()))

        summary = upscale_video(src, dst, upscaler, EncodeOptions(), progress=progress)
        samples.append((summary.frames, time.perf_counter() - started, rss_mb()))
        got, size = read_pts(dst)
    expected = [Fraction(p, 50) for p in pts]
    exact = got == expected
    mismatches = sum(a != b for a, b in zip(got, expected)) + abs(len(got) - len(expected))
    n = len(samples)
    second = [s[2] for s in samples[n // 4: n // 2]]
    last = [s[2] for s in samples[3 * n // 4:]]
    growth = float(np.median(last) - np.median(second))
    slope = np.polyfit([s[0] for s in samples[n // 4:]], [s[2] for s in samples[n // 4:]], 1)[0] * 1000
    flat = abs(growth) <= args.tolerance_mb
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Soak: one long `upscale_video` run",
        "",
        f"Command: `python benchmarks/soak.py --frames {args.frames} --size {args.size} --scale {args.scale}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared with other "
        f"work while it ran), torch {torch.__version__} with 1 thread, PyAV {av.__version__}, shipped x{args.scale} "
        f"weights, libx264 output.",
        "",
        "## Result",
        "",
        f"- Frames: {args.frames} in, {summary.frames} written, {len(got)} decoded back from the output "
        f"({size[0]}x{size[1]}).",
        f"- Timestamps: {'all exact' if exact else f'{mismatches} differ'} (variable frame rate input, compared "
        f"as exact fractions of a second).",
        f"- Memory: RSS {samples[0][2]:.1f} MB before the run, median {np.median(second):.1f} MB in the second "
        f"quarter, {np.median(last):.1f} MB in the last quarter: growth {growth:+.2f} MB "
        f"(slope {slope:+.3f} MB per 1000 frames after warm-up), peak RSS {peak:.1f} MB. "
        f"{'Flat' if flat else 'NOT flat'} (tolerance {args.tolerance_mb:g} MB).",
        f"- Time: input generated in {made:.1f} s; upscaling took {summary.seconds:.1f} s "
        f"({summary.fps:.0f} fps; busy s: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.busy.items()) + ").",
        "",
        "## RSS over the run",
        "",
        "| frames | seconds | RSS MB |",
        "|---:|---:|---:|",
    ]
    step = max(1, len(samples) // 20)
    shown = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    lines += [f"| {f} | {t:.1f} | {m:.1f} |" for f, t, m in shown]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[6:12]))
    return 0 if exact and flat and summary.frames == args.frames else 1


if __name__ == "__main__":
    sys.exit(main())
