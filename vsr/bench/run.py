"""Measuring one clip: quality of ESPCN against bicubic on degraded frames, and the speed of each stage.

Per frame, as ``vsr eval`` does for images: the HR luma (8-bit, cropped to a multiple of the scale) is
shrunk with the MATLAB-compatible bicubic and rounded to 8 bits; ESPCN and the bicubic baseline bring it
back, and PSNR/SSIM are taken on Y with ``scale`` pixels shaved. The degradation and PSNR run on the
device in float64 with the protocol's torch twins (``vsr.protocol``), so they agree with ``vsr eval``;
only uint8 planes cross the bus (SSIM, when asked for, is taken on the host with OpenCV).

Speeds, under the stage names of ``vsr.bench.timing`` (device-synchronised): decode (the video reader
alone, from opening the file to the last frame); sr (the video pipeline's super-resolution stage on the
LR frames: ESPCN luma plus bicubic chroma, host to host); end-to-end (``upscale_video`` on a lossless LR
copy of the clip, decoding, upscaling and encoding with the default encoder as ``vsr upscale`` does).
Every method makes one untimed warm-up call on the first batch before its timed calls, so the
end-to-end run finds the model warm too.
"""
from contextlib import contextmanager
from dataclasses import dataclass, field
import logging
from pathlib import Path
import tempfile
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VsrError
from ..protocol import Method, Scores, degrade_torch, eight_bit, matlab_bicubic_torch, psnr_y_torch, ssim_y
from ..upscaler import Upscaler
from ..video import EncodeOptions, Frame, VideoInfo, open_video, upscale_video
from ..video.encode import VideoSink
from ..video.frame import StreamDescription
from ..video.layout import Layout
from ..video.sr import SuperResolver
from .timing import DECODE, END_TO_END, SR, StageTimer

log = logging.getLogger(__name__)

ESPCN, BICUBIC = "ESPCN", "bicubic"


@dataclass
class ClipResult(Scores):
    """Per-frame scores by method, and frames per second by stage (None when not measured)."""

    name: str
    path: str
    codec: str
    size: Tuple[int, int]  # HR width, height after cropping to a multiple of the scale
    frame_rate: Optional[float]
    seconds: Dict[str, float] = field(default_factory=dict)  # timed seconds by stage (timing.SR, ...) or method
    timed_frames: Dict[str, int] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.psnr.get(ESPCN, []))

    def fps(self, key: str) -> Optional[float]:
        s, n = self.seconds.get(key), self.timed_frames.get(key)
        return n / s if s and n else None


def measure_clip(
    path: Path,
    upscaler: Upscaler,
    *,
    name: Optional[str] = None,
    max_frames: Optional[int] = None,
    batch: int = 1,
    with_ssim: bool = True,
    end_to_end: bool = True,
    extra_methods: Optional[Dict[str, Method]] = None,
    hwaccel: Optional[str] = None,
) -> ClipResult:
    """Score and time ``upscaler`` (and ``extra_methods``, timed per call on the host) on one clip.

    ``hwaccel="cuda"`` decodes the clip with NVDEC where it can (the LR copy is raw video).
    """
    r = upscaler.scale
    dev = upscaler.device
    extra_methods = extra_methods or {}
    start = time.perf_counter()
    with open_video(path, hwaccel=hwaccel) as video, tempfile.TemporaryDirectory(prefix="vsr-bench-") as tmp:
        opened = time.perf_counter() - start
        info = video.info
        # HR cropped so that the LR frame is a multiple of the chroma subsampling: an odd LR width in 4:2:0
        # would make libx264 fall back to 4:4:4 in the end-to-end run, timing another format.
        step_x, step_y = (r * info.layout.sub[0], r * info.layout.sub[1]) if not info.layout.grey else (r, r)
        w, h = info.width - info.width % step_x, info.height - info.height % step_y
        if w < r * 8 or h < r * 8:
            raise VsrError(f"{path}: {info.width}x{info.height} is too small to bench at x{r}")
        result = ClipResult(name or Path(path).stem, str(path), info.codec, (w, h),
                            float(info.frame_rate) if info.frame_rate else None)
        timer = StageTimer(dev, result.seconds, result.timed_frames)
        timer.add(DECODE, opened, 0)
        bits = info.layout.bits
        lr_layout = info.layout.with_bits(8)
        lr_size = lr_layout.plane_sizes(w // r, h // r)
        sr = SuperResolver(upscaler, lr_layout, lr_layout, w // r, h // r)
        lr_path = Path(tmp) / "lr.y4m"
        lr_sink = _lr_sink(lr_path, info, lr_layout, w // r, h // r) if end_to_end else None
        try:
            for index, frames in enumerate(_batches(video, max_frames, batch, timer)):
                hr_y = torch.from_numpy(np.stack([eight_bit(f.planes[0], bits)[:h, :w] for f in frames])).to(dev)
                lr_y = degrade_torch(hr_y, r)
                lr_planes = [lr_y] + [_shrink_chroma(frames, i, lr_size[i], bits, dev) for i in range(1, len(lr_size))]
                lr_host = [p.cpu().numpy() for p in lr_planes]  # uint8: the SR stage's input, host to host
                lr_frames = [Frame(tuple(p[k] for p in lr_host), f.pts, f.time_base, f.index)
                             for k, f in enumerate(frames)]
                outputs = _upscale(timer, sr, lr_frames, lr_y, r, extra_methods, warm_up=index == 0)
                _score(result, hr_y, outputs, r, with_ssim)
                if lr_sink is not None:
                    for f in lr_frames:
                        lr_sink.write(f)
        finally:
            if lr_sink is not None:
                lr_sink.close()
        if end_to_end:
            with _quiet(logging.getLogger(upscale_video.__module__)):  # its "in -> out" line names temp files
                summary = upscale_video(lr_path, Path(tmp) / "e2e.mp4", upscaler, EncodeOptions(), batch=batch)
            timer.add(END_TO_END, summary.seconds, summary.frames)
            log.debug("%s: end to end %d frames in %.2f s", result.name, summary.frames, summary.seconds)
    log.info("%s: %d frames, ESPCN %.2f dB, bicubic %.2f dB", result.name, result.frames,
             result.mean("psnr", ESPCN), result.mean("psnr", BICUBIC))
    return result


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Only warnings and errors from ``logger`` within the block."""
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _upscale(timer: StageTimer, sr: SuperResolver, lr_frames: List[Frame], lr_y: torch.Tensor, r: int,
             extra_methods: Dict[str, Method], warm_up: bool) -> Dict[str, torch.Tensor]:
    """Every method on one batch of LR frames, timed; returns HR luma (N, H, W) by method, on the device."""
    dev = lr_y.device
    out = timer.run(SR, lambda: sr(lr_frames), len(lr_frames), warm_up)
    outputs = {ESPCN: torch.from_numpy(np.stack([o.planes[0] for o in out])).to(dev),
               BICUBIC: timer.run(BICUBIC, lambda: matlab_bicubic_torch(lr_y, r), len(lr_frames), warm_up)}
    for label, method in extra_methods.items():
        hr = [timer.run(label, lambda f=f: method(f.planes[0]), 1, warm_up and k == 0) for k, f in enumerate(lr_frames)]
        outputs[label] = torch.from_numpy(np.stack(hr)).to(dev)
    return outputs


def _batches(video, max_frames: Optional[int], batch: int, timer: StageTimer) -> Iterator[List[Frame]]:
    """Frames in lists of ``batch``; time spent inside the reader is recorded as decode time.

    Decoders run ahead in threads, so the time of the first frames cannot be told apart from the rest:
    decode time is all of it, opening the file included.
    """
    items = video.items(max_frames)
    frames: List[Frame] = []
    while True:
        start = time.perf_counter()
        item = next(items, None)
        elapsed = time.perf_counter() - start
        if item is None:
            break
        if not isinstance(item, Frame):
            continue
        timer.add(DECODE, elapsed, 1)
        frames.append(item)
        if len(frames) == batch:
            yield frames
            frames = []
    if frames:
        yield frames


def _shrink_chroma(frames: Sequence[Frame], plane: int, size: Tuple[int, int], bits: int,
                   dev: torch.device) -> torch.Tensor:
    """LR chroma for the SR-speed measurement and the LR clip (antialiased bicubic; not scored)."""
    c = torch.from_numpy(np.stack([eight_bit(f.planes[plane], bits) for f in frames])).to(dev)
    c = F.interpolate(c.unsqueeze(1).float(), size=size, mode="bicubic", antialias=True, align_corners=False)
    return c.squeeze(1).add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)


def _score(result: ClipResult, hr: torch.Tensor, outputs: Dict[str, torch.Tensor], r: int, with_ssim: bool) -> None:
    """PSNR per frame on the device; SSIM (OpenCV) on the host."""
    hr_host = hr.cpu().numpy() if with_ssim else None
    for label, sr in outputs.items():
        result.psnr.setdefault(label, []).extend(psnr_y_torch(sr, hr, r))
        if with_ssim:
            result.ssim.setdefault(label, []).extend(ssim_y(s, h, r) for s, h in zip(sr.cpu().numpy(), hr_host))


def _lr_sink(path: Path, info: VideoInfo, layout: Layout, width: int, height: int) -> VideoSink:
    """A y4m (raw, lossless) writer for the LR clip that the end-to-end run reads."""
    lr = StreamDescription(width, height, layout, info.frame_rate, info.time_base, info.color)
    return VideoSink(str(path), lr, EncodeOptions(format="yuv4mpegpipe"))


def measure(clips: Sequence[Tuple[str, Path]], upscaler: Upscaler, **kwargs) -> List[ClipResult]:
    """``measure_clip`` for each (name, path)."""
    return [measure_clip(path, upscaler, name=name, **kwargs) for name, path in clips]
