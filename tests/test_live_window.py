"""vsr live in a real OpenCV window on a virtual X display (Xvfb), driven by real key and mouse events.

Skipped unless Xvfb (and, for the key tests, xdotool) is installed: ``apt-get install -y xvfb xdotool``.
``vsr live`` runs as a separate process, as a user runs it, so Qt never outlives the display.
"""
import ctypes
import ctypes.util
import os
from pathlib import Path
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from typing import List, Sequence

import cv2
import numpy as np
import pytest

from test_live import decode_all, write_clip
import vsr
from vsr.live.app import RIGHT_KEYS, upscale_bgr
from vsr.live.view import DIVIDER_COLOUR, opencv_bicubic
from vsr.upscaler import Upscaler
from vsr.weight_files import shipped_path

SCREEN = (640, 480)
LR = (128, 96)
ROOT = Path(vsr.__file__).resolve().parents[1]  # the vsr under test, which the child processes must import too
DRIVER = Path(__file__).with_name("live_keys_driver.py")

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")


@pytest.fixture(scope="module")
def display():
    """A private Xvfb server; ``-displayfd`` lets it pick a free display number."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                               "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


class LiveProcess:
    """``vsr live`` (or another ``command``) running in a window; its stdout lines arrive on a queue as they are
    printed, and ``proc.stdin`` is a pipe."""

    def __init__(self, display: str, args: List[str], cwd: Path, command: Sequence[str] = ("-m", "vsr", "live")):
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, DISPLAY=display, PYTHONPATH=path)
        self.display = display
        self.proc = subprocess.Popen([sys.executable, *command, *args], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.window = None

    def _read(self) -> None:
        try:
            for line in self.proc.stdout:
                self.lines.put(line.rstrip("\n"))
        except ValueError:  # the test finished the process (communicate closes stdout) while this thread read
            pass

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=self.display), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def wait_window(self) -> None:
        self.window = self.xdotool("search", "--sync", "--onlyvisible", "--name", "^vsr live$").split()[0]

    def key(self, name: str) -> None:
        """One key press; the pause lets the loop read it (OpenCV keeps only the last key per event pump)."""
        self.xdotool("key", "--window", self.window, name)
        time.sleep(0.4)

    def drag(self, x0: int, x1: int, y: int) -> None:
        self.xdotool("mousemove", "--window", self.window, str(x0), str(y), "mousedown", "1",
                     "mousemove", "--window", self.window, str(x1), str(y), "mouseup", "1")
        time.sleep(0.4)

    def geometry(self):
        out = self.xdotool("getwindowgeometry", self.window)
        w, h = re.search(r"Geometry: (\d+)x(\d+)", out).groups()
        return int(w), int(h)

    def snapshot(self, cwd: Path) -> np.ndarray:
        self.key("s")
        line = self.lines.get(timeout=30)
        assert line.startswith("snapshot: "), line
        img = cv2.imread(str(cwd / line[len("snapshot: "):]))
        assert img is not None
        return img

    def finish(self) -> str:
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return "\n".join(rest + [out])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def press_close_button(display: str, window: str) -> None:
    """Send WM_DELETE_WINDOW, which is what a window manager does when the close button is clicked."""
    x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]

    dpy = x11.XOpenDisplay(display.encode())
    assert dpy
    event = ClientMessage(type=33, window=int(window), format=32,  # 33: ClientMessage
                          message_type=x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0))
    event.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    assert x11.XSendEvent(dpy, int(window), 0, 0, ctypes.byref(event))
    x11.XCloseDisplay(dpy)  # flushes the event


def divider_columns(img: np.ndarray) -> List[int]:
    return [int(x) for x in np.nonzero((img == DIVIDER_COLOUR).all(axis=2).all(axis=0))[0]]


def close_to(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal but for the last bit that a different number of torch threads may round differently."""
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


def test_window_shows_frames_until_max_frames(display, tmp_path, weights_file):
    clip = write_clip(tmp_path / "clip.avi", frames=500, size=LR)
    live = LiveProcess(display, ["--source", str(clip), "--weights", str(weights_file(3)), "--device", "cpu",
                                 "--max-frames", "3"], tmp_path)
    try:
        out = live.finish()
    finally:
        live.kill()
    assert "vsr live: 3 frames" in out


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_keys_mouse_and_snapshots(display, tmp_path, weights_file):
    w, h = LR
    clip = write_clip(tmp_path / "clip.avi", frames=750, size=LR)
    live = LiveProcess(display, ["--source", str(clip), "--weights", str(weights_file(3)), "--device", "cpu"],
                       tmp_path)
    try:
        live.wait_window()
        time.sleep(1.0)  # let it show a few frames
        live.key("space")  # paused from here on, the loop answers each key at once
        time.sleep(1.0)  # an upscale under way when space came must finish before the next key
        live.key("o")  # overlay off: pure pictures, comparable pixel for pixel
        split = live.snapshot(tmp_path)
        live.key("Right")
        live.key("Right")
        live.key("Right")
        live.key("Right")
        live.key("Right")
        moved = live.snapshot(tmp_path)
        live.drag(3 * w // 2, 3 * w // 4, 3 * h // 2)  # the split fits the screen: window pixels = frame pixels
        dragged = live.snapshot(tmp_path)
        live.xdotool("windowsize", live.window, str(3 * w // 2), str(3 * h // 2))  # the user halves the window
        time.sleep(0.4)
        live.drag(3 * w // 4, 9 * w // 8, 3 * h // 4)  # 3/4 of the way across the smaller window
        resized = live.snapshot(tmp_path)
        live.key("m")
        side = live.snapshot(tmp_path)
        side_window = live.geometry()
        live.key("m")
        espcn = live.snapshot(tmp_path)
        live.key("o")
        overlaid = live.snapshot(tmp_path)
        live.key("o")
        live.key("2")
        two = live.snapshot(tmp_path)
        live.key("space")
        time.sleep(1.0)
        resumed = live.snapshot(tmp_path)
        live.key("q")
        out = live.finish()
    finally:
        live.kill()

    # The frame on screen while paused, found by its bicubic half, and its ESPCN upscale.
    decoded = decode_all(clip)
    assert split.shape == (3 * h, 3 * w, 3)
    assert divider_columns(split) == [3 * w // 2]
    right = split[:, 3 * w // 2 + 1:]
    matches = [i for i, f in enumerate(decoded) if np.array_equal(opencv_bicubic(f, 3)[:, 3 * w // 2 + 1:], right)]
    assert len(matches) == 1
    frame = decoded[matches[0]]
    sr = upscale_bgr(Upscaler(3, "cpu", weights_file(3)), frame)
    assert close_to(split[:, : 3 * w // 2], sr[:, : 3 * w // 2])

    assert divider_columns(moved) == [round(0.6 * 3 * w)]  # five arrow steps of 2 %
    assert divider_columns(dragged) == [3 * w // 4]
    assert divider_columns(resized) == [9 * w // 4] and resized.shape == split.shape  # full size still
    assert close_to(side, np.hstack([sr, opencv_bicubic(frame, 3)]))
    assert side_window[0] <= SCREEN[0] and side_window[1] <= SCREEN[1]  # 768x288 fitted to the screen
    assert side_window[0] / side_window[1] == pytest.approx(2 * w / h, rel=0.02)
    assert close_to(espcn, sr)
    assert overlaid.shape == espcn.shape and not close_to(overlaid, espcn)
    if shipped_path(2).exists():
        assert two.shape == (2 * h, 2 * w, 3)
        assert resumed.shape == (2 * h, 2 * w, 3)
    else:  # no x2 weights to switch to: the scale stays, with a warning
        assert two.shape == (3 * h, 3 * w, 3)
    assert not np.array_equal(resumed, two)  # playing again: a later frame
    assert re.search(r"vsr live: \d+ frames", out)


def test_closing_the_window_ends_the_session(display, tmp_path, weights_file):
    clip = write_clip(tmp_path / "clip.avi", frames=200, size=LR, fps=1.0)  # 200 s: only the close can end it
    live = LiveProcess(display, ["--source", str(clip), "--weights", str(weights_file(3)), "--device", "cpu"],
                       tmp_path)
    try:
        live.wait_window()
        time.sleep(0.5)
        press_close_button(display, live.window)
        out = live.finish()
    finally:
        live.kill()
    assert re.search(r"vsr live: \d+ frames", out)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_keys_sent_during_an_upscale_all_take_effect_and_the_window_redraws(display, tmp_path, weights_file):
    """The real session, whose third upscale (a real Upscaler's) waits until the test has seen its keys read:
    m, m, o and Right, sent 0.1 s apart, are each read and shown while that upscale is under way."""
    w, h = LR
    clip = write_clip(tmp_path / "clip.avi", frames=750, size=LR)
    png = tmp_path / "during.png"
    live = LiveProcess(display, [str(clip), str(weights_file(3)), str(png)], tmp_path, command=(str(DRIVER),))
    try:
        live.wait_window()
        assert live.lines.get(timeout=60) == "gate"
        live.xdotool("key", "--window", live.window, "--delay", "100", "m", "m", "o", "Right")
        read = [live.lines.get(timeout=30) for _ in range(4)]
        live.proc.stdin.write("go\n")
        live.proc.stdin.flush()
        released = live.lines.get(timeout=30)
        live.key("q")
        live.finish()
    finally:
        live.kill()
    codes = [int(line[len("key "):]) for line in read]  # said by the window's thread as it read them
    assert codes[:3] == [ord("m"), ord("m"), ord("o")] and codes[3] in RIGHT_KEYS
    fields = dict(item.split("=") for item in released.split()[1:])
    assert fields["mode"] == "espcn" and fields["overlay"] == "False" and fields["divider"] == "0.52"
    assert int(fields["shows"]) >= 4  # a redraw for each key at least, all while the upscale waited
    shown = cv2.imread(str(png))  # the picture on screen then: the previous frame's ESPCN, no overlay
    frame = decode_all(clip)[int(fields["frame"])]
    sr = upscale_bgr(Upscaler(3, "cpu", weights_file(3)), frame)
    assert shown.shape == (3 * h, 3 * w, 3) and close_to(shown, sr)
