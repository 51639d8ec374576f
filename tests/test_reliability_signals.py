"""SIGINT, SIGTERM and SIGHUP during start-up, mid-stream and the final flush: exit 130, a playable partial file
or none, no temporary files, no threads left running.

Each phase is recognised from what vsr itself reports (``-v`` log lines, the temporary file growing),
not from sleeps. How long each exit took is recorded for reliability.md; the tests only bound it
generously, so that a hang fails instead of stalling the suite.
"""
import _thread
import logging
import os
import signal
import subprocess
import threading
import time

import pytest
import torch

from reliability_contract import ENV, VSR, decoded_frames, leftovers, record
from video_fixtures import make_video, nearest_weights, probe
from vsr import Upscaler
from vsr.video import EncodeOptions, Interrupted, upscale_video

HANG = 60  # seconds: an exit slower than this is a hang
SLOW_FLUSH = ["--preset", "placebo", "-e", "rc-lookahead=250"]  # x264 holds every frame until the flush


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("signals")
    return {
        "long": make_video(d / "long.mkv", width=160, height=120, frames=300),
        "flush": make_video(d / "flush.mkv", width=256, height=192, frames=30, codec="ffv1", audio=None),
        "weights": nearest_weights(d / "nn2.pt", 2),
    }


class Vsr:
    """``python -m vsr -v upscale ...`` with its stderr collected line by line in a thread."""

    def __init__(self, args, stdin=None):
        self.proc = subprocess.Popen(VSR + ["-v", "upscale"] + [str(a) for a in args], stdin=stdin,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + 300
        while not condition():
            assert self.proc.poll() is None, f"vsr ended before {what}: {self.lines}"
            assert time.monotonic() < deadline, f"no {what}: {self.lines}"
            time.sleep(0.02)

    def interrupt(self, sig) -> float:
        """Send ``sig``; seconds until the process exited."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout=HANG)
        took = time.monotonic() - sent
        self.reader.join(timeout=5)
        return took


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def interrupt_and_check(run: Vsr, sig, phase: str, total: int, folder) -> int:
    """Interrupt, check exit 130 and that only a playable ``out.partial.mp4`` (or nothing) is left; its frames."""
    took = run.interrupt(sig)
    partial = folder / "out.partial.mp4"
    frames = len(decoded_frames(partial)) if partial.exists() else 0
    record("interrupts", f"{sig.name} {phase}", f"exit {run.proc.returncode} after {took:.2f} s; partial file "
           f"with {frames} of {total} frames; `{run.lines[-1]}`")
    assert run.proc.returncode == 130, run.lines
    assert leftovers(folder, ["out.partial.mp4"]) == [] and not (folder / "out.mp4").exists()
    assert not any("Traceback" in line for line in run.lines)
    return frames


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_while_importing(tmp_path, inputs, sig):
    """Right after the start, while Python imports torch (seconds): no traceback, no default death."""
    out = tmp_path / "out.mp4"
    run = Vsr([inputs["long"].path, out, "--scale", 2, "--weights", inputs["weights"]])
    time.sleep(0.3)  # picks the moment only; any moment before the first frame must behave the same
    took = run.interrupt(sig)
    record("interrupts", f"{sig.name} 0.3 s after the start (importing)",
           f"exit {run.proc.returncode} after {took:.2f} s; `{run.lines[-1]}`")
    assert run.proc.returncode == 130 and run.lines[-1] == "vsr: interrupted", run.lines
    assert leftovers(tmp_path, []) == []


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_startup(tmp_path, inputs, sig):
    """The model has loaded and vsr waits for the first bytes of its input (stdin)."""
    out = tmp_path / "out.mp4"
    run = Vsr(["-", out, "--scale", 2, "--weights", inputs["weights"]], stdin=subprocess.PIPE)
    run.wait_for(lambda: any("loaded" in line for line in run.lines), "model load")
    took = run.interrupt(sig)
    run.proc.stdin.close()
    record("interrupts", f"{sig.name} during start-up (blocked reading stdin)",
           f"exit {run.proc.returncode} after {took:.2f} s; `{run.lines[-1]}`")
    assert run.proc.returncode == 130, run.lines
    assert run.lines[-1] == "vsr: interrupted" and not any("Traceback" in line for line in run.lines)
    assert leftovers(tmp_path, []) == []


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_mid_stream(tmp_path, inputs, sig):
    """Packets are reaching the temporary output file."""
    src = inputs["long"]
    out = tmp_path / "out.mp4"
    run = Vsr([src.path, out, "--scale", 2, "--weights", inputs["weights"]])

    def writing():
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.vsr-")]
        return temps and temps[0].stat().st_size > 2000

    run.wait_for(writing, "output written")
    frames = interrupt_and_check(run, sig, "mid-stream", 300, tmp_path)
    assert 0 < frames < 300
    played = probe(tmp_path / "out.partial.mp4")
    assert played.pts == probe(src.path).pts[:frames]  # the frames it has, at their own times
    assert (played.width, played.height) == (320, 240)


def test_stalled_stdin_mid_stream(tmp_path, inputs):
    """The writer of stdin sent a third of the file and stalls: SIGTERM must not wait for it."""
    out = tmp_path / "out.mp4"
    run = Vsr(["-", out, "--scale", 2, "--weights", inputs["weights"]], stdin=subprocess.PIPE)
    data = inputs["long"].path.read_bytes()
    run.proc.stdin.buffer.write(data[: len(data) // 3])
    run.proc.stdin.buffer.flush()
    sizes = []

    def stalled():  # the temporary output stopped growing: every frame sent so far is written
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.vsr-")]
        sizes.append(temps[0].stat().st_size if temps else 0)
        time.sleep(0.25)
        return len(sizes) > 4 and sizes[-1] > 2000 and len(set(sizes[-4:])) == 1

    run.wait_for(stalled, "a stalled input")
    frames = interrupt_and_check(run, signal.SIGTERM, "mid-stream while stdin stalls", 300, tmp_path)
    run.proc.stdin.close()
    assert 0 < frames < 300


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_final_flush(tmp_path, inputs, sig):
    """Every frame has gone to the encoder, which is flushing (x264 holding all 30 frames)."""
    out = tmp_path / "out.mp4"
    run = Vsr([inputs["flush"].path, out, "--scale", 2, "--weights", inputs["weights"], *SLOW_FLUSH])
    run.wait_for(lambda: any("flushing the video encoder" in line for line in run.lines), "flush")
    frames = interrupt_and_check(run, sig, "during the final flush", 30, tmp_path)
    assert 0 < frames <= 30 or "no output kept" in run.lines[-1]


class _InterruptOn(logging.Handler):
    """Raises KeyboardInterrupt in the main thread when a vsr log message contains ``text``."""

    def __init__(self, text: str):
        super().__init__(logging.DEBUG)
        self.text = text

    def emit(self, record):
        if self.text in record.getMessage():
            _thread.interrupt_main()


@pytest.mark.parametrize("phase", ["frame", "flush"])
def test_interrupted_library_run_stops_every_thread(tmp_path, inputs, phase):
    """In-process: after Ctrl-C the call raises ``Interrupted`` only once every stage thread has ended."""
    torch.set_num_threads(1)
    upscaler = Upscaler(2, "cpu", weights=inputs["weights"])
    out = tmp_path / "out.mp4"
    logger = logging.getLogger("vsr")
    handler, level = _InterruptOn("flushing the video encoder" if phase == "flush" else "never logged"), logger.level
    calls = []

    def progress(done, total):
        calls.append(done)
        if phase == "frame" and done == 5:
            _thread.interrupt_main()

    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with pytest.raises(Interrupted) as caught:
            options = EncodeOptions(preset="veryslow", options={"rc-lookahead": "250"}) if phase == "flush" else None
            upscale_video(inputs["flush"].path, out, upscaler, options, progress=progress)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("vsr-")]
    summary = caught.value.summary
    assert caught.value.exit_code == 130 and summary.interrupted
    # The count the progress bar last showed is the count the message gives, the file's share beside it.
    assert str(caught.value).startswith(f"interrupted after {calls[-1]} frames;"), (str(caught.value), calls[-1])
    if phase == "flush" and summary.frames:
        assert summary.frames < calls[-1] and f"the encoder's last {calls[-1] - summary.frames} were dropped" in str(caught.value)
    if summary.frames:
        assert len(decoded_frames(tmp_path / "out.partial.mp4")) == summary.frames
    assert leftovers(tmp_path, ["out.partial.mp4"]) == []
    assert not os.path.exists(out)
