"""CPU speed of vsr's fast path against OpenCV's ESPCN and a plain fp32 PyTorch ESPCN, side by side.

    python benchmarks/speed.py                       # writes benchmarks/results/speed-cpu.md
    python benchmarks/speed.py --repeats 3 --quick   # x3 only, no end-to-end / memory runs

Everything runs in one process, interleaved (method A, B, C, A, B, C, ...), so that load from other
work on the machine falls on all methods alike: ratios are meaningful even when absolute frames/s
are not. Inputs are a real frame (the first of ``sam2/01_dog.mp4``), area-shrunk so that the output
is 1920x1080. Also reported: fidelity of the fast path against the fp32 reference (PSNR on that
frame and the Set5 x3 standard-protocol score), ``vsr upscale`` end to end against its stages alone
(``pipeline_speed.bench_case``), and peak RSS against clip length.
"""
import vsr  # noqa: F401 - first, so its OMP_WAIT_POLICY is set before torch loads OpenMP
import argparse
from datetime import datetime, timezone
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import av
import cv2
import numpy as np
import torch

from memory import peak_rss_mib
from peers import PeerModel, available as peers_available, unavailable_reason
from pipeline_speed import CLIP, bench_case, downscaled_y4m, machine
from vsr import VsrError, backends
from vsr.evaluate import evaluate_set
from vsr.metrics import psnr
from vsr.upscaler import Upscaler
from vsr.weight_files import shipped_path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT_SIZE = (1080, 1920)
WEIGHTS_DIR = None  # --weights-dir: espcn_x{2,3,4}.pt from elsewhere instead of the shipped files


def real_frame(scale: int) -> List[np.ndarray]:
    """Y, U, V of the clip's first frame, area-shrunk so that x``scale`` gives 1920x1080."""
    with av.open(str(CLIP)) as container:
        frame = next(container.decode(video=0)).reformat(format="yuv420p")
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes]
    h, w = OUT_SIZE[0] // scale, OUT_SIZE[1] // scale
    sizes = [(w, h), (w // 2, h // 2), (w // 2, h // 2)]
    return [cv2.resize(p, s, interpolation=cv2.INTER_AREA) for p, s in zip(planes, sizes)]


def interleaved_fps(methods: Dict[str, Callable[[], object]], repeats: int, calls: int) -> Dict[str, Tuple[float, float]]:
    """(median, best) frames/s of each method, timing ``calls`` calls per repeat, methods taking turns.

    On a shared machine the best repeat is the one least disturbed by other work: closest to what
    the method does on an idle machine. The median says what a user gets under the same load.
    """
    for run in methods.values():
        run()  # warm-up: first-call allocations, lazy initialisation
    times: Dict[str, List[float]] = {k: [] for k in methods}
    for _ in range(repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            for _ in range(calls):
                run()
            times[name].append((time.perf_counter() - start) / calls)
    return {k: (1 / statistics.median(v), 1 / min(v)) for k, v in times.items()}


def model_variants(scale: int, weights: Path) -> Dict[str, Upscaler]:
    """The reference, the fast path, and the other ways in that were tried (x3 only: it is the target)."""
    ups = {"plain fp32 PyTorch (reference)": Upscaler(scale, "cpu", weights=weights, backend="torch", precision="fp32")}
    if backends.onnxruntime_available():
        ups["vsr fast path (onnxruntime)"] = Upscaler(scale, "cpu", weights=weights, backend="onnxruntime")
    for precision in ("fp32", "bf16"):  # where the vsr[openvino] extra is installed and the CPU runs it
        try:
            ups[f"openvino {precision}"] = Upscaler(scale, "cpu", weights=weights, backend="openvino",
                                                    precision=precision)
        except VsrError as exc:
            print(f"openvino {precision}: {exc}", file=sys.stderr)
    return ups


def weights_path(scale: int) -> Path:
    return WEIGHTS_DIR / f"espcn_x{scale}.pt" if WEIGHTS_DIR else shipped_path(scale)


def other_ways(scale: int, weights: Path) -> Dict[str, Upscaler]:
    """Ways in that lost (or were kept out) in the exploration, measured again beside the fast path."""
    ups = {}
    if backends.onnxruntime_available():
        one = Upscaler(scale, "cpu", weights=weights, backend="onnxruntime")
        one._net = backends.OnnxRuntimeNet(one.model, threads=1)
        ups["onnxruntime, 1 thread"] = one
        for tile in (64, 128):
            ups[f"onnxruntime, {tile} px tiles"] = Upscaler(scale, "cpu", weights=weights, backend="onnxruntime",
                                                           tile=tile)
    cl = Upscaler(scale, "cpu", weights=weights, backend="torch")
    cl.model = cl.model.to(memory_format=torch.channels_last)
    cl._net = cl.model.forward_valid
    ups["PyTorch fp32, channels_last"] = cl
    ups["PyTorch fp32, 64 px tiles"] = Upscaler(scale, "cpu", weights=weights, backend="torch", tile=64)
    return ups


def speed_table(scales, repeats: int, calls: int) -> List[dict]:
    rows = []
    for scale in scales:
        y, u, v = real_frame(scale)
        weights = weights_path(scale)
        ups = model_variants(scale, weights)
        if scale == 3:
            ups.update(other_ways(scale, weights))
        methods: Dict[str, Callable[[], object]] = {k: (lambda up=up: up.upscale_yuv420(y, u, v)) for k, up in ups.items()}
        if peers_available():
            peer = PeerModel("ESPCN", scale)
            methods["OpenCV dnn_superres ESPCN (Y only)"] = lambda: peer.upscale_y(y)
        else:
            print(f"warning: no OpenCV peer: {unavailable_reason()}", file=sys.stderr)
        fps = interleaved_fps(methods, repeats, calls)
        ref_out = ups["plain fp32 PyTorch (reference)"].upscale_yuv420(y, u, v)
        fidelity = {k: psnr(up.upscale_yuv420(y, u, v)[0], ref_out[0]) for k, up in ups.items()}
        rows.append({"scale": scale, "input": f"{y.shape[1]}x{y.shape[0]}", "fps": fps, "psnr": fidelity})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def set5_scores() -> Dict[str, float]:
    ups = model_variants(3, weights_path(3))
    result = evaluate_set(DATA / "images" / "Set5", 3, {k: up.upscale_y for k, up in ups.items()}, with_ssim=False)
    return {k: result.mean_psnr(k) for k in ups}


def make_clip(path: Path, frames: int, width: int = 320, height: int = 180) -> None:
    """A moving synthetic pattern, H.264, so that memory can be compared across clip lengths."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            rgb = np.stack([128 + 100 * np.sin((xx + 3 * i) / (9 + c) + yy / 17) for c in range(3)], axis=-1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def memory_rows(folder: Path, short: int) -> List[dict]:
    rows = []
    for n in (short, 10 * short):
        clip = folder / f"clip{n}.mp4"
        make_clip(clip, n)
        rss = peak_rss_mib(["upscale", str(clip), str(folder / f"out{n}.mp4"), "-s", "3", "--device", "cpu",
                            "--no-progress", "-y"])
        rows.append({"frames": n, "rss": rss})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def report(rows, set5, e2e, memory, args, load, seconds) -> str:
    lines = []
    for r in rows:
        ref = r["fps"]["plain fp32 PyTorch (reference)"]
        peer = r["fps"].get("OpenCV dnn_superres ESPCN (Y only)")
        for name, (fps, best) in r["fps"].items():
            vs_peer = f"{fps / peer[0]:.2f}x / {best / peer[1]:.2f}x" if peer else "-"
            fid = f"{r['psnr'][name]:.1f} dB" if name in r["psnr"] and name != "plain fp32 PyTorch (reference)" else ""
            lines.append(f"| x{r['scale']} | {r['input']} | {name} | {fps:.2f} / {best:.2f} | "
                         f"{fps / ref[0]:.2f}x / {best / ref[1]:.2f}x | {vs_peer} | {fid} |")
    set5_lines = "\n".join(f"| {k} | {v:.3f} |" for k, v in set5.items())
    e2e_text = ""
    if e2e:
        harmonic = 1 / (1 / e2e["decode"] + 1 / e2e["sr"] + 1 / e2e["encode"])
        e2e_text = f"""
## End to end: `vsr upscale` (640x360 y4m -> 1920x1080 H.264, x3, {e2e['frames']} frames)

Stages alone and end to end by `pipeline_speed.bench_case` (the video benchmark's code), same settings:

| decode fps | SR fps | encode fps | 1/(1/d+1/s+1/e) | target 0.9x that | end to end fps | ratio |
|---|---|---|---|---|---|---|
| {e2e['decode']:.1f} | {e2e['sr']:.2f} | {e2e['encode']:.2f} | {harmonic:.2f} | {0.9 * harmonic:.2f} | **{e2e['end-to-end']:.2f}** | {e2e['end-to-end'] / harmonic:.2f} |
"""
    mem_text = ""
    if memory:
        mem_text = """
## Memory: peak RSS against clip length (`vsr upscale`, 320x180 -> 960x540, x3, CPU)

| frames | peak RSS (MiB, VmHWM of the `vsr` process) |
|---|---|
""" + "\n".join(f"| {m['frames']} | {m['rss']:.0f} |" for m in memory) + \
            f"\n\nRatio, 10x longer clip: **{memory[1]['rss'] / memory[0]['rss']:.3f}x** (target <= 1.1x).\n"
    return f"""# CPU speed: vsr fast path vs OpenCV ESPCN vs plain fp32 PyTorch

Measured {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by `python benchmarks/speed.py {' '.join(sys.argv[1:])}`
({seconds / 60:.1f} min).

- Machine: {machine()}.
- Load average at start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; at end: {args.load_end[0]:.2f} /
  {args.load_end[1]:.2f} / {args.load_end[2]:.2f} (1/5/15 min): how much other work shared the 2 cores. The methods were
  interleaved in one process, so such work fell on all of them alike and the ratios hold.
- torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime
  {_version('onnxruntime')}, openvino {_version('openvino')}, OpenCV {cv2.__version__}, PyAV {av.__version__}.
- Input: first frame of `{CLIP.name}`, area-shrunk to 1080p / scale; weights: the shipped `espcn_x*.pt`.
- Each figure: **median / best** over {args.repeats} rounds of {args.calls} calls, methods taking turns
  (median: what a user gets under this load; best: the least disturbed round, nearer an idle machine).
- vsr rows time `Upscaler.upscale_yuv420` (Y through ESPCN, U and V bicubic, uint8 in and out); the
  OpenCV row times `dnn_superres`'s Y path only (`benchmarks/peers.py`), which favours OpenCV.
- Fidelity: PSNR of the output Y against the fp32 reference on the same frame (inf = identical).
- The other ways tried (oneDNN layouts, torch.compile, strips, int8, bf16/fp16, OpenVINO, thread
  policy), each with its prediction and outcome: `speed-cpu-ways.md`.

| scale | input | method | frames/s (median / best) | vs fp32 PyTorch | vs OpenCV | Y PSNR vs fp32 |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

## Standard protocol: Set5 x3 (Y, shave 3), fast path vs fp32

| method | mean PSNR (dB) |
|---|---|
{set5_lines}
{e2e_text}{mem_text}"""


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except ImportError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--frames", type=int, default=30, help="frames for the end-to-end run")
    parser.add_argument("--quick", action="store_true", help="x3 only; skip end to end and memory")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed-cpu.md")
    parser.add_argument("--weights-dir", type=Path, help="folder with espcn_x{2,3,4}.pt (default: shipped)")
    args = parser.parse_args()
    global WEIGHTS_DIR
    WEIGHTS_DIR = args.weights_dir
    torch.manual_seed(0)
    load = os.getloadavg()
    started = time.perf_counter()
    rows = speed_table((3,) if args.quick else (3, 2, 4), args.repeats, args.calls)
    set5 = set5_scores()
    e2e, memory = None, None
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            small = downscaled_y4m(CLIP, 640, 360, args.frames, folder)
            e2e = bench_case("360p x3", small, 3, args.frames, 3, weights_path(3), "cpu", folder)
            memory = memory_rows(folder, 30)
    args.load_end = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(rows, set5, e2e, memory, args, load, time.perf_counter() - started))
    print(args.out)


if __name__ == "__main__":
    main()
