"""Stage timing for ``vsr bench`` and the scripts in ``benchmarks/``: one helper, so a figure means the same
wherever it is printed.

Stage names are those of the video pipeline (``Summary.busy``): ``decode`` (reading and decoding frames),
``sr`` (the super-resolution stage: ESPCN on luma plus bicubic chroma, host to host), ``encode``
(encoding and muxing), and ``end-to-end`` (all three in ``upscale_video``). Any other key names a method
timed on its own (``bicubic``, a peer's model).
"""
import time
from typing import Callable, Dict, Optional, TypeVar, Union

import torch

from .. import devices

DECODE, SR, ENCODE, END_TO_END = "decode", "sr", "encode", "end-to-end"

T = TypeVar("T")


class StageTimer:
    """Seconds and frames accumulated by key, from calls timed between two device synchronisations
    (queued GPU work counts where it runs, not where it was launched)."""

    def __init__(self, device: Union[str, torch.device] = "cpu", seconds: Optional[Dict[str, float]] = None,
                 frames: Optional[Dict[str, int]] = None):
        self.device = torch.device(device)
        self.seconds = {} if seconds is None else seconds  # given dicts are filled in place
        self.frames = {} if frames is None else frames

    def add(self, key: str, seconds: float, frames: int) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.frames[key] = self.frames.get(key, 0) + frames

    def run(self, key: str, work: Callable[[], T], frames: int, warm_up: bool = False) -> T:
        """``work()`` timed under ``key`` as ``frames`` frames; ``warm_up`` first makes one untimed call."""
        if warm_up:
            work()
        devices.synchronize(self.device)
        start = time.perf_counter()
        out = work()
        devices.synchronize(self.device)
        self.add(key, time.perf_counter() - start, frames)
        return out
