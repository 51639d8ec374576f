"""Every GPU measurement of issue 15 in one run of at most 6 minutes, written to benchmarks/results/gpu.md.

    bash benchmarks/gpu_check.sh --prepare   # here, once: PyAV wheels, 1080p clips and the CPU reference
    bash benchmarks/gpu_check.sh --cpu       # here: the same code paths, small, on the CPU (a self-test)
    bash benchmarks/gpu_check.sh             # on the GPU machine (no network; .whl and .gpu carried)

1. Model only: uint8 planes on the device in and out, x3 (and x2, x4) to 1920x1080, fp16/fp32, by batch.
2. The SR stage host to host (pinned buffers, uploads/compute/downloads on three streams): one batch at a
   time against three in flight; the frames must be identical.
3. ``vsr bench`` on 1080p clips made from the shared 720p clips (bicubic 1280x720 -> 1920x1080, H.264):
   SR-stage fps, and per-frame PSNR against the CPU reference computed beforehand (within 0.01 dB).
4. ``vsr upscale`` end to end (``upscale_video``), 640x360 x3 -> 1080p and 1280x720 x3 -> 4K: each stage
   alone, each stage's busy fps inside the run, end to end; libx264, NVENC where present, NVDEC input.
5. GPU memory for N and 4N frames (torch.cuda.max_memory_allocated): flat in clip length.

Each section has its own time share and records its own failure, so one broken part loses nothing else.
"""
import vsr  # noqa: F401 - first, so its OMP_WAIT_POLICY is set before torch loads OpenMP
import argparse
from datetime import datetime, timezone
from fractions import Fraction
import hashlib
import json
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable, List

import av
import numpy as np
import torch

from pipeline_speed import downscaled_y4m, median_fps, read_frames
from vsr import devices
from vsr.bench.timing import DECODE, ENCODE, END_TO_END, SR
from vsr.upscaler import Upscaler
from vsr.video import open_video, upscale_video
from vsr.video.frame import Frame
from vsr.video.encode import EncodeOptions, VideoSink
from vsr.video.sr import SuperResolver, overlapped

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "video" / "sam2"
CARRIED = ROOT / ".gpu"  # ignored by git; named in the device call's carry list (../shared does not travel)
SOURCES = ("01_dog.mp4", "03_blocks.mp4")  # 1280x720 H.264 clips of the shared data (Apache-2.0)
REF_FRAMES = 60
REFERENCE = ROOT / "benchmarks" / "results" / "gpu-reference-cpu.json"
LR_SIZES = {2: (540, 960), 3: (360, 640), 4: (270, 480)}
PSNR_TOLERANCE = 0.01  # dB


class Check:
    """Collects markdown sections; a section that raises is reported with its error and skipped. The
    report is rewritten after each section, so a run cut short still leaves what it measured."""

    def __init__(self, deadline: float, save: Callable[[List[str]], None]):
        self.sections: List[str] = []
        self.deadline = deadline
        self.save = save

    def run(self, title: str, section: Callable[[], str]) -> None:
        start = time.perf_counter()
        if start > self.deadline:
            body = "SKIPPED: the run's time budget is spent.\n"
        else:
            try:
                body = section()
            except Exception:  # noqa: BLE001 - report any failure and go on with the next check
                body = "FAILED:\n\n```\n" + traceback.format_exc()[-3000:] + "```\n"
        self.sections.append(f"## {title}\n\n{body}\n({time.perf_counter() - start:.0f} s)\n")
        print(self.sections[-1], flush=True)
        self.save(self.sections)


def timed_fps(once: Callable[[], object], batch: int, device: torch.device, seconds: float) -> float:
    for _ in range(3):
        once()
    devices.synchronize(device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < 3:
        once()
        n += 1
    devices.synchronize(device)
    return n * batch / (time.perf_counter() - start)


# ---- 1. model only --------------------------------------------------------------------------------
def sr_step(up: Upscaler, batch: int, size=None):
    """One batch of 4:2:0 uint8 frames on the device -> uint8 planes r times larger, on the device."""
    h, w = size or LR_SIZES[up.scale]
    r = up.scale
    gen = torch.Generator(device=up.device).manual_seed(0)
    y = torch.randint(16, 236, (batch, 1, h, w), dtype=torch.uint8, device=up.device, generator=gen)
    uv = torch.randint(16, 241, (batch, 2, h // 2, w // 2), dtype=torch.uint8, device=up.device, generator=gen)

    def once():
        return up.upscale_planes(y, uv, (r * h // 2, r * w // 2))

    return once


def graphed(once: Callable[[], object], device: torch.device) -> Callable[[], object]:
    """``once`` captured as a CUDA graph and replayed: one launch per batch instead of dozens."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(3):
            once()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        once()
    return graph.replay


def model_speed(args) -> str:
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    precisions = ("fp16", "fp32") if gpu else ("fp32",)
    batches = (1, 8, 32, 64) if gpu else (1, 2)
    seconds = 1.0 if gpu else 0.2
    size = None if gpu else (36, 64)
    rows, best = [], {}
    for scale in (3, 2, 4):
        for precision in precisions:
            up = Upscaler(scale, device=args.device, precision=precision)
            for batch in batches if scale == 3 else batches[-1:]:
                once = sr_step(up, batch, size and (size[0] * 3 // scale, size[1] * 3 // scale))
                rows.append((scale, precision, batch, "eager", timed_fps(once, batch, device, seconds)))
                print(rows[-1], flush=True)
                if gpu and precision == "fp16":
                    try:
                        fps = timed_fps(graphed(once, device), batch, device, seconds)
                    except Exception as exc:  # noqa: BLE001 - keep the eager figures if capture fails
                        print(f"CUDA graph failed: {exc}", flush=True)
                        fps = float("nan")
                    rows.append((scale, precision, batch, "CUDA graph", fps))
                    print(rows[-1], flush=True)
            del up
    if gpu:  # cuDNN autotuning (off in vsr): frames keep one size, so tuning once could pay for the rest
        torch.backends.cudnn.benchmark = True
        up = Upscaler(3, device=args.device, precision="fp16")
        for batch in batches:
            rows.append((3, "fp16", batch, "eager, cudnn.benchmark", timed_fps(sr_step(up, batch), batch, device, seconds)))
            print(rows[-1], flush=True)
        torch.backends.cudnn.benchmark = False
    for scale in (3, 2, 4):
        best[scale] = max(r[4] for r in rows if r[0] == scale and r[4] == r[4])  # r[4] == r[4]: not NaN
    best16 = max((r[4] for r in rows if r[0] == 3 and r[1] == "fp16" and r[4] == r[4]), default=float("nan"))
    table = "\n".join(f"| x{s} | {p} | {b} | {m} | {f:.0f} |" for s, p, b, m, f in rows)
    out = "1920x1080" if gpu else f"{3 * size[1]}x{3 * size[0]} (CPU self-test size)"
    return (f"Frames/s to {out}, uint8 planes on the device in and out, channels_last, chroma bicubic included; "
            f"each figure over >= {seconds} s after 3 warm-up calls.\n\n"
            f"| scale | precision | batch | launch | frames/s |\n|---|---|---|---|---|\n{table}\n\n"
            f"Best: x3 **{best[3]:.0f}**, x2 {best[2]:.0f}, x4 {best[4]:.0f} frames/s; x3 fp16 best **{best16:.0f}** "
            f"(target >= 4000 fp16 on an H100{'' if 'H100' in args.card else '; this is not an H100'}).\n")


# ---- 2. the SR stage, host to host -------------------------------------------------------------
def sr_stage(args) -> str:
    """One batch at a time (depth 1) against three in flight (depth 3), frames identical."""
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    h, w = LR_SIZES[3] if gpu else (36, 64)
    n = 512 if gpu else 12
    batch = 8 if gpu else 3
    up = Upscaler(3, device=args.device)
    from vsr.video.layout import parse

    layout = parse("yuv420p")
    rng = np.random.default_rng(0)
    distinct = [tuple(rng.integers(16, 236, s, dtype=np.uint8) for s in layout.plane_sizes(w, h)) for _ in range(64)]
    frames = [Frame(distinct[i % len(distinct)], i, Fraction(1, 25), i) for i in range(n)]
    rows, outputs = [], {}
    for depth in (1, 2, 3):
        sr = SuperResolver(up, layout, layout, w, h, depth=depth)
        outputs[depth] = [tuple(p.copy() for p in f.planes) for f in overlapped(frames[:64], batch, sr)]

        def run() -> None:
            for _ in overlapped(frames, batch, sr):  # frames dropped at once, as the encoder drops them
                pass

        fps = median_fps(n, {SR: run}, args.repeats, up.device)[SR]
        rows.append(f"| {depth} | {fps:.0f} | {sr.transfer.pool.allocated} |")
        print(rows[-1], flush=True)
    same = all(np.array_equal(a, b) for d in (2, 3) for fa, fb in zip(outputs[d], outputs[1]) for a, b in zip(fa, fb))
    return (f"`SuperResolver` through `sr.overlapped`, as the pipeline's SR thread runs it: {n} uint8 4:2:0 "
            f"frames {w}x{h} in host memory -> {3 * w}x{3 * h} planes in host memory, x3, batch {batch}, "
            f"{up.dtype}, median of {args.repeats}.\n\n"
            "| batches in flight | frames/s | host buffers allocated |\n|---|---|---|\n" + "\n".join(rows) +
            f"\n\nFrames with 2 and 3 in flight identical to one at a time: **{'yes' if same else 'NO'}**.\n")


# ---- 3. vsr bench against the CPU reference ---------------------------------------------------
def clip_1080p(source: Path, out: Path, frames: int) -> Path:
    """A 1080p clip from a 720p one (swscale bicubic), H.264 crf 16, single-threaded so it is reproducible."""
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        rate = Fraction(src.streams.video[0].average_rate)
        stream = dst.add_stream("libx264", rate=rate, options={"preset": "medium", "crf": "16", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        for i, f in zip(range(frames), src.decode(video=0)):
            big = f.reformat(width=1920, height=1080, format="yuv420p", interpolation="BICUBIC")
            big.pts, big.time_base = i, 1 / rate
            dst.mux(stream.encode(big))
        dst.mux(stream.encode(None))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_clips() -> List[Path]:
    """The carried folder: the shared 720p sources and the 1080p clips made from them."""
    (CARRIED / "clips").mkdir(parents=True, exist_ok=True)
    clips = []
    for name in SOURCES:
        shutil.copyfile(SHARED / name, CARRIED / name)
        clips.append(clip_1080p(SHARED / name, CARRIED / "clips" / f"{Path(name).stem}_1080p.mp4", REF_FRAMES))
    return clips


def prepare() -> None:
    """Here, before the device call: the carried clips and the CPU reference (committed)."""
    clips = make_clips()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "ref.json"
        cmd = ["vsr", "bench", *[f".gpu/clips/{c.name}" for c in clips], "--scale", "3", "--frames", str(REF_FRAMES),
               "--no-ssim", "--no-e2e", "--device", "cpu", "--json", str(report)]
        subprocess.run([sys.executable, "-m", *cmd], check=True, cwd=ROOT)
        bench = json.loads(report.read_text())
    reference = {
        "made": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by `bash benchmarks/gpu_check.sh --prepare`",
        "command": " ".join(cmd[:-2]),
        "environment": {k: v for k, v in bench.items() if k != "clips"},
        "clips": {c["name"]: {"file": f".gpu/clips/{c['name']}.mp4", "sha256": sha256(CARRIED / "clips" / f"{c['name']}.mp4"),
                              "psnr": {m: c["psnr"][m] for m in ("ESPCN", "bicubic")}} for c in bench["clips"]},
    }
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"carried clips in {CARRIED}; CPU reference in {REFERENCE}")


def bench_vs_reference(args, folder: Path) -> str:
    ref = json.loads(REFERENCE.read_text())
    clips = [ROOT / c["file"] for c in ref["clips"].values()]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing}: run `bash benchmarks/gpu_check.sh --prepare` here and carry .gpu")
    frames = REF_FRAMES if args.device != "cpu" else 2
    runs = [("default precision", []), ("fp32", ["--precision", "fp32"]), ("NVDEC decode", ["--hwaccel", "cuda"])]
    if args.device == "cpu":
        runs = runs[:1] + runs[2:]
    parts: List[str] = []
    worst: List[float] = []
    for label, extra in runs:
        try:
            parts.append(_bench_run(args, folder, ref, clips, frames, label, extra, worst))
        except Exception as exc:  # noqa: BLE001 - one failed run (NVDEC, say) keeps the others
            parts.append(f"### {label}\n\nFAILED: {type(exc).__name__}: {exc}\n")
        print(parts[-1], flush=True)
    verdict = ("No PSNR compared: the clips differ from the reference's (made on another machine?).\n" if not worst else
               f"Largest per-frame PSNR difference from the CPU: **{max(worst):.4f} dB**, "
               f"{'within' if max(worst) <= PSNR_TOLERANCE else 'NOT within'} {PSNR_TOLERANCE} dB.\n")
    return (f"Clips: the first {REF_FRAMES} frames of {', '.join(SOURCES)} (shared data, 1280x720 H.264) enlarged "
            f"to 1920x1080 with bicubic and re-encoded (H.264 crf 16): no 1080p source was at hand. They travel in "
            f".gpu/; the CPU reference ({REFERENCE.name}) was computed beforehand: {ref['made']}, "
            f"`{ref['command']}` on {ref['environment']['device']}.\n\n" + "\n".join(parts) + "\n" + verdict)


def _bench_run(args, folder: Path, ref: dict, clips: List[Path], frames: int, label: str, extra: List[str],
               worst: List[float]) -> str:
    """One ``vsr bench`` run as a markdown part; its largest PSNR difference from the CPU goes to ``worst``."""
    report = folder / "bench.json"
    cmd = ["vsr", "bench", *[str(c.relative_to(ROOT)) for c in clips], "--scale", "3", "--frames", str(frames),
           "--no-ssim", "--device", args.device, *extra, *(["--no-e2e"] if args.device == "cpu" else [])]
    proc = subprocess.run([sys.executable, "-m", *cmd, "--json", str(report), "-y"], capture_output=True, text=True,
                          cwd=ROOT, timeout=max(30, args.deadline - time.perf_counter()))
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(report.read_text())
    rows = []
    for c in result["clips"]:
        r = ref["clips"][c["name"]]
        same_clip = sha256(ROOT / r["file"]) == r["sha256"]
        diff = {m: max(abs(a - b) for a, b in zip(c["psnr"][m], r["psnr"][m])) for m in ("ESPCN", "bicubic")}
        if same_clip:
            worst.append(max(diff.values()))
        rows.append(f"| {c['name']} | {len(c['psnr']['ESPCN'])} | {c['fps'].get(DECODE) or 0:.0f} | "
                    f"**{c['fps'].get(SR) or 0:.0f}** | {c['fps'].get(END_TO_END) or 0:.0f} | "
                    f"{np.mean(c['psnr']['ESPCN']):.3f} | {diff['ESPCN']:.4f} | {diff['bicubic']:.4f} |"
                    + ("" if same_clip else " clip differs from the reference's: not compared |"))
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    return (f"### {label}\n\n`{' '.join(cmd)}`\n\n{result['device']}, {result['precision']}, batch {result['batch']}. "
            + (f"Warnings: `{'; '.join(warnings)}`" if warnings else "No warnings.")
            + "\n\n| clip | frames | decode fps | SR fps | e2e fps | ESPCN PSNR mean | max \\|dPSNR\\| ESPCN vs CPU "
              "| max \\|dPSNR\\| bicubic vs CPU |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


# ---- 4. end to end ----------------------------------------------------------------------------------
def end_to_end(args, folder: Path) -> str:
    gpu = args.device != "cpu"
    source = CARRIED / SOURCES[0]
    if not source.is_file():
        raise FileNotFoundError(f"{source}: run `bash benchmarks/gpu_check.sh --prepare` here and carry .gpu")
    up = Upscaler(3, device=args.device)
    batch = up.default_batch
    # 640x360 as raw y4m (decoding costs what reading costs), and the 720p H.264 clip itself (software, NVDEC).
    cases = [(640, 360, 240), (1280, 720, 90)] if gpu else [(64, 36, 6), (1280, 720, 2)]
    rows = []
    for w, h, n in cases:
        if (w, h) == (1280, 720):
            inputs = [("H.264 720p", source, None), ("H.264 720p, NVDEC", source, "cuda")]
        else:
            inputs = [(f"raw y4m {w}x{h}", downscaled_y4m(source, w, h, n, folder), None)]
        for codec in ("libx264", "h264_nvenc"):
            for label, clip, hwaccel in inputs:
                try:
                    rows.append(_e2e_row(args, folder, up, batch, clip, label, hwaccel, codec, n, w, h))
                except Exception as exc:  # noqa: BLE001 - one failed row (NVDEC, say) keeps the others
                    rows.append(f"| {label} | {n} | {3 * w}x{3 * h} | {codec} | FAILED: {type(exc).__name__}: "
                                f"{str(exc)[-300:]} | | | | | | |".replace("\n", " "))
                print(rows[-1], flush=True)
    return (f"`upscale_video` (what `vsr upscale` runs) x3, {up.dtype}, batch {batch}, median of {args.repeats}; "
            "each stage alone with the same settings (SR alone: frames in host memory through `overlapped`, "
            "as the SR thread runs it), and each stage's fps from its busy time inside the end-to-end run "
            "(`Summary.stage_fps`).\n\n"
            "| input | frames | out | encoder | decode alone | SR alone | encode alone | slowest | in the run: "
            "decode / SR / encode | end to end | e2e / slowest |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n\nTarget: end to end >= 0.9x the slowest stage.\n")


def _e2e_row(args, folder: Path, up: Upscaler, batch: int, clip: Path, label: str, hwaccel, codec: str,
             n: int, w: int, h: int) -> str:
    out_size = f"{3 * w}x{3 * h}"
    options = EncodeOptions(codec=codec, audio=False)
    with open_video(clip, hwaccel=hwaccel) as video:
        info = video.info
    if hwaccel:  # NVDEC's frames reach the host as NV12; yuv420p here means FFmpeg decoded in software
        label += f" (frames arrive as {info.pix_fmt})"
    try:
        probe = VideoSink(str(folder / f"probe_{codec}.mp4"), info.scaled(3), options, name="probe")
        layout = probe.layout
        probe.close()
    except Exception as exc:  # noqa: BLE001 - NVENC is absent on many GPUs (H100/H200 have none)
        return f"| {label} | {n} | {out_size} | {codec} | unavailable: {exc} | | | | | | |"
    lr = read_frames(clip, n)
    n = len(lr)
    sr = SuperResolver(up, info.layout, layout, w, h)
    hr = [Frame(tuple(p.copy() for p in f.planes), f.pts, f.time_base, f.index) for f in overlapped(lr, batch, sr)]
    summaries = []

    def decode() -> None:
        with open_video(clip, hwaccel=hwaccel) as video:
            for _ in zip(video, range(n)):
                pass

    def superresolve() -> None:
        for _ in overlapped(lr, batch, sr):  # frames dropped at once, as the encoder drops them
            pass

    def encode() -> None:
        with VideoSink(str(folder / f"enc_{codec}.mp4"), info.scaled(3), options, name="enc") as sink:
            for f in hr:
                sink.write(f)

    def e2e() -> None:
        summaries.append(upscale_video(clip, folder / f"e2e_{codec}.mp4", up, options, batch=batch, max_frames=n,
                                       overwrite=True, hwaccel=hwaccel))

    fps = median_fps(n, {DECODE: decode, SR: superresolve, ENCODE: encode, END_TO_END: e2e}, args.repeats, up.device)
    slowest = min(fps[DECODE], fps[SR], fps[ENCODE])
    run = sorted(summaries, key=lambda s: s.seconds)[len(summaries) // 2]
    inside = " / ".join(_f(run.stage_fps(s)) for s in (DECODE, SR, ENCODE))
    return (f"| {label} | {n} | {out_size} | {codec} | {_f(fps[DECODE])} | {_f(fps[SR])} | {_f(fps[ENCODE])} | "
            f"{_f(slowest)} | {inside} | **{_f(fps[END_TO_END])}** | {fps[END_TO_END] / slowest:.2f} |")


def _f(fps: float) -> str:
    return f"{fps:.0f}" if fps >= 10 else f"{fps:.2f}"


# ---- 5. memory ----------------------------------------------------------------------------------------
def memory(args, folder: Path) -> str:
    gpu = args.device != "cpu"
    w, h = (640, 360) if gpu else (64, 36)
    n = 60 if gpu else 3
    clip = downscaled_y4m(CARRIED / SOURCES[0], w, h, 4 * n, folder)
    up = Upscaler(3, device=args.device)
    rows = []
    for frames in (n, 4 * n):
        if gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        upscale_video(clip, folder / "mem.mp4", up, EncodeOptions(audio=False), max_frames=frames, overwrite=True)
        peak = torch.cuda.max_memory_allocated() / 2**20 if gpu else float("nan")
        rows.append((frames, peak))
    table = "\n".join(f"| {f} | {p:.0f} |" for f, p in rows)
    ratio = rows[1][1] / rows[0][1] if gpu else float("nan")
    return (f"`upscale_video` {w}x{h} x3 -> {3 * w}x{3 * h}, default batch, libx264; peak "
            f"torch.cuda.max_memory_allocated from a reset before each run{'' if gpu else ' (n/a on the CPU)'}.\n\n"
            f"| frames | peak GPU MiB |\n|---|---|\n{table}\n\nPeak for 4N / peak for N: **{ratio:.3f}** "
            "(flat in clip length means ~1.0).\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run every path on the CPU, small (a self-test)")
    parser.add_argument("--prepare", action="store_true", help="make the carried clips and the CPU reference, then stop")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=270, help="seconds after which sections not begun are skipped")
    parser.add_argument("--out", type=Path, help="default: results/gpu.md (--cpu: gpu-selftest-cpu.md)")
    args = parser.parse_args()
    if args.prepare:
        prepare()
        return
    args.out = args.out or ROOT / "benchmarks" / "results" / ("gpu-selftest-cpu.md" if args.cpu else "gpu.md")
    if not args.cpu and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device: run with --cpu for a self-test of the code paths")
    if args.cpu and not all((CARRIED / n).is_file() for n in SOURCES) and SHARED.is_dir():
        make_clips()  # the GPU machine gets them carried; here they are made from the shared data
    args.device = "cpu" if args.cpu else "cuda"
    args.repeats = 1 if args.cpu else args.repeats
    args.card = torch.cuda.get_device_name() if not args.cpu else platform.processor() or "CPU"
    started = time.perf_counter()
    args.deadline = started + args.budget
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(sections: List[str]) -> None:
        header = (f"# GPU check ({'CPU self-test, not a GPU result' if args.cpu else args.card})\n\n"
                  f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by `bash benchmarks/gpu_check.sh"
                  f"{' --cpu' if args.cpu else ''}`, {(time.perf_counter() - started) / 60:.1f} min so far, vsr at "
                  f"{commit or 'an unknown commit'}.\n\n"
                  f"- Device: **{args.card}**; torch {torch.__version__}"
                  f"{', CUDA ' + str(torch.version.cuda) if not args.cpu else ''}; Python {platform.python_version()}; "
                  f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}); {os.cpu_count()} CPUs.\n")
        args.out.write_text(header + "\n" + "\n".join(sections))

    check = Check(args.deadline, save)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        check.run("Model only", lambda: model_speed(args))
        check.run("SR stage host to host: batches in flight", lambda: sr_stage(args))
        check.run("`vsr bench` on 1080p clips against the CPU reference", lambda: bench_vs_reference(args, folder))
        check.run("`vsr upscale` end to end against each stage", lambda: end_to_end(args, folder))
        check.run("GPU memory against clip length", lambda: memory(args, folder))
    print(args.out)


if __name__ == "__main__":
    main()
