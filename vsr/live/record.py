"""``--record``: the super-resolved stream written through the video pipeline's encoder.

Frames keep their capture times (milliseconds since the loop started), so a recording of a live
source with dropped frames plays at the speed the world moved, not faster. The file is written
under a temporary name and renamed when the session ends, as ``vsr upscale`` does.
"""
from fractions import Fraction
import logging
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..video.encode import VideoSink
from ..video.frame import BT601_STUDIO, Frame, StreamDescription, bgr_to_planes
from ..video.layout import parse
from ..video.target import OutputTarget

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 1000)


class Recording:
    """Frames to ``path``; nothing is opened until the first frame says how large they are.

    ``source`` is the input file (or "-" for a camera) so that it can never be the output.
    """

    def __init__(self, path: Union[str, Path], overwrite: bool, source: str = "-"):
        self.target = OutputTarget(path, overwrite, source)
        self._sink: Optional[VideoSink] = None
        self._last_pts = -1

    def write(self, frame: np.ndarray, seconds: float) -> None:
        """Encode one BGR uint8 frame captured ``seconds`` after the session began."""
        if self._sink is None:
            self._sink = self._open(frame.shape[1], frame.shape[0])
        sink = self._sink
        pts = max(round(seconds / TIME_BASE), self._last_pts + 1)  # strictly increasing
        self._last_pts = pts
        sink.write(Frame(bgr_to_planes(frame, sink.layout), pts, TIME_BASE, sink.frames))

    def _open(self, width: int, height: int) -> VideoSink:
        # BGR is converted with the BT.601 studio-range matrix, as vsr.color and the decoder's RGB path do.
        description = StreamDescription(width, height, parse("yuv420p"), None, TIME_BASE, BT601_STUDIO)
        try:
            return VideoSink(self.target.writable, description, name=self.target.name)
        except BaseException:
            self.target.discard()
            raise

    @property
    def frames(self) -> int:
        return 0 if self._sink is None else self._sink.frames

    def close(self) -> Optional[str]:
        """Finish the file and move it to its name; returns that name, or None when no frame came."""
        if self._sink is None:
            return None
        try:
            self._sink.close()
        except BaseException:
            self.target.discard()
            raise
        return self.target.commit()

    def abort(self) -> Optional[str]:
        """After a failure: keep what was recorded, finalized, under a name that says it is partial.

        Returns that name, or None when there was nothing to keep or the file could not be finished.
        """
        if self._sink is None:
            return None
        try:
            self._sink.close()
        except Exception as exc:  # already failing; the first error is the one to report
            log.debug("cannot finish the recording after a failure: %s", exc)
            self.target.discard()
            return None
        return self.target.keep_partial()
