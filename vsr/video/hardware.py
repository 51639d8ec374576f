"""NVIDIA's video engines: NVDEC decoding through PyAV's ``hwaccel``, and what to say when NVENC is missing.

``--hwaccel cuda`` is a preference, as FFmpeg's own ``-hwaccel`` is: the frames are the same either way,
so where NVDEC cannot be used (PyAV or FFmpeg built without it, no NVIDIA GPU or driver, a codec the
GPU does not decode) vsr says so in one warning and decodes in software. With ``strict`` that is a
one-line error instead. NVDEC's frames come back to host memory (NV12, P010), converted to planar
YCbCr like any semi-planar input.
"""
from functools import lru_cache
import logging
from typing import Optional

import av

from ..errors import VsrError, ffmpeg_reason

log = logging.getLogger(__name__)

HWACCELS = ("none", "cuda")
NVENC = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
_SOFTWARE = {"h264_nvenc": "libx264", "hevc_nvenc": "libx265", "av1_nvenc": "libsvtav1"}


@lru_cache(maxsize=None)
def decoder(kind: Optional[str], strict: bool = False) -> "Optional[av.codec.hwaccel.HWAccel]":
    """The ``hwaccel`` to open inputs with, or None for software decoding (after a warning if asked for).

    Asked once per process: the device is probed once and a fallback is said once.
    """
    if kind in (None, "none"):
        return None
    if kind not in HWACCELS:
        raise VsrError(f"unknown hwaccel {kind!r}: use {' or '.join(HWACCELS)}", exit_code=2)
    try:
        from av.codec.hwaccel import HWAccel, hwdevices_available
    except ImportError:
        return _unavailable(kind, f"PyAV {av.__version__} has no hardware decoding (PyAV 14 or later has)", strict)
    if kind not in hwdevices_available():
        return _unavailable(kind, f"this FFmpeg ({av.ffmpeg_version_info}) was built without {kind}", strict)
    accel = HWAccel(kind, allow_software_fallback=True)
    try:
        _open_device(accel)
    except av.FFmpegError as exc:

        return _unavailable(kind, f"no usable {kind} device ({ffmpeg_reason(exc)})", strict)
    return accel


def check_stream(stream: "av.video.stream.VideoStream", kind: str, strict: bool) -> None:
    """After opening: NVDEC may not take this codec (then FFmpeg decoded in software); say so."""
    if not stream.codec_context.is_hwaccel:
        _unavailable(kind, f"the GPU does not decode {stream.codec_context.name}", strict)


def _unavailable(kind: str, reason: str, strict: bool) -> None:
    if strict:
        raise VsrError(f"--hwaccel {kind}: {reason} (without --strict vsr decodes in software)")
    log.warning("--hwaccel %s: %s; decoding in software", kind, reason)


def nvenc_missing(codec: str, reason: str) -> VsrError:
    """The one-line error for an NVENC encoder that this FFmpeg or machine cannot run, naming the fix."""
    return VsrError(f"{codec} cannot encode here ({reason}): NVENC needs an NVIDIA GPU that has it (H100, H200 and "
                    f"A100 have none), its driver, and an FFmpeg built with it; use --codec {_SOFTWARE[codec]}")


def _open_device(accel: "av.codec.hwaccel.HWAccel") -> None:
    """Create the device once, so that a missing GPU or driver is found before any input is opened."""
    accel.create(av.Codec("h264", "r"))
