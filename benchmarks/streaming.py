"""Glass-to-glass latency and sustained fps of ``vsr upscale`` on a live UDP stream, on this machine.

    python benchmarks/streaming.py [--seconds 10] [--sizes 320x180 640x360] [--out benchmarks/results/streaming.md]

For each input size, a sender process (tests/stream_sender.py) pushes a real clip (SAM 2's dog, H.264
without B-frames, a keyframe every half second) as MPEG-TS over UDP at its real pace, stamping the wall
clock at which each frame leaves. vsr (a subprocess running the real pipeline with the CLI's defaults
for a live source: realtime drop, x264 zerolatency) reads it and sends its output as MPEG-TS over UDP
to a receiver in this process, which stamps the wall clock at which each frame is decoded. Latency is
receive minus send for the same frame (matched by its presentation time), so it includes the sender's
muxing, both network hops, vsr's decode, SR and encode, and the receiver's decode: glass to glass,
less the camera and the display. Three runs per size:

* passthrough: the same pipeline with SR replaced by a copy (scale 1): the floor of the latency;
* bicubic: every frame upscaled bicubically (x3), no network;
* espcn: vsr as shipped (x3).

The machine is shared: the load average is recorded before each run.
"""
import argparse
import bisect
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from stream_tools import SENDER, free_port, make_clip, wait_bound  # noqa: E402

CLIP_SRC = ROOT.parent / "shared" / "data" / "video" / "sam2" / "01_dog.mp4"


# ---- the vsr side (run as a subprocess: ``streaming.py --role vsr``) ------------------------------
class Identity:
    """An Upscaler stand-in for the passthrough run: scale 1, planes copied."""

    scale = 1

    def __init__(self):
        import torch
        self.device = torch.device("cpu")

    def upscale_planes(self, y, chroma, chroma_size, bits=8, out_bits=8, bicubic=False):
        return y.clone(), None if chroma is None else chroma.clone()


def run_vsr(mode: str, source: str, output: str, summary_path: str) -> int:
    from vsr.upscaler import Upscaler
    from vsr.video.encode import EncodeOptions
    from vsr.video.pipeline import Interrupted, upscale_video
    from vsr.errors import VsrError
    upscaler = Identity() if mode == "passthrough" else Upscaler(3)
    try:
        s = upscale_video(source, output, upscaler, EncodeOptions(), bicubic=mode == "bicubic")
    except (VsrError, Interrupted) as exc:
        s = getattr(exc, "summary", None)
        if s is None:
            print(f"vsr: {exc}", file=sys.stderr)
            return 1
    Path(summary_path).write_text(json.dumps({"frames": s.frames, "dropped": s.dropped, "seconds": s.seconds,
                                              "latency_ms": s.latency_ms, "latency_p95_ms": s.latency_p95_ms,
                                              "sr_ms": 1000 * s.busy.get("sr", 0) / max(1, s.frames),
                                              "encode_ms": 1000 * s.busy.get("encode", 0) / max(1, s.frames)}))
    return 0


# ---- the receiver ---------------------------------------------------------------------------------
class Receiver(threading.Thread):
    """Decodes vsr's output from UDP and stamps each frame's arrival (wall clock) by its time."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.url = f"udp://127.0.0.1:{port}"
        self.frames: List[tuple] = []  # (presentation seconds, wall-clock seconds when decoded)
        self.size: Optional[tuple] = None
        self.error: Optional[str] = None

    def run(self) -> None:
        import av
        try:
            with av.open(self.url, options={"buffer_size": str(8 << 20), "fifo_size": str(1 << 19),
                                            "overrun_nonfatal": "1", "probesize": "100000",
                                            "analyzeduration": "500000"}, timeout=(120, 8)) as c:
                for packet in c.demux(video=0):
                    for f in packet.decode():
                        self.frames.append((float(f.pts * f.time_base), time.time()))
                        self.size = (f.width, f.height)
        except Exception as exc:  # the stream ends by timing out: that is the normal end here
            self.error = str(exc)


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def measure(clip: Path, mode: str, workdir: Path) -> Dict[str, object]:
    port_in, port_out = free_port(), free_port()
    receiver = Receiver(port_out)
    receiver.start()
    wait_bound(port_out, "udp")
    summary_path = workdir / f"summary-{mode}.json"
    stamps = workdir / f"stamps-{mode}.json"
    before = load()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    vsr = subprocess.Popen([sys.executable, __file__, "--role", "vsr", "--mode", mode,
                            "--source", f"udp://127.0.0.1:{port_in}", "--output",
                            f"udp://127.0.0.1:{port_out}?pkt_size=1316", "--summary", str(summary_path)],
                           env=env, stderr=subprocess.PIPE, text=True)
    wait_bound(port_in, "udp", proc=vsr)
    time.sleep(3)  # let vsr finish loading its model (a live sender does not wait for anyone)
    subprocess.run([sys.executable, str(SENDER), str(clip), f"udp://127.0.0.1:{port_in}?pkt_size=1316",
                    "--format", "mpegts", "--no-audio", "--stamps", str(stamps), "--limit", "300"],
                   check=True, timeout=600, capture_output=True)
    _, err = vsr.communicate(timeout=120)
    receiver.join(60)
    sent = {int(k) / 1000: v for k, v in json.loads(stamps.read_text())["sent_ms"].items()}
    got = receiver.frames
    keys = sorted(sent)
    offset = _offset(keys, got)
    start, end = min(sent.values()) + 1.0, max(sent.values())
    latencies, startup, tail = [], [], []
    for t, wall in got:
        key = _nearest(keys, t - offset)
        if key is not None:
            # the first second includes vsr's (and the receiver's) stream probing: reported apart; the
            # last half second is left out: MPEG-TS from the sender gives its last frame no PES length,
            # so vsr's demuxer hands it on only when the stream times out (STALL_SECONDS later)
            if sent[key] < start:
                startup.append(wall - sent[key])
            else:
                (latencies if sent[key] <= end - 0.5 else tail).append(wall - sent[key])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    # sustained: frames out per second while the sender sends, after its first second (start-up)
    steady = sum(start <= wall <= end for _, wall in got)
    latencies.sort()
    return {
        "mode": mode, "sent": len(sent), "received": len(got), "matched": len(latencies) + len(startup) + len(tail),
        "startup_max_ms": 1000 * max(startup) if startup else None,
        "fps": steady / (end - start) if end > start else 0.0,
        "drop_rate": 1 - len(got) / len(sent) if sent else 0.0,
        "vsr_dropped": summary.get("dropped"),
        "median_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p95_ms": 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None,
        "in_vsr_ms": summary.get("latency_ms"), "size": receiver.size, "load": before,
        "sr_ms": summary.get("sr_ms"), "encode_ms": summary.get("encode_ms"),
        "vsr_error": err.strip().splitlines()[-1] if err.strip() else "", "receiver_error": receiver.error,
        "offset": offset, "latencies_ms": [round(1000 * x) for x in latencies],
    }


def _nearest(keys: List[float], t: float, tolerance: float = 0.004) -> Optional[float]:
    i = bisect.bisect_left(keys, t)
    near = [k for k in keys[max(0, i - 1):i + 1] if abs(k - t) <= tolerance]
    return min(near, key=lambda k: abs(k - t)) if near else None


def _offset(keys: List[float], got: List[tuple]) -> float:
    """The constant between the receiver's and the sender's presentation times (each MPEG-TS muxer on
    the way may shift them): the candidate that matches the most frames to a sent frame."""
    best, best_hits = 0.0, -1
    for t0, _ in got[:5]:
        for k in keys[:200]:
            o = t0 - k
            hits = sum(_nearest(keys, t - o) is not None for t, _ in got[:50])
            # frames are 1/30 s apart, so whole frame shifts match as well: the smallest shift wins
            if hits > best_hits or hits == best_hits and abs(o) < abs(best):
                best, best_hits = o, hits
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--role", default="bench", choices=("bench", "vsr"))
    p.add_argument("--mode", default="espcn")
    p.add_argument("--source")
    p.add_argument("--output")
    p.add_argument("--summary")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--sizes", nargs="+", default=["320x180", "640x360"])
    p.add_argument("--modes", nargs="+", default=["passthrough", "bicubic", "espcn"])
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.role == "vsr":
        return run_vsr(args.mode, args.source, args.output, args.summary)
    rows = []
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes:
            w, h = (int(x) for x in size.split("x"))
            clip = make_clip(CLIP_SRC, work / f"dog{w}.mp4", w, h, seconds=args.seconds, audio=False)
            for mode in args.modes:
                row = measure(clip, mode, work)
                row["input"] = size
                print(json.dumps(row), flush=True)
                rows.append(row)
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    if args.out:
        args.out.write_text(_table(rows, uptime, uptime_after, args.seconds))
    return 0


def _ms(x) -> str:
    return "-" if x is None else f"{x:.0f}"


def _table(rows, uptime, uptime_after, seconds) -> str:
    lines = [
        "| input | run | output | sent | received | drop rate | sustained fps | glass-to-glass median ms | p95 ms | first second, worst ms | in vsr median ms | SR ms/frame | encode ms/frame | load avg (1 min) before |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        size = "x".join(map(str, r["size"])) if r["size"] else "-"
        med = f"{r['median_ms']:.0f}" if r["median_ms"] is not None else "-"
        p95 = f"{r['p95_ms']:.0f}" if r["p95_ms"] is not None else "-"
        inv = f"{r['in_vsr_ms']:.0f}" if r["in_vsr_ms"] is not None else "-"
        first = f"{r['startup_max_ms']:.0f}" if r["startup_max_ms"] is not None else "-"
        lines.append(f"| {r['input']} | {r['mode']} | {size} | {r['sent']} | {r['received']} | "
                     f"{100 * r['drop_rate']:.0f}% | {r['fps']:.1f} | {med} | {p95} | {first} | {inv} | "
                     f"{_ms(r['sr_ms'])} | {_ms(r['encode_ms'])} | {r['load']} |")
    return "\n".join(lines) + f"\n\nuptime before: `{uptime}`  \nuptime after: `{uptime_after}`  \nclip: {seconds:g} s at 29.97 fps\n"


if __name__ == "__main__":
    sys.exit(main())
