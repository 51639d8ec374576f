"""The live loop: take the newest frame, super-resolve it, show it (or record it), answer the keys.

Keys: q/Esc quit, space pause, m cycle the view mode, o toggle the overlay, s snapshot, 2/3/4
switch the scale, arrow keys (or a mouse drag) move the split's divider. One ``Upscaler`` per scale
is made the first time that scale is asked for and kept, so switching back is instant.
"""
from dataclasses import dataclass, field
from datetime import datetime
import logging
from pathlib import Path
import time
from typing import Callable, Dict, Optional, Protocol

import cv2
import numpy as np

from .. import images
from ..errors import VsrError
from ..upscaler import Upscaler
from .capture import Capture, Frame
from ..meter import MeanMeter, RateMeter
from .view import Mode, bicubic, compose, draw_overlay
from .window import Window

log = logging.getLogger(__name__)

ESC = 27
LEFT_KEYS = {0xFF51, 0x250000, 0xF702}  # X11/GTK/Qt, Windows, macOS key codes from waitKeyEx
RIGHT_KEYS = {0xFF53, 0x270000, 0xF703}
DIVIDER_STEP = 0.02
SCALE_KEYS = {ord("2"): 2, ord("3"): 3, ord("4"): 4}
HELP = "q quit  space pause  m mode  o overlay  s snapshot  2/3/4 scale  arrows/drag divider"
REPORT_EVERY_S = 1.0


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


@dataclass
class _Shown:
    """The frame on screen and its upscaled versions, kept per scale while paused."""

    frame: Frame
    sr: Dict[int, np.ndarray] = field(default_factory=dict)
    bicubic: Dict[int, np.ndarray] = field(default_factory=dict)


class Live:
    """One live session over an open ``capture``; ``window`` None runs headless.

    ``upscaler_for(scale)`` makes the Upscaler for a scale (called once per scale). ``on_snapshot``
    gets each snapshot's path, ``on_stats`` gets the figures once a second when headless, and
    ``on_end`` the source's name and the frames shown when a file ends (the window then stays open on
    its last frame until closed). Time spent paused counts in no rate or latency.
    """

    def __init__(
        self,
        capture: Capture,
        upscaler_for: Callable[[int], Upscaler],
        scale: int,
        window: Optional[Window] = None,
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
        self.frames = 0
        self._shown: Optional[_Shown] = None
        self._dirty = False  # the view changed while the frame did not: draw it again
        self._sr_rate = RateMeter()
        self._latency = MeanMeter()
        self._start = time.perf_counter()
        self._paused_total = 0.0  # seconds spent paused, left out of the rates
        self._paused_at: Optional[float] = None
        self._resumed_at = self._start  # a frame waiting through a pause is timed from the resume

    def upscaler(self, scale: int) -> Upscaler:
        if scale not in self._upscalers:
            self._upscalers[scale] = self._make(scale)
        return self._upscalers[scale]

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> Stats:
        """Run until q/Esc, the window closes, ``max_frames`` are shown or a file ends."""
        self._start = time.perf_counter()
        self.capture.start()
        next_report = self._start + REPORT_EVERY_S
        while not self.state.quit and (self.max_frames is None or self.frames < self.max_frames):
            fresh = self._next_frame()
            if fresh is None and not self.state.paused and self.capture.ended and not self.ended:
                self.ended = True
                self._ended_at = time.perf_counter()
                self._dirty = True
                self.on_end(self.capture.name, self.frames)
            if self.ended and self.window is None:
                break
            if self.window is not None:
                self._interact(fresh)
            elif fresh is not None:
                self._finish_frame(fresh)
            if self.window is None and time.perf_counter() >= next_report:
                next_report += REPORT_EVERY_S
                self.on_stats(self.stats())
        return self.stats(final=True)

    def _next_frame(self) -> Optional[Frame]:
        """Take and super-resolve the newest frame, unless paused; None when none is new."""
        if self.state.paused and self._shown is not None:
            return None
        frame = self.capture.take(timeout=0.02 if self.window is not None else 0.5)
        if frame is None:
            return None
        self._shown = _Shown(frame)
        self._upscaled(self.state.scale)
        self._sr_rate.tick(time.perf_counter())
        if self.recorder is not None:
            self.recorder.write(self._shown.sr[self.state.scale], frame.captured_at - self._start)
        return frame

    def _upscaled(self, scale: int) -> np.ndarray:
        shown = self._shown
        if scale not in shown.sr:
            rgb = cv2.cvtColor(shown.frame.image, cv2.COLOR_BGR2RGB)
            shown.sr[scale] = cv2.cvtColor(self.upscaler(scale).upscale_rgb(rgb), cv2.COLOR_RGB2BGR)
        return shown.sr[scale]

    def _bicubic(self, scale: int) -> np.ndarray:
        shown = self._shown
        if scale not in shown.bicubic:
            shown.bicubic[scale] = bicubic(shown.frame.image, scale)
        return shown.bicubic[scale]

    def _interact(self, fresh: Optional[Frame]) -> None:
        if self._shown is not None and (fresh is not None or self._dirty):
            self.window.show(self.screen())
            self._dirty = False
        idle = self.state.paused or self.ended or self._shown is None
        key = self.window.key(30 if idle else 1)
        if fresh is not None:
            self._finish_frame(fresh)
        self._handle_keys(key)
        drag = self.window.drag()
        if drag is not None:
            self.state.divider = min(1.0, max(0.0, drag))
            self._dirty = True
        if self.window.closed:
            self.state.quit = True

    def _finish_frame(self, frame: Frame) -> None:
        now = time.perf_counter()
        self._latency.add(now, (now - max(frame.captured_at, self._resumed_at)) * 1000)
        self.frames += 1

    def _handle_keys(self, key: int) -> None:
        if key == -1:
            return
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

    def _active_seconds(self, now: float) -> float:
        """Seconds since the start, less the time spent paused (so far)."""
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        return now - self._start - paused

    def _switch_scale(self, before: int) -> None:
        wanted = self.state.scale
        if self.recorder is not None:
            log.warning("the scale stays x%d while recording", before)
            self.state.scale = before
            return
        try:
            self.upscaler(wanted)
            if self._shown is not None:
                self._upscaled(wanted)
        except VsrError as exc:
            log.warning("cannot switch to x%d: %s", wanted, exc)
            self.state.scale = before

    # ---- what is on screen ------------------------------------------------------------------
    def screen(self) -> np.ndarray:
        """The picture as the window shows it: the composed view plus, if on, the overlay."""
        scale = self.state.scale
        mode = self.state.mode
        bic = self._bicubic(scale) if mode.needs_bicubic else None
        out = compose(mode, self._upscaled(scale), bic, self.state.divider, labels=self.state.overlay)
        if self.state.overlay:
            draw_overlay(out, self._overlay_lines())
        return out

    def _overlay_lines(self):
        stats = self.stats()
        head = f"ESPCN x{stats.scale}  {stats.device}  {self.state.mode.value}"
        head += "  PAUSED" if self.state.paused else "  END OF CLIP" if self.ended else ""
        return [head, stats.line(), HELP]

    def snapshot(self) -> Optional[Path]:
        """Save what is on screen as a PNG named by the time; returns its path."""
        if self._shown is None:
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
        return Stats(
            frames=self.frames,
            seconds=active,
            capture_fps=(self.capture.captured / seconds if seconds else 0.0) if final else self.capture.fps(),
            sr_fps=(self.frames / active if active > 0 else 0.0) if final else self._sr_rate.rate(now),
            latency_ms=self._latency.overall() if final else self._latency.recent(),
            dropped=self.capture.dropped,
            device=str(upscaler.device),
            scale=self.state.scale,
        )
