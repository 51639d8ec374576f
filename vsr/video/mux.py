"""The output container: streams declared before the first packet, then packets muxed in order.

``Muxer`` is the container alone: it opens the target (a path, URL or file object) with vsr's muxer
options, takes a video stream added by an encoder (``vsr.video.encode.VideoSink``) or copied packet for
packet (``add_copied_video``: the Ray join), and carries the other streams of an input container
(``copy_streams``). Nothing the user had is lost: audio and subtitle packets are copied unchanged when
the container can carry their codec; audio it cannot carry is re-encoded to the container's audio codec
(with a warning), and only what cannot be carried at all is dropped, with a warning. Container metadata
is copied.
"""
from dataclasses import dataclass
from fractions import Fraction
import logging
from typing import TYPE_CHECKING, BinaryIO, Dict, List, Optional, Union

import av

from ..errors import VsrError, ffmpeg_reason as _reason
from .frame import COPIED_TYPES, ColorTags, StreamDescription
from .network import STREAM_CODECS, is_url

if TYPE_CHECKING:
    from .encode import EncodeOptions

log = logging.getLogger(__name__)

Y4M = "yuv4mpegpipe"


class Muxer:
    """An output container being written; ``name`` is how messages call it (default: the path).
    Declare the streams (an encoder's, ``add_copied_video``, ``copy_streams``), then ``mux`` packets and
    ``write_packet`` those of copied streams; ``close`` writes the trailer so that the file plays."""

    def __init__(self, target: Union[str, BinaryIO], fmt: Optional[str] = None,
                 options: Optional[Dict[str, str]] = None, *, name: Optional[str] = None):
        self.name = name or target_name(target)
        try:
            self.container = av.open(target, mode="w", format=fmt,
                                     options={**muxer_options(target, fmt), **(options or {})})
        except (av.FFmpegError, ValueError) as exc:
            # A receiver that is not there is a failure of the moment, not a usage error.
            code = 1 if isinstance(target, str) and is_url(target) else 2
            raise VsrError(f"cannot write {self.name}: {_reason(exc)}", exit_code=code) from None
        self._routes: Dict[int, _Route] = {}

    @property
    def format(self) -> str:
        return self.container.format.name

    # ---- declaring streams ------------------------------------------------------------------
    def add_copied_video(self, template: av.video.stream.VideoStream, description: StreamDescription
                         ) -> av.video.stream.VideoStream:
        """A video stream whose packets are copied from ``template``'s (the Ray join's segments), timed and
        tagged by ``description``; its packets go in with ``mux``."""
        stream = self.container.add_stream_from_template(template)
        stream.time_base = description.time_base
        stream.codec_context.framerate = description.frame_rate or Fraction(25)  # as add_stream(rate=) sets it
        # NUT (the segments' container) keeps no colour tags: they come from the description, as when encoding
        set_color_tags(stream.codec_context, description.color)
        return stream


    def copy_streams(self, source: av.container.InputContainer, options: "EncodeOptions") -> None:
        """The audio and subtitle streams of ``source`` (as ``options`` allows), and its metadata."""
        for s in source.streams:
            if s.type in COPIED_TYPES:
                self._copy(s, options)
        self.container.metadata.update(source.metadata)

    def _copy(self, src: av.stream.Stream, options: "EncodeOptions") -> None:
        wanted = options.audio if src.type == "audio" else options.subtitles
        codec = src.codec_context.codec.canonical_name  # "mp3", not the decoder's "mp3float"
        label = f"{src.type} stream #{src.index} ({codec})"
        if not wanted:
            log.info("dropping %s as asked", label)
            return
        fmt = self.container.format.name
        if codec in supported_codecs(self.container):
            self._routes[src.index] = _Route(self.container.add_stream_from_template(src))
            return
        if src.type == "audio":
            target = _other_codec(self.container, "audio", [self.container.default_audio_codec] + AUDIO_FALLBACKS)
            if target is not None:
                log.warning("%s: %s cannot carry %s; re-encoding it to %s", self.name, fmt, label, target)
                self._routes[src.index] = _audio_route(self.container, src, target)
                return
        elif src.codec_context.codec.text_sub:
            target = _other_codec(self.container, "subtitle",
                                  [self.container.default_subtitle_codec] + SUBTITLE_FALLBACKS)
            if target is not None:
                log.warning("%s: %s cannot carry %s; re-encoding it to %s", self.name, fmt, label, target)
                self._routes[src.index] = _subtitle_route(self.container, src, target)
                return
        log.warning("%s: %s cannot carry %s; it is dropped", self.name, fmt, label)

    # ---- writing ----------------------------------------------------------------------------
    def mux(self, packets: List[av.Packet]) -> None:
        try:
            self.container.mux(packets)
        except av.FFmpegError as exc:
            raise VsrError(f"cannot write {self.name}: {_reason(exc)}") from None

    def write_packet(self, packet: av.Packet) -> None:
        """Pass on a packet of a copied stream (or re-encode it when the container needs that)."""
        route = self._routes.get(packet.stream.index)
        if route is None:
            return
        if route.resampler is None and not route.subtitles:
            packet.stream = route.stream
            self.mux([packet])
            return
        try:
            decoded = packet.decode() if route.resampler is not None else packet.stream.codec_context.decode2(packet)
        except av.FFmpegError as exc:
            log.warning("skipping an undecodable %s packet: %s", packet.stream.type, _reason(exc))
            return
        if route.subtitles:
            if decoded:
                out = route.stream.codec_context.encode_subtitle(decoded)
                out.pts, out.dts, out.duration, out.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
                out.stream = route.stream
                self.mux([out])
            return
        for frame in decoded:
            frame.pts = None  # the resampler and encoder count samples from the first one
            for part in route.resampler.resample(frame):
                self.mux(route.stream.encode(part))

    def close(self) -> None:
        """Flush the re-encoded streams and write the trailer."""
        try:
            for route in self._routes.values():
                if route.resampler is not None:
                    for part in route.resampler.resample(None):
                        self.mux(route.stream.encode(part))
                    self.mux(route.stream.encode(None))
        finally:
            try:
                self.container.close()
            except av.FFmpegError as exc:
                raise VsrError(f"cannot finish {self.name}: {_reason(exc)}") from None

    def abandon(self) -> None:
        """Close without a word: a stream could not be declared, nothing was written."""
        self.container.close()


@dataclass
class _Route:
    stream: av.stream.Stream
    resampler: Optional[av.AudioResampler] = None  # set: audio is decoded and re-encoded
    subtitles: bool = False  # True: text subtitles are decoded and re-encoded


AUDIO_FALLBACKS = ["aac", "libopus", "opus", "mp3", "flac", "pcm_s16le"]
SUBTITLE_FALLBACKS = ["mov_text", "webvtt", "subrip", "ass"]


def _audio_route(container: av.container.OutputContainer, src: av.audio.stream.AudioStream, codec: str) -> _Route:
    ctx = src.codec_context
    stream = container.add_stream(codec, rate=ctx.sample_rate)
    stream.layout = ctx.layout
    formats = av.Codec(codec, "w").audio_formats or [ctx.format]
    stream.format = ctx.format if ctx.format.name in [f.name for f in formats] else formats[0]
    stream.codec_context.open()
    resampler = av.AudioResampler(format=stream.format, layout=stream.layout, rate=ctx.sample_rate,
                                  frame_size=stream.codec_context.frame_size or None)
    return _Route(stream, resampler=resampler)


def _subtitle_route(container: av.container.OutputContainer, src: av.stream.Stream, codec: str) -> _Route:
    """Text subtitles through FFmpeg's ASS form, which every text subtitle encoder takes."""
    src.codec_context.open()  # sets the ASS header the encoder needs
    stream = container.add_stream(codec)
    stream.codec_context.time_base = src.time_base
    stream.codec_context.subtitle_header = src.codec_context.subtitle_header
    stream.codec_context.open()
    return _Route(stream, subtitles=True)


def _other_codec(container: av.container.OutputContainer, kind: str, candidates: List[str]) -> Optional[str]:
    """The first candidate of ``kind`` that the container accepts and this FFmpeg can encode."""
    supported = supported_codecs(container)
    for name in candidates:
        if name and name != "none" and name in supported and name in av.codecs_available:
            try:
                if av.Codec(name, "w").type == kind:
                    return name
            except (av.FFmpegError, ValueError):
                continue
    return None


def supported_codecs(container: av.container.OutputContainer) -> set:
    """The codecs ``container`` holds. FFmpeg has no codec table for MPEG-TS and RTSP, so PyAV lists
    almost nothing for them; ``STREAM_CODECS`` says what their muxers take."""
    return set(container.supported_codecs) | STREAM_CODECS.get(container.format.name, set())


def muxer_options(target: Union[str, BinaryIO], container_format: Optional[str]) -> Dict[str, str]:
    """y4m needs ``strict`` for >8-bit formats; MP4 on a pipe must be fragmented (it cannot seek back).

    NUT's muxer would otherwise shift every timestamp by the encoder's B-frame delay to keep DTS
    non-negative (two frames with libx264); NUT stores negative DTS fine, so the input's times stay.
    """
    if container_format == Y4M:
        return {"strict": "-1"}
    if not isinstance(target, str) and container_format in ("mp4", "mov", "ipod", "ismv"):
        return {"movflags": "frag_keyframe+empty_moov"}
    if container_format == "nut" or (isinstance(target, str) and target.lower().endswith(".nut")):
        return {"avoid_negative_ts": "disabled"}
    return {}


def set_color_tags(item: "Union[av.VideoFrame, av.codec.context.CodecContext]", tags: ColorTags) -> None:
    """Colour tags onto a frame or an encoder (both carry the same four fields)."""
    item.color_range, item.colorspace = tags.range, tags.space
    item.color_primaries, item.color_trc = tags.primaries, tags.transfer


def target_name(target: Union[str, BinaryIO]) -> str:
    return target if isinstance(target, str) else "stdout"
