"""The super-resolution stage: batches of decoded frames in, frames ``scale`` times larger out.

Luma goes through ESPCN and chroma is resized bicubically, both on the ``Upscaler``'s device; the
conversion to integer samples happens there too, so only final uint8/uint16 planes cross back to the
host. Samples are normalised by the layout's ``peak`` (255 << (bits - 8)), so 10-bit video reaches the
network with the same black and white levels as 8-bit video and keeps its extra precision.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..upscaler import Upscaler
from .decode import Frame
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
    runs concurrently).
    """

    def __init__(self, upscaler: Upscaler, source: Layout, target: Layout, width: int, height: int,
                 depth: Optional[int] = None):
        self.upscaler = upscaler
        self.source = source
        self.target = target
        r = upscaler.scale
        self.out_width, self.out_height = r * width, r * height
        self.out_sizes = target.plane_sizes(self.out_width, self.out_height)
        self.transfer = Transfer(upscaler.device)
        self.depth = depth or (3 if self.transfer.cuda else 1)

    def __call__(self, frames: Sequence[Frame]) -> List[Frame]:
        return self.finish(self.start(frames))

    @torch.inference_mode()
    def start(self, frames: Sequence[Frame]) -> Batch:
        """Queue the batch's upload, network and download; returns at once on CUDA."""
        chroma = not self.target.grey and not self.source.grey
        y = self.transfer.upload([f.planes[:1] for f in frames])
        uv = self.transfer.upload([f.planes[1:3] for f in frames]) if chroma else None
        with self.transfer.computing():
            y = self._quantize(self.upscaler.upscale_luma_tensor(self._normalize(y)))
            if chroma:
                uv = self._quantize(self.upscaler.upscale_chroma_tensor(self._normalize(uv), self.out_sizes[1]))
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

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Integer samples -> float in [0, 1] of the source's peak, on the device."""
        return x.float().div_(self.source.peak)

    def _quantize(self, x: torch.Tensor) -> torch.Tensor:
        """float [0, 1] -> rounded, clipped integer samples of the target depth, still on the device."""
        top = (1 << self.target.bits) - 1
        x = (x * self.target.peak).add_(0.5).floor_().clamp_(0, top)
        return x.to(torch.uint8 if self.target.bits == 8 else torch.uint16)

    def _neutral_chroma(self, n: int) -> np.ndarray:
        h, w = self.out_sizes[1]
        return np.full((n, 1, h, w), 128 << (self.target.bits - 8), dtype=self.target.dtype)
