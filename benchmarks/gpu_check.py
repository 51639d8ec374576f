"""Every GPU check of the speed issue in one run, written to benchmarks/results/speed-gpu.md.

    bash benchmarks/gpu_check.sh            # on a CUDA machine (brings PyAV from .whl/ when missing)
    python benchmarks/gpu_check.py --cpu    # the same code paths on the CPU, small, to know they work

1. Model + chroma only, x3 (and x2, x4) to 1920x1080: uint8 planes already on the device in, uint8
   planes out, by precision, batch size, and with the batch replayed as a CUDA graph.
2. ``vsr bench`` on a generated 1080p clip (the samples clip enlarged): its SR stage frames/s.
3. ``vsr upscale`` end to end (640x360 -> 1080p, x3) against each stage alone, with libx264 and
   h264_nvenc: the stages run on different hardware, so end to end should reach the slowest stage.

Each section has a time budget and records its own failure, so one broken part does not lose the
rest; the whole run fits in 8 minutes on an H100.
"""
import vsr  # noqa: F401 - first, so its OMP_WAIT_POLICY is set before torch loads OpenMP
import argparse
from datetime import datetime, timezone
import json
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable, List

import torch

from vsr.upscaler import Upscaler

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "dog_320x180.y4m"
LR_SIZES = {2: (540, 960), 3: (360, 640), 4: (270, 480)}


class Check:
    """Collects markdown sections; a section that raises is reported with its error and skipped."""

    def __init__(self):
        self.sections: List[str] = []

    def run(self, title: str, section: Callable[[], str]) -> None:
        start = time.perf_counter()
        try:
            body = section()
        except Exception:  # noqa: BLE001 - report any failure and go on with the next check
            body = "FAILED:\n\n```\n" + traceback.format_exc()[-3000:] + "```\n"
        self.sections.append(f"## {title}\n\n{body}\n({time.perf_counter() - start:.0f} s)\n")
        print(self.sections[-1], flush=True)


def timed_fps(once: Callable[[], object], batch: int, device: torch.device, seconds: float) -> float:
    for _ in range(3):
        once()
    _sync(device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < 3:
        once()
        n += 1
    _sync(device)
    return n * batch / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sr_step(up: Upscaler, batch: int):
    """One batch of 4:2:0 uint8 frames on the device -> uint8 planes r times larger, on the device."""
    h, w = LR_SIZES[up.scale]
    r = up.scale
    gen = torch.Generator(device=up.device).manual_seed(0)
    y = torch.randint(16, 236, (batch, 1, h, w), dtype=torch.uint8, device=up.device, generator=gen)
    uv = torch.randint(16, 241, (batch, 2, h // 2, w // 2), dtype=torch.uint8, device=up.device, generator=gen)

    @torch.inference_mode()
    def once():
        out_y = up.upscale_luma_tensor(y.to(up.dtype).div_(255)).mul_(255).round_().to(torch.uint8)
        out_uv = up.upscale_chroma_tensor(uv.to(up.dtype).div_(255), (r * h // 2, r * w // 2))
        return out_y, out_uv.mul_(255).round_().to(torch.uint8)

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
    precisions = ("fp16", "bf16", "fp32") if device.type == "cuda" else ("fp32",)
    batches = (1, 8, 32, 64) if device.type == "cuda" else (1, 2)
    seconds = 1.5 if device.type == "cuda" else 0.3
    rows, best = [], {}
    for scale in (3, 2, 4):
        for precision in precisions:
            up = Upscaler(scale, device=args.device, precision=precision)
            for batch in batches:
                if scale != 3 and (precision != precisions[0] or batch not in (batches[-1],)):
                    continue
                once = sr_step(up, batch)
                fps = timed_fps(once, batch, device, seconds)
                rows.append((scale, precision, batch, "eager", fps))
                if device.type == "cuda" and precision == "fp16":
                    try:
                        fps_g = timed_fps(graphed(once, device), batch, device, seconds)
                    except Exception as exc:  # noqa: BLE001 - keep the eager figures if capture fails
                        print(f"CUDA graph failed: {exc}", flush=True)
                        fps_g = float("nan")
                    rows.append((scale, precision, batch, "CUDA graph", fps_g))
                best[scale] = max(r[4] for r in rows if r[0] == scale and r[4] == r[4])  # r[4] == r[4]: not NaN
                print(rows[-1], flush=True)
            del up
    if device.type == "cuda":  # cuDNN autotuning: frames keep one size, so tuning once pays for the rest
        torch.backends.cudnn.benchmark = True
        up = Upscaler(3, device=args.device, precision="fp16")
        for batch in batches:
            rows.append((3, "fp16", batch, "eager, cudnn.benchmark", timed_fps(sr_step(up, batch), batch, device, seconds)))
            print(rows[-1], flush=True)
        torch.backends.cudnn.benchmark = False
        best[3] = max(best[3], *(r[4] for r in rows[-len(batches):]))
    table = "\n".join(f"| x{s} | {p} | {b} | {m} | {f:.0f} |" for s, p, b, m, f in rows)
    return (f"Frames/s to 1920x1080 (x3: 640x360 in), uint8 planes on the device in and out, channels_last, "
            f"chroma bicubic included; each figure over >= {seconds} s after a warm-up.\n\n"
            f"| scale | precision | batch | launch | frames/s |\n|---|---|---|---|---|\n{table}\n\n"
            f"Best x3: **{best[3]:.0f} frames/s** (target >= 2000 on an H100).\n")


def make_1080p_clip(folder: Path, frames: int, size=(1920, 1080)) -> Path:
    """The bundled samples clip enlarged to 1080p (bicubic) and encoded losslessly-enough with x264."""
    import av

    out = folder / f"clip_{size[0]}x{size[1]}_{frames}.mp4"
    if out.is_file():
        return out
    with av.open(str(SAMPLE)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "12"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        decoded = list(src.decode(video=0))
        for i in range(frames):  # ping-pong through the 30 source frames
            k = i % (2 * len(decoded) - 2)
            f = decoded[k if k < len(decoded) else 2 * len(decoded) - 2 - k]
            big = f.reformat(width=size[0], height=size[1], format="yuv420p", interpolation="BICUBIC")
            big.pts = i
            dst.mux(stream.encode(big))
        dst.mux(stream.encode(None))
    return out


def vsr_bench(args, folder: Path) -> str:
    size = (1920, 1080) if args.device != "cpu" else (384, 216)
    frames = min(args.frames, 120)  # the bench also scores every frame on the CPU
    clip = make_1080p_clip(folder, frames, size)
    report = folder / "bench.json"
    cmd = [sys.executable, "-m", "vsr", "bench", str(clip), "--scale", "3", "--frames", str(frames),
           "--no-ssim", "--device", args.device, "--json", str(report), "-y"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.budget)
    if proc.returncode != 0:
        raise RuntimeError(f"vsr bench failed ({proc.returncode}): {proc.stderr[-2000:]}")
    fps = json.loads(report.read_text())["clips"][0]["fps"]
    return (f"`vsr bench {clip.name} --scale 3 --frames {frames} --no-ssim --device {args.device}` "
            f"({size[0]}x{size[1]} H.264 clip made from the samples clip):\n\n```\n{proc.stdout.strip()}\n```\n\n"
            f"SR stage: **{fps.get('ESPCN', 0):.0f} frames/s** (target >= 1000 on an H100).\n")


def end_to_end(args, folder: Path) -> str:
    from pipeline_speed import downscaled_y4m, median_fps, read_frames
    from vsr.video import open_video, upscale_video
    from vsr.video.encode import EncodeOptions, VideoSink
    from vsr.video.pipeline import default_batch
    from vsr.video.sr import SuperResolver

    w, h = (640, 360) if args.device != "cpu" else (128, 72)
    source = make_1080p_clip(folder, args.frames, (w * 3, h * 3))
    clip = downscaled_y4m(source, w, h, args.frames, folder)
    up = Upscaler(3, device=args.device)
    batch = default_batch(up)
    lr = read_frames(clip, args.frames)
    n = len(lr)
    with open_video(clip) as video:
        info = video.info
    rows = []
    for codec in ("libx264", "h264_nvenc"):
        try:
            options = EncodeOptions(codec=codec, audio=False)
            probe = VideoSink(str(folder / f"probe_{codec}.mp4"), None, info, 3 * w, 3 * h, options, name="probe")
            layout = probe.layout
            probe.close()
        except Exception as exc:  # noqa: BLE001 - nvenc is absent on many machines
            rows.append(f"| {codec} | unavailable: {str(exc)[:120]} | | | | | |")
            continue
        sr = SuperResolver(up, info.layout, layout, w, h)
        hr = []

        def decode() -> None:
            with open_video(clip) as video:
                for _ in zip(video, range(n)):
                    pass

        def superresolve() -> None:
            hr.clear()
            for i in range(0, n, batch):
                hr.extend(sr(lr[i:i + batch]))
            _sync(up.device)

        def encode() -> None:
            sink = VideoSink(str(folder / f"enc_{codec}.mp4"), None, info, 3 * w, 3 * h, options, name="enc")
            for f in hr:
                sink.write(f)
            sink.close()

        def e2e() -> None:
            upscale_video(clip, folder / f"e2e_{codec}.mp4", up, options, batch=batch, max_frames=n, overwrite=True)

        fps = median_fps(n, {"decode": decode, "sr": superresolve, "encode": encode, "e2e": e2e}, args.repeats)
        slowest = min(fps["decode"], fps["sr"], fps["encode"])
        rows.append(f"| {codec} | {fps['decode']:.0f} | {fps['sr']:.0f} | {fps['encode']:.0f} | {slowest:.0f} | "
                    f"**{fps['e2e']:.0f}** | {fps['e2e'] / slowest:.2f} |")
        print(rows[-1], flush=True)
    return (f"`upscale_video` (what `vsr upscale` runs), {w}x{h} raw y4m -> {3 * w}x{3 * h}, x3, batch {batch}, "
            f"{n} frames, median of {args.repeats}; stages alone with the same settings.\n\n"
            "| encoder | decode fps | SR fps | encode fps | slowest stage | end to end fps | e2e / slowest |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\nTarget: end to end >= 0.9x the slowest stage.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run every path on the CPU, small (a self-test)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 240 on GPU, 6 on CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=int, default=150, help="seconds allowed for the vsr bench run")
    parser.add_argument("--out", type=Path, help="default: results/speed-gpu.md (--cpu: speed-gpu-selftest-cpu.md)")
    args = parser.parse_args()
    args.out = args.out or ROOT / "benchmarks" / "results" / ("speed-gpu-selftest-cpu.md" if args.cpu else "speed-gpu.md")
    if not args.cpu and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --cpu for a self-test of the code paths")
    args.device = "cpu" if args.cpu else "cuda"
    args.frames = args.frames or (6 if args.cpu else 240)
    card = torch.cuda.get_device_name() if not args.cpu else platform.processor() or "CPU"
    started = time.perf_counter()
    check = Check()
    check.run("Model + chroma only", lambda: model_speed(args))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        check.run("`vsr bench` on a 1080p clip", lambda: vsr_bench(args, folder))
        check.run("`vsr upscale` end to end vs the stages alone", lambda: end_to_end(args, folder))
    header = (f"# GPU speed check ({'CPU self-test, not a GPU result' if args.cpu else card})\n\n"
              f"Run {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by `benchmarks/gpu_check.sh"
              f"{' --cpu' if args.cpu else ''}` in {(time.perf_counter() - started) / 60:.1f} min.\n\n"
              f"- Device: **{card}**; torch {torch.__version__}"
              f"{', CUDA ' + str(torch.version.cuda) if not args.cpu else ''}; Python {platform.python_version()}; "
              f"{_pyav()}.\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + "\n" + "\n".join(check.sections))
    print(args.out)


def _pyav() -> str:
    try:
        import av
    except ImportError:
        return "PyAV not importable"
    return f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})"


if __name__ == "__main__":
    main()
