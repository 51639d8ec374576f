"""The worker: one resident ``Upscaler`` that turns segments of a video into encoded segment files.

It is a plain class; ``vsr.cluster.scheduler`` makes it a Ray actor, one per GPU (or per CPU slot), so
the model is loaded once per worker, not once per segment. A segment is upscaled by the ordinary
pipeline (``upscale_video`` with a ``Window``) into a NUT file, which keeps the input's time base and
timestamps exactly (MP4 would add an edit list, Matroska would round to milliseconds); its bytes go
back to the driver through Ray, so no shared filesystem is needed for the output.
"""
from dataclasses import dataclass, field, replace
import hashlib
import logging
import os
from pathlib import Path
import tempfile
import time
from typing import Dict, Optional

from ..errors import VsrError
from ..upscaler import UpscalerSpec
from ..video.encode import EncodeOptions
from ..video.pipeline import upscale_video
from .plan import Segment, fingerprint

log = logging.getLogger(__name__)

SEGMENT_FORMAT = "nut"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs: the driver's ``UpscalerSpec`` (its ``weights`` path is the driver's), custom
    weights as bytes (no shared disk), frames per network call, and how to decode."""

    model: UpscalerSpec
    weights: Optional[bytes] = None  # None: the weights shipped in the package
    batch: Optional[int] = None
    hwaccel: Optional[str] = None


@dataclass(frozen=True)
class SegmentJob:
    """One segment of one input: where the input is, which frames, and how to encode them."""

    file: int  # index of the input in the run
    path: str
    fingerprint: dict
    segment: Segment
    options: EncodeOptions
    checked: bool = True  # False for a whole file read without seeking: the frame count is not enforced


@dataclass
class SegmentResult:
    file: int
    index: int
    frames: int
    data: bytes
    sha256: str
    seconds: float  # wall time of the segment on the worker
    first_frame_seconds: float  # from the start until the first frame was encoded (seek, decode, SR, encode)
    worker: Dict[str, object] = field(default_factory=dict)


class SegmentWorker:
    """Loads the model once; ``run(job)`` upscales one segment and returns its encoded bytes."""

    def __init__(self, spec: WorkerSpec):
        started = time.perf_counter()
        self.spec = spec
        self._weights_file = None
        weights = None
        if spec.weights is not None:
            fd, name = tempfile.mkstemp(prefix="vsr-weights-", suffix=".pt")
            with os.fdopen(fd, "wb") as f:
                f.write(spec.weights)
            self._weights_file = weights = Path(name)  # loaded with weights_only=True like any weights file
        self.upscaler = replace(spec.model, weights=weights).build()
        self.load_seconds = time.perf_counter() - started
        self._tmp = tempfile.mkdtemp(prefix="vsr-segments-")

    def info(self) -> Dict[str, object]:
        """Who this worker is: process id, host, device, backend, model load time, and which vsr it runs."""
        import socket

        import vsr

        return {
            "pid": os.getpid(), "host": socket.gethostname(), "device": str(self.upscaler.device),
            "backend": self.upscaler.backend, "dtype": str(self.upscaler.dtype).replace("torch.", ""), "load_seconds": self.load_seconds, "vsr": vsr.__file__,
        }

    def run(self, job: SegmentJob) -> SegmentResult:
        started = time.perf_counter()
        seg = job.segment
        path = Path(job.path)
        if not path.is_file():
            raise VsrError(f"{job.path} is not readable on worker {os.uname().nodename} "
                           "(inputs must be at the same path on every node)")
        if fingerprint(path) != job.fingerprint:
            raise VsrError(f"{job.path} on worker {os.uname().nodename} differs from the driver's file")
        out = Path(self._tmp) / f"f{job.file}-s{seg.index}.nut"
        first: Dict[str, float] = {}

        def progress(done: int, total: Optional[int]) -> None:
            if done == 1:
                first["t"] = time.perf_counter() - started

        try:
            summary = upscale_video(
                job.path, out, self.upscaler, replace(job.options, format=SEGMENT_FORMAT), batch=self.spec.batch,
                max_frames=seg.frames if job.checked else None, overwrite=True,
                progress=progress, window=seg.window if job.checked else None, hwaccel=self.spec.hwaccel,
            )
            if job.checked and summary.frames != seg.frames:
                raise VsrError(f"{job.path}: segment {seg.index} decoded {summary.frames} frames, "
                               f"{seg.frames} expected (a seek that missed its keyframe, or damaged input)")
            data = out.read_bytes()
        finally:
            if out.exists():
                out.unlink()
        return SegmentResult(job.file, seg.index, summary.frames, data, hashlib.sha256(data).hexdigest(),
                             time.perf_counter() - started, first.get("t", 0.0), self.info())
