"""Reading video files as planar YCbCr frames with their timestamps, and the packets of other streams.

``open_video(path)`` works on its own (benchmarks read HR frames with it) and is the first stage of the
upscale pipeline. Frames stay in the file's own YCbCr planes, 8-bit as uint8 and deeper as uint16, so
nothing is lost to an RGB round trip. Formats that are not planar YCbCr or grey are converted once:
semi-planar and alpha formats are repacked, and RGB, palette and Bayer frames are converted to 4:4:4
YCbCr with the BT.601 studio-range matrix (``RGB_MATRIX``), the convention of ``vsr.color`` and of the
network's training data.
"""
from collections import deque
import contextlib
from dataclasses import dataclass
from fractions import Fraction
import logging
import os
from pathlib import Path
import select
import sys
import threading
from typing import BinaryIO, Deque, Dict, Iterator, List, Optional, Union

import av

from .. import interrupts
from ..errors import VsrError, ffmpeg_reason
from . import hardware
from .frame import BT601_STUDIO, COPIED_TYPES, ColorTags, Frame, StreamDescription, planes_of
from .layout import native_layout, target_layout
from .network import is_url

log = logging.getLogger(__name__)

RGB_MATRIX = "BT.601 studio range (Y 16-235, Cb/Cr 16-240)"
LOW_DELAY_FLAG = 1 << 19  # AV_CODEC_FLAG_LOW_DELAY
STDIN_POLL = 0.1  # seconds between checks for cancellation while stdin has no data



@dataclass(frozen=True)
class VideoInfo(StreamDescription):
    """What the decoder knows before the first frame: the stream's description, plus what the container
    says of it (format, codec, length) and how its frames are converted to ``layout``."""

    pix_fmt: str = ""  # as stored in the file
    frames: Optional[int] = None  # as the container states it; None when unknown
    duration: Optional[float] = None  # seconds
    codec: str = ""
    converted: Optional[str] = None  # how frames were converted to ``layout``, None when they were not

    @property
    def bit_depth(self) -> int:
        return self.layout.bits


class VideoSource:
    """An open video file (or ``-`` for stdin): ``info``, and iteration over its frames.

    ``items(limit)`` also yields the packets of the audio and subtitle streams, held back until the
    video reaches them so that a frame limit cuts every stream at the same time.

    Damage is handled as FFmpeg handles it: a packet the decoder rejects is skipped, a frame it had to
    conceal is kept, and a read error mid-file ends the input; each counts in ``damaged``. With
    ``strict`` the first one is a ``VsrError`` instead.
    """

    def __init__(self, path: Union[str, Path], strict: bool = False, *, window: Optional["Window"] = None,
                 options: Optional[Dict[str, str]] = None, timeout: Optional[tuple] = None,
                 low_delay: bool = False, hwaccel: Optional[str] = None):
        self.name = "stdin" if str(path) == "-" else str(path)
        self.strict = strict
        self.window = window
        self.damaged = 0
        self.read_error: Optional[str] = None  # why the input ended early, when a read failed
        self._stdin = _Stdin(sys.stdin.buffer) if str(path) == "-" else None
        accel = hardware.decoder(hwaccel, strict)
        # PyAV reads stdin through Python (``_Stdin.read``) and swallows exceptions raised there: a
        # signal waits for the end of the block instead, and the read sees it and ends the input.
        with interrupts.deferred() if self._stdin is not None else contextlib.nullcontext():
            self.container = _open(path, self._stdin, options, timeout, accel)
            try:
                videos = self.container.streams.video
                if not videos:
                    raise VsrError(f"{self.name} has no video stream")
                self.stream = videos[0]
                if accel is not None:
                    hardware.check_stream(self.stream, hwaccel, strict)
                # Frame threading holds back one frame per thread: fine for a file, latency for a live stream.
                self.stream.thread_type = "SLICE" if low_delay else "AUTO"
                if low_delay:
                    self.stream.codec_context.flags |= LOW_DELAY_FLAG
                if window is not None and window.seek is not None:
                    try:
                        self.container.seek(window.seek, stream=self.stream, backward=True)
                    except av.FFmpegError as exc:
                        raise VsrError(f"cannot seek in {self.name}: {ffmpeg_reason(exc)}") from None
                self.other_streams: List[av.stream.Stream] = [
                    s for s in self.container.streams if s.type in COPIED_TYPES
                ]
                self._demux = self.container.demux(self.stream, *self.other_streams)
                self._pending: Deque[Union[Frame, av.Packet]] = deque()
                self._last_pts: Optional[int] = None
                self._index = 0
                first = self._first_frame()
                self.info = self._describe(first)
            except BaseException:
                self.container.close()
                raise
            finally:
                self._check_interrupt()

    # ---- public -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        return (item for item in self.items() if isinstance(item, Frame))

    def items(self, limit: Optional[int] = None) -> Iterator[Union[Frame, av.Packet]]:
        """Frames in presentation order, and other streams' packets no later than the video so far."""
        held: Deque[av.Packet] = deque()
        frames = 0
        end: Optional[Fraction] = None  # time where the last wanted frame ends
        ended = set()  # copied streams that have reached ``end``
        wanted = {s.index for s in self.other_streams}
        try:
            for item in self._decoded():
                if isinstance(item, Frame):
                    if end is not None:
                        continue
                    frames += 1
                    now = item.pts * item.time_base
                    while held and _time(held[0], default=now) <= now:
                        yield held.popleft()
                    yield item
                    if frames == limit:
                        end = now + self._frame_duration()
                        if not wanted:
                            break
                elif end is not None and _time(item, default=end) >= end:
                    ended.add(item.stream.index)
                    if ended >= wanted:
                        break
                else:
                    held.append(item)
            while held:
                packet = held.popleft()
                if end is None or _time(packet, default=end) < end:
                    yield packet
        except av.FFmpegError as exc:
            raise VsrError(f"cannot decode {self.name}: {ffmpeg_reason(exc)}") from None

    @property
    def first_frame(self) -> Optional[Frame]:
        """The first frame not yet handed out, when it was decoded ahead (after opening)."""
        return next((x for x in self._pending if isinstance(x, Frame)), None)

    def cancel(self) -> None:
        """Make a read from stdin that waits for data return end-of-file (called from another thread)."""
        if self._stdin is not None:
            self._stdin.cancelled.set()

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- internals --------------------------------------------------------------------------
    def _decoded(self) -> Iterator[Union[Frame, av.Packet]]:
        w = self.window
        while self._pending:
            item = self._pending.popleft()
            if w is None or not isinstance(item, Frame) or w.holds(item.pts):
                yield item
        for packet in self._packets():
            if packet.stream is self.stream:
                for frame in self._decode(packet):
                    item = self._frame(frame)
                    if w is None or w.holds(item.pts):
                        yield item
            elif packet.size:
                yield packet

    def _packets(self) -> Iterator[av.Packet]:
        """The demuxer's packets; a read error ends the input, as it does in FFmpeg."""
        while True:
            try:
                packet = next(self._demux)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                self.read_error = ffmpeg_reason(exc)
                self._damage(f"read error at frame {self._index}: {self.read_error}; input ends here")
                return
            yield packet

    def _decode(self, packet: av.Packet) -> List[av.VideoFrame]:
        """A packet's frames; a packet the decoder rejects is skipped, concealed frames are kept."""
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            self._damage(f"skipped a damaged packet near frame {self._index}: {ffmpeg_reason(exc)}")
            return []
        for i, frame in enumerate(frames):
            if frame.is_corrupt:
                self._damage(f"frame {self._index + i} is damaged (concealed by the decoder)")
        return frames

    def _damage(self, what: str) -> None:
        self.damaged += 1
        if self.strict:
            raise VsrError(f"{self.name}: {what} (--strict)")
        log.debug("%s: %s", self.name, what)

    def _check_interrupt(self) -> None:
        """Re-raise a Ctrl-C that arrived while FFmpeg was blocked reading stdin (PyAV swallows it)."""
        if self._stdin is not None and self._stdin.interrupted:
            raise KeyboardInterrupt

    def _first_frame(self) -> av.VideoFrame:
        try:
            for packet in self._packets():
                if packet.stream is not self.stream:
                    if packet.size:
                        self._pending.append(packet)
                    continue
                frames = self._decode(packet)
                if frames:
                    self._raw_first = frames[0]
                    self._target = target_layout(frames[0].format)
                    self._pending.extend(self._frame(f) for f in frames)
                    return frames[0]
        except av.FFmpegError as exc:
            raise VsrError(f"cannot decode {self.name}: {ffmpeg_reason(exc)}") from None
        self._check_interrupt()
        if self.damaged:
            raise VsrError(f"cannot decode {self.name}: no frame decodes ({self.damaged} damaged packets)")
        raise VsrError(f"{self.name} has no video frames")

    def _describe(self, first: av.VideoFrame) -> VideoInfo:
        s = self.stream
        native = native_layout(first.format) is not None
        rgb = first.format.is_rgb or first.format.has_palette or first.format.is_bayer
        color = ColorTags(
            range=BT601_STUDIO.range if rgb else int(first.color_range),
            space=BT601_STUDIO.space if rgb else int(first.colorspace),
            primaries=int(first.color_primaries),
            transfer=int(first.color_trc),
        )
        if first.format.name.startswith("yuvj") and not color.range:
            color = ColorTags(2, color.space, color.primaries, color.transfer)
        converted = None if native else (
            f"{first.format.name} -> {self._target.name} ({RGB_MATRIX})" if rgb
            else f"{first.format.name} -> {self._target.name}"
        )
        if converted:
            log.info("%s: converting %s", self.name, converted)
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self.container.duration is not None:
            duration = self.container.duration / av.time_base
        rate = s.average_rate or s.guessed_rate
        return VideoInfo(
            width=first.width,
            height=first.height,
            pix_fmt=first.format.name,
            layout=self._target,
            frame_rate=Fraction(rate) if rate else None,
            time_base=Fraction(s.time_base) if s.time_base else Fraction(1, 90000),
            frames=s.frames or None,
            duration=duration,
            codec=s.codec_context.name,
            color=color,
            converted=converted,
        )

    def _frame(self, frame: av.VideoFrame) -> Frame:
        if (frame.width, frame.height) != (self._raw_first.width, self._raw_first.height):
            raise VsrError(
                f"{self.name}: frame size changes from {self._raw_first.width}x{self._raw_first.height} "
                f"to {frame.width}x{frame.height} at frame {self._index}, which is not supported"
            )
        if frame.format.name != self._target.name:
            rgb = frame.format.is_rgb or frame.format.has_palette or frame.format.is_bayer
            frame = frame.reformat(
                format=self._target.name,
                dst_colorspace="ITU601" if rgb else None,
                dst_color_range="MPEG" if rgb else None,
            )
        planes = planes_of(frame, self._target)
        pts = frame.pts
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            # Raw streams without timestamps, or a repeated one: continue at the nominal rate.
            step = self._frame_duration() / Fraction(self.stream.time_base or Fraction(1, 90000))
            pts = 0 if self._last_pts is None else self._last_pts + max(1, round(step))
        self._last_pts = pts
        out = Frame(planes, pts, Fraction(self.stream.time_base or Fraction(1, 90000)), self._index)
        self._index += 1
        return out

    def _frame_duration(self) -> Fraction:
        rate = self.stream.average_rate or self.stream.guessed_rate or 25
        return 1 / Fraction(rate)


@dataclass(frozen=True)
class Window:
    """Part of a video: decoding starts at the keyframe at or before ``seek`` (a dts), and only frames
    with ``start <= pts < end`` are yielded, so that segments cut at keyframes never overlap."""

    seek: Optional[int]  # None: from the start of the file
    start: int
    end: Optional[int]  # None: to the end of the video

    def holds(self, pts: int) -> bool:
        return pts >= self.start and (self.end is None or pts < self.end)


def open_video(path: Union[str, Path], strict: bool = False, *, window: Optional[Window] = None,
               options: Optional[Dict[str, str]] = None, timeout: Optional[tuple] = None,
               low_delay: bool = False, hwaccel: Optional[str] = None) -> VideoSource:
    """Open a video (a file, ``-``, or a URL FFmpeg reads) for reading; ``VsrError`` with a one-line
    reason when it cannot be read.

    ``window`` (seekable files only) reads one segment of it: see ``Window``. ``options`` go to FFmpeg's
    demuxer and protocol; ``timeout`` is PyAV's (open, read) seconds; ``low_delay`` decodes each frame as
    soon as its packet is in (live). ``hwaccel="cuda"`` decodes with NVDEC where it can (``vsr.video.hardware``).
    """
    return VideoSource(path, strict, window=window, options=options, timeout=timeout, low_delay=low_delay,
                       hwaccel=hwaccel)


class _Stdin:
    """stdin as FFmpeg reads it: a Ctrl-C during a blocked read ends the input and is remembered, and
    ``cancel`` ends a read that waits for data, so the decoder thread stops even if the writer stalls.

    PyAV calls ``read`` from FFmpeg and swallows exceptions there, so a KeyboardInterrupt raised in it
    would otherwise surface as "invalid data" instead of an interrupt.
    """

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.interrupted = False
        self.cancelled = threading.Event()
        try:
            self.fd: Optional[int] = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (e.g. replaced by a test harness)
            self.fd = None

    def read(self, size: int = -1) -> bytes:
        try:
            if self.fd is None:
                return self.stream.read(size)
            while not self.cancelled.is_set():
                if interrupts.requested():  # a signal deferred while FFmpeg reads (``interrupts.deferred``)
                    self.interrupted = True
                    break
                if select.select([self.fd], [], [], STDIN_POLL)[0]:
                    return os.read(self.fd, size if size > 0 else 1 << 16)
            return b""
        except KeyboardInterrupt:
            self.interrupted = True
            return b""


def _open(path: Union[str, Path], stdin: Optional[_Stdin], options: Optional[Dict[str, str]] = None,
          timeout: Optional[tuple] = None,
          accel: "Optional[av.codec.hwaccel.HWAccel]" = None) -> av.container.InputContainer:
    if stdin is not None:
        source = stdin
        name = "stdin"
    elif is_url(path):
        source = name = str(path)
    else:
        p = Path(path)
        if not p.exists():
            raise VsrError(f"input not found: {p}")
        if p.is_dir():
            raise VsrError(f"input is a folder, not a video: {p}")
        source, name = str(p), str(p)
    try:
        return av.open(source, mode="r", container_options=options or {}, timeout=timeout,
                       **({"hwaccel": accel} if accel is not None else {}))
    except av.FFmpegError as exc:
        if stdin is not None and stdin.interrupted:
            raise KeyboardInterrupt from None
        raise VsrError(f"cannot read {name}: {ffmpeg_reason(exc)}") from None
    except OSError as exc:
        raise VsrError(f"cannot read {name}: {exc.strerror or exc}") from None


def _time(packet: av.Packet, default: Fraction) -> Fraction:
    """A packet's presentation time in seconds; ``default`` for the rare packet without one."""
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return default
    return ts * Fraction(packet.time_base)

