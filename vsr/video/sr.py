"""The super-resolution stage: decoded frames in, frames ``scale`` times larger out, in order.

``SuperResolver`` drives ``Upscaler.upscale_planes`` (the one planar SR path) on a batch: it moves the
planes to the device and back (``transfer``), so only final uint8/uint16 planes cross back to the host,
and turns them into ``Frame``s with the input's timestamps. ``overlapped`` is the stage's loop: frames
in batches, several batches in flight on a GPU, the packets of copied streams passed along in order,
and a ``Fallback`` (a frame a live run had no time for) upscaled bicubically in its place by the same
resolver. ``vsr upscale``, ``vsr bench`` and ``vsr live`` all super-resolve through it.
"""
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, ContextManager, Deque, Iterable, Iterator, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from ..upscaler import Upscaler
from .frame import Frame
from .layout import Layout
from .transfer import Download, Transfer


@dataclass
class Fallback:
    """A frame SR has no time for (the real-time policy): it goes out upscaled bicubically, in its place."""

    frame: Frame


@dataclass
class Batch:
    """A started batch: its input frames and the downloads of its output planes."""

    frames: Sequence[Frame]
    y: Download
    uv: Optional[Download]


class SuperResolver:
    """Upscales lists of same-sized frames from ``source`` layout to ``target`` layout.

    ``sr(frames)`` does one batch; ``start`` and ``finish`` split it so that ``overlapped`` can keep
    ``depth`` batches in flight (3 on CUDA: upload, compute, download; 1 on the CPU, where nothing runs
    concurrently). ``bicubic`` upscales luma bicubically too: every batch (a baseline), or one batch
    (``start(..., bicubic=True)``: the real-time fallback).
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

    def start(self, frames: Sequence[Frame], bicubic: bool = False) -> Batch:
        """Queue the batch's upload, network (or bicubic) and download; returns at once on CUDA."""
        chroma = not self.target.grey and not self.source.grey
        y = self.transfer.upload([f.planes[:1] for f in frames])
        uv = self.transfer.upload([f.planes[1:3] for f in frames]) if chroma else None
        with self.transfer.computing():
            y, uv = self.upscaler.upscale_planes(y, uv, self.out_sizes[-1], self.source.bits, self.target.bits,
                                                 bicubic=self.bicubic or bicubic)
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


class Batched(Protocol):
    """What ``overlapped`` drives: ``start`` queues a batch's work, ``finish`` waits for its frames."""

    depth: int

    def start(self, frames: List[Frame], bicubic: bool = False) -> object: ...

    def finish(self, handle: object) -> List[Frame]: ...


def overlapped(items: Iterable[object], batch: int, sr: Batched,
               busy: Callable[[], ContextManager] = nullcontext) -> Iterator[object]:
    """Frames of ``items`` upscaled in batches of ``batch``, ``sr.depth`` batches in flight; other items
    follow the batch that was open or in flight when they arrived, as when batches finish one by one.

    ``busy()`` wraps the work (starting and finishing batches), for the stage's timing. A ``Fallback``
    closes the open batch and is a batch of its own, upscaled bicubically, so no later frame overtakes it.
    """
    frames: List[Frame] = []
    held: List[object] = []  # items that arrived while ``frames`` was filling
    flight: Deque[Tuple[object, List[object]]] = deque()  # (handle, items that follow its frames)

    def start(bicubic: bool = False) -> None:
        nonlocal frames, held
        with busy():
            handle = sr.start(frames, bicubic=bicubic)
        flight.append((handle, held))
        frames, held = [], []

    def finish() -> Iterator[object]:
        handle, after = flight.popleft()
        with busy():
            out = sr.finish(handle)
        yield from out
        yield from after

    for item in items:
        if isinstance(item, Fallback):
            if frames:
                start()
            frames = [item.frame]
            start(bicubic=True)
        elif isinstance(item, Frame):
            frames.append(item)
            if len(frames) == batch:
                start()
        elif frames:
            held.append(item)
        elif flight:
            flight[-1][1].append(item)
        else:
            yield item
        while len(flight) >= sr.depth:
            yield from finish()
    if frames:
        start()
    while flight:
        yield from finish()
