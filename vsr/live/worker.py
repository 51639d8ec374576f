"""The SR worker: a thread that upscales the newest captured frame, again and again.

An upscale takes 0.1-0.3 s on a CPU. OpenCV windows must be driven from the thread that made them, so that
thread stays free to redraw and read keys, and the upscales run here; the window shows the newest result.
"""
from dataclasses import dataclass
from functools import cached_property
import logging
import threading
from typing import Callable, Optional

import numpy as np

from .capture import Capture, CapturedFrame
from .view import opencv_bicubic

log = logging.getLogger(__name__)

TAKE_WAIT_S = 0.05  # one wait for a new frame, so that a stop is seen soon
HOLD_POLL_S = 0.02  # while the picture is held, how often a new scale is looked for
JOIN_S = 5.0  # how long stop() waits for an upscale under way


@dataclass(frozen=True, eq=False)  # compared by identity: a new result is a new object
class SrResult:
    """A captured frame and its super-resolved version (BGR) at ``scale``."""

    frame: CapturedFrame
    scale: int
    sr: np.ndarray

    @cached_property
    def bicubic(self) -> np.ndarray:
        """The split's other side, from the same captured frame, so that the two compare like with like."""
        return opencv_bicubic(self.frame.image, self.scale)


class SrWorker:
    """Takes the newest frame from ``capture`` and upscales it with ``upscale(image, scale)``, over and over.

    ``on_frame(result)`` runs in this thread for each new frame's result before it becomes ``latest``: every
    frame passes through it, where the window shows only the newest. It returns False when no more frames are
    wanted. While ``paused``, once the source ended or no more frames are wanted, the picture is held: only a
    change of ``scale`` upscales it again. An exception ends the work; ``check()`` raises it in the caller's
    thread.
    """

    def __init__(self, capture: Capture, upscale: Callable[[np.ndarray, int], np.ndarray],
                 on_frame: Callable[[SrResult], bool], scale: int):
        self.scale = scale  # set by the window's thread, only to scales whose upscaler is made
        self.paused = False
        self.latest: Optional[SrResult] = None
        self.ended = False  # the source ended and its last frame is upscaled
        self._capture = capture
        self._upscale = upscale
        self._on_frame = on_frame
        self._enough = False
        self._error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vsr-live-sr", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def check(self) -> None:
        """Raise here the exception that ended the worker, if one did."""
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Stop after the upscale under way (its frame is not passed on), waiting for it at most ``JOIN_S``."""
        self._stop.set()
        if self._thread.ident is None:
            return
        self._thread.join(JOIN_S)
        if self._thread.is_alive():
            log.warning("the upscale under way did not finish within %.0f s; not waiting for it", JOIN_S)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except BaseException as exc:  # out of memory, a VsrError, a camera that stopped: the caller reports it
            self._error = exc

    def _step(self) -> None:
        scale, held = self.scale, self.latest
        if held is not None and (self.paused or self.ended or self._enough):
            if held.scale == scale:
                self._stop.wait(HOLD_POLL_S)
            else:
                self.latest = SrResult(held.frame, scale, self._upscale(held.frame.image, scale))
            return
        frame = self._capture.take(timeout=TAKE_WAIT_S)
        if frame is None:
            self.ended = self._capture.ended
            return
        result = SrResult(frame, scale, self._upscale(frame.image, scale))
        if not self._stop.is_set():
            self._enough = not self._on_frame(result)
            self.latest = result
