"""vsr live without a display: the newest-frame capture, the views, the keys and the headless loop.

Sources are small generated clips played through the real capture code, and the upscalers are real
``Upscaler`` objects with untrained weights (a slow one is a real one plus a delay).
"""
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest

import vsr
from vsr.cli import main
from vsr.errors import VsrError
from vsr.live.app import DIVIDER_STEP, LEFT_KEYS, RIGHT_KEYS, Live, ViewState, apply_key, upscale_bgr
from vsr.live.capture import Capture, open_source, parse_size
from vsr.live.view import Mode, compose, draw_overlay, fit, opencv_bicubic
from vsr.upscaler import Upscaler


def clip_frame(width: int, height: int, index: int) -> np.ndarray:
    """BGR texture that moves one pixel per frame, so every frame differs from its neighbours."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x = x + index
    b = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 5.0)
    g = 255 * ((x / 7 + y / 11) % 1.0)
    r = 128 + 120 * np.sin((x * x + y * y) / 90.0)
    return np.clip(np.stack([b, g, r], axis=-1), 0, 255).astype(np.uint8)


def write_clip(path: Path, frames: int = 30, size=(64, 48), fps: float = 25.0) -> Path:
    """An MJPEG AVI, which OpenCV writes and reads everywhere and decodes frame-exactly."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(clip_frame(size[0], size[1], i))
    writer.release()
    return path


def decode_all(path: Path) -> List[np.ndarray]:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


class SlowUpscaler:
    """A real Upscaler that takes ``delay`` seconds longer per frame, like a big model on a slow CPU."""

    def __init__(self, upscaler: Upscaler, delay: float):
        self.inner = upscaler
        self.delay = delay
        self.scale = upscaler.scale
        self.device = upscaler.device

    def upscale_yuv420(self, *planes: np.ndarray):
        time.sleep(self.delay)
        return self.inner.upscale_yuv420(*planes)


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.avi")


# ---- capture ----------------------------------------------------------------------------------
def consume(clip: Path, seconds_per_frame: float = 0.0):
    """Play ``clip`` to its end, spending ``seconds_per_frame`` on each frame taken, as the SR loop does."""
    capture = open_source(str(clip))
    capture.start()
    got = []
    try:
        while not capture.ended:
            frame = capture.take(timeout=1.0)
            if frame is not None:
                got.append(frame)
                time.sleep(seconds_per_frame)
    finally:
        capture.close()
    return capture, got


def test_fast_consumer_gets_every_frame_in_order(tmp_path):
    clip = write_clip(tmp_path / "slow.avi", frames=20, fps=10.0)
    decoded = decode_all(clip)
    capture, got = consume(clip)
    assert [f.index for f in got] == list(range(len(decoded))) == list(range(20))
    assert all(np.array_equal(f.image, decoded[f.index]) for f in got)
    assert capture.dropped == 0 and capture.captured == 20


def test_slow_consumer_gets_the_newest_frame_and_the_rest_are_dropped(tmp_path):
    clip = write_clip(tmp_path / "fast.avi", frames=40, fps=100.0)
    decoded = decode_all(clip)
    capture, got = consume(clip, seconds_per_frame=0.1)  # ten frame periods
    indices = [f.index for f in got]
    assert indices == sorted(set(indices)) and indices[-1] == 39
    assert capture.dropped > 0
    assert len(got) + capture.dropped == capture.captured == 40  # each frame shown once or dropped, none queued
    assert all(np.array_equal(f.image, decoded[f.index]) for f in got)
    assert all(b.captured_at > a.captured_at for a, b in zip(got, got[1:]))


def test_a_live_source_that_stops_is_an_error(clip):
    cap = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    capture = Capture(cap, "camera 7", live=True)
    capture.start()
    try:
        with pytest.raises(VsrError, match="camera 7 stopped delivering frames"):
            for _ in range(1000):
                capture.take(timeout=1.0)
    finally:
        capture.close()
    assert not capture._thread.is_alive()


def test_size_resizes_frames(clip):
    capture = open_source(str(clip), size=(32, 20))
    capture.start()
    try:
        frame = capture.take(timeout=5.0)
    finally:
        capture.close()
    assert frame.image.shape == (20, 32, 3)


def test_source_errors(tmp_path):
    with pytest.raises(VsrError, match="source not found"):
        open_source(str(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VsrError, match="cannot open"):
        open_source(str(junk))


@pytest.mark.parametrize("text,size", [("640x480", (640, 480)), ("32X24", (32, 24))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["640", "0x10", "axb", "1x2x3"])
def test_parse_size_rejects(text):
    with pytest.raises(VsrError) as err:
        parse_size(text)
    assert err.value.exit_code == 2


# ---- views and keys ---------------------------------------------------------------------------
def test_compose_modes():
    lr = clip_frame(40, 30, 0)
    sr = cv2.resize(lr, (120, 90), interpolation=cv2.INTER_NEAREST)
    bic = opencv_bicubic(lr, 3)
    assert bic.shape == sr.shape == (90, 120, 3)
    assert np.array_equal(compose(Mode.ESPCN, sr, None, 0.5, labels=False), sr)
    side = compose(Mode.SIDE, sr, bic, 0.5, labels=False)
    assert np.array_equal(side, np.hstack([sr, bic]))
    split = compose(Mode.SPLIT, sr, bic, 0.25, labels=False)
    assert np.array_equal(split[:, :30], sr[:, :30]) and np.array_equal(split[:, 31:], bic[:, 31:])
    assert not np.array_equal(split[:, 30], sr[:, 30])  # the divider line
    assert np.array_equal(compose(Mode.SPLIT, sr, bic, 7.0, labels=False)[:, :119], sr[:, :119])
    labelled = compose(Mode.ESPCN, sr, None, 0.5, labels=True)
    assert not np.array_equal(labelled, sr) and np.array_equal(labelled[50:], sr[50:])


def test_overlay_draws_on_the_bottom_band_only():
    img = np.full((300, 400, 3), 200, np.uint8)
    draw_overlay(img, ["capture 30.0 fps", "SR 10.0 fps"])
    assert np.array_equal(img[:150], np.full((150, 400, 3), 200, np.uint8))
    assert (img[200:] != 200).any()


def test_fit_shrinks_keeping_shape_and_never_enlarges():
    assert fit((3840, 2160), (1880, 980)) == (1742, 980)
    assert fit((640, 480), (1880, 980)) == (640, 480)


def test_keys():
    state = ViewState(scale=3)
    assert state.mode is Mode.SPLIT and state.overlay and not state.paused
    for key, check in [
        (ord("m"), lambda s: s.mode is Mode.SIDE),
        (ord("m"), lambda s: s.mode is Mode.ESPCN),
        (ord("m"), lambda s: s.mode is Mode.SPLIT),
        (ord("o"), lambda s: not s.overlay),
        (ord(" "), lambda s: s.paused),
        (ord(" "), lambda s: not s.paused),
        (ord("4"), lambda s: s.scale == 4),
        (ord("2"), lambda s: s.scale == 2),
        (ord("s"), lambda s: s.snapshot),
    ]:
        assert apply_key(state, key)
        assert check(state), chr(key)
    for left in LEFT_KEYS:
        before = state.divider
        apply_key(state, left)
        assert state.divider == pytest.approx(before - DIVIDER_STEP)
    for _ in range(100):
        apply_key(state, next(iter(RIGHT_KEYS)))
    assert state.divider == 1.0
    assert not apply_key(state, ord("x")) and not state.quit
    assert apply_key(ViewState(scale=3), ord("q")) and apply_key(ViewState(scale=3), 27)
    esc = ViewState(scale=3)
    apply_key(esc, 27)
    assert esc.quit


# ---- the loop, headless -----------------------------------------------------------------------
def test_headless_loop_with_a_slow_upscaler_drops_frames_and_snapshots_are_r_times(tmp_path, weights_file):
    clip = write_clip(tmp_path / "fast.avi", frames=30, fps=60.0)
    decoded = decode_all(clip)
    real = Upscaler(2, device="cpu", weights=weights_file(2))
    capture = open_source(str(clip))
    reports = []
    try:
        live = Live(capture, lambda scale: SlowUpscaler(real, 0.1), 2, snapshot_dir=tmp_path, on_stats=reports.append)
        stats = live.run()
        live.state.overlay = False
        snapshot = live.snapshot()
    finally:
        capture.close()
    assert stats.dropped > 0 and stats.frames + stats.dropped == 30
    assert stats.scale == 2 and stats.device == "cpu"
    shown = live.shown.frame
    assert shown.index == 29  # the loop ends on the file's last frame
    saved = cv2.imread(str(snapshot))
    assert saved.shape == (96, 128, 3)
    expected = upscale_bgr(real, decoded[29])
    assert np.array_equal(saved[:, :64], expected[:, :64])  # the split view: ESPCN left of the divider,
    assert np.array_equal(saved[:, 65:], opencv_bicubic(decoded[29], 2)[:, 65:])  # bicubic right of it


def test_max_frames_stops_the_loop(clip, weights_file):
    capture = open_source(str(clip))
    try:
        stats = Live(capture, lambda s: Upscaler(s, "cpu", weights_file(s)), 3, max_frames=4).run()
    finally:
        capture.close()
    assert stats.frames == 4


def test_scale_switch_to_missing_weights_keeps_the_scale(clip, weights_file):
    def make(scale):
        if scale != 3:
            raise VsrError(f"weights for x{scale} not found")
        return Upscaler(3, "cpu", weights_file(3))

    capture = open_source(str(clip))
    try:
        live = Live(capture, make, 3, max_frames=1)
        live.run()
        live._handle_key(ord("4"))
    finally:
        capture.close()
    assert live.state.scale == 3 and set(live._upscalers) == {3}


def test_cli_headless(clip, weights_file, capsys):
    code = main(["live", "--source", str(clip), "--scale", "2", "--weights", str(weights_file(2)),
                 "--device", "cpu", "--no-window", "--max-frames", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "vsr live: 5 frames" in out and "on cpu at x2" in out


def test_cli_says_when_a_file_ends_and_loop_plays_it_again(tmp_path, weights_file, capsys):
    """A 10-frame clip asked for 25 frames: without --loop it stops at the end and says so; with it, 25."""
    clip = write_clip(tmp_path / "short.avi", frames=10, fps=50.0)
    common = ["live", "--source", str(clip), "--scale", "2", "--weights", str(weights_file(2)),
              "--device", "cpu", "--no-window", "--frames", "25"]
    assert main(common) == 0
    out = capsys.readouterr().out
    shown = int(out.split("vsr live: ")[1].split(" frames")[0])
    assert 1 <= shown <= 10 and f"{clip} ended after {shown} frames (--loop plays it again)" in out
    assert main(common + ["--loop"]) == 0
    out = capsys.readouterr().out
    assert "vsr live: 25 frames" in out and "ended after" not in out


class ScriptedWindow:
    """Stands in for the display: answers ``keys()`` from a script of (condition, key) steps."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.closed = False
        self.shown = 0

    def show(self, image):
        self.shown += 1

    def keys(self, wait_ms):
        time.sleep(wait_ms / 1000)
        if self.steps and self.steps[0][0]():
            return [self.steps.pop(0)[1]]
        return []

    def drag(self):
        return None


def test_time_paused_counts_in_no_rate_or_latency(tmp_path, weights_file):
    """Paused 2.5 s while the clip ends: the frame waiting through the pause is not 2.5 s late, the SR rate
    leaves the pause out, and the window stays open on the last frame until q."""
    clip = write_clip(tmp_path / "short.avi", frames=12, fps=40.0)
    capture = open_source(str(clip))
    ends = []
    box = {}

    def paused_long_enough():
        box.setdefault("paused", time.perf_counter())
        return time.perf_counter() - box["paused"] > 2.5

    live_ref = []
    window = ScriptedWindow([
        (lambda: live_ref[0].frames >= 2, ord(" ")),
        (paused_long_enough, ord(" ")),
        (lambda: live_ref[0].ended, ord("q")),
    ])
    try:
        live = Live(capture, lambda s: Upscaler(s, "cpu", weights_file(s)), 2, window=window,
                    on_end=lambda name, frames: ends.append((name, frames)))
        live_ref.append(live)
        started = time.perf_counter()
        stats = live.run()
        wall = time.perf_counter() - started
    finally:
        capture.close()
    assert ends == [(str(clip), stats.frames)] and live.ended
    assert stats.latency_ms < 400, stats  # a mean of >= 600 ms (of <= 4 frames) if the pause were counted
    assert stats.seconds < wall - 2.4
    assert stats.sr_fps == pytest.approx(stats.frames / stats.seconds)


FAILING_UPSCALE = """
import sys
from vsr.cli import main
from vsr.upscaler import Upscaler

real, calls = Upscaler.upscale_yuv420, []


def out_of_memory_on_the_third(self, *planes):
    calls.append(planes)
    if len(calls) == 3:
        raise MemoryError
    return real(self, *planes)


Upscaler.upscale_yuv420 = out_of_memory_on_the_third
sys.exit(main(sys.argv[1:]))
"""


def test_an_error_in_the_sr_thread_ends_the_session_with_one_line(tmp_path, weights_file):
    """Out of memory in the third upscale, which runs in the worker thread: ``vsr live`` says so in one line
    and exits, long before the 120 s clip would end."""
    clip = write_clip(tmp_path / "long.avi", frames=600, fps=5.0)
    done = subprocess.run([sys.executable, "-c", FAILING_UPSCALE, "live", "--source", str(clip), "--scale", "2",
                           "--weights", str(weights_file(2)), "--device", "cpu", "--no-window"],
                          cwd=Path(vsr.__file__).resolve().parents[1], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "vsr: error: out of memory (try --tile or a smaller --batch)\n"


@pytest.mark.parametrize("args,code,message", [
    (["--camera", "57"], 1, "vsr: error: cannot open camera 57"),
    (["--source", "missing.mp4"], 1, "vsr: error: source not found: missing.mp4"),
    (["--source", "x.mp4", "--size", "big"], 2, "vsr: error: size must look like 640x480"),
    (["--source", "x.mp4", "--frames", "0"], 2, "vsr: error: --frames must be at least 1"),
    (["--source", "x.mp4", "--max-frames", "0"], 2, "vsr: error: --frames must be at least 1"),  # the old name
    (["--camera", "0", "--loop"], 2, "vsr: error: --loop plays a --source file again"),
])
def test_cli_errors_are_one_line(args, code, message, capsys):
    assert main(["live", *args, "--no-window"]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(message)


def test_cli_without_a_display_says_use_no_window(clip, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["live", "--source", str(clip)]) == 1
    assert capsys.readouterr().err == (
        "vsr: error: no display to open a window on (DISPLAY is not set): use --no-window to run headless\n")


def test_cli_with_an_unreachable_display_says_use_no_window(clip, capsys, monkeypatch):
    pytest.importorskip("tkinter")
    monkeypatch.setenv("DISPLAY", ":9876")
    assert main(["live", "--source", str(clip)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vsr: error: no display to open a window on (") and len(err.splitlines()) == 1
    assert err.endswith("use --no-window to run headless\n")
