"""The live session: a worker thread super-resolves the newest frame (and records it) while this thread
redraws the window at the display's pace, answers every key and reports the figures.

Keys: q/Esc quit, space pause, m cycle the view mode, o toggle the overlay, s snapshot, 2/3/4
switch the scale, arrow keys (or a mouse drag) move the split's divider. One ``Upscaler`` per scale
is made the first time that scale is asked for and kept, so switching back loads nothing.
"""
from dataclasses import dataclass
from datetime import datetime
import logging
from pathlib import Path
import threading
import time
from typing import Callable, Dict, List, Optional, Protocol, Tuple

import cv2
import numpy as np

from .. import images
from ..errors import VsrError
from ..meter import MeanMeter, RateMeter
from ..upscaler import Upscaler
from ..video.frame import bgr_to_planes, planes_to_bgr
from ..video.layout import Layout
from .capture import Capture
from .view import Mode, compose, draw_overlay
from .window import PreviewWindow
from .worker import SrResult, SrWorker

log = logging.getLogger(__name__)

ESC = 27
LEFT_KEYS = {0xFF51, 0x250000, 0xF702}  # X11/GTK/Qt, Windows, macOS key codes from waitKeyEx
RIGHT_KEYS = {0xFF53, 0x270000, 0xF703}
DIVIDER_STEP = 0.02
SCALE_KEYS = {ord("2"): 2, ord("3"): 3, ord("4"): 4}
HELP = "q quit  space pause  m mode  o overlay  s snapshot  2/3/4 scale  arrows/drag divider"
REPORT_EVERY_S = 1.0
REFRESH_MS = 16  # the window's loop: one display refresh at 60 Hz
HEADLESS_POLL_S = 0.02


class Recorder(Protocol):
    """Where ``--record`` sends the super-resolved frames (BGR, with their capture time in seconds)."""

    def write(self, frame: np.ndarray, seconds: float) -> None: ...


@dataclass
class ViewState:
    """What the person at the window chose; changed only by ``apply_key`` and mouse drags."""

    scale: int
    mode: Mode = Mode.SPLIT
    overlay: bool = True
    paused: bool = False
    divider: float = 0.5
    quit: bool = False
    snapshot: bool = False


LIVE_PLANES = Layout(grey=False, sub=(1, 1), bits=8)  # camera frames as YCbCr: 8-bit 4:4:4, nothing dropped


def upscale_bgr(upscaler: Upscaler, image: np.ndarray) -> np.ndarray:
    """An OpenCV frame through the one planar SR path: converted to BT.601 YCbCr planes once (swscale, as
    the decoder converts RGB video), ``Upscaler.upscale_yuv420`` (ESPCN luma, bicubic chroma), and back."""
    y, cb, cr = bgr_to_planes(image, LIVE_PLANES)
    return planes_to_bgr(upscaler.upscale_yuv420(y, cb, cr), LIVE_PLANES)


def apply_key(state: ViewState, key: int) -> bool:
    """Update ``state`` for one key from ``cv2.waitKeyEx``; True when the key meant something."""
    char = key & 0xFF if key < 0x100 else None
    if char in (ord("q"), ESC):
        state.quit = True
    elif char == ord(" "):
        state.paused = not state.paused
    elif char == ord("m"):
        state.mode = state.mode.next()
    elif char == ord("o"):
        state.overlay = not state.overlay
    elif char == ord("s"):
        state.snapshot = True
    elif char is not None and char in SCALE_KEYS:
        state.scale = SCALE_KEYS[char]
    elif key in LEFT_KEYS or key in RIGHT_KEYS:
        step = -DIVIDER_STEP if key in LEFT_KEYS else DIVIDER_STEP
        state.divider = min(1.0, max(0.0, state.divider + step))
    else:
        return False
    return True


@dataclass
class Stats:
    """Figures for the overlay, the headless report and the final summary."""

    frames: int
    seconds: float  # running, not paused, up to the end of a file
    capture_fps: float
    sr_fps: float
    latency_ms: float
    dropped: int
    device: str
    scale: int

    def line(self) -> str:
        return (f"capture {self.capture_fps:.1f} fps  SR {self.sr_fps:.1f} fps  "
                f"latency {self.latency_ms:.0f} ms  dropped {self.dropped}")


class Live:
    """One live session over an open ``capture``; ``window`` None runs headless.

    ``upscaler_for(scale)`` makes the Upscaler for a scale (called once per scale). ``on_snapshot``
    gets each snapshot's path, ``on_stats`` gets the figures once a second when headless, and
    ``on_end`` the source's name and the frames shown when a file ends (the window then stays open on
    its last frame until closed). Time spent paused counts in no rate or latency. The upscales run in
    an ``SrWorker`` thread; this thread redraws, reads the keys and reports.
    """

    def __init__(
        self,
        capture: Capture,
        upscaler_for: Callable[[int], Upscaler],
        scale: int,
        window: Optional[PreviewWindow] = None,
        snapshot_dir: Path = Path("."),
        recorder: Optional[Recorder] = None,
        max_frames: Optional[int] = None,
        on_snapshot: Callable[[Path], None] = lambda path: None,
        on_stats: Callable[[Stats], None] = lambda stats: None,
        on_end: Callable[[str, int], None] = lambda name, frames: None,
    ):
        self.capture = capture
        self.window = window
        self.snapshot_dir = Path(snapshot_dir)
        self.recorder = recorder
        self.max_frames = max_frames
        self.on_snapshot = on_snapshot
        self.on_stats = on_stats
        self.on_end = on_end
        self.ended = False
        self._ended_at: Optional[float] = None  # a window left open on the last frame is not SR time
        self.state = ViewState(scale=scale)
        self._make = upscaler_for
        self._upscalers: Dict[int, Upscaler] = {}
        self.upscaler(scale)  # fail now, before the first frame, if this scale cannot load
        self._worker = SrWorker(capture, self._upscale, self._count, scale)
        self._lock = threading.Lock()  # the figures below are written by the worker, read here
        self.frames = 0
        self._sr_rate = RateMeter()
        self._latency = MeanMeter()
        self._drawn: Tuple[Optional[SrResult], int] = (None, -1)  # the result and capture count on screen
        self._dirty = False  # the view changed: draw it again
        self._start = time.perf_counter()
        self._paused_total = 0.0  # seconds spent paused, left out of the rates
        self._paused_at: Optional[float] = None
        self._resumed_at = self._start  # a frame waiting through a pause is timed from the resume

    def upscaler(self, scale: int) -> Upscaler:
        if scale not in self._upscalers:
            self._upscalers[scale] = self._make(scale)
        return self._upscalers[scale]

    def _upscale(self, image: np.ndarray, scale: int) -> np.ndarray:
        """One BGR frame super-resolved: the one place live calls SR (in the worker's thread)."""
        return upscale_bgr(self.upscaler(scale), image)

    def _count(self, result: SrResult) -> bool:
        """In the worker's thread, for each new frame: record and count it; False once ``max_frames`` are done."""
        frame = result.frame
        if self.recorder is not None:
            self.recorder.write(result.sr, frame.captured_at - self._start)
        with self._lock:
            now = time.perf_counter()
            self._sr_rate.tick(now)
            self._latency.add(now, (now - max(frame.captured_at, self._resumed_at)) * 1000)
            self.frames += 1
            return self.max_frames is None or self.frames < self.max_frames

    @property
    def shown(self) -> Optional[SrResult]:
        """The newest SR result: what the window shows."""
        return self._worker.latest

    # ---- the loop ---------------------------------------------------------------------------
    def stop(self) -> None:
        """End the loop as q does (safe from a signal handler: it only sets a flag)."""
        self.state.quit = True

    def run(self) -> Stats:
        """Run until q/Esc, the window closes, ``max_frames`` are shown or a file ends."""
        self._start = time.perf_counter()
        self.capture.start()
        self._worker.start()
        next_report = self._start + REPORT_EVERY_S
        try:
            while not self.state.quit and (self.max_frames is None or self.frames < self.max_frames):
                self._worker.check()
                if self._worker.ended and not self.ended:
                    self.ended = True
                    self._ended_at = time.perf_counter()
                    self._dirty = True
                    self.on_end(self.capture.name, self.frames)
                if self.window is not None:
                    self._interact()
                elif self.ended:
                    break
                else:
                    time.sleep(HEADLESS_POLL_S)
                    if time.perf_counter() >= next_report:
                        next_report += REPORT_EVERY_S
                        self.on_stats(self.stats())
        finally:
            self._worker.stop()
        return self.stats(final=True)

    def _interact(self) -> None:
        """One display refresh: draw what is new, then answer every key pressed since the last one."""
        drawn = (self.shown, self.capture.captured)
        if drawn[0] is not None and (drawn != self._drawn or self._dirty):
            self.window.show(self.screen())
            self._drawn, self._dirty = drawn, False
        for key in self.window.keys(REFRESH_MS):
            self._handle_key(key)
        drag = self.window.drag()
        if drag is not None:
            self.state.divider = min(1.0, max(0.0, drag))
            self._dirty = True
        if self.window.closed:
            self.state.quit = True

    def _handle_key(self, key: int) -> None:
        before = self.state.scale
        was_paused = self.state.paused
        self._dirty |= apply_key(self.state, key)
        if self.state.paused != was_paused:
            self._pause_changed()
        if self.state.scale != before:
            self._switch_scale(before)
        if self.state.snapshot:
            self.state.snapshot = False
            self.snapshot()

    def _pause_changed(self) -> None:
        now = time.perf_counter()
        if self.state.paused:
            self._paused_at = now
        elif self._paused_at is not None:
            self._paused_total += now - self._paused_at
            self._paused_at, self._resumed_at = None, now
        self._worker.paused = self.state.paused

    def _active_seconds(self, now: float) -> float:
        """Seconds since the start, less the time spent paused (so far)."""
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        return now - self._start - paused

    def _switch_scale(self, before: int) -> None:
        """Make the upscaler for the new scale here, so that a scale that cannot load is refused at once."""
        wanted = self.state.scale
        if self.recorder is not None:
            log.warning("the scale stays x%d while recording", before)
            self.state.scale = before
            return
        try:
            self.upscaler(wanted)
        except VsrError as exc:
            log.warning("cannot switch to x%d: %s", wanted, exc)
            self.state.scale = before
            return
        self._worker.scale = wanted

    # ---- what is on screen ------------------------------------------------------------------
    def screen(self) -> np.ndarray:
        """The picture as the window shows it: the newest SR result in the chosen view, plus the overlay if on."""
        shown = self.shown
        bic = shown.bicubic if self.state.mode.needs_bicubic else None
        out = compose(self.state.mode, shown.sr, bic, self.state.divider, labels=self.state.overlay)
        if self.state.overlay:
            draw_overlay(out, self._overlay_lines(shown))
        return out

    def _overlay_lines(self, shown: SrResult) -> List[str]:
        stats = self.stats()
        age = (time.perf_counter() - shown.frame.captured_at) * 1000
        head = (f"ESPCN x{shown.scale}  {stats.device}  {self.state.mode.value}  "
                f"frame {shown.frame.index}, {age:.0f} ms old")
        head += "  PAUSED" if self.state.paused else "  END OF CLIP" if self.ended else ""
        return [head, stats.line(), HELP]

    def snapshot(self) -> Optional[Path]:
        """Save what is on screen as a PNG named by the time; returns its path."""
        if self.shown is None:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.snapshot_dir / f"vsr-live-{stamp}.png"
        n = 1
        while path.exists():
            n += 1
            path = self.snapshot_dir / f"vsr-live-{stamp}-{n}.png"
        images.write(path, cv2.cvtColor(self.screen(), cv2.COLOR_BGR2RGB))
        self.on_snapshot(path)
        return path

    def stats(self, final: bool = False) -> Stats:
        now = time.perf_counter()
        upscaler = self.upscaler(self.state.scale)
        seconds = now - self._start
        active = self._active_seconds(self._ended_at or now)
        with self._lock:
            frames = self.frames
            sr_fps = (frames / active if active > 0 else 0.0) if final else self._sr_rate.rate(now)
            latency_ms = self._latency.overall() if final else self._latency.recent()
        return Stats(
            frames=frames,
            seconds=active,
            capture_fps=(self.capture.captured / seconds if seconds else 0.0) if final else self.capture.fps(),
            sr_fps=sr_fps,
            latency_ms=latency_ms,
            dropped=self.capture.dropped,
            device=str(upscaler.device),
            scale=self.state.scale,
        )
