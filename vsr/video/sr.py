"""The super-resolution stage: batches of decoded frames in, frames ``scale`` times larger out.

Luma goes through ESPCN and chroma is resized bicubically, both on the ``Upscaler``'s device; the
conversion to integer samples happens there too, so only final uint8/uint16 planes cross back to the
host. Samples are normalised by the layout's ``peak`` (255 << (bits - 8)), so 10-bit video reaches the
network with the same black and white levels as 8-bit video and keeps its extra precision.
"""
from typing import List, Sequence

import numpy as np
import torch

from ..upscaler import Upscaler
from .decode import Frame
from .layout import Layout


class SuperResolver:
    """Upscales lists of same-sized frames from ``source`` layout to ``target`` layout."""

    def __init__(self, upscaler: Upscaler, source: Layout, target: Layout, width: int, height: int):
        self.upscaler = upscaler
        self.source = source
        self.target = target
        r = upscaler.scale
        self.out_width, self.out_height = r * width, r * height
        self.out_sizes = target.plane_sizes(self.out_width, self.out_height)

    @torch.inference_mode()
    def __call__(self, frames: Sequence[Frame]) -> List[Frame]:
        y = self._upload([f.planes[0] for f in frames])
        planes = [self._download(self.upscaler.upscale_luma_tensor(y))]
        if not self.target.grey:
            if self.source.grey:
                planes += [self._neutral_chroma(len(frames))] * 2
            else:
                uv = torch.cat([self._upload([f.planes[i] for f in frames]) for i in (1, 2)], dim=1)
                uv = self.upscaler.upscale_chroma_tensor(uv, self.out_sizes[1])
                planes += [self._download(uv[:, :1]), self._download(uv[:, 1:])]
        return [
            Frame(tuple(p[i, 0] for p in planes), f.pts, f.time_base, f.index)
            for i, f in enumerate(frames)
        ]

    def _upload(self, planes: List[np.ndarray]) -> torch.Tensor:
        """Integer planes -> float (N, 1, H, W) on the device, integers crossing the bus (smaller)."""
        batch = torch.from_numpy(np.stack(planes)).to(self.upscaler.device, non_blocking=True)
        return batch.unsqueeze(1).float().div_(self.source.peak)

    def _download(self, x: torch.Tensor) -> np.ndarray:
        """float [0, 1] -> rounded, clipped integer samples of the target depth, as numpy."""
        top = (1 << self.target.bits) - 1
        x = (x * self.target.peak).add_(0.5).floor_().clamp_(0, top)
        return x.to(torch.uint8 if self.target.bits == 8 else torch.uint16).cpu().numpy()

    def _neutral_chroma(self, n: int) -> np.ndarray:
        h, w = self.out_sizes[1]
        return np.full((n, 1, h, w), 128 << (self.target.bits - 8), dtype=self.target.dtype)
