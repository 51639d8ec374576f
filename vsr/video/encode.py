"""Encoding upscaled frames into an output's ``Muxer`` (``vsr.video.mux``), beside the input's other streams.

Every frame keeps its input timestamp in the input's time base, so variable frame rate stays variable
and audio stays in sync; the colour tags are set on the encoder and on every frame.
"""
from dataclasses import dataclass, field
from fractions import Fraction
import logging
import os
import threading
import time
from typing import BinaryIO, Dict, List, Optional, Set, Tuple, Union

import av

from ..errors import VsrError, ffmpeg_reason as _reason
from . import hardware
from .frame import Frame, StreamDescription, av_frame
from .layout import Layout, parse, target_layout
from .mux import Y4M, Muxer, set_color_tags, supported_codecs
from .network import low_latency_encoder_options

log = logging.getLogger(__name__)

DEFAULT_CODEC = "libx264"
FLUSH_GRACE = 0.25  # seconds the encoder may go on flushing after an interrupt, so that Ctrl-C ends at once


@dataclass(frozen=True)
class CodecDefaults:
    """How a codec takes quality and speed: option names and the values vsr uses when not told."""

    crf_option: Optional[str]
    crf: Optional[float]
    preset: Optional[str]
    options: Dict[str, str] = field(default_factory=dict)
    odd_sizes: bool = True  # False: subsampled chroma needs even frame sizes
    max_size: Optional[Tuple[int, int]] = None  # largest (width, height) the encoder accepts


# Defaults aim at "visually lossless-ish" at a speed that suits a real-time tool.
CODECS: Dict[str, CodecDefaults] = {
    "libx264": CodecDefaults("crf", 18, "veryfast", odd_sizes=False, max_size=(16384, 16384)),
    "libx265": CodecDefaults("crf", 20, "veryfast", {"x265-params": "log-level=error"}, odd_sizes=False),
    "libsvtav1": CodecDefaults("crf", 28, "8", odd_sizes=False, max_size=(16384, 8704)),
    "libvpx-vp9": CodecDefaults("crf", 24, None, {"b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}),
    "ffv1": CodecDefaults(None, None, None, {"level": "3", "slicecrc": "1"}),
    "h264_nvenc": CodecDefaults("cq", 19, "p4", {"rc": "vbr", "b": "0"}, odd_sizes=False),
    "hevc_nvenc": CodecDefaults("cq", 21, "p4", {"rc": "vbr", "b": "0"}, odd_sizes=False),
    "rawvideo": CodecDefaults(None, None, None),
    "wrapped_avframe": CodecDefaults(None, None, None),
}


@dataclass
class EncodeOptions:
    """How the output is written; ``None`` means the default (the codec's from ``CODECS``, the container
    from the target's name)."""

    codec: Optional[str] = None
    crf: Optional[float] = None
    preset: Optional[str] = None
    pix_fmt: Optional[str] = None
    options: Dict[str, str] = field(default_factory=dict)  # the encoder's own options (``-e``)
    audio: bool = True
    subtitles: bool = True
    format: Optional[str] = None  # container format, e.g. "mp4", "mpegts", "yuv4mpegpipe"
    muxer_options: Dict[str, str] = field(default_factory=dict)  # added to vsr's own for the container
    low_latency: bool = False  # someone watches it live: the codec's low-delay defaults under ``options``


class VideoSink:
    """The encoded video stream of an output: one stream described by ``description`` in a ``Muxer``, with
    the audio and subtitle streams of ``copy_streams_from`` (an input container; its metadata too).

    ``target`` is a path, URL or binary file object; ``name`` is how messages call it (default: the path).
    ``layout`` is what ``write`` must be given (``plan`` picks it from ``description.layout`` and the
    codec); frames are reformatted to ``pix_fmt`` only when the user asked for a non-planar format such
    as nv12. Use it as a context manager, or call ``close`` to finish the file.
    """

    def __init__(
        self,
        target: Union[str, BinaryIO],
        description: StreamDescription,
        options: Optional[EncodeOptions] = None,
        copy_streams_from: Optional[av.container.InputContainer] = None,
        *,
        name: Optional[str] = None,
    ):
        options = options or EncodeOptions()
        self.description = description
        self.width, self.height = description.width, description.height
        self.muxer = Muxer(target, options.format, options.muxer_options, name=name)
        self.name = self.muxer.name
        try:
            self.codec = choose_codec(self.muxer.container, options.codec)
            self.layout, self.pix_fmt = plan(self.codec, description.layout, self.width, self.height,
                                             options.pix_fmt)
            self.stream = self._add_video(description, options)  # the first stream, as FFmpeg orders them
            if copy_streams_from is not None:
                self.muxer.copy_streams(copy_streams_from, options)
        except BaseException:
            self.muxer.abandon()
            raise
        self.frames = 0  # sent to the encoder
        self.muxed = 0  # written to the file
        self._inside: Set[Fraction] = set()  # times (s) of the frames sent to the encoder and not out of it yet
        self._last = Fraction(-1)  # time of the latest frame in the file

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writing ----------------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        """Encode one upscaled frame (planes in ``self.layout``) at its input timestamp."""
        out = av_frame(frame.planes, self.layout)
        if self.pix_fmt != self.layout.name:
            out = out.reformat(format=self.pix_fmt)
        if self._cfr is None:
            out.pts, out.time_base = frame.pts, frame.time_base
        else:  # y4m has no timestamps, only a frame rate: count frames at that rate
            out.pts, out.time_base = round(frame.pts * frame.time_base / self._cfr), self._cfr
        self._set_tags(out)
        self._inside.add(out.pts * Fraction(out.time_base))
        self._mux(self.stream.encode(out))
        self.frames += 1

    def close(self, stop: Optional[threading.Event] = None) -> None:
        """Flush every encoder and write the trailer, so that the file plays.

        Once ``stop`` is set (the run was interrupted) the encoder may flush for ``FLUSH_GRACE`` more
        seconds, then the frames still inside it are dropped, so that a slow flush cannot delay the
        exit; ``muxed`` counts the frames in the file.
        """
        try:
            self._flush_video(stop)
        finally:
            self.muxer.close()

    def write_packet(self, packet: av.Packet) -> None:
        """Pass on a packet of a copied stream (see ``Muxer.write_packet``)."""
        self.muxer.write_packet(packet)

    def _flush_video(self, stop: Optional[threading.Event]) -> None:
        """Drain the encoder; once ``stop`` is set, for ``FLUSH_GRACE`` seconds at most.

        The encoder emits in decode order, a P-frame before the B-frames shown before it, so a cut must
        not fall between them: frames shown before the last one in the file are always let out (they
        come next), and a later frame is kept only once every frame before it is out too. The file then
        ends early rather than skipping frames in its middle."""
        log.debug("%s: flushing the video encoder after %d frames", self.name, self.frames)
        stopped_at = None
        held: List[av.Packet] = []  # frames past the end of the file, waiting for those before them
        for packet in self.stream.codec_context.encode_lazy(None):
            packet.stream = self.stream
            if stop is None or not stop.is_set():
                self._mux([packet])
                continue
            stopped_at = stopped_at or time.monotonic()
            if _time(packet) < self._last:
                self._mux([packet])  # fills a hole
            else:
                self._inside.discard(_time(packet))
                held.append(packet)
            if held and (not self._inside or max(_time(p) for p in held) < min(self._inside)):
                self._mux(held)
                held = []
            holes = self._inside and min(self._inside) < self._last
            if not holes and time.monotonic() - stopped_at >= FLUSH_GRACE:
                log.debug("%s: interrupted; %d frames still in the encoder are dropped", self.name,
                          self.frames - self.muxed)
                return

    # ---- setting up -------------------------------------------------------------------------
    def _add_video(self, description: StreamDescription, options: EncodeOptions) -> av.video.stream.VideoStream:
        defaults = CODECS.get(self.codec, CodecDefaults(None, None, None))
        codec_options = dict(defaults.options)
        crf = options.crf if options.crf is not None else defaults.crf
        if options.crf is not None and defaults.crf_option is None:
            log.warning("%s has no quality setting; ignoring --crf", self.codec)
        elif crf is not None:
            codec_options[defaults.crf_option] = f"{crf:g}"
        preset = options.preset or defaults.preset
        if options.preset and defaults.preset is None:
            log.warning("%s has no presets; ignoring --preset", self.codec)
        elif preset is not None:
            codec_options["preset"] = preset
        if options.low_latency:
            codec_options.update(low_latency_encoder_options(self.codec, float(description.frame_rate or 25)))
        codec_options.update(options.options)
        if defaults.max_size and (self.width > defaults.max_size[0] or self.height > defaults.max_size[1]):
            raise VsrError(f"the {self.width}x{self.height} output exceeds {self.codec}'s largest frame, "
                           f"{defaults.max_size[0]}x{defaults.max_size[1]}: use a smaller --scale or "
                           f"--codec libvpx-vp9 or ffv1")
        rate = description.frame_rate or Fraction(25)
        # y4m has no timestamps: its header's frame rate comes from the time base.
        self._cfr = 1 / rate if self.muxer.format == Y4M else None
        time_base = self._cfr or description.time_base
        try:
            stream = self.muxer.container.add_stream(self.codec, rate=rate, options=codec_options)
        except (av.FFmpegError, ValueError) as exc:
            raise VsrError(f"cannot use codec {self.codec}: {_reason(exc)}", exit_code=2) from None
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = time_base
        ctx = stream.codec_context
        ctx.time_base = time_base
        ctx.thread_count = 0
        self._tags = description.color
        set_color_tags(ctx, description.color)
        try:
            ctx.open()
        except av.FFmpegError as exc:
            if self.codec in hardware.NVENC:
                raise hardware.nvenc_missing(self.codec, _reason(exc)) from None
            raise VsrError(f"cannot open encoder {self.codec} for {self.width}x{self.height} {self.pix_fmt}: "
                           f"{_reason(exc)}", exit_code=2) from None
        log.debug("encoding %s %s %dx%d with %s", self.codec, self.pix_fmt, self.width, self.height, codec_options)
        return stream

    def _set_tags(self, frame: av.VideoFrame) -> None:
        set_color_tags(frame, self._tags)

    def _mux(self, packets: List[av.Packet]) -> None:
        for p in packets:
            if p.stream is self.stream:
                self.muxed += 1
                self._inside.discard(_time(p))
                self._last = max(self._last, _time(p))
        self.muxer.mux(packets)


def choose_codec(container: av.container.OutputContainer, codec: Optional[str]) -> str:
    """The user's codec, checked against the container; by default libx264 or the container's own."""
    supported = supported_codecs(container)
    fmt = container.format.name
    if codec == "libsvtav1" or codec is None:
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration otherwise
    if codec is None:
        if fmt == Y4M:
            return "wrapped_avframe"
        if DEFAULT_CODEC in supported:
            return DEFAULT_CODEC
        return container.default_video_codec
    try:
        c = av.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        if codec in hardware.NVENC:
            raise hardware.nvenc_missing(codec, "this FFmpeg was built without it") from None
        raise VsrError(f"unknown video encoder {codec!r} (see 'ffmpeg -encoders')", exit_code=2) from None
    if c.type != "video":
        raise VsrError(f"{codec} is not a video encoder", exit_code=2)
    if c.name not in supported and fmt != Y4M:
        raise VsrError(f"the {fmt} container cannot hold {codec} video", exit_code=2)
    if fmt == Y4M:
        log.warning("y4m holds raw frames; ignoring --codec %s", codec)
        return "wrapped_avframe"
    return c.name


def plan(codec: str, source: Layout, width: int, height: int, pix_fmt: Optional[str]) -> "tuple[Layout, str]":
    """The planar layout the SR stage produces and the pixel format the encoder receives.

    By default the input's layout is kept when the encoder takes it (10-bit stays 10-bit); otherwise
    the closest one it takes, with a warning. Subsampled chroma with odd output sizes moves to 4:4:4 for
    encoders that need even sizes, so the output is still exactly ``scale`` times the input.
    """
    formats = _encoder_formats(codec)
    if pix_fmt is not None:
        try:
            fmt = av.VideoFormat(pix_fmt)
        except (av.FFmpegError, ValueError):
            raise VsrError(f"unknown pixel format {pix_fmt!r}", exit_code=2) from None
        if formats is not None and fmt.name not in formats:
            raise VsrError(f"{codec} cannot encode {pix_fmt}; it takes {', '.join(sorted(formats))}", exit_code=2)
        return target_layout(fmt), fmt.name
    odd = width % 2 or height % 2
    wanted = source
    if odd and source.sub != (1, 1) and not CODECS.get(codec, CodecDefaults(None, None, None)).odd_sizes:
        wanted = source.with_sub((1, 1))
    if formats is None:
        return wanted, wanted.name
    bits = sorted({b for b in (wanted.bits, 10, 8) if b <= max(wanted.bits, 8)}, key=lambda b: -b)
    subs = [wanted.sub, (1, 1), (2, 2)] if not wanted.grey else [(1, 1)]
    for candidate in [wanted.with_sub(s).with_bits(b) for b in bits for s in subs] + [parse("yuv420p")]:
        if candidate.name in formats:
            if candidate != source:
                level = logging.INFO if candidate.sub != source.sub and candidate.bits == source.bits else logging.WARNING
                log.log(level, "%s: encoding %s as %s", codec, source.name, candidate.name)
            return candidate, candidate.name
    raise VsrError(f"{codec} cannot encode any planar YCbCr format", exit_code=2)


def _encoder_formats(codec: str) -> Optional[set]:
    formats = av.Codec(codec, "w").video_formats
    return {f.name for f in formats} if formats else None


def _time(packet: av.Packet) -> Fraction:
    """A packet's presentation time in seconds (how ``VideoSink._inside`` knows its frame)."""
    return (packet.pts if packet.pts is not None else -1) * Fraction(packet.time_base)
