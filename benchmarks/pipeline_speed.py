"""Frames per second of ``vsr upscale`` end to end, beside each stage alone (decode, SR, encode).

    python benchmarks/pipeline_speed.py --out benchmarks/results/pipeline-cpu.md

Cases: a 720p clip at x2, and a 640x360 input at x3 (to 1080p), made by area-downscaling the same
clip into a lossless y4m (so decoding it costs what reading raw frames costs). Each figure is the
median of ``--repeats`` rounds over the first ``--frames`` frames, each round running the four
measurements in turn (other work on the machine then slows them alike):

- decode: ``open_video`` iterating frames (demux, decode, planes as numpy);
- SR: ``SuperResolver`` on frames already in memory (upload, ESPCN on Y, bicubic chroma, download);
- encode: ``VideoSink`` writing those upscaled frames with the default encoder (libx264 veryfast
  crf 18), flush and trailer included;
- end to end: ``upscale_video`` (the three stages in their threads, audio copied), to an mp4.
"""
import argparse
from datetime import datetime, timezone
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

import av
import numpy as np
import torch

from vsr import Upscaler, __version__
from vsr.bench.timing import DECODE, ENCODE, END_TO_END, SR, StageTimer
from vsr.video import open_video, upscale_video
from vsr.video.encode import VideoSink
from vsr.video.frame import Frame
from vsr.video.sr import SuperResolver
from vsr.weight_files import shipped_path

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "sam2" / "01_dog.mp4"


def median_fps(frames: int, runs: Dict[str, Callable[[], None]], repeats: int, device: Union[str, torch.device] = "cpu",
               warm_up: Sequence[str] = ()) -> Dict[str, float]:
    """Frames per second of each run, median over ``repeats`` rounds that take the runs in turn, so a
    change in the machine's load touches every stage alike; the runs named in ``warm_up`` first make
    one untimed call, in the first round."""
    rounds = [StageTimer(device) for _ in range(repeats)]
    for i, timer in enumerate(rounds):
        for name, run in runs.items():
            # In a worker thread, as in the pipeline: on this CPU torch ran up to ~1.8x slower on the
            # main thread than on another one with the same number of intra-op threads.
            timer.run(name, lambda run=run: _in_worker(run), frames, warm_up=i == 0 and name in warm_up)
    return {name: frames / statistics.median(t.seconds[name] for t in rounds) for name in runs}


def _in_worker(run: Callable[[], None]) -> None:
    """``run()`` in a new thread, waited for; what it raises is raised here."""
    failed: List[BaseException] = []

    def wrapped() -> None:
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            failed.append(exc)

    worker = threading.Thread(target=wrapped)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]


def read_frames(path: Path, n: int) -> List[Frame]:
    with open_video(path) as video:
        return [Frame(tuple(p.copy() for p in f.planes), f.pts, f.time_base, f.index) for f, _ in zip(video, range(n))]


def downscaled_y4m(src: Path, width: int, height: int, n: int, folder: Path) -> Path:
    """The first ``n`` frames of ``src``, area-downscaled, as a raw y4m (an LR input without codec cost)."""
    out = folder / f"{src.stem}_{width}x{height}.y4m"
    with av.open(str(src)) as c, av.open(str(out), "w") as o:
        s = o.add_stream("wrapped_avframe", rate=c.streams.video[0].average_rate)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i, frame in zip(range(n), c.decode(video=0)):
            small = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
            small.pts = i
            o.mux(s.encode(small))
        o.mux(s.encode(None))
    return out


def bench_case(label: str, clip: Path, scale: int, frames: int, repeats: int, weights: Optional[Path],
               device: str, folder: Path) -> dict:
    upscaler = Upscaler(scale, device=device, weights=weights)
    batch = upscaler.default_batch
    with open_video(clip) as video:
        info = video.info
    lr = read_frames(clip, frames)
    n = len(lr)

    def decode() -> None:
        with open_video(clip) as video:
            for _ in zip(video, range(n)):
                pass

    with VideoSink(str(folder / "probe.mp4"), info.scaled(scale), name="probe") as sink_probe:
        layout = sink_probe.layout
    sr = SuperResolver(upscaler, info.layout, layout, info.width, info.height)
    hr: List[Frame] = []

    def superresolve() -> None:
        hr.clear()
        for i in range(0, n, batch):
            hr.extend(sr(lr[i:i + batch]))

    def encode() -> None:
        with VideoSink(str(folder / "enc.mp4"), info.scaled(scale), name="enc") as sink:
            for f in hr:
                sink.write(f)

    def end_to_end() -> None:
        upscale_video(clip, folder / "e2e.mp4", upscaler, batch=batch, max_frames=n, overwrite=True)

    result = {"label": label, "input": f"{info.width}x{info.height} {info.pix_fmt}", "scale": scale,
              "output": f"{scale * info.width}x{scale * info.height}", "frames": n, "batch": batch}
    # SR's warm-up also makes the frames the encoder needs
    result.update(median_fps(n, {DECODE: decode, SR: superresolve, ENCODE: encode, END_TO_END: end_to_end}, repeats,
                             device, warm_up=(SR,)))
    print(result, file=sys.stderr, flush=True)
    return result


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8") if f in flags]
    return (f"{model} ({' '.join(simd) or 'no AVX2'}), {os.cpu_count()} logical CPUs, {mem} GiB RAM, "
            f"{platform.system()} {platform.release()}")


def report(results: List[dict], args: argparse.Namespace, weights: str, load: tuple, seconds: float) -> str:
    rows = "\n".join(
        f"| {r['label']} | {r['input']} | x{r['scale']} -> {r['output']} | {r['frames']} | {r['batch']} | "
        f"**{r[END_TO_END]:.2f}** | {r[DECODE]:.1f} | {r[SR]:.2f} | {r[ENCODE]:.2f} |"
        for r in results
    )
    return f"""# `vsr upscale` pipeline speed on the CPU

Measured {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by `benchmarks/pipeline_speed.py`.

- Machine: {machine()}; device `{args.device}` (torch {torch.get_num_threads()} intra-op threads).
- Load average when the run started: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min); other
  work shared these cores, so the figures are lower than on an idle machine.
- Versions: vsr {__version__}, Python {platform.python_version()}, torch {torch.__version__},
  PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}), numpy {np.__version__}.
- Weights: {weights} (speed does not depend on the weight values).
- Clip: `../shared/{CLIP.relative_to(CLIP.parents[3])}` (1280x720 H.264 + AAC); the 640x360 input is its first
  {args.frames} frames area-downscaled to a raw y4m.
- Command: `python benchmarks/pipeline_speed.py {' '.join(sys.argv[1:])}` ({seconds / 60:.1f} min)
- Each figure: frames per second, median of {args.repeats} rounds over the first {args.frames} frames;
  each round runs decode, SR, encode and end to end in turn.
  Encoder: libx264, preset veryfast, crf 18 (the defaults), output mp4.

| case | input | scale -> output | frames | batch | end-to-end fps | decode fps | SR fps | encode fps |
|---|---|---|---|---|---|---|---|---|
{rows}

Stages alone (each in a worker thread, as in the pipeline): decode = `open_video` iterating frames
to numpy planes; SR = `SuperResolver` (upload, ESPCN on Y, bicubic chroma, integer conversion,
download) on frames already decoded; encode = `VideoSink` writing the already upscaled frames, flush included. End to end = `upscale_video` with
its three threads and the audio copied. On a CPU the stages share the same cores, so end to end is
bounded by the sum of the stage times rather than by the slowest stage alone, as it would be when SR
runs on a GPU.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights-x2", type=Path)
    parser.add_argument("--weights-x3", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pipeline-cpu.md"))
    args = parser.parse_args()
    if not args.clip.is_file():
        sys.exit(f"clip not found: {args.clip}")
    load = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small = downscaled_y4m(args.clip, 640, 360, args.frames, folder)
        results = [
            bench_case("720p x2", args.clip, 2, args.frames, args.repeats, args.weights_x2, args.device, folder),
            bench_case("360p x3", small, 3, args.frames, args.repeats, args.weights_x3, args.device, folder),
        ]
    used = [args.weights_x2 or shipped_path(2), args.weights_x3 or shipped_path(3)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(results, args, ", ".join(f"`{Path(w).name}`" for w in used), load,
                               time.perf_counter() - started))
    print(args.out)


if __name__ == "__main__":
    main()
