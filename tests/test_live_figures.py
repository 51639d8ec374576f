"""``vsr live``: recorded timestamps are the capture times, the fps/latency/dropped figures are what happened,
and ``--snapshot-dir`` is where the s key saves.

The capture is the real file capture, watched by a thin proxy that notes each frame handed out; the upscaler
is a real one that sleeps 0 or 0.25 s in turn, so frames are dropped and the time a frame is written differs
from the time it was captured by a varying amount.
"""
import itertools
import re
import shutil
import time

import av
import numpy as np
import pytest

from test_live import write_clip
from test_live_window import LiveProcess, display  # noqa: F401 - a fixture: a private Xvfb server
from vsr.cli import main
from vsr.live.app import Live
from vsr.live.capture import open_source
from vsr.live.record import Recording
from vsr.upscaler import Upscaler

FRAMES, FPS = 12, 10.0
DELAYS = (0.0, 0.25)


class Watched:
    """A capture that remembers every frame it handed out (everything else goes to the real one)."""

    def __init__(self, inner):
        self.inner = inner
        self.taken = []

    def take(self, timeout):
        frame = self.inner.take(timeout)
        if frame is not None:
            self.taken.append(frame)
        return frame

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Uneven:
    """A real Upscaler whose RGB calls take 0 or 0.25 s longer, in turn; remembers each delay."""

    def __init__(self, inner):
        self.inner = inner
        self.delays = itertools.cycle(DELAYS)
        self.applied = []

    def upscale_yuv420(self, *planes):
        d = next(self.delays)
        self.applied.append(d)
        time.sleep(d)
        return self.inner.upscale_yuv420(*planes)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Kept:
    """A recorder that keeps (frame, seconds) and passes them on to a real recording."""

    def __init__(self, inner):
        self.inner = inner
        self.seconds = []

    def write(self, frame, seconds):
        self.seconds.append(seconds)
        self.inner.write(frame, seconds)


@pytest.fixture
def session(tmp_path, weights_file):
    clip = write_clip(tmp_path / "clip.avi", frames=FRAMES, size=(64, 48), fps=FPS)
    capture = Watched(open_source(str(clip)))
    up = Uneven(Upscaler(2, "cpu", weights=weights_file(2)))
    recording = Recording(tmp_path / "rec.mkv", overwrite=False, source=str(clip))
    kept = Kept(recording)
    started = time.perf_counter()
    try:
        stats = Live(capture, lambda s: up, 2, window=None, recorder=kept).run()
    finally:
        capture.close()
    ended = time.perf_counter()
    recording.close()
    return dict(stats=stats, capture=capture, up=up, kept=kept, rec=tmp_path / "rec.mkv", wall=ended - started,
                ended=ended)


def test_recording_timestamps_are_the_capture_times(session):
    taken, kept = session["capture"].taken, session["kept"]
    assert len(taken) >= 3 and len(kept.seconds) == len(taken)
    captured = [f.captured_at for f in taken]
    for k in range(1, len(taken)):  # what the loop passes on: capture time, relative to one origin
        assert kept.seconds[k] - kept.seconds[0] == pytest.approx(captured[k] - captured[0], abs=1e-6)
    with av.open(str(session["rec"])) as c:
        pts = [f.pts * f.time_base for f in c.decode(video=0)]
    assert len(pts) == len(taken)
    for k in range(1, len(taken)):  # what the file holds, in milliseconds
        assert float(pts[k] - pts[0]) == pytest.approx(captured[k] - captured[0], abs=0.0015)
    assert float(pts[0]) == pytest.approx(kept.seconds[0], abs=0.0015)


def test_fps_latency_and_drops_are_what_happened(session):
    stats, capture, up = session["stats"], session["capture"], session["up"]
    taken = capture.taken
    assert capture.captured == FRAMES
    assert stats.frames == len(taken) and stats.frames + stats.dropped == FRAMES
    assert stats.dropped > 0  # 0.25 s upscales against 0.1 s frames
    assert 0 < stats.seconds <= session["wall"]
    assert stats.seconds >= (FRAMES - 1) / FPS * 0.9  # a file source plays at its own rate
    assert stats.sr_fps == pytest.approx(stats.frames / stats.seconds, rel=1e-9)
    assert stats.capture_fps == pytest.approx(FRAMES / stats.seconds, rel=0.05)  # over the whole session
    # Latency is capture to shown: at least the upscale's own delay, at most until the loop ended.
    lower = 1000 * np.mean(up.applied[: len(taken)])
    upper = 1000 * np.mean([session["ended"] - f.captured_at for f in taken])
    assert lower <= stats.latency_ms <= upper, (lower, stats.latency_ms, upper)
    assert stats.scale == 2 and stats.device == "cpu"


def test_cli_summary_adds_up(tmp_path, weights_file, capsys):
    clip = write_clip(tmp_path / "clip.avi", frames=FRAMES, size=(64, 48), fps=FPS)
    assert main(["live", "--source", str(clip), "--scale", "2", "--weights", str(weights_file(2)),
                 "--device", "cpu", "--no-window"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"vsr live: (\d+) frames in ([\d.]+) s on cpu at x2: SR ([\d.]+) fps, capture ([\d.]+) fps, "
                  r"mean latency (\d+) ms, dropped (\d+)", out)
    assert m, out
    frames, seconds, sr, cap, latency, dropped = (float(x) for x in m.groups())
    assert frames + dropped == FRAMES and frames >= 1
    assert seconds >= (FRAMES - 1) / FPS * 0.9
    assert sr == pytest.approx(frames / seconds, rel=0.1, abs=0.1)
    assert cap == pytest.approx(FRAMES / seconds, rel=0.1, abs=0.1)
    assert latency >= 0


@pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
                    reason="Xvfb and xdotool are needed")
def test_snapshot_dir(display, tmp_path, weights_file):
    clip = write_clip(tmp_path / "clip.avi", frames=750, size=(64, 48))
    shots = tmp_path / "shots"
    shots.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    live = LiveProcess(display, ["--source", str(clip), "--weights", str(weights_file(2)), "--scale", "2",
                                 "--device", "cpu", "--snapshot-dir", str(shots)], cwd)
    try:
        live.wait_window()
        live.key("s")
        line = live.lines.get(timeout=30)
        assert line.startswith("snapshot: "), line
        saved = list(shots.iterdir())
        assert len(saved) == 1 and line == f"snapshot: {saved[0]}"
        assert list(cwd.iterdir()) == []
        import cv2

        img = cv2.imread(str(saved[0]))
        assert img is not None and img.shape[0] == 96 and img.shape[1] >= 128
        live.key("q")
        live.finish()
    finally:
        live.kill()
