"""What flows between the stages: ``Frame`` (planes and a timestamp) and ``StreamDescription``.

The decoder produces a ``StreamDescription`` of its stream (its ``VideoInfo`` is one, with what the
container says besides); the encoder is configured from the description of the stream it writes,
usually ``info.scaled(r)``. Anything that writes video (the pipeline, ``vsr live --record``, the
benchmark's LR copy) describes its stream this way instead of imitating a decoder.
"""
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Tuple

import av
import numpy as np

from .layout import Layout


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


Planes = Tuple[np.ndarray, ...]


def planes_of(frame: av.VideoFrame, layout: Layout) -> Planes:
    """Views of a PyAV frame's planes, which are in ``layout``, without their row padding."""
    sizes = layout.plane_sizes(frame.width, frame.height)
    return tuple(np.frombuffer(frame.planes[i], dtype=layout.dtype).reshape(frame.planes[i].height, -1)[:h, :w]
                 for i, (h, w) in enumerate(sizes))


def av_frame(planes: Planes, layout: Layout) -> av.VideoFrame:
    """A PyAV frame holding a copy of ``planes`` (in ``layout``): for the encoder, or to convert."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, layout.name)
    for dst, src in zip(planes_of(frame, layout), planes):
        dst[...] = src
    return frame


def bgr_to_planes(bgr: np.ndarray, layout: Layout) -> Planes:
    """An OpenCV image (uint8 BGR) as 8-bit planes of ``layout``, by the BT.601 studio-range matrix."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24").reformat(
        format=layout.name, dst_colorspace="ITU601", dst_color_range="MPEG")
    return planes_of(frame, layout)


def planes_to_bgr(planes: Planes, layout: Layout) -> np.ndarray:
    """8-bit planes of ``layout`` (BT.601 studio range) as an OpenCV image, uint8 BGR."""
    return av_frame(planes, layout).reformat(format="bgr24", src_colorspace="ITU601",
                                             src_color_range="MPEG").to_ndarray()
