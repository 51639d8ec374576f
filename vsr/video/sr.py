"""The super-resolution stage: batches of decoded frames in, frames ``scale`` times larger out.

A thin driver of ``Upscaler.upscale_planes`` (the one planar SR path): it moves a batch's planes to the
device and back (``transfer``), so only final uint8/uint16 planes cross back to the host, and turns
them into ``Frame``s with the input's timestamps. ``vsr upscale``, ``vsr bench`` and ``vsr live`` all
super-resolve through it.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from ..upscaler import Upscaler
from .frame import Frame
from .layout import Layout
from .transfer import Download, Transfer


@dataclass
class Batch:
    """A started batch: its input frames and the downloads of its output planes."""

    frames: Sequence[Frame]
    y: Download
    uv: Optional[Download]


class SuperResolver:
    """Upscales lists of same-sized frames from ``source`` layout to ``target`` layout.

    ``sr(frames)`` does one batch; ``start`` and ``finish`` split it so that ``transfer.overlapped`` can
    keep ``depth`` batches in flight (3 on CUDA: upload, compute, download; 1 on the CPU, where nothing
    runs concurrently). ``bicubic`` upscales luma bicubically too (the realtime fallback, a baseline).
    """

    def __init__(self, upscaler: Upscaler, source: Layout, target: Layout, width: int, height: int,
                 depth: Optional[int] = None, bicubic: bool = False):
        self.upscaler = upscaler
        self.source = source
        self.target = target
        self.bicubic = bicubic
        r = upscaler.scale
        self.out_width, self.out_height = r * width, r * height
        self.out_sizes = target.plane_sizes(self.out_width, self.out_height)
        self.transfer = Transfer(upscaler.device)
        self.depth = depth or (3 if self.transfer.cuda else 1)

    def __call__(self, frames: Sequence[Frame]) -> List[Frame]:
        return self.finish(self.start(frames))

    def start(self, frames: Sequence[Frame]) -> Batch:
        """Queue the batch's upload, network and download; returns at once on CUDA."""
        chroma = not self.target.grey and not self.source.grey
        y = self.transfer.upload([f.planes[:1] for f in frames])
        uv = self.transfer.upload([f.planes[1:3] for f in frames]) if chroma else None
        with self.transfer.computing():
            y, uv = self.upscaler.upscale_planes(y, uv, self.out_sizes[-1], self.source.bits, self.target.bits,
                                                 bicubic=self.bicubic)
        return Batch(frames, self.transfer.download(y), self.transfer.download(uv) if chroma else None)

    def finish(self, batch: Batch) -> List[Frame]:
        """Wait for a started batch's planes; the frames are views of reused host buffers."""
        y = batch.y.result()
        if batch.uv is not None:
            uv = batch.uv.result()
            planes = [(y[i, 0], uv[i, 0], uv[i, 1]) for i in range(len(batch.frames))]
        elif not self.target.grey:
            neutral = self._neutral_chroma(len(batch.frames))
            planes = [(y[i, 0], neutral[i, 0], neutral[i, 0]) for i in range(len(batch.frames))]
        else:
            planes = [(y[i, 0],) for i in range(len(batch.frames))]
        return [Frame(p, f.pts, f.time_base, f.index) for p, f in zip(planes, batch.frames)]

    def _neutral_chroma(self, n: int) -> np.ndarray:
        h, w = self.out_sizes[1]
        return np.full((n, 1, h, w), 128 << (self.target.bits - 8), dtype=self.target.dtype)
