"""Planar pixel layouts: the few shapes frames take between decode, super-resolution and encode.

Every frame inside the pipeline is a tuple of numpy planes (Y, Cb, Cr) or (Y,) for grey, uint8 for
8-bit video and uint16 for 9-16 bits. A ``Layout`` names such a shape (an FFmpeg planar pixel format)
and knows its plane sizes, so each stage agrees on them without reading the others' code.
"""
from dataclasses import dataclass
from typing import Tuple

import av
import numpy as np

from ..errors import VsrError

# Horizontal and vertical chroma subsampling -> the FFmpeg name fragment.
_SUBSAMPLING = {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411", (4, 4): "410"}


@dataclass(frozen=True)
class Layout:
    """A planar YCbCr or grey format: ``sub`` is the chroma subsampling (x, y), ``bits`` the sample depth."""

    grey: bool
    sub: Tuple[int, int]
    bits: int

    @property
    def name(self) -> str:
        depth = "" if self.bits == 8 else f"{self.bits}le"
        if self.grey:
            return f"gray{depth}"
        return f"yuv{_SUBSAMPLING[self.sub]}p{depth}"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bits == 8 else np.uint16)

    @property
    def peak(self) -> int:
        """Code value of full scale white (255 at 8 bits, 1020 at 10): samples divided by it lie in [0, 1]."""
        return 255 << (self.bits - 8)

    def plane_sizes(self, width: int, height: int) -> Tuple[Tuple[int, int], ...]:
        """(height, width) of each plane; chroma sizes round up for odd frames, as FFmpeg does."""
        luma = (height, width)
        if self.grey:
            return (luma,)
        chroma = (-(-height // self.sub[1]), -(-width // self.sub[0]))
        return (luma, chroma, chroma)

    def with_sub(self, sub: Tuple[int, int]) -> "Layout":
        return Layout(self.grey, sub, self.bits)

    def with_bits(self, bits: int) -> "Layout":
        return Layout(self.grey, self.sub, bits)


def parse(name: str) -> Layout:
    """The ``Layout`` of an FFmpeg planar YCbCr/grey pixel format name, or ``VsrError``."""
    try:
        fmt = av.VideoFormat(name)
    except (ValueError, av.FFmpegError):
        raise VsrError(f"unknown pixel format {name!r}", exit_code=2) from None
    layout = native_layout(fmt)
    if layout is None:
        raise VsrError(f"pixel format {name!r} is not a planar YCbCr or grey format", exit_code=2)
    return layout


def native_layout(fmt: av.VideoFormat) -> "Layout | None":
    """The ``Layout`` whose planes are exactly ``fmt``'s, or None when ``fmt`` needs converting first."""
    if fmt.is_rgb or fmt.has_palette or fmt.is_bayer or fmt.is_big_endian or fmt.is_bit_stream:
        return None
    bits = {c.bits for c in fmt.components}
    if len(bits) != 1 or next(iter(bits)) not in (8, 9, 10, 12, 14, 16):
        return None
    depth = next(iter(bits))
    planes = [c.plane for c in fmt.components]
    if planes == [0]:
        layout = Layout(True, (1, 1), depth)
    elif planes == [0, 1, 2]:
        sub = _subsampling(fmt)
        if sub not in _SUBSAMPLING:
            return None
        layout = Layout(False, sub, depth)
    else:
        return None
    return layout if layout.name == fmt.name.replace("yuvj", "yuv") else None


def target_layout(fmt: av.VideoFormat) -> Layout:
    """The planar layout a decoded format is converted to: RGB and palettes to 4:4:4, alpha dropped."""
    native = native_layout(fmt)
    if native is not None:
        return native
    depth = max((c.bits for c in fmt.components), default=8)
    bits = 8 if depth <= 8 else 10 if depth <= 10 else 12 if depth <= 12 else 16
    if fmt.is_rgb or fmt.has_palette or fmt.is_bayer or len(fmt.components) < 3 and not _is_grey(fmt):
        return Layout(False, (1, 1), bits)
    if _is_grey(fmt):
        return Layout(True, (1, 1), bits)
    sub = _subsampling(fmt)
    return Layout(False, sub if sub in _SUBSAMPLING else (1, 1), bits)


def _is_grey(fmt: av.VideoFormat) -> bool:
    return not fmt.is_rgb and not fmt.has_palette and sum(not c.is_alpha for c in fmt.components) == 1


def _subsampling(fmt: av.VideoFormat) -> Tuple[int, int]:
    probe = av.VideoFormat(fmt.name, 64, 64)  # a format without a size reports chroma sizes of 0
    return 64 // max(1, probe.chroma_width()), 64 // max(1, probe.chroma_height())
