"""What flows between the stages: ``Frame`` (planes and a timestamp) and ``StreamDescription``.

The decoder produces a ``StreamDescription`` of its stream (its ``VideoInfo`` is one, with what the
container says besides); the encoder is configured from the description of the stream it writes,
usually ``info.scaled(r)``. Anything that writes video (the pipeline, ``vsr live --record``, the
benchmark's LR copy) describes its stream this way instead of imitating a decoder.
"""
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from .layout import Layout

if TYPE_CHECKING:
    import av


@dataclass(frozen=True)
class ColorTags:
    """FFmpeg colour enums (0 or 2 means unspecified): range, matrix, primaries, transfer."""

    range: int = 0
    space: int = 2
    primaries: int = 2
    transfer: int = 2


COPIED_TYPES = ("audio", "subtitle")  # streams that travel beside the video, copied to the output

# BT.601 studio range: what vsr.color, the decoder's RGB conversion and live's BGR conversion produce.
BT601_STUDIO = ColorTags(range=1, space=5, primaries=2, transfer=2)


@dataclass(frozen=True)
class StreamDescription:
    """A video stream as an encoder needs it before its first frame: size, planes, timing, colour."""

    width: int
    height: int
    layout: Layout  # planar layout of the frames
    frame_rate: Optional[Fraction]  # nominal rate; None when unknown (frames keep their own timestamps)
    time_base: Fraction  # unit of the frames' ``pts``
    color: ColorTags = ColorTags()

    def scaled(self, scale: int) -> "StreamDescription":
        """The same stream ``scale`` times larger: what super-resolving it produces."""
        return StreamDescription(scale * self.width, scale * self.height, self.layout, self.frame_rate,
                                 self.time_base, self.color)


@dataclass
class Frame:
    """One picture: planes (Y, Cb, Cr) or (Y,), and its presentation time in ``time_base`` units."""

    planes: Tuple[np.ndarray, ...]
    pts: int
    time_base: Fraction
    index: int

    @property
    def time(self) -> float:
        return float(self.pts * self.time_base)


def plane_array(plane: "av.video.plane.VideoPlane", height: int, width: int, dtype: np.dtype) -> np.ndarray:
    """A (height, width) view of one PyAV frame plane, without its row padding."""
    rows = np.frombuffer(plane, dtype=dtype)
    return rows.reshape(plane.height, -1)[:height, :width]
