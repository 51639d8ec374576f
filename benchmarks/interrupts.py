"""Randomly timed interrupts: SIGINT, SIGTERM or SIGHUP at a random moment of a real vsr command.

    python benchmarks/interrupts.py --runs 120 --seed 1     # about 10 min on 2 cores; writes its tally
                                                            # into benchmarks/results/reliability.md

Eight kinds of run, spread evenly: file to file, stdin (a pipe) to file, UDP to UDP, UDP to HLS, UDP to
RTMP (a real FFmpeg RTMP server receiving), ``vsr live --no-window`` (recording), ``vsr train`` and
``vsr bench``. The network inputs are sent by a real FFmpeg (``ffmpeg -re ... -f mpegts udp://``). Each
run starts vsr (``python -m vsr`` or the ``vsr`` script, alternately), waits a random delay drawn over
that kind's whole run (so some signals land while importing, loading the model, opening or connecting,
mid-stream, in the final flush, or after the end) and sends one signal. Then it records the exit code,
the seconds from the signal to the exit, the last stderr line and what was left at the output, and
judges it: a **crash** is an exit code other than 0/130 (134 abort, 139 segfault, death by a signal), a
traceback or a C++ ``terminate`` on stderr; a **hang** is no exit within ``HANG`` s (then killed); an
output is **bad** when a file at the final or partial path does not decode, a temporary file was left,
or an interrupted HLS playlist lacks its end tag. Target: 0 crashes, 0 hangs, every exit within 2 s.

``tests/test_interrupts_random.py`` runs a few of each kind with fixed seeds through ``run_one``.
"""
import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import threading
from typing import Callable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from stream_tools import bound, free_port  # noqa: E402  (loopback ports, read from /proc/net)
sys.path.insert(0, str(ROOT / "benchmarks"))
from pipeline_speed import machine  # noqa: E402  (the CPU, its SIMD flags, cores, memory)
RESULTS = ROOT / "benchmarks" / "results" / "reliability.md"
BEGIN, END = "<!-- begin: benchmarks/interrupts.py -->", "<!-- end: benchmarks/interrupts.py -->"
KINDS = ("file", "stdin", "udp-udp", "udp-hls", "udp-rtmp", "live", "train", "bench")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HANG = 15.0  # seconds after the signal: a run still going then is a hang
DEADLINE = 2.0  # seconds: the promise
CLIP_SECONDS = 8  # the network sender's clip: longer than any delay, so the source does not end first
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")


@dataclass
class Outcome:
    kind: str
    signal: str
    delay: float  # seconds from the start of vsr to the signal
    code: Optional[int]  # None: hung (killed)
    seconds: float  # from the signal to the exit
    last: str  # the last stderr line
    left: str  # what was at the output afterwards
    problems: List[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.code is None:
            return "hang"
        if any(p.startswith("crash") for p in self.problems):
            return "crash"
        return "bad" if self.problems else "ok"


def wait_until(condition: Callable[[], bool], timeout: float, *procs: subprocess.Popen) -> bool:
    """Poll ``condition`` until true, ``timeout`` passes, or one of ``procs`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if any(p.poll() is not None for p in procs):
            return False
        time.sleep(0.02)
    return False


def frames_in(path: Path) -> Optional[int]:
    """Frames ffprobe decodes from ``path``'s first video stream; None when it does not decode."""
    run = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         timeout=60)
    try:
        return int(run.stdout.strip().split(",")[0])
    except ValueError:
        return None


class Inputs:
    """What every run reads, made once: an H.264+AAC clip, a folder of training images."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.clip = folder / "clip.mkv"  # Matroska: readable from a pipe, unlike an MP4 whose index is at its end
        self.images = folder / "images"
        if not self.clip.exists():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                            f"testsrc2=size=320x180:rate=30:duration={CLIP_SECONDS}", "-f", "lavfi", "-i",
                            f"sine=frequency=440:duration={CLIP_SECONDS}", "-c:v", "libx264", "-g", "15", "-bf", "0",
                            "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(self.clip)], check=True, timeout=120)
        if not self.images.exists():
            self.images.mkdir()
            for i in range(8):  # frames of the clip, as training images
                subprocess.run(["ffmpeg", "-v", "error", "-ss", str(i), "-i", str(self.clip), "-frames:v", "1",
                                str(self.images / f"{i}.png")], check=True, timeout=60)


def vsr_command(use_script: bool) -> List[str]:
    """``vsr`` as installed (the console script) or ``python -m vsr``."""
    script = Path(sys.executable).with_name("vsr")
    if use_script and script.exists():
        return [str(script)]
    return [sys.executable, "-m", "vsr"]


class Run:
    """One kind of run in its own folder: the peers it needs, vsr's command, what to check after."""

    def __init__(self, kind: str, inputs: Inputs, work: Path, vsr: List[str]):
        self.kind, self.inputs, self.work, self.vsr = kind, inputs, work, vsr
        self.peers: List[subprocess.Popen] = []
        self.feeder: Optional[subprocess.Popen] = None
        self.port_in = self.port_out = 0

    # ---- the command ---------------------------------------------------------------------
    def args(self) -> List[str]:
        clip, out = str(self.inputs.clip), self.work / "out.mp4"
        k = self.kind
        if k == "file":
            return ["upscale", clip, str(out), "-s", "2", "--no-progress"]
        if k == "stdin":
            return ["upscale", "-", str(out), "-s", "2", "--no-progress"]
        if k.startswith("udp-"):
            self.port_in = free_port()
            src = f"udp://127.0.0.1:{self.port_in}"
            if k == "udp-udp":
                self.port_out = free_port()
                dst = f"udp://127.0.0.1:{self.port_out}?pkt_size=1316"
            elif k == "udp-hls":
                (self.work / "hls").mkdir()
                dst = str(self.work / "hls" / "live.m3u8")
            else:
                self.port_out = free_port()
                dst = f"rtmp://127.0.0.1:{self.port_out}/live/key"
            return ["upscale", src, dst, "-s", "2", "--no-progress"]
        if k == "live":
            return ["live", "--source", clip, "--loop", "--no-window", "--scale", "2", "--record",
                    str(self.work / "rec.mkv")]
        if k == "train":
            return ["train", "--data", str(self.inputs.images), "--scale", "2", "--out", str(self.work / "w.pt"),
                    "--epochs", "3", "--patches-per-epoch", "256", "--batch", "16", "--threads", "1",
                    "--checkpoint-every", "0", "--holdout-every", "4", "--no-progress"]
        if k == "bench":
            return ["bench", "--frames", "12", "--scale", "2", "--no-progress"]
        raise ValueError(k)

    def start(self) -> subprocess.Popen:
        """The receivers first, then vsr, then (for network inputs) a real FFmpeg sender once vsr listens."""
        args = self.args()
        if self.kind == "udp-udp":
            self._peer(["ffmpeg", "-v", "error", "-y", "-t", str(CLIP_SECONDS * 3), "-i",
                        f"udp://127.0.0.1:{self.port_out}?timeout=20000000", "-c", "copy", str(self.work / "rx.ts")])
        if self.kind == "udp-rtmp":
            self._peer(["ffmpeg", "-v", "error", "-y", "-listen", "1", "-timeout", "30", "-i",
                        f"rtmp://127.0.0.1:{self.port_out}/live/key", "-c", "copy", str(self.work / "rx.flv")])
            wait_until(lambda: bound(self.port_out, "tcp"), 20)
        stdin = None
        if self.kind == "stdin":
            self.feeder = subprocess.Popen(["cat", str(self.inputs.clip)], stdout=subprocess.PIPE)
            stdin = self.feeder.stdout
        vsr = subprocess.Popen(self.vsr + args, cwd=self.work, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=open(self.work / "stderr.txt", "w"), env=ENV)
        if self.feeder is not None:
            self.feeder.stdout.close()  # vsr holds the read end; cat gets SIGPIPE if vsr leaves
        if self.kind.startswith("udp-"):
            self._sender_when_bound(vsr)
        return vsr

    def _peer(self, cmd: List[str]) -> None:
        self.peers.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))

    def _sender_when_bound(self, vsr: subprocess.Popen) -> None:
        """The sender starts once vsr has bound its UDP port (or vsr has already ended), in the background
        of the run: a signal may come before."""
        def send():
            if wait_until(lambda: bound(self.port_in, "udp"), 30, vsr):
                self._peer(["ffmpeg", "-v", "error", "-re", "-i", str(self.inputs.clip), "-c:v", "libx264",
                            "-tune", "zerolatency", "-g", "15", "-c:a", "aac", "-f", "mpegts",
                            f"udp://127.0.0.1:{self.port_in}?pkt_size=1316"])

        self._sender = threading.Thread(target=send, daemon=True)
        self._sender.start()

    def stop_peers(self) -> None:
        if self.kind.startswith("udp-"):
            self._sender.join(timeout=35)
        for p in self.peers + ([self.feeder] if self.feeder else []):
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is not self.feeder else signal.SIGTERM)  # ffmpeg finishes its file
        for p in self.peers + ([self.feeder] if self.feeder else []):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # ---- what was left -----------------------------------------------------------------
    def check(self, code: int) -> Tuple[str, List[str]]:
        """A description of the output left, and what is wrong with it."""
        problems: List[str] = []
        names = sorted(p.name for p in self.work.iterdir())
        temps = [n for n in names if ".vsr-" in n or n.endswith(".tmp")]
        if temps:
            problems.append(f"temporary files left: {temps}")
        k = self.kind
        if k in ("file", "stdin"):
            final, partial = self.work / "out.mp4", self.work / "out.partial.mp4"
            if code == 0 and not final.exists():
                problems.append("exit 0 without out.mp4")
            if code != 0 and final.exists():
                problems.append("out.mp4 exists after a failed run")
            for f in (final, partial):
                if f.exists():
                    n = frames_in(f)
                    if not n:
                        problems.append(f"{f.name} does not decode")
                    return f"{f.name}: {n} frames", problems
            return "nothing", problems
        if k == "udp-hls":
            playlist = self.work / "hls" / "live.m3u8"
            if not playlist.exists():
                return "no playlist (no segment yet)", problems
            text = playlist.read_text()
            segments = text.count(".ts")
            if "#EXT-X-ENDLIST" not in text:
                problems.append("playlist without #EXT-X-ENDLIST")
            return f"playlist of {segments} segments" + (", ended" if "#EXT-X-ENDLIST" in text else ""), problems
        if k in ("udp-udp", "udp-rtmp"):
            rx = self.work / ("rx.ts" if k == "udp-udp" else "rx.flv")
            n = frames_in(rx) if rx.exists() and rx.stat().st_size else 0
            return f"the FFmpeg receiver got {n} frames", problems
        if k == "live":
            rec = self.work / "rec.mkv"
            partial = [p for p in self.work.iterdir() if p.name.startswith("rec") and p.suffix == ".mkv"]
            if partial:
                n = frames_in(partial[0])
                if not n:
                    problems.append(f"{partial[0].name} does not decode")
                return f"{partial[0].name}: {n} frames", problems
            return "no recording (no frame yet)" if not rec.exists() else "rec.mkv", problems
        if k == "train":
            ckpt = self.work / "w.ckpt"
            if ckpt.exists():
                import torch
                try:
                    state = torch.load(ckpt, weights_only=True)
                    return f"checkpoint at step {state['step']}", problems
                except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
                    problems.append(f"checkpoint does not load: {exc}")
            return "no checkpoint" + (" (finished)" if (self.work / "w.pt").exists() else ""), problems
        return "-", problems


def run_one(kind: str, sig: signal.Signals, delay: float, inputs: Inputs, work: Path, use_script: bool) -> Outcome:
    """Start one run of ``kind``, send ``sig`` after ``delay`` s, and judge how it ended."""
    work.mkdir(parents=True)
    run = Run(kind, inputs, work, vsr_command(use_script))
    vsr = run.start()
    try:
        wait_until(lambda: False, delay, vsr)
        ended_first = vsr.poll() is not None
        sent = time.monotonic()
        if not ended_first:
            vsr.send_signal(sig)
        try:
            code: Optional[int] = vsr.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            code = None
            vsr.kill()
            vsr.wait()
        took = time.monotonic() - sent if not ended_first else 0.0
    finally:
        run.stop_peers()
    err = (work / "stderr.txt").read_text(errors="replace")
    lines = [l for l in err.splitlines() if l.strip()]
    problems: List[str] = []
    if code is not None:
        if code not in (0, 1, 130):
            problems.append(f"crash: exit {code}")
        if "Traceback" in err or "terminate called" in err or "Segmentation" in err:
            problems.append("crash: " + next(l for l in lines if "Traceback" in l or "terminate" in l
                                              or "Segmentation" in l))
        if code == 1 and not ended_first:
            problems.append(f"exit 1 after a signal: {lines[-1] if lines else ''}")
        left, more = run.check(code)
        problems += more
        if code == 130 and lines and lines[-1].startswith("vsr: ") is False:
            problems.append(f"last line not vsr's: {lines[-1]}")
    else:
        left = "killed"
    return Outcome(kind, sig.name if not ended_first else "none (ended first)", round(delay, 2), code, round(took, 3),
                   lines[-1] if lines else "", left, problems)


def calibrate(kind: str, inputs: Inputs, folder: Path) -> float:
    """Seconds one unbroken run of ``kind`` takes; a live or network run, as long as its source plays."""
    if kind == "live" or kind.startswith("udp-"):
        return CLIP_SECONDS + 2.0
    work = folder / f"calibrate-{kind}"
    run = Run(kind, inputs, work, vsr_command(False))
    work.mkdir(parents=True)
    started = time.monotonic()
    vsr = run.start()
    try:
        code = vsr.wait(timeout=300)
    finally:
        run.stop_peers()
    if code != 0:
        raise SystemExit(f"interrupts.py: an unbroken {kind} run failed (exit {code}): "
                         f"{(work / 'stderr.txt').read_text().strip().splitlines()[-1:]}")
    return time.monotonic() - started


def table(outcomes: List[Outcome]) -> List[str]:
    lines = ["| kind | runs | exit 130 | exit 0 (finished first) | other exits | crashes | hangs | bad outputs | "
             "seconds to exit: median / max |", "|---|---|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        rows = [o for o in outcomes if o.kind == kind]
        if not rows:
            continue
        secs = [o.seconds for o in rows if o.code is not None and o.signal != "none (ended first)"]
        other = sorted({str(o.code) for o in rows if o.code not in (0, 130)})
        lines.append(f"| {kind} | {len(rows)} | {sum(o.code == 130 for o in rows)} | {sum(o.code == 0 for o in rows)} | "
                     f"{', '.join(other) or '-'} | {sum(o.verdict == 'crash' for o in rows)} | "
                     f"{sum(o.verdict == 'hang' for o in rows)} | {sum(o.verdict == 'bad' for o in rows)} | "
                     + (f"{statistics.median(secs):.2f} / {max(secs):.2f} |" if secs else "- |"))
    return lines


def write_results(outcomes: List[Outcome], args: argparse.Namespace, seconds: float) -> None:
    import av
    import torch

    bad = [o for o in outcomes if o.verdict != "ok"]
    slow = [o for o in outcomes if o.code is not None and o.seconds > DEADLINE]
    section = [
        BEGIN,
        "## Randomly timed interrupts",
        "",
        f"`python benchmarks/interrupts.py --runs {args.runs} --seed {args.seed}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.1f} min): {machine()}; "
        f"load average {os.getloadavg()[0]:.1f} at the end (a training run at nice 19 shared the cores); Python "
        f"{platform.python_version()}, torch {torch.__version__}, PyAV {av.__version__}, "
        f"FFmpeg {subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.split()[2]} (the "
        "system's, as sender, RTMP server and receiver). One signal (SIGINT, SIGTERM or SIGHUP at random) after a "
        "delay drawn uniformly over each kind's unbroken run time, so some land while importing, loading or "
        "connecting and some after the end; `python -m vsr` and the `vsr` script alternately.",
        "",
        *table(outcomes),
        "",
        f"**{len(outcomes)} runs: {sum(o.verdict == 'crash' for o in outcomes)} crashes, "
        f"{sum(o.verdict == 'hang' for o in outcomes)} hangs, {sum(o.verdict == 'bad' for o in outcomes)} bad outputs; "
        f"{len(slow)} exits slower than {DEADLINE:.0f} s.**",
        "",
    ]
    if bad or slow:
        section += ["Every run that was not clean:", "", "| kind | signal | delay s | exit | s to exit | left | problems |",
                    "|---|---|---|---|---|---|---|"]
        section += [f"| {o.kind} | {o.signal} | {o.delay} | {o.code} | {o.seconds} | {o.left} | "
                    f"{'; '.join(o.problems).replace('|', '/') or 'slow'} |" for o in bad + [s for s in slow if s not in bad]]
        section.append("")
    section.append(END)
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + "\n".join(section) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n"
    RESULTS.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=120, help="runs in all, spread evenly over the kinds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    ap.add_argument("--log", type=Path, help="also write every outcome as JSON lines here")
    ap.add_argument("--no-write", action="store_true", help="print only; leave reliability.md alone")
    args = ap.parse_args()
    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if missing:
        print(f"interrupts.py: needs {' and '.join(missing)} (Debian's ffmpeg package)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="vsr-interrupts-"))
    inputs = Inputs(folder)
    lengths = {k: calibrate(k, inputs, folder) for k in args.kinds}
    print("unbroken run seconds:", {k: round(v, 1) for k, v in lengths.items()}, flush=True)
    started = time.monotonic()
    outcomes: List[Outcome] = []
    plan = [args.kinds[i % len(args.kinds)] for i in range(args.runs)]
    rng.shuffle(plan)
    for i, kind in enumerate(plan):
        sig, delay = rng.choice(SIGNALS), rng.uniform(0.0, lengths[kind] * 1.1)
        o = run_one(kind, sig, delay, inputs, folder / f"run-{i}", use_script=bool(i % 2))
        outcomes.append(o)
        print(f"{i + 1}/{len(plan)} {kind} {o.signal} at {o.delay:.2f} s: exit {o.code} after {o.seconds:.2f} s, "
              f"{o.left}; {o.verdict}{': ' + '; '.join(o.problems) if o.problems else ''}", flush=True)
        if args.log:
            with args.log.open("a") as f:
                f.write(json.dumps(o.__dict__) + "\n")
        if o.verdict == "ok":
            shutil.rmtree(folder / f"run-{i}", ignore_errors=True)
    print("\n".join(table(outcomes)))
    if not args.no_write:
        write_results(outcomes, args, time.monotonic() - started)
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(o.verdict == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
