"""Frames from a camera or a video, read in a thread that keeps only the newest one.

Super-resolution is often slower than the camera. Queueing the surplus would make the picture lag
further behind the world with every frame, so the reader overwrites the frame nobody took yet and
counts it as dropped: what the viewer sees is always at most one frame old when SR picks it up.
A video file plays at its own frame rate, as if it were a camera, so it drives the same code.
"""
from contextlib import contextmanager
from dataclasses import dataclass
import logging
from pathlib import Path
import threading
import time
import os
from typing import Dict, Iterator, Optional, Tuple

import cv2
import numpy as np

from ..errors import VsrError
from ..video.network import is_live, opencv_capture_options
from ..meter import RateMeter

log = logging.getLogger(__name__)

FALLBACK_FPS = 30.0  # pace for a file whose frame rate OpenCV cannot tell
OPENCV_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
CAMERA_RETRIES = 5  # consecutive failed reads before a camera counts as stopped


@dataclass(frozen=True)
class CapturedFrame:
    """One captured frame: BGR uint8 pixels, its number since capture began, and when it was read."""

    image: np.ndarray
    index: int
    captured_at: float  # time.perf_counter() just after the read


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV prints several lines of warnings when a camera is missing; the CLI says it in one.

    opencv-python wheels before 4.13 do not expose ``cv2.utils.logging``: there the warnings stay.
    """
    logging_api = getattr(cv2.utils, "logging", None)
    if logging_api is None:
        yield
        return
    old = logging_api.getLogLevel()
    logging_api.setLogLevel(logging_api.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_api.setLogLevel(old)


def parse_size(text: str) -> Tuple[int, int]:
    """``"640x480"`` -> (640, 480); anything else is a usage error."""
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise VsrError(f"size must look like 640x480, not {text!r}", exit_code=2) from None
    if w < 1 or h < 1:
        raise VsrError(f"size must be positive, not {text!r}", exit_code=2)
    return w, h


class Capture:
    """A reader thread over an opened ``cv2.VideoCapture``: ``start()`` it, ``close()`` stops and releases it.

    ``live`` sources (cameras) run until closed, and a source that stops delivering frames is an error;
    otherwise the end of the source ends the capture normally, or, with ``loop``, starts it again.
    ``pace_fps`` spaces the reads of a file so it plays in real time. ``size`` (width, height) resizes
    frames that arrive at another size.
    """

    def __init__(self, cap: cv2.VideoCapture, name: str, live: bool,
                 pace_fps: Optional[float] = None, size: Optional[Tuple[int, int]] = None, loop: bool = False):
        self.name = name
        self.live = live
        self.loop = loop
        self._cap = cap
        self._pace = pace_fps
        self._size = size
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: Optional[CapturedFrame] = None
        self._taken = True  # the stored frame has been handed out (or there is none yet)
        self._captured = 0
        self._dropped = 0
        self._ended = False
        self._error: Optional[str] = None
        self._rate = RateMeter()
        self._thread = threading.Thread(target=self._run, name=f"vsr-capture {name}", daemon=True)

    def start(self) -> None:
        """Begin reading (a file's clock starts now); calling it again does nothing."""
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()

    # ---- reader thread ----------------------------------------------------------------------
    def _run(self) -> None:
        start = None
        failures = 0
        try:
            while not self._stop.is_set():
                ok, image = self._cap.read()
                now = time.perf_counter()
                if not ok or image is None:
                    failures += 1
                    if self.live and failures < CAMERA_RETRIES:
                        self._stop.wait(0.05)
                        continue
                    if self.loop and self._captured and failures == 1 and self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                        continue
                    self._finish(f"{self.name} stopped delivering frames" if self.live else None)
                    return
                failures = 0
                if self._pace:
                    start = now if start is None else start
                    due = start + self._captured / self._pace
                    if self._stop.wait(max(0.0, due - now)):
                        return
                    now = time.perf_counter()
                self._store(self._fit(image), now)
        except Exception as exc:  # a decoder or driver failure: surface it in the consumer's thread
            self._finish(f"{self.name}: {exc}")

    def _fit(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if self._size and (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        return image

    def _store(self, image: np.ndarray, now: float) -> None:
        with self._cond:
            if not self._taken:
                self._dropped += 1
            self._latest = CapturedFrame(image, self._captured, now)
            self._taken = False
            self._captured += 1
            self._rate.tick(now)
            self._cond.notify_all()

    def _finish(self, error: Optional[str]) -> None:
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    # ---- consumer side ----------------------------------------------------------------------
    def take(self, timeout: float) -> Optional[CapturedFrame]:
        """The newest frame not handed out yet, waiting up to ``timeout`` s; None if none came.

        Raises ``VsrError`` once a live source has stopped, or when a source gave no frame at all.
        """
        with self._cond:
            self._cond.wait_for(lambda: not self._taken or self._ended, timeout)
            if not self._taken:
                self._taken = True
                return self._latest
            if self._error:
                raise VsrError(self._error)
            if self._ended and self._captured == 0:
                raise VsrError(f"{self.name} gave no frames")
            return None

    @property
    def ended(self) -> bool:
        """True once a file has been read to its end and its last frame handed out."""
        with self._cond:
            return self._ended and self._taken and not self._error

    @property
    def dropped(self) -> int:
        """Frames overwritten by a newer one before anyone took them."""
        with self._cond:
            return self._dropped

    @property
    def captured(self) -> int:
        with self._cond:
            return self._captured

    def fps(self) -> float:
        """Frames read per second, over the last couple of seconds."""
        with self._cond:
            return self._rate.rate(time.perf_counter())

    def close(self) -> None:
        """Stop the reader and release the camera or file; safe to call twice."""
        self._stop.set()
        if self._thread.ident is None:  # never started
            self._cap.release()
            return
        self._thread.join(timeout=5)
        if self._thread.is_alive():  # stuck in a driver call: releasing under it could crash
            log.warning("%s did not stop reading; leaving it to the operating system", self.name)
            return
        self._cap.release()


def open_camera(index: int, size: Optional[Tuple[int, int]] = None) -> Capture:
    """Open camera ``index``, asking it for ``size`` (frames of another size are resized to it)."""
    with _quiet_opencv():
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise VsrError(f"cannot open camera {index}: no such camera, or another program is using it")
    if size:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
    log.debug("camera %d: %dx%d at %.1f fps", index, cap.get(cv2.CAP_PROP_FRAME_WIDTH),
              cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FPS))
    return Capture(cap, f"camera {index}", live=True, size=size)


def open_source(source: str, size: Optional[Tuple[int, int]] = None,
                options: Optional[Dict[str, str]] = None, loop: bool = False) -> Capture:
    """Open a video file (played at its own frame rate, again and again with ``loop``) or a stream URL
    (read as fast as it comes).

    A URL is read with ``vsr.video.network``'s options for its scheme plus ``options`` (FFmpeg's);
    a live stream that stops delivering frames ends the session with an error, as a camera does.
    """
    is_url = "://" in source
    if not is_url and not Path(source).is_file():
        raise VsrError(f"source not found: {source}")
    if options and not is_url:
        raise VsrError("--input-option applies to stream URLs; a file is read as it is", exit_code=2)
    with _quiet_opencv(), _ffmpeg_options(opencv_capture_options(source, options or {}) if is_url else None):
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise VsrError(f"cannot open {source}: not a video or stream that OpenCV can read")
    pace = None
    if not is_url:
        fps = cap.get(cv2.CAP_PROP_FPS)
        pace = fps if 0 < fps <= 1000 else FALLBACK_FPS
        log.debug("%s: playing at %.2f fps", source, pace)
    return Capture(cap, source, live=is_live(source), pace_fps=pace, size=size, loop=loop)


@contextmanager
def _ffmpeg_options(options: Optional[str]) -> Iterator[None]:
    """OpenCV's FFmpeg backend takes its options from the environment, read when a capture opens."""
    if options is None:
        yield
        return
    old = os.environ.get(OPENCV_OPTIONS)
    os.environ[OPENCV_OPTIONS] = options
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(OPENCV_OPTIONS, None)
        else:
            os.environ[OPENCV_OPTIONS] = old
