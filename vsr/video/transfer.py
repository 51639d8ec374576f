"""Moving frames between host and device as fast as the slowest stage allows.

``HostPool`` keeps host buffers (page-locked on CUDA, so copies run asynchronously) and hands one out
again only once nothing refers to it any more: no buffer is pinned per frame. ``Transfer`` copies on
three CUDA streams: uploads, compute and downloads, ordered by events, so while batch k computes, batch
k+1 uploads and batch k-1 downloads (``vsr.video.sr.overlapped`` keeps that many batches in flight). On
the CPU the same code runs in order: no pinning, no streams, no events.
"""
from contextlib import nullcontext
from dataclasses import dataclass
import sys
from typing import ContextManager, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch


TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16}  # what crosses the bus


@dataclass(eq=False)  # slots are told apart by identity
class _Slot:
    tensor: torch.Tensor  # what the device copies to and from
    array: np.ndarray  # the same memory; frames handed out are views of it, which keeps it taken
    event: Optional["torch.cuda.Event"] = None  # the last copy that used it


class HostPool:
    """Host buffers reused by (shape, dtype). A buffer is free again when no view of ``take``'s array is
    alive and its last copy has finished, so frames handed to the encoder are never overwritten."""

    def __init__(self, pin: bool):
        self.pin = pin
        self._slots: Dict[Tuple[Tuple[int, ...], torch.dtype], List[_Slot]] = {}

    @property
    def allocated(self) -> int:
        """Buffers created so far: bounded by the batches in flight, not by the length of the clip."""
        return sum(len(s) for s in self._slots.values())

    def take(self, shape: Sequence[int], dtype: torch.dtype) -> _Slot:
        slots = self._slots.setdefault((tuple(shape), dtype), [])
        for slot in slots:
            # 2: the slot's own reference and getrefcount's argument; more means a view is still in use.
            if sys.getrefcount(slot.array) == 2 and (slot.event is None or slot.event.query()):
                return slot
        tensor = torch.empty(tuple(shape), dtype=dtype, pin_memory=self.pin)
        slots.append(_Slot(tensor, tensor.numpy()))
        return slots[-1]


class Download:
    """A device tensor on its way into a host buffer; ``result`` waits for it and gives the array."""

    def __init__(self, slot: _Slot, source: Optional[torch.Tensor] = None):
        self._event = slot.event
        self._array: Optional[np.ndarray] = slot.array  # a reference: the pool does not hand it out meanwhile
        self._source = source  # kept alive (its device memory not reused) until the copy is done

    def result(self) -> np.ndarray:
        if self._event is not None:
            self._event.synchronize()
        array, self._array, self._source = self._array, None, None
        return array


class Transfer:
    """Host <-> device copies for one device, overlapped with compute on CUDA, in order on the CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.pool = HostPool(pin=self.cuda)
        self._up, self._work, self._down = (torch.cuda.Stream(device) for _ in range(3)) if self.cuda else (None,) * 3

    def upload(self, planes: Sequence[Sequence[np.ndarray]]) -> torch.Tensor:
        """N frames' C same-sized planes -> integer (N, C, h, w) on the device, staged in a reused buffer.

        Integers cross the bus (a quarter of float32's bytes); the compute stream waits for the copy.
        """
        first = planes[0][0]
        slot = self.pool.take((len(planes), len(planes[0]), *first.shape), TORCH_DTYPES[first.dtype])
        for i, frame_planes in enumerate(planes):
            for j, plane in enumerate(frame_planes):
                slot.array[i, j] = plane
        if not self.cuda:
            return torch.from_numpy(slot.array)  # refers to the array: the pool keeps it while in use
        with torch.cuda.stream(self._up):
            on_device = slot.tensor.to(self.device, non_blocking=True)
            slot.event = torch.cuda.Event()
            slot.event.record(self._up)
        self._work.wait_event(slot.event)
        on_device.record_stream(self._work)  # made on the upload stream, used and freed on the compute stream
        return on_device

    def computing(self) -> ContextManager:
        """Where the network runs: the compute stream on CUDA."""
        return torch.cuda.stream(self._work) if self.cuda else nullcontext()

    def download(self, x: torch.Tensor) -> Download:
        """Start copying the integer tensor ``x`` into a reused host buffer after the work queued so far."""
        if not self.cuda:
            return Download(_Slot(x, x.numpy()))
        slot = self.pool.take(x.shape, x.dtype)
        self._down.wait_stream(self._work)
        with torch.cuda.stream(self._down):
            slot.tensor.copy_(x, non_blocking=True)
            slot.event = torch.cuda.Event()
            slot.event.record(self._down)
        return Download(slot, x)
